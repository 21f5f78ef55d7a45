//! What the transports share: parsing a message, asking the transaction
//! layer what it is, answering it (holding an in-flight permit only for
//! the answering work), and the transaction timers.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::Instant;

use bytes::Bytes;
use ezk_sip_types::Method;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tracing::debug;

use super::SipLimits;
use super::path::ReturnPath;
use crate::message::{self, Inbound, Request, Response};
use crate::service::SipService;
use crate::tags::ToTags;
use crate::transaction::{Arrival, Sent, TransactionLayer, TxKey, TxStats};

pub(super) struct Transactions {
    pub(super) layer: TransactionLayer<ReturnPath>,
    /// When the timer task is due to wake, so that only an earlier timer
    /// needs to wake it.
    pub(super) wakes_at: Option<Instant>,
}

pub(super) struct Core {
    pub(super) service: Arc<SipService>,
    /// The service's To tags, for the answers made here and for ACKs.
    pub(super) tags: Arc<ToTags>,
    pub(super) txs: Mutex<Transactions>,
    pub(super) timer: Notify,
    pub(super) permits: Arc<Semaphore>,
    pub(super) limits: SipLimits,
    /// UDP datagrams shed unread from a source over its share while a
    /// socket backed up.
    pub(super) intake_shed: AtomicU64,
}

