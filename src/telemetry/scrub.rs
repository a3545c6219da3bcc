//! The log scrubber: every registered secret value is replaced by `***` in every log line,
//! by one Aho-Corasick matcher over all of them. Values registered inside an invocation's
//! [`scoped`] are forgotten and wiped when it ends, so a warm process holds only what its
//! current invocation read.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use zeroize::Zeroize;

/// Secret strings shorter than this are not scrubbed (they would blank ordinary words);
/// generated passwords are far longer, and test fixtures use long ones.
const MIN_SCRUB_LEN: usize = 6;

/// A registered value; its bytes are wiped when it is dropped.
struct Key(String);

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Key {}
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}
impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// How a value is held: by the scopes that registered it, or for the life of the process.
#[derive(Default)]
struct Holds {
    scopes: usize,
    process: bool,
}

/// Every value to hide, and one matcher over all of them (built on first use after a change).
#[derive(Default)]
struct Registry {
    values: HashMap<Key, Holds>,
    matcher: Option<Arc<AhoCorasick>>,
}

impl Registry {
    fn release(&mut self, value: &str) {
        let gone = match self.values.get_mut(value) {
            Some(h) => {
                h.scopes = h.scopes.saturating_sub(1);
                h.scopes == 0 && !h.process
            }
            None => false,
        };
        if gone {
            self.values.remove(value);
            self.matcher = None;
        }
    }
}

fn registry() -> &'static RwLock<Registry> {
    static REGISTRY: OnceLock<RwLock<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn write_registry() -> std::sync::RwLockWriteGuard<'static, Registry> {
    registry().write().unwrap_or_else(|e| e.into_inner())
}

/// The values one invocation registered; released when the last handle to it is dropped.
#[derive(Default)]
struct Scope {
    values: Mutex<Vec<Key>>,
}

impl Drop for Scope {
    fn drop(&mut self) {
        let values = std::mem::take(self.values.get_mut().unwrap_or_else(|e| e.into_inner()));
        let mut reg = write_registry();
        for v in &values {
            reg.release(&v.0);
        }
    }
}

tokio::task_local! {
    static SCOPE: Arc<Scope>;
}

/// Runs `fut` as one invocation for the scrubber: values registered while it runs (on its
/// task) are hidden until it completes, then forgotten and wiped, so a warm process holds
/// only what its current invocation read. A value needed later is registered again when it
/// is read again (every [`crate::secret::Password`] is registered when it is made, once
/// `app::init_logging` has installed the scrubber as its watcher).
pub async fn scoped<F: std::future::Future>(fut: F) -> F::Output {
    SCOPE.scope(Arc::new(Scope::default()), fut).await
}

/// [`scoped`] for synchronous work (a fuzz target, a test): values registered inside `f` on
/// this thread are forgotten and wiped when it returns.
pub fn scoped_sync<R>(f: impl FnOnce() -> R) -> R {
    SCOPE.sync_scope(Arc::new(Scope::default()), f)
}

/// Registers a secret value: from now on it is replaced by `***` in every log line. Inside
/// [`scoped`] it is hidden until that invocation ends; outside any scope (the one-shot
/// command-line tool), for the life of the process.
pub fn register_sensitive(value: &str) {
    if value.len() < MIN_SCRUB_LEN {
        return;
    }
    let scope = SCOPE.try_with(Arc::clone).ok();
    if let Some(scope) = &scope {
        let mut mine = scope.values.lock().unwrap_or_else(|e| e.into_inner());
        if mine.iter().any(|v| v.0 == value) {
            return;
        }
        mine.push(Key(value.to_string()));
    }
    let mut reg = write_registry();
    let holds = match reg.values.get_mut(value) {
        Some(h) => h,
        None => {
            reg.matcher = None;
            reg.values.entry(Key(value.to_string())).or_default()
        }
    };
    match scope {
        Some(_) => holds.scopes += 1,
        None => holds.process = true,
    }
}

/// How many distinct values the scrubber holds now (benchmarks and tests watch it).
pub fn registered_count() -> usize {
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values
        .len()
}

