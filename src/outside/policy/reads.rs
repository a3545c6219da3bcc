//! The reads the policy checks share across secrets (a function's configuration, its
//! subnets and endpoints, a key's description, policy and grants), each made once per run:
//! `audit --deep` checks many secrets on few functions, VPCs and keys.

use crate::outside::AwsError;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

type Memo = HashMap<(&'static str, String), Arc<dyn Any + Send + Sync>>;

/// What was read so far, by operation and input.
#[derive(Default)]
pub struct Reads {
    memo: Mutex<Memo>,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.memo.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "Reads({n} remembered)")
    }
}

impl Reads {
    /// The answer of `operation` for `key`: remembered, else read (errors are remembered
    /// too: a denied read is denied for every secret).
    pub(super) async fn once<T, F>(
        &self,
        operation: &'static str,
        key: &str,
        read: impl FnOnce() -> F,
    ) -> Result<T, AwsError>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, AwsError>>,
    {
        let id = (operation, key.to_string());
        let known = self.memo.lock().ok().and_then(|m| m.get(&id).cloned());
        if let Some(v) = known
            .as_ref()
            .and_then(|v| v.downcast_ref::<Result<T, AwsError>>())
        {
            return v.clone();
        }
        let v = read().await;
        if let Ok(mut m) = self.memo.lock() {
            m.insert(id, Arc::new(v.clone()));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_is_made_once_per_operation_and_key() {
        let reads = Reads::default();
        let made = std::sync::atomic::AtomicU32::new(0);
        for key in ["a", "a", "b", "a"] {
            let got: Result<String, AwsError> = reads
                .once("Op", key, || async {
                    made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(format!("read {key}"))
                })
                .await;
            assert_eq!(got.unwrap(), format!("read {key}"));
        }
        assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
