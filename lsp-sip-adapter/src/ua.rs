//! Pure-P2P self-registration: a UA is its own registrar. It publishes its
//! own signed binding, refreshes it before it lapses, removes it on
//! shutdown, and resolves other AORs to call them directly.
//!
//! The service a UA registers through is usually a ring *client*: a
//! `lsp_chord::ChordNode` on `lsp_transport::QuicTransport::client`, after
//! `attach` to a few members. It holds no range and needs no listening
//! port, so it works behind NAT and on mobile networks; a UA that can hold
//! a range may `join` instead. See the `ua-p2p` example.

use std::fmt::{self, Debug};
use std::sync::Arc;
use std::time::Duration;

use lsp_core::{Aor, Binding, Error, Identity, LocationService, QValue, UnixTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The binding a UA publishes for itself.
#[derive(Debug, Clone)]
pub struct SelfBinding {
    /// The UA's address of record.
    pub aor: Aor,
    /// Where it takes calls.
    pub contact: String,
    /// How long each published binding lives; refreshed at two thirds.
    pub lifetime: Duration,
    /// Preference among the AOR's contacts.
    pub q: QValue,
    /// `+sip.instance` of the UA, if it has one.
    pub instance: Option<String>,
}

impl SelfBinding {
    /// A binding of `aor` to `contact` for an hour.
    pub fn new(aor: Aor, contact: impl Into<String>) -> Self {
        Self {
            aor,
            contact: contact.into(),
            lifetime: Duration::from_secs(3600),
            q: QValue::MAX,
            instance: None,
        }
    }

    /// Sets the lifetime of each publish (at least one second).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.max(Duration::from_secs(1));
        self
    }
}

/// A running self-registration. Call [`SelfRegistration::stop`] to remove
/// the binding; dropping it only stops the refreshes.
pub struct SelfRegistration {
    service: Arc<dyn LocationService>,
    identity: Arc<Identity>,
    spec: SelfBinding,
    stop: watch::Sender<bool>,
    status: watch::Receiver<RegistrationStatus>,
    task: Option<JoinHandle<()>>,
}

/// How a self-registration's refreshes are going: a program shows it, or
/// waits on [`SelfRegistration::watch`] to learn that the ring is gone
/// instead of finding out when a call fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationStatus {
    /// Until when the binding lives, from the latest publish that
    /// succeeded.
    pub registered_until: UnixTime,
    /// Refreshes that failed in a row since then (retried meanwhile).
    pub failures: u32,
    /// Why the latest refresh failed, while `failures` is not 0.
    pub last_error: Option<String>,
}

impl RegistrationStatus {
    /// Whether the ring still holds the binding at `now`: a refresh that
    /// keeps failing lets it lapse.
    pub fn is_registered(&self, now: UnixTime) -> bool {
        now < self.registered_until
    }
}

impl Debug for SelfRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfRegistration")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl SelfRegistration {
    /// Publishes the binding now, signed by `identity`, and keeps it fresh.
    /// The first publish's error is returned; later ones are retried.
    pub async fn start(
        service: impl LocationService + 'static,
        identity: impl Into<Arc<Identity>>,
        spec: SelfBinding,
    ) -> Result<Self, Error> {
        let service: Arc<dyn LocationService> = Arc::new(service);
        let identity = identity.into();
        let call_id = format!("{}@lsp-ua", &identity.node_id().to_string()[..16]);
        let registered_until = publish(&*service, &identity, &spec, &call_id, 1).await?;
        let (stop, mut stopped) = watch::channel(false);
        let (status_tx, status) = watch::channel(RegistrationStatus {
            registered_until,
            failures: 0,
            last_error: None,
        });
        let task = tokio::spawn({
            let (service, identity, spec) = (service.clone(), identity.clone(), spec.clone());
            async move {
                let mut cseq = 1u32;
                let mut wait = spec.lifetime * 2 / 3;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stopped.changed() => return,
                    }
                    cseq = cseq.wrapping_add(1);
                    wait = match publish(&*service, &identity, &spec, &call_id, cseq).await {
                        Ok(registered_until) => {
                            status_tx.send_replace(RegistrationStatus {
                                registered_until,
                                failures: 0,
                                last_error: None,
                            });
                            spec.lifetime * 2 / 3
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, aor = %spec.aor.as_str(), "refresh failed");
                            status_tx.send_modify(|s| {
                                s.failures += 1;
                                s.last_error = Some(e.to_string());
                            });
                            (spec.lifetime / 10)
                                .clamp(Duration::from_millis(200), Duration::from_secs(30))
                        }
                    };
                }
            }
        });
        Ok(Self {
            service,
            identity,
            spec,
            stop,
            status,
            task: Some(task),
        })
    }

    /// How the refreshes are going.
    pub fn status(&self) -> RegistrationStatus {
        self.status.borrow().clone()
    }

    /// A receiver of every change of [`SelfRegistration::status`]: after
    /// each refresh that succeeds once more, and each one that fails.
    pub fn watch(&self) -> watch::Receiver<RegistrationStatus> {
        self.status.clone()
    }

    /// The live Contacts of `aor`, best first, for a direct call.
    pub async fn resolve(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        self.service.query(aor).await
    }

    /// Stops refreshing and removes the binding.
    pub async fn stop(mut self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.service
            .remove_binding(&self.identity, &self.spec.aor, &self.spec.contact)
            .await
            .map(|_| ())
    }
}

impl Drop for SelfRegistration {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn publish(
    service: &dyn LocationService,
    identity: &Identity,
    spec: &SelfBinding,
    call_id: &str,
    cseq: u32,
) -> Result<UnixTime, Error> {
    let until = UnixTime::now() + spec.lifetime;
    let mut binding = Binding::new(spec.contact.clone(), until, call_id, cseq);
    binding.q = spec.q;
    binding.instance = spec.instance.clone();
    service
        .refresh_binding(identity, &spec.aor, binding)
        .await
        .map(|_| until)
}
