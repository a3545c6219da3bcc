//! The version cache of the Secrets Manager adapter: secret values by (secret, version), with
//! the staging labels each version was last known to hold.
//!
//! A version's value never changes once written, but its labels move. So a value is served
//! from the cache only for a label the version still holds as far as this process has seen
//! (GetSecretValue, DescribeSecret and its own label moves tell it); any other read goes to
//! Secrets Manager, which answers for the label as it is now. The cache keeps the most
//! recently used versions and evicts the least recently used one when full; evicted values
//! are wiped from memory.

use std::collections::{HashMap, VecDeque};
use zeroize::Zeroizing;

/// How many versions a process keeps: a rotation touches two or three per secret.
pub(super) const CAPACITY: usize = 256;

struct Entry {
    secret: String,
    version: String,
    value: Zeroizing<String>,
    stages: Vec<String>,
}

/// Values and labels of recently used versions, least recently used first.
#[derive(Default)]
pub(super) struct VersionCache {
    entries: VecDeque<Entry>,
}

impl VersionCache {
    /// The value of `version` when it is known to hold `stage`; counts as a use.
    pub fn get(&mut self, secret: &str, version: &str, stage: &str) -> Option<Zeroizing<String>> {
        let at = self.position(secret, version)?;
        if !self.entries[at].stages.iter().any(|s| s == stage) {
            return None;
        }
        let entry = self.entries.remove(at)?;
        let value = entry.value.clone();
        self.entries.push_back(entry);
        Some(value)
    }

    /// Records a value read or written, with the labels the version holds now. A label sits
    /// on one version at a time, so the others of the same secret lose them.
    pub fn insert(&mut self, secret: &str, version: &str, value: &str, stages: &[String]) {
        for stage in stages {
            self.moved(secret, stage, Some(version));
        }
        if let Some(at) = self.position(secret, version) {
            self.entries.remove(at);
        } else if self.entries.len() >= CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            secret: secret.to_string(),
            version: version.to_string(),
            value: Zeroizing::new(value.to_string()),
            stages: stages.to_vec(),
        });
    }

    /// A label moved to `to` (or was removed, `None`): no other version of the secret holds it.
    pub fn moved(&mut self, secret: &str, stage: &str, to: Option<&str>) {
        for e in self.entries.iter_mut().filter(|e| e.secret == secret) {
            let holds = to == Some(e.version.as_str());
            e.stages.retain(|s| s != stage);
            if holds {
                e.stages.push(stage.to_string());
            }
        }
    }

    /// What DescribeSecret says of a secret (known by `names`, its id as asked and its ARN):
    /// each cached version's labels are replaced; a version it no longer lists is dropped.
    pub fn learn(&mut self, names: &[&str], versions: &HashMap<String, Vec<String>>) {
        self.entries.retain_mut(|e| {
            if !names.contains(&e.secret.as_str()) {
                return true;
            }
            match versions.get(&e.version) {
                Some(stages) => {
                    e.stages.clone_from(stages);
                    true
                }
                None => false,
            }
        });
    }

    fn position(&self, secret: &str, version: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.secret == secret && e.version == version)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_value_is_served_only_for_a_stage_its_version_still_holds() {
        let mut c = VersionCache::default();
        c.insert("s", "v1", "one", &stages(&["AWSCURRENT"]));
        assert_eq!(
            c.get("s", "v1", "AWSCURRENT")
                .as_deref()
                .map(|v| v.as_str()),
            Some("one")
        );
        assert!(c.get("s", "v1", "AWSPENDING").is_none());

        // finishSecret: AWSCURRENT moves to v2, v1 becomes AWSPREVIOUS.
        c.insert("s", "v2", "two", &stages(&["AWSPENDING"]));
        c.moved("s", "AWSCURRENT", Some("v2"));
        c.moved("s", "AWSPREVIOUS", Some("v1"));
        assert!(c.get("s", "v1", "AWSCURRENT").is_none());
        assert!(c.get("s", "v1", "AWSPREVIOUS").is_some());
        assert!(c.get("s", "v2", "AWSCURRENT").is_some());
        // A label removed outright.
        c.moved("s", "AWSPENDING", None);
        assert!(c.get("s", "v2", "AWSPENDING").is_none());
        // Another secret's labels are its own.
        c.insert("t", "v9", "nine", &stages(&["AWSCURRENT"]));
        assert!(c.get("s", "v2", "AWSCURRENT").is_some());
    }

    #[test]
    fn describe_replaces_the_labels_and_drops_deleted_versions() {
        let mut c = VersionCache::default();
        c.insert("arn:s", "v1", "one", &stages(&["AWSPENDING"]));
        c.insert("arn:s", "v0", "zero", &stages(&["AWSCURRENT"]));
        let described = HashMap::from([("v1".to_string(), stages(&["AWSCURRENT"]))]);
        c.learn(&["name", "arn:s"], &described);
        assert!(c.get("arn:s", "v1", "AWSPENDING").is_none());
        assert!(c.get("arn:s", "v1", "AWSCURRENT").is_some());
        assert!(c.get("arn:s", "v0", "AWSCURRENT").is_none());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_version_only() {
        let mut c = VersionCache::default();
        for i in 0..CAPACITY {
            c.insert("s", &format!("v{i}"), "x", &[]);
        }
        // v0 is used again, so v1 is now the least recently used.
        c.moved("s", "AWSCURRENT", Some("v0"));
        assert!(c.get("s", "v0", "AWSCURRENT").is_some());
        c.insert("s", "new", "x", &stages(&["AWSCURRENT"]));
        assert_eq!(c.len(), CAPACITY);
        assert!(
            c.position("s", "v1").is_none(),
            "the least recently used is evicted"
        );
        assert!(c.position("s", "v0").is_some());
        assert!(c.position("s", "v2").is_some());
        assert!(c.position("s", "new").is_some());
    }
}
