//! Latency histograms for operators: the SIP front's answers by method and
//! status code, and the Location Service reads and publishes it makes, by
//! outcome. A crash's p99 then shows on a dashboard. Every label takes few
//! values: methods are the few a registrar serves and `other`, outcomes a
//! fixed list.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lsp_core::{
    Aor, Binding, Error, Identity, LocationService, Lookup, OwnRecord, Published, Record,
    ResourceId, SignedRecord,
};
use lsp_sip_adapter::{AnswerObserver, MethodKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// 0.25 ms to about 4 s, doubling: a local answer lands in the first
/// buckets, a dead peer's tries in the last.
fn buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answer {
    method: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The histograms, shared by the SIP front (which fills them) and the
/// status server (which serves them).
#[derive(Debug)]
pub struct Latencies {
    sip: Histograms<Answer>,
    reads: Histograms<Outcome>,
    publishes: Histograms<Outcome>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            sip: Family::new_with_constructor(buckets),
            reads: Family::new_with_constructor(buckets),
            publishes: Family::new_with_constructor(buckets),
        }
    }
}

impl Latencies {
    /// Adds the histograms to a scrape's `registry` (they are shared, not
    /// copied: the registry sees their values as they are now).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "sip_answer_seconds",
            "Time from a SIP request's arrival to the SIP front's answer, by method and code; _count counts the answers.",
            self.sip.clone(),
        );
        registry.register(
            "read_seconds",
            "Location Service reads (query, fetch) of the SIP front, by outcome.",
            self.reads.clone(),
        );
        registry.register(
            "publish_seconds",
            "Location Service publishes of the SIP front, by outcome.",
            self.publishes.clone(),
        );
    }

    fn observe<T>(family: &Histograms<Outcome>, started: Instant, r: &Result<T, Error>) {
        let outcome = Outcome {
            outcome: outcome(r),
        };
        family
            .get_or_create(&outcome)
            .observe(started.elapsed().as_secs_f64());
    }
}

impl AnswerObserver for Latencies {
    fn answered(&self, method: MethodKind, code: u16, elapsed: Duration) {
        let labels = Answer {
            method: method.as_str(),
            code,
        };
        self.sip
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
}

/// An operation's outcome as a label.
fn outcome<T>(r: &Result<T, Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(Error::NotFound(_)) => "not_found",
        Err(Error::Overloaded(_)) => "overloaded",
        Err(Error::Unreachable(_) | Error::NoRoute { .. } | Error::Timeout) => "unreachable",
        Err(
            Error::Replay { .. }
            | Error::Unauthorized(_)
            | Error::WrongKey { .. }
            | Error::BadSignature
            | Error::StoreFull(_),
        ) => "refused",
        Err(_) => "error",
    }
}

/// A Location Service whose reads and publishes are timed into
/// [`Latencies`]; everything else passes through.
pub struct Timed {
    inner: Arc<dyn LocationService>,
    latencies: Arc<Latencies>,
}

impl Timed {
    pub fn new(inner: Arc<dyn LocationService>, latencies: Arc<Latencies>) -> Self {
        Self { inner, latencies }
    }

    fn publish_done(&self, started: Instant, r: &Result<Published, Error>) {
        Latencies::observe(&self.latencies.publishes, started, r);
    }
}

#[async_trait]
impl LocationService for Timed {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        let started = Instant::now();
        let r = self.inner.publish(record).await;
        self.publish_done(started, &r);
        r
    }

    async fn publish_own(&self, record: OwnRecord) -> Result<Published, Error> {
        let started = Instant::now();
        let r = self.inner.publish_own(record).await;
        self.publish_done(started, &r);
        r
    }

    async fn publish_as(&self, signer: &Arc<Identity>, record: Record) -> Result<Published, Error> {
        let started = Instant::now();
        let r = self.inner.publish_as(signer, record).await;
        self.publish_done(started, &r);
        r
    }

    async fn publish_as_replacing(
        &self,
        signer: &Arc<Identity>,
        record: Record,
        replaces: u64,
    ) -> Result<Published, Error> {
        let started = Instant::now();
        let r = self
            .inner
            .publish_as_replacing(signer, record, replaces)
            .await;
        self.publish_done(started, &r);
        r
    }

    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        let started = Instant::now();
        let r = self.inner.query(aor).await;
        Latencies::observe(&self.latencies.reads, started, &r);
        r
    }

    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        let started = Instant::now();
        let r = self.inner.fetch(aor).await;
        Latencies::observe(&self.latencies.reads, started, &r);
        r
    }

    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error> {
        self.inner.lookup(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_core::{LocalConfig, LocalLocationService};
    use prometheus_client::encoding::text::encode;

    #[tokio::test]
    async fn reads_publishes_and_answers_land_in_their_histograms() {
        let latencies = Arc::new(Latencies::default());
        let store: Arc<dyn LocationService> =
            Arc::new(LocalLocationService::new(LocalConfig::default()));
        let timed = Timed::new(store, latencies.clone());
        let aor = Aor::parse("sip:alice@example.com").unwrap();
        assert!(timed.query(&aor).await.is_err(), "nothing published");
        let key = Identity::from_secret_bytes([5; 32]);
        let mut record = Record::new(aor.clone(), 1);
        record.bindings = vec![Binding::new(
            "sip:alice@192.0.2.1",
            lsp_core::UnixTime::now() + Duration::from_secs(60),
            "c",
            1,
        )];
        timed.publish(record.sign(&key).unwrap()).await.unwrap();
        assert_eq!(timed.query(&aor).await.unwrap().len(), 1);
        latencies.answered(MethodKind::Invite, 302, Duration::from_millis(3));
        latencies.answered(MethodKind::Other, 405, Duration::from_millis(1));

        let mut registry = Registry::with_prefix("lsp");
        latencies.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            r#"lsp_read_seconds_count{outcome="not_found"} 1"#,
            r#"lsp_read_seconds_count{outcome="ok"} 1"#,
            r#"lsp_publish_seconds_count{outcome="ok"} 1"#,
            r#"lsp_sip_answer_seconds_count{method="INVITE",code="302"} 1"#,
            r#"lsp_sip_answer_seconds_count{method="other",code="405"} 1"#,
            r#"lsp_sip_answer_seconds_bucket{le="0.004",method="INVITE",code="302"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
