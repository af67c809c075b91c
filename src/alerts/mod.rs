//! Alerts: rules the service evaluates on every sample, with a `for` duration and a clearing
//! level, over a documented list of quantities.
//!
//! - [`quantity`]: everything a rule can compare: its name, unit, labels, what it means and
//!   which families it reads (`docs/alerts.md` is written from it, and a test keeps them equal).
//! - [`rules`]: the rules: the stock ones (`stock.toml`, on by default), statix's two
//!   thresholds, a user's TOML file; every mistake in a file is one line naming it.
//! - [`engine`]: the state of each alert (pending, firing, resolved) from sample to sample,
//!   the `alerts` list of `/system` and the `ALERTS` series of `/metrics`.
//!
//! The forwarder delivers what the service reports: the service only evaluates.

mod engine;
pub mod quantity;
pub mod rules;

pub use engine::{Engine, families};
pub use quantity::{Input, QUANTITIES, Quantity};
pub use rules::{Comparison, Rule, Rules, RulesError, Severity, Thresholds};

#[cfg(test)]
mod tests {
    /// docs/alerts.md lists every quantity and every stock rule.
    #[test]
    fn the_alerts_page_lists_every_quantity_and_stock_rule() {
        let page = include_str!("../../docs/alerts.md");
        for q in super::QUANTITIES {
            assert!(page.contains(&format!("| `{}` |", q.name)), "{} is not in docs/alerts.md", q.name);
        }
        let stock = super::Rules::load(None, Default::default()).expect("the stock rules");
        for r in &stock.rules {
            assert!(page.contains(&format!("| `{}` | {} |", r.name, r.severity.as_str())), "{}", r.name);
        }
    }
}
