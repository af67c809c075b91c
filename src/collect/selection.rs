//! Which families run: `SYSTEM_STATS_COLLECTORS`.

use super::REGISTRY;

/// Which families run: `SYSTEM_STATS_COLLECTORS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    names: Vec<&'static str>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { names: REGISTRY.iter().map(|e| e.name).collect() }
    }
}

/// Every family name, comma-separated, in registry order.
pub fn family_names() -> String {
    REGISTRY.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

impl Selection {
    /// Parses `all` (every family), a comma list of names (`cpu,memory`), or `all` followed
    /// by `-name` entries (`all,-filesystems,-sensors`; a list of only `-name` entries means
    /// the same). The error says what is accepted and which name is wrong.
    pub fn parse(text: &str) -> Result<Selection, String> {
        let expected = || {
            format!(
                "a comma list of collectors ({}), or all followed by -name entries to leave some out \
                 (e.g. all,-filesystems,-sensors)",
                family_names()
            )
        };
        let lookup = |name: &str| {
            REGISTRY
                .iter()
                .map(|e| e.name)
                .find(|n| *n == name)
                .ok_or_else(|| format!("{}; {name:?} is not one", expected()))
        };
        let entries: Vec<&str> = text.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
        if entries.is_empty() {
            return Err(expected());
        }
        let (start_all, rest) = match entries.split_first() {
            Some((&"all", rest)) => (true, rest),
            _ => (entries.iter().all(|e| e.starts_with('-')), &entries[..]),
        };
        let mut chosen: Vec<&'static str> = if start_all { REGISTRY.iter().map(|e| e.name).collect() } else { vec![] };
        for e in rest {
            match (start_all, e.strip_prefix('-')) {
                (true, Some(name)) => {
                    let name = lookup(name)?;
                    chosen.retain(|n| *n != name);
                }
                (false, None) => {
                    let name = lookup(e)?;
                    if !chosen.contains(&name) {
                        chosen.push(name);
                    }
                }
                (true, None) if *e == "all" => {}
                (true, None) => {
                    return Err(format!("{}; after all, only -name entries make sense, not {e:?}", expected()));
                }
                (false, Some(_)) => {
                    return Err(format!("{}; {e:?} needs all first (all,{e})", expected()));
                }
            }
        }
        Ok(Selection { names: chosen })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(&name)
    }

    /// Leaves a collector out.
    pub fn remove(&mut self, name: &str) {
        self.names.retain(|n| *n != name);
    }

    /// The selected names, in registry order.
    pub fn names(&self) -> Vec<&'static str> {
        REGISTRY.iter().map(|e| e.name).filter(|n| self.contains(n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections() {
        let all = Selection::parse("all").unwrap();
        assert_eq!(all.names().len(), REGISTRY.len());
        let some = Selection::parse("memory, cpu").unwrap();
        assert_eq!(some.names(), ["cpu", "memory"]);
        let most = Selection::parse("all,-filesystems,-sensors").unwrap();
        assert!(!most.contains("filesystems") && !most.contains("sensors") && most.contains("cpu"));
        assert_eq!(Selection::parse("-sensors").unwrap().names().len(), REGISTRY.len() - 1);
        let err = Selection::parse("all,-bogus").unwrap_err();
        assert!(err.contains("\"bogus\" is not one") && err.contains("cpu, stat, schedstat, cpufreq, load"), "{err}");
        assert!(Selection::parse("cpu,-memory").unwrap_err().contains("needs all first"));
        assert!(Selection::parse("all,cpu").unwrap_err().contains("only -name"));
        assert!(Selection::parse(" , ").is_err());
    }
}

/// A set of families, by their place in [`REGISTRY`]: which ran in a sample, which a rule
/// reads. Checking one against another is one instruction, where names were compared as
/// text for every rule of every sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Families(u64);

const _: () = assert!(REGISTRY.len() <= 64, "Families holds 64 families");

impl Families {
    /// Every family.
    pub const ALL: Families = Families(if REGISTRY.len() == 64 { u64::MAX } else { (1 << REGISTRY.len()) - 1 });

    /// The families named (a name not in the registry is left out).
    pub fn of(names: &[&str]) -> Families {
        let mut set = Families::default();
        for name in names {
            if let Some(i) = REGISTRY.iter().position(|e| e.name == *name) {
                set.0 |= 1 << i;
            }
        }
        set
    }

    /// Adds the family at `index` in the registry.
    pub(crate) fn insert(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    /// Whether it holds every family of `other`.
    pub fn contains(self, other: Families) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Families) -> Families {
        Families(self.0 | other.0)
    }

    /// Their names, in registry order.
    pub fn names(self) -> Vec<&'static str> {
        REGISTRY.iter().enumerate().filter(|(i, _)| self.0 & (1 << i) != 0).map(|(_, e)| e.name).collect()
    }
}
