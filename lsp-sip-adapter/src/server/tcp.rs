//! SIP over TCP: accepted connections up to a bound, each read frame by
//! frame with an idle timeout and a bound on its requests in flight, and
//! written through a queue bounded in bytes with a write timeout.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::Instant;
use tracing::debug;

use super::framer::Framer;
use super::path::{ReturnPath, TcpOut};
use super::shared::Core;
use lsp_core::address_share;

pub(super) async fn accept(
    core: Arc<Core>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let conns = Arc::new(Semaphore::new(core.limits.tcp_connections.max(1)));
    let per_source = Arc::new(PerSource::default());
    loop {
        let (stream, source) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Some(share) = PerSource::take(&per_source, source, core.limits.tcp_per_source) else {
            debug!(%source, "refusing a TCP connection past its source's share");
            drop(stream);
            continue;
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let core = core.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _held = (permit, share);
            connection(core, stream, source, stop).await;
        });
    }
}

/// Connections held per source share (`lsp_core::address_share`).
#[derive(Default)]
struct PerSource(Mutex<HashMap<IpAddr, usize>>);

/// One connection of a source; dropping it gives the place back.
struct Share {
    table: Arc<PerSource>,
    source: IpAddr,
}

impl PerSource {
    fn take(table: &Arc<Self>, from: SocketAddr, cap: usize) -> Option<Share> {
        let source = address_share(from.ip());
        let mut held = table.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(source).or_insert(0);
        if *n >= cap.max(1) {
            return None;
        }
        *n += 1;
        let table = table.clone();
        Some(Share { table, source })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = (self.table.0)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.source);
            }
        }
    }
}

async fn connection(
    core: Arc<Core>,
    stream: TcpStream,
    source: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (queue, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let out = TcpOut {
        queue,
        queued: Arc::new(AtomicUsize::new(0)),
        cap: core.limits.tcp_write_queue,
        kill: Arc::new(Notify::new()),
    };
    let (queued, kill, write_timeout) = (
        out.queued.clone(),
        out.kill.clone(),
        core.limits.tcp_write_timeout,
    );
    let (finish, mut finished) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        loop {
            let b = tokio::select! {
                biased;
                b = rx.recv() => b,
                _ = &mut finished => None,
            };
            let Some(b) = b else { break };
            let written = tokio::time::timeout(write_timeout, wr.write_all(&b)).await;
            queued.fetch_sub(b.len(), Ordering::AcqRel);
            if !matches!(written, Ok(Ok(()))) {
                debug!("closing a TCP connection whose writes stall");
                kill.notify_one();
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    // Bounds this connection's share of the answering work: it is not read
    // further while its requests are being answered.
    let working = Arc::new(Semaphore::new(core.limits.tcp_in_flight.max(1)));
    let mut buf = BytesMut::with_capacity(4096);
    let mut framer = Framer::default();
    let mut killed = false;
    // When the message now in `buf` began, if one did.
    let mut begun: Option<Instant> = None;
    'conn: loop {
        let idle = Instant::now() + core.limits.tcp_idle;
        let deadline = begun.map_or(idle, |t| (t + core.limits.tcp_message_timeout).min(idle));
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, rd.read_buf(&mut buf)) => r,
            _ = out.kill.notified() => {
                killed = true;
                break;
            }
            _ = stop.changed() => break,
        };
        match read {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
        begun = begun.or(Some(Instant::now()));
        loop {
            match framer.next_len(&buf) {
                Ok(None) => break,
                Ok(Some(len)) => {
                    let frame = buf.split_to(len).freeze();
                    begun = (!buf.is_empty()).then(Instant::now);
                    let permit = tokio::select! {
                        p = working.clone().acquire_owned() => p,
                        _ = out.kill.notified() => {
                            killed = true;
                            break 'conn;
                        }
                    };
                    let Ok(permit) = permit else { break 'conn };
                    core.on_bytes(&frame, source, ReturnPath::Tcp(out.clone()), Some(permit));
                }
                Err(m) => {
                    // The stream cannot be resynchronized: answer if we
                    // can, then close.
                    if let Some(r) = m.response(source) {
                        out.send(r.to_bytes().into());
                    }
                    break 'conn;
                }
            }
        }
    }
    if killed {
        writer.abort();
    } else {
        // Flush what is queued, within the write timeout.
        let _ = finish.send(());
        let _ = tokio::time::timeout(core.limits.tcp_write_timeout, writer).await;
    }
}