/// The matcher over every registered value, or `None` when nothing is registered.
fn matcher() -> Option<Arc<AhoCorasick>> {
    {
        let reg = registry().read().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = &reg.matcher {
            return Some(Arc::clone(m));
        }
        if reg.values.is_empty() {
            return None;
        }
    }
    let mut reg = write_registry();
    if reg.matcher.is_none() && !reg.values.is_empty() {
        // Standard semantics with overlapping matches: every occurrence of every value is
        // found, so overlapping values are hidden whole (their union), whatever their order.
        // A contiguous NFA: a fraction of a DFA's memory, nearly its speed on short lines.
        let built = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(reg.values.keys().map(|k| k.0.as_str()))
            .ok()?;
        reg.matcher = Some(Arc::new(built));
    }
    reg.matcher.clone()
}

/// Replaces every registered secret value in `text` with `***`, in one pass over the text.
pub fn scrub(text: &str) -> String {
    let Some(m) = matcher() else {
        return text.to_string();
    };
    // Most lines hold no secret: a search for the first match (prefiltered, fast) says so;
    // only a line with a match is searched again for every overlapping occurrence.
    if m.find(text).is_none() {
        return text.to_string();
    }
    let mut hits: Vec<(usize, usize)> = m
        .find_overlapping_iter(text)
        .map(|h| (h.start(), h.end()))
        .collect();
    if hits.is_empty() {
        return text.to_string();
    }
    hits.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < hits.len() {
        let (start, mut end) = hits[i];
        i += 1;
        while i < hits.len() && hits[i].0 <= end {
            end = end.max(hits[i].1);
            i += 1;
        }
        out.push_str(&text[copied..start]);
        out.push_str("***");
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Replaces every registered secret value in every string of a JSON value.
pub fn scrub_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            let clean = scrub(s);
            if clean != *s {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => map.values_mut().for_each(scrub_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registered_values_are_scrubbed_everywhere() {
        register_sensitive("s3cr3t-Pa55");
        register_sensitive("abc"); // too short to scrub
        let mut v = json!({"a": "x s3cr3t-Pa55 y", "b": ["s3cr3t-Pa55"], "c": {"d": "abc"}});
        scrub_value(&mut v);
        assert_eq!(v, json!({"a": "x *** y", "b": ["***"], "c": {"d": "abc"}}));
    }

    #[test]
    fn overlapping_values_are_hidden_whole_in_any_order() {
        register_sensitive("overlap-AAAA-1234");
        register_sensitive("1234-BBBB-overlap");
        register_sensitive("AAAA-12");
        assert_eq!(
            scrub("<overlap-AAAA-1234-BBBB-overlap> overlap-AAAA-1234overlap-AAAA-1234."),
            "<***> ***."
        );
        assert_eq!(scrub("no secret here"), "no secret here");
    }

    #[test]
    fn a_scope_forgets_and_wipes_what_it_registered() {
        let inside = "scoped-secret-only-inside-1";
        let both = "scoped-secret-also-outside-2";
        register_sensitive(both);
        let line = format!("{inside} {both}");
        let during = scoped_sync(|| {
            register_sensitive(inside);
            register_sensitive(inside);
            register_sensitive(both);
            // Nested work sees the same scope's values.
            scrub(&line)
        });
        assert_eq!(during, "*** ***");
        // After the invocation only the process-wide value is still hidden.
        assert_eq!(scrub(&line), format!("{inside} ***"));
        // Read again by a later invocation, it is hidden again for that invocation.
        let again = scoped_sync(|| {
            register_sensitive(inside);
            scrub(&line)
        });
        assert_eq!(again, "*** ***");
        assert_eq!(scrub(&line), format!("{inside} ***"));
    }

    #[test]
    fn concurrent_scopes_keep_a_shared_value_until_both_end() {
        let shared = "shared-between-two-invocations";
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let first = scoped(async {
                register_sensitive(shared);
                rx.await.unwrap();
                scrub(shared)
            });
            let second = scoped(async {
                register_sensitive(shared);
                tokio::task::yield_now().await;
                let seen = scrub(shared);
                tx.send(()).unwrap();
                seen
            });
            let (a, b) = tokio::join!(first, second);
            assert_eq!((a.as_str(), b.as_str()), ("***", "***"));
        });
        assert_eq!(scrub(shared), shared);
    }
}
