//! The rules: the stock ones (`stock.toml`), statix's CPU and RAM thresholds, and a user's
//! file (`SYSTEM_STATS_ALERT_RULES`), in TOML:
//!
//! ```toml
//! disable = ["NodeCPUHighUsage"]        # stock rules to leave out
//!
//! [[rule]]
//! name = "RootAlmostFull"               # the alert's name (a stock rule's name replaces it)
//! quantity = "filesystem.used_percent"  # from the documented list
//! labels = { mountpoint = "/" }         # optional: exact values, or globs with *
//! comparison = ">"                      # > >= < <= == !=
//! threshold = 90
//! clear = 85                            # optional: resolves only back below 85
//! for = "10m"                           # optional: how long it must hold (0, 30s, 10m, 1h)
//! severity = "warning"                  # info, warning or critical
//! summary = "{mountpoint} is {value}% full"
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::quantity::{Labels, Quantity};

/// A rule file that cannot be used: which file, which rule, what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {rule}{problem}")]
pub struct RulesError {
    /// The file, or `the stock rules`, or the setting.
    pub file: String,
    /// `rule "Name": ` or `rule 3: `, or empty for the whole file.
    pub rule: String,
    pub problem: String,
}

/// `value <comparison> threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Above,
    AtLeast,
    Below,
    AtMost,
    Equal,
    NotEqual,
}

