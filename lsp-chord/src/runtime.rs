//! The async Chord node: a thin tokio task that feeds transport input and
//! timers into the sans-IO [`Chord`] and drains its outputs, the way
//! quinn's `ConnectionDriver` drives quinn-proto.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use lsp_core::{
    Aor, Binding, Error, LocationService, Lookup, PeerAddr, Published, ResourceId, SignedRecord,
    Transport,
};
use tokio::sync::{mpsc, oneshot};

use crate::node::{Chord, Event, OpId, Outcome, Status};
use crate::outbox::Outbox;
use crate::{Config, Health};

/// Send failures waiting for the driver.
const FAILURES_QUEUE: usize = 256;
/// Commands queued for the driver.
const COMMAND_QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<Outcome, Error>>;

enum Command {
    Join(Vec<PeerAddr>, Reply),
    Attach(Vec<PeerAddr>, Reply),
    Publish(Box<SignedRecord>, Reply),
    Query(Aor, Reply),
    Fetch(Aor, Reply),
    Lookup(ResourceId, Reply),
    Leave(Reply),
    Status(oneshot::Sender<Status>),
}

/// A running Chord node over any [`Transport`]. Cloning gives another
/// handle to the same node; the node stops when it has left or when the
/// last handle is dropped.
#[derive(Debug, Clone)]
pub struct ChordNode {
    commands: mpsc::Sender<Command>,
    local: PeerAddr,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl ChordNode {
    /// Starts a node on `transport` (on the current tokio runtime). It is
    /// idle until [`ChordNode::join`].
    pub fn spawn(transport: Arc<dyn Transport>, config: Config) -> Self {
        let local = transport.local();
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let chord = Chord::new(local, config);
        tokio::spawn(drive(chord, transport, rx));
        Self { commands, local }
    }

    /// This node's Node-ID and address.
    pub fn local(&self) -> PeerAddr {
        self.local
    }

    async fn call(&self, make: impl FnOnce(Reply) -> Command) -> Result<Outcome, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Joins the ring through any of `bootstrap`, or starts one when empty.
    pub async fn join(&self, bootstrap: &[PeerAddr]) -> Result<(), Error> {
        let boot = bootstrap.to_vec();
        self.call(|r| Command::Join(boot, r)).await.map(|_| ())
    }

    /// Uses the ring through `members` as a client, without joining it:
    /// no range, no ring upkeep, and no listening port needed, since
    /// members answer on the connections this node opens. Returns once a
    /// member has answered a lookup (see [`Chord::attach`]).
    pub async fn attach(&self, members: &[PeerAddr]) -> Result<(), Error> {
        let members = members.to_vec();
        self.call(|r| Command::Attach(members, r)).await.map(|_| ())
    }

    /// Hands this node's data to its successor and leaves the ring.
    pub async fn leave(&self) -> Result<(), Error> {
        self.call(Command::Leave).await.map(|_| ())
    }

    /// Neighbours, fingers, stored records, size estimate and counters.
    pub async fn status(&self) -> Result<Status, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Status(tx))
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// Whether the node serves now: [`Health::Isolated`] within
    /// [`Config::isolation_timeout`] of the last answer from any peer, and
    /// then `publish`, `query`, `fetch` and `lookup` fail with
    /// `Error::Isolated` until a peer answers again.
    pub async fn health(&self) -> Result<Health, Error> {
        Ok(self.status().await?.health)
    }
}

fn unexpected(o: Outcome) -> Error {
    Error::Decode(format!("unexpected outcome {o:?}"))
}

#[async_trait]
impl LocationService for ChordNode {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        match self.call(|r| Command::Publish(Box::new(record), r)).await? {
            Outcome::Published(p) => Ok(p),
            o => Err(unexpected(o)),
        }
    }

    async fn query(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        let aor = aor.clone();
        match self.call(|r| Command::Query(aor, r)).await? {
            Outcome::Bindings(b) => Ok(b),
            o => Err(unexpected(o)),
        }
    }

    async fn fetch(&self, aor: &Aor) -> Result<Vec<SignedRecord>, Error> {
        let aor = aor.clone();
        match self.call(|r| Command::Fetch(aor, r)).await? {
            Outcome::Records(r) => Ok(r),
            o => Err(unexpected(o)),
        }
    }

    async fn lookup(&self, id: ResourceId) -> Result<Lookup, Error> {
        match self.call(|r| Command::Lookup(id, r)).await? {
            Outcome::Lookup(l) => Ok(l),
            o => Err(unexpected(o)),
        }
    }
}

/// The driver: one task owns the state machine.
async fn drive(
    mut chord: Chord,
    transport: Arc<dyn Transport>,
    mut commands: mpsc::Receiver<Command>,
) {
    let mut waiting: HashMap<OpId, Reply> = HashMap::new();
    let (fail_tx, mut failures) = mpsc::channel::<PeerAddr>(FAILURES_QUEUE);
    let mut outbox = Outbox::new(transport.clone(), fail_tx);
    let mut dropped: u64 = 0;
    loop {
        let deadline = chord.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { break };
                let now = Instant::now();
                let (op, reply) = match cmd {
                    Command::Join(boot, r) => (chord.join(&boot, now), r),
                    Command::Attach(members, r) => (chord.attach(&members, now), r),
                    Command::Publish(rec, r) => (chord.publish(*rec, now), r),
                    Command::Query(aor, r) => (chord.query(aor, now), r),
                    Command::Fetch(aor, r) => (chord.fetch(aor, now), r),
                    Command::Lookup(id, r) => (chord.lookup(id, now), r),
                    Command::Leave(r) => (chord.leave(now), r),
                    Command::Status(r) => {
                        let mut status = chord.status();
                        status.counters.sends_dropped = dropped;
                        status.health = chord.health(Instant::now());
                        let _ = r.send(status);
                        continue;
                    }
                };
                waiting.insert(op, reply);
            }
            incoming = transport.recv() => match incoming {
                Ok(i) => {
                    let from = PeerAddr { id: i.from, addr: i.from_addr };
                    let handled = if i.enrolled {
                        chord.handle_enrolled_message(from, &i.frame, Instant::now())
                    } else {
                        chord.handle_message(from, &i.frame, Instant::now())
                    };
                    if let Err(e) = handled {
                        tracing::debug!("frame from {}: {e}", i.from);
                    }
                }
                Err(_) => break,
            },
            Some(peer) = failures.recv() => chord.handle_unreachable(peer, Instant::now()),
            () = sleep => chord.handle_timeout(Instant::now()),
        }
        while let Some(Event::Done { op, outcome }) = chord.poll_event() {
            if let Some(reply) = waiting.remove(&op) {
                let _ = reply.send(outcome);
            }
        }
        // Never waits for a peer: each has its own bounded queue.
        while let Some(t) = chord.poll_transmit() {
            if !outbox.send(t.to, t.frame) {
                dropped += 1;
            }
        }
        if chord.state() == crate::NodeState::Left && waiting.is_empty() {
            break;
        }
    }
    for (_, reply) in waiting.drain() {
        let _ = reply.send(Err(Error::Closed));
    }
    transport.close().await;
}