impl Core {
    pub(super) fn stats(&self) -> TxStats {
        let mut stats = self.lock().layer.stats();
        stats.intake_shed = self.intake_shed.load(std::sync::atomic::Ordering::Relaxed);
        stats
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Transactions> {
        // A panic under the lock leaves the table as consistent as any
        // single update does; keep serving.
        self.txs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one parsed request; `len` is its size on the wire.
    fn dispatch(
        self: &Arc<Self>,
        request: Request,
        len: usize,
        source: SocketAddr,
        reply: ReturnPath,
        hold: Option<OwnedSemaphorePermit>,
    ) {
        let now = Instant::now();
        let ip = source.ip();
        let reliable = !reply.is_udp();
        if request.method == Method::ACK {
            let invite = TxKey::of(&request, &Method::INVITE);
            let proves = self.tags.proves(&request, ip);
            self.lock().layer.on_ack(now, &invite, ip, len, proves);
            return;
        }
        let key = TxKey::of(&request, &request.method);
        let cancels =
            (request.method == Method::CANCEL).then(|| TxKey::of(&request, &Method::INVITE));
        let arrival = self.lock().layer.on_request(
            now,
            key.clone(),
            cancels.as_ref(),
            Sent {
                source: ip,
                len,
                reliable,
            },
            reply.clone(),
        );
        // Over UDP, an answer the layer made goes out only if the source
        // paid for it (`TransactionLayer::may_answer`).
        let answer = |mut response: Response| {
            if !reliable {
                response.fit(len);
            }
            let bytes: Bytes = response.to_bytes().into();
            if reliable || self.lock().layer.may_answer(now, ip, len, bytes.len()) {
                reply.send(bytes);
            }
        };
        match arrival {
            Arrival::Absorb => {}
            Arrival::Resend(bytes) => reply.send(bytes),
            Arrival::Trying => answer(local_response(&request, source, 100, "Trying")),
            Arrival::Busy(why) => {
                debug!(%source, ?why, "refused a request");
                answer(busy(&request, source));
            }
            Arrival::New {
                cancels: Some(found),
            } => {
                let (code, reason) = if found {
                    (200, "OK")
                } else {
                    (481, "Call/Transaction Does Not Exist")
                };
                let response = local_response(&request, source, code, reason)
                    .with_to_tag(self.tags.tag(&request, ip));
                self.finish(&key, code, response.to_bytes().into(), &reply);
            }
            Arrival::New { cancels: None } => {
                let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                    self.lock().layer.abandon(&key);
                    answer(busy(&request, source));
                    return;
                };
                let core = self.clone();
                let mut request = request;
                request.stamp_source(source);
                // A small datagram from an address not proved must not buy
                // a large answer toward it: it may be spoofed. The answer is
                // made to fit what the address paid; one that cannot (a 302
                // always names its first Contact) waits for a retransmission.
                request.set_response_budget(self.lock().layer.budget(&key));
                run_or_spawn(async move {
                    let answer = core.service.handle(&request, source).await;
                    drop((permit, hold));
                    let Some(mut response) = answer else {
                        core.lock().layer.abandon(&key);
                        return;
                    };
                    if request.method == Method::INVITE && core.lock().layer.is_cancelled(&key) {
                        response = local_response(&request, source, 487, "Request Terminated")
                            .with_to_tag(core.tags.tag(&request, source.ip()));
                    }
                    core.finish(&key, response.code, response.to_bytes().into(), &reply);
                });
            }
        }
    }

    /// Records the final response of `key` and sends it once if it is paid
    /// for; the layer resends and retransmits it as its timers say.
    fn finish(&self, key: &TxKey, code: u16, bytes: Bytes, reply: &ReturnPath) {
        let (wake, send) = {
            let mut txs = self.lock();
            let send = txs.layer.complete(Instant::now(), key, code, bytes.clone());
            let next = txs.layer.poll_timeout();
            (
                next.is_some_and(|n| txs.wakes_at.is_none_or(|w| n < w)),
                send,
            )
        };
        if wake {
            self.timer.notify_one();
        }
        if send {
            reply.send(bytes);
        }
    }

    /// Handles one message; `hold` is kept until its answer is made.
    pub(super) fn on_bytes(
        self: &Arc<Self>,
        bytes: &[u8],
        source: SocketAddr,
        reply: ReturnPath,
        hold: Option<OwnedSemaphorePermit>,
    ) {
        match message::parse(bytes) {
            Ok(Inbound::Request(request)) => {
                self.dispatch(*request, bytes.len(), source, reply, hold)
            }
            Ok(Inbound::Response) => debug!(%source, "dropped a response"),
            Ok(Inbound::KeepAlive) => {
                if !reply.is_udp() {
                    reply.send(Bytes::from_static(b"\r\n"));
                }
            }
            Err(m) => {
                debug!(%source, code = m.code, reason = %m.reason, "refused a message");
                if let Some(r) = m.response(source) {
                    let r: Bytes = r.with_header("Server", "lsp-sip-adapter").to_bytes().into();
                    // Over UDP the sender is not known to be there: never
                    // more than it sent.
                    if !reply.is_udp() || r.len() <= bytes.len() {
                        reply.send(r);
                    }
                }
            }
        }
    }
}

/// Polls `work` once here and spawns it only if it must wait: an answer from
/// an in-process store is then made with no task and no wake-up.
fn run_or_spawn(work: impl Future<Output = ()> + Send + 'static) {
    let mut work = Box::pin(work);
    let mut cx = Context::from_waker(Waker::noop());
    if work.as_mut().poll(&mut cx).is_pending() {
        // Polled again on its task, with a waker that counts.
        tokio::spawn(work);
    }
}

/// Runs the transaction timers: one task, one queue.
pub(super) async fn timer_loop(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let mut out = Vec::new();
    loop {
        let next = {
            let mut txs = core.lock();
            txs.layer.handle_timeout(Instant::now(), &mut out);
            let next = txs.layer.poll_timeout();
            txs.wakes_at = next;
            next
        };
        for (reply, bytes) in out.drain(..) {
            reply.send(bytes);
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = core.timer.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// A bare response made by the transaction layer itself.
fn local_response(request: &Request, source: SocketAddr, code: u16, reason: &str) -> Response {
    let mut echo = request.echo.clone();
    echo.stamp_source(source);
    Response::new(code, reason, echo).with_header("Server", "lsp-sip-adapter")
}

fn busy(request: &Request, source: SocketAddr) -> Response {
    local_response(request, source, 503, "Service Unavailable").with_header("Retry-After", "1")
}