impl Comparison {
    fn parse(s: &str) -> Option<Comparison> {
        Some(match s.trim() {
            ">" => Comparison::Above,
            ">=" => Comparison::AtLeast,
            "<" => Comparison::Below,
            "<=" => Comparison::AtMost,
            "==" => Comparison::Equal,
            "!=" => Comparison::NotEqual,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
        }
    }

    /// Whether `value` meets it against `level`.
    pub fn holds(self, value: f64, level: f64) -> bool {
        match self {
            Comparison::Above => value > level,
            Comparison::AtLeast => value >= level,
            Comparison::Below => value < level,
            Comparison::AtMost => value <= level,
            Comparison::Equal => value == level,
            Comparison::NotEqual => value != level,
        }
    }

    /// Whether a clearing level on this side of the threshold makes sense: below it for `>`
    /// and `>=`, above it for `<` and `<=`, equal for the others.
    fn clears_with(self, threshold: f64, clear: f64) -> bool {
        match self {
            Comparison::Above | Comparison::AtLeast => clear <= threshold,
            Comparison::Below | Comparison::AtMost => clear >= threshold,
            Comparison::Equal | Comparison::NotEqual => clear == threshold,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A label matcher: an exact value, or a glob where `*` stands for any text.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub label: &'static str,
    pub pattern: String,
}

impl Matcher {
    pub fn matches(&self, labels: &Labels) -> bool {
        labels.iter().any(|(k, v)| *k == self.label && glob(&self.pattern, v))
    }
}

/// `*` matches any text (none included); everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// One rule, checked.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub quantity: &'static Quantity,
    pub matchers: Vec<Matcher>,
    pub comparison: Comparison,
    pub threshold: f64,
    /// The level a firing alert must cross back over to resolve.
    pub clear: f64,
    pub hold: Duration,
    pub severity: Severity,
    pub summary: String,
    /// Where it came from: `stock`, `statix` or the file.
    pub origin: String,
    pub and: Option<Also>,
}

impl Rule {
    /// Whether the condition starts to hold (`firing` false) or still holds (`firing` true:
    /// against the clearing level).
    pub fn holds(&self, value: f64, firing: bool) -> bool {
        self.comparison.holds(value, if firing { self.clear } else { self.threshold })
    }

    /// The summary with `{value}`, `{threshold}` and the labels filled in.
    pub fn summary_for(&self, labels: &Labels, value: f64) -> String {
        let mut s = self.summary.replace("{value}", &round(value)).replace("{threshold}", &round(self.threshold));
        for (k, v) in labels {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        s
    }
}

/// A number as a summary shows it: at most two decimals, no trailing zeros.
pub fn round(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// statix's thresholds (`SYSTEM_STATS_ALERT_CPU_THRESHOLD`, `..._RAM_THRESHOLD`): percent,
/// `None` off; each fires at once when the value reaches it, as statix's server does.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    pub cpu: Option<f64>,
    pub ram: Option<f64>,
}

/// Every rule the service evaluates.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

/// The stock rules, on by default (`docs/alerts.md` explains each).
pub const STOCK: &str = include_str!("stock.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    quantity: Option<String>,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    comparison: Option<String>,
    threshold: Option<f64>,
    clear: Option<f64>,
    #[serde(rename = "for")]
    hold: Option<String>,
    severity: Option<String>,
    summary: Option<String>,
    and: Option<RawAnd>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnd {
    quantity: String,
    comparison: String,
    threshold: f64,
}

/// A second condition, on another quantity with the same labels (the node-mixin's `and`).
#[derive(Debug, Clone)]
pub struct Also {
    pub quantity: &'static Quantity,
    pub comparison: Comparison,
    pub threshold: f64,
}

impl Rules {
    /// The stock rules (less those `file` disables or redefines), statix's thresholds and the
    /// rules of `file`.
    pub fn load(file: Option<&Path>, thresholds: Thresholds) -> Result<Rules, RulesError> {
        let stock = parse(STOCK, "the stock rules")?;
        let user = match file {
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| RulesError {
                    file: name.clone(),
                    rule: String::new(),
                    problem: format!("cannot read it ({e})"),
                })?;
                parse(&text, &name)?
            }
            None => (Vec::new(), Vec::new()),
        };
        let (stock, _) = stock;
        let (user_rules, disable) = user;
        let file_name = file.map(|p| p.display().to_string()).unwrap_or_default();
        for d in &disable {
            if !stock.iter().any(|r| &r.name == d) {
                return Err(RulesError {
                    file: file_name,
                    rule: String::new(),
                    problem: format!(
                        "disable names {d:?}, which is not a stock rule (they are: {})",
                        stock.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        let mut rules: Vec<Rule> = stock
            .into_iter()
            .filter(|r| !disable.contains(&r.name) && !user_rules.iter().any(|u| u.name == r.name))
            .collect();
        let statix = |name: &str, quantity: &str, threshold: f64, what: &str| Rule {
            name: name.into(),
            quantity: Quantity::find(quantity).expect("a known quantity"),
            matchers: Vec::new(),
            comparison: Comparison::AtLeast,
            threshold,
            clear: threshold,
            hold: Duration::ZERO,
            severity: Severity::Warning,
            summary: format!("{what} at {{value}}% (threshold {{threshold}}%)"),
            origin: "statix".into(),
            and: None,
        };
        if let Some(t) = thresholds.cpu {
            rules.push(statix("HostCpuThreshold", "cpu.percent", t, "CPU"));
        }
        if let Some(t) = thresholds.ram {
            rules.push(statix("HostRamThreshold", "memory.used_percent", t, "RAM"));
        }
        rules.extend(user_rules);
        Ok(Rules { rules })
    }

    /// The families the rules read.
    pub fn families(&self) -> Vec<&'static str> {
        let mut f: Vec<&'static str> = self
            .rules
            .iter()
            .flat_map(|r| r.quantity.families.iter().chain(r.and.iter().flat_map(|a| a.quantity.families)).copied())
            .collect();
        f.sort_unstable();
        f.dedup();
        f
    }
}

/// A file's rules and its `disable` list; `file` names it in errors.
fn parse(text: &str, file: &str) -> Result<(Vec<Rule>, Vec<String>), RulesError> {
    let err = |rule: String, problem: String| RulesError { file: file.to_string(), rule, problem };
    let parsed: File = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| {
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: ")
        });
        err(String::new(), format!("{}{}", at.unwrap_or_default(), e.message()))
    })?;
    let mut rules: Vec<Rule> = Vec::new();
    for (n, raw) in parsed.rule.into_iter().enumerate() {
        let which = match &raw.name {
            Some(name) => format!("rule {name:?}: "),
            None => format!("rule {}: ", n + 1),
        };
        let rule = check(raw, file).map_err(|problem| err(which.clone(), problem))?;
        if rules.iter().any(|r| r.name == rule.name && r.matchers == rule.matchers && r.severity == rule.severity) {
            return Err(err(which, "a second rule with this name, labels and severity".into()));
        }
        rules.push(rule);
    }
    Ok((rules, parsed.disable))
}

fn check(raw: RawRule, file: &str) -> Result<Rule, String> {
    let name = raw.name.ok_or("no name")?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("a name of letters, digits and _ (it is Alertmanager's alertname)".into());
    }
    let q = raw.quantity.ok_or("no quantity")?;
    let quantity = Quantity::find(&q).ok_or_else(|| {
        format!(
            "unknown quantity {q:?} (docs/alerts.md lists them: {})",
            super::QUANTITIES.iter().map(|q| q.name).collect::<Vec<_>>().join(", ")
        )
    })?;
    let mut matchers = Vec::new();
    for (label, pattern) in raw.labels {
        let Some(known) = quantity.labels().iter().find(|l| **l == label) else {
            return Err(if quantity.labels().is_empty() {
                format!("{q} has no labels to match, but the rule matches {label:?}")
            } else {
                format!("{q} has no label {label:?} (it has {})", quantity.labels().join(", "))
            });
        };
        matchers.push(Matcher { label: known, pattern });
    }
    let c = raw.comparison.ok_or("no comparison (>, >=, <, <=, == or !=)")?;
    let comparison =
        Comparison::parse(&c).ok_or_else(|| format!("comparison {c:?} is not one of >, >=, <, <=, ==, !="))?;
    let threshold = raw.threshold.ok_or("no threshold")?;
    if !threshold.is_finite() {
        return Err("the threshold is not a finite number".into());
    }
    let clear = raw.clear.unwrap_or(threshold);
    if !clear.is_finite() || !comparison.clears_with(threshold, clear) {
        return Err(format!(
            "clear {clear} is on the wrong side of threshold {threshold}: for {c} it must be {}",
            match comparison {
                Comparison::Above | Comparison::AtLeast => "at most the threshold",
                Comparison::Below | Comparison::AtMost => "at least the threshold",
                _ => "the threshold (== and != have no hysteresis)",
            }
        ));
    }
    let hold = match raw.hold {
        Some(s) => parse_duration(&s).ok_or_else(|| format!("for {s:?} is not a duration such as 0, 30s, 10m, 1h"))?,
        None => Duration::ZERO,
    };
    let severity = match raw.severity.as_deref().unwrap_or("warning") {
        "info" => Severity::Info,
        "warning" => Severity::Warning,
        "critical" => Severity::Critical,
        other => return Err(format!("severity {other:?} is not info, warning or critical")),
    };
    let summary = raw.summary.unwrap_or_else(|| format!("{q} is {{value}} ({c} {{threshold}})"));
    let mut rest = summary.as_str();
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        let field = &rest[open + 1..open + close];
        if !(field == "value" || field == "threshold" || quantity.labels().contains(&field)) {
            return Err(format!(
                "the summary names {{{field}}}, which is not value, threshold{}",
                quantity.labels().iter().map(|l| format!(", {l}")).collect::<String>()
            ));
        }
        rest = &rest[open + close..];
    }
    let and = match raw.and {
        None => None,
        Some(a) => {
            let also = Quantity::find(&a.quantity).ok_or_else(|| format!("and: unknown quantity {:?}", a.quantity))?;
            if also.labels() != quantity.labels() {
                return Err(format!(
                    "and: {} has other labels than {q} ({} against {}): the two cannot be joined",
                    also.name,
                    also.labels().join(", "),
                    quantity.labels().join(", ")
                ));
            }
            let comparison = Comparison::parse(&a.comparison)
                .ok_or_else(|| format!("and: comparison {:?} is not one of >, >=, <, <=, ==, !=", a.comparison))?;
            Some(Also { quantity: also, comparison, threshold: a.threshold })
        }
    };
    Ok(Rule {
        and,
        name,
        quantity,
        matchers,
        comparison,
        threshold,
        clear,
        hold,
        severity,
        summary,
        origin: file.to_string(),
    })
}

/// `0`, `45s`, `10m`, `2h` (plain seconds too), at most a day.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => s.split_at(at),
        None => (s, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let secs = n.checked_mul(match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    })?;
    (secs <= 86_400).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Rules, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, text).unwrap();
        Rules::load(Some(&path), Thresholds::default())
            .map_err(|e| e.to_string().replace(&path.display().to_string(), "F"))
    }

    #[test]
    fn the_stock_rules_load() {
        let rules = Rules::load(None, Thresholds::default()).unwrap();
        assert!(rules.rules.len() >= 20, "{}", rules.rules.len());
        assert!(rules.rules.iter().all(|r| r.origin == "the stock rules"));
    }

    #[test]
    fn mistakes_name_the_file_the_rule_and_the_problem() {
        let cases = [
            ("[[rule]]\nname = \"X\"\nquantity = \"cpu.percnt\"\n", "F: rule \"X\": unknown quantity \"cpu.percnt\""),
            (
                "[[rule]]\nname = \"X\"\nquantity = \"filesystem.used_percent\"\nlabels = { mount = \"/\" }\n",
                "F: rule \"X\": filesystem.used_percent has no label \"mount\" (it has mountpoint, device, fstype)",
            ),
            (
                "[[rule]]\nname = \"X\"\nquantity = \"cpu.percent\"\ncomparison = \">\"\nthreshold = 90\nclear = 95\n",
                "F: rule \"X\": clear 95 is on the wrong side of threshold 90",
            ),
            (
                "[[rule]]\nname = \"X\"\nquantity = \"cpu.percent\"\ncomparison = \">\"\nthreshold = 9\nfor = \"5 min\"\n",
                "F: rule \"X\": for \"5 min\" is not a duration",
            ),
            ("[[rule]]\nquantity = \"cpu.percent\"\n", "F: rule 1: no name"),
            ("\n\n[[rule]]\nname = 3\n", "F: line 4: "),
            ("disable = [\"Nope\"]\n", "F: disable names \"Nope\", which is not a stock rule"),
            (
                "[[rule]]\nname = \"X\"\nquantity = \"cpu.percent\"\ncomparison = \"=>\"\nthreshold = 1\n",
                "F: rule \"X\": comparison \"=>\" is not one of",
            ),
            (
                "[[rule]]\nname = \"X\"\nquantity = \"cpu.percent\"\ncomparison = \">\"\nthreshold = 1\nsummary = \"{mountpoint}\"\n",
                "F: rule \"X\": the summary names {mountpoint}, which is not value, threshold",
            ),
            ("[[rule]]\nname = \"X\"\nquantity = \"cpu.percent\"\ncolour = 1\n", "F: line 4: unknown field `colour`"),
        ];
        for (text, expected) in cases {
            let e = load(text).unwrap_err();
            assert!(e.starts_with(expected), "{text:?}\n  gave {e}\n  not {expected}");
        }
    }

    #[test]
    fn a_user_file_adds_replaces_and_disables() {
        let r = load(
            "disable = [\"NodeCPUHighUsage\"]\n\
             [[rule]]\nname = \"NodeMemoryHighUtilization\"\nquantity = \"memory.used_percent\"\ncomparison = \">\"\nthreshold = 50\n\
             [[rule]]\nname = \"Root\"\nquantity = \"filesystem.used_percent\"\nlabels = { mountpoint = \"/\" }\ncomparison = \">=\"\nthreshold = 1\n",
        )
        .unwrap();
        let names: Vec<&str> = r.rules.iter().map(|r| r.name.as_str()).collect();
        assert!(!names.contains(&"NodeCPUHighUsage"));
        assert_eq!(names.iter().filter(|n| **n == "NodeMemoryHighUtilization").count(), 1);
        let memory = r.rules.iter().find(|r| r.name == "NodeMemoryHighUtilization").unwrap();
        assert_eq!(memory.threshold, 50.0);
        assert!(names.contains(&"Root"));
    }

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("/", "/", true),
            ("/", "/boot", false),
            ("/mnt/*", "/mnt/a", true),
            ("/mnt/*", "/mnt", false),
            ("*", "", true),
            ("sd*1", "sda1", true),
            ("sd*1", "sda2", false),
            ("*a*a", "aa", true),
            ("*a*a", "a", false),
        ] {
            assert_eq!(glob(p, t), m, "{p} {t}");
        }
    }

    #[test]
    fn summaries_and_durations() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("2d"), None);
        assert_eq!(parse_duration("25h"), None);
        assert_eq!(round(91.256), "91.26");
        assert_eq!(round(90.0), "90");
    }
}
