//! One fetch shared by every caller that asks while it is fresh: however
//! many status requests arrive, the node's driver is asked for a snapshot
//! at most once per period, and never twice at once.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// The latest value of a fetch, and when it was taken.
#[derive(Debug)]
pub struct Coalesced<T> {
    fresh: Duration,
    last: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Coalesced<T> {
    /// Values younger than `fresh` are shared instead of fetched again.
    pub fn new(fresh: Duration) -> Self {
        Self {
            fresh,
            last: Mutex::new(None),
        }
    }

    /// The latest value if it is fresh, or `fetch`'s. Callers that arrive
    /// while a fetch runs wait for it and share its value; a failed fetch
    /// is not kept.
    pub async fn get<E, F>(&self, fetch: impl FnOnce() -> F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, value)) = &*last
            && at.elapsed() < self.fresh
        {
            return Ok(value.clone());
        }
        let value = fetch().await?;
        *last = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_callers_at_once_cost_one_fetch() {
        let shared = Arc::new(Coalesced::new(Duration::from_millis(200)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..100)
            .map(|_| {
                let (shared, fetches) = (shared.clone(), fetches.clone());
                tokio::spawn(async move {
                    shared
                        .get(|| async {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok::<_, ()>(7)
                        })
                        .await
                })
            })
            .collect();
        for c in callers {
            assert_eq!(c.await.expect("join"), Ok(7));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let again = shared.get(|| async { Ok::<_, ()>(8) }).await;
        assert_eq!(again, Ok(8), "a stale value is fetched again");
        let failed = Coalesced::<u32>::new(Duration::from_secs(60));
        assert_eq!(failed.get(|| async { Err("down") }).await, Err("down"));
        assert_eq!(failed.get(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    }
}
