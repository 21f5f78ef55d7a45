//! The async Chord node: a thin tokio task that feeds transport input and
//! timers into the sans-IO [`Chord`] and drains its outputs, the way
//! quinn's `ConnectionDriver` drives quinn-proto.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;
use lsp_core::{
    Aor, Binding, Error, Identity, LocationService, Lookup, OwnRecord, PeerAddr, Published, Record,
    ResourceId, SignedRecord, Transport,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::node::batch::Arrived;
use crate::node::{Chord, Event, OpId, Outcome, Status};
use crate::outbox::{Outbox, SendFailed};
use crate::{Config, Health};

/// Send failures waiting for the driver.
const FAILURES_QUEUE: usize = 256;
/// Commands queued for the driver.
const COMMAND_QUEUE: usize = 1024;

/// Frames taken from the transport in one turn, at most: enough for a
/// batch check to pay, few enough that commands and timers wait little.
const RECEIVE_BATCH: usize = 32;

type Reply = oneshot::Sender<Result<Outcome, Error>>;

enum Command {
    Join(Vec<PeerAddr>, Reply),
    Attach(Vec<PeerAddr>, Reply),
    Publish(Box<SignedRecord>, Reply),
    PublishOwn(Box<OwnRecord>, Reply),
    PublishOwnReplacing(Box<OwnRecord>, u64, Reply),
    Query(Aor, Reply),
    Fetch(Aor, Reply),
    Lookup(ResourceId, Reply),
    Leave(Reply),
    Status(oneshot::Sender<Status>),
}

/// How often [`ChordNode::ready`] looks at the node's status.
const READY_POLL: Duration = Duration::from_millis(20);

/// A running Chord node over any [`Transport`]. Cloning gives another
/// handle to the same node; the node stops when it has left or when the
/// last handle is dropped.
///
/// ```no_run
/// use lsp_chord::{ChordNode, Config};
/// use lsp_transport::{Identity, QuicTransport, TransportConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let key = Identity::generate()?;
/// let quic = QuicTransport::bind(&key, "0.0.0.0:7000".parse()?, TransportConfig::default())?;
/// // Joins through a member ("<node-id>@<address>") and returns once
/// // the node's neighbours are settled.
/// let boot = "5f1c...@192.0.2.1:7000".parse()?;
/// let node = ChordNode::builder(quic).config(Config::lan()).join(&[boot]).await?;
/// println!("member of a ring of about {:.0}", node.status().await?.estimated_size);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ChordNode {
    commands: mpsc::Sender<Command>,
    local: PeerAddr,
    health: watch::Receiver<Health>,
}

/// Starts a [`ChordNode`]: [`ChordNode::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until spawn, join or attach"]
pub struct NodeBuilder {
    transport: Arc<dyn Transport>,
    config: Config,
}

impl NodeBuilder {
    /// Uses `config` (a preset such as [`Config::lan`], with changes)
    /// instead of [`Config::default`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Starts the node, idle until [`ChordNode::join`] or
    /// [`ChordNode::attach`].
    pub fn spawn(self) -> ChordNode {
        ChordNode::spawn(self.transport, self.config)
    }

    /// Starts the node and joins the ring through any of `bootstrap` (a
    /// new ring when empty), then waits until its neighbours are settled
    /// ([`ChordNode::ready`]), at most the configured operation timeout.
    pub async fn join(self, bootstrap: &[PeerAddr]) -> Result<ChordNode, Error> {
        let wait = self.config.operation_timeout;
        let node = self.spawn();
        node.join(bootstrap).await?;
        node.ready(wait).await?;
        Ok(node)
    }

    /// Starts the node and uses the ring through `members` as a client
    /// ([`ChordNode::attach`]).
    pub async fn attach(self, members: &[PeerAddr]) -> Result<ChordNode, Error> {
        let node = self.spawn();
        node.attach(members).await?;
        Ok(node)
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl ChordNode {
    /// A node on `transport` (a `QuicTransport`, say, as it is or in an
    /// `Arc`), with [`Config::default`] unless told otherwise.
    pub fn builder(transport: impl Transport) -> NodeBuilder {
        NodeBuilder {
            transport: Arc::new(transport),
            config: Config::default(),
        }
    }

    /// Starts a node on `transport` (on the current tokio runtime). It is
    /// idle until [`ChordNode::join`].
    pub fn spawn(transport: impl Transport, config: Config) -> Self {
        let transport: Arc<dyn Transport> = Arc::new(transport);
        let local = transport.local();
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let (health_tx, health) = watch::channel(Health::Joining);
        let chord = Chord::new(local, config);
        tokio::spawn(drive(chord, transport, rx, health_tx));
        Self {
            commands,
            local,
            health,
        }
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
    ///
    /// It returns once the node has found its successor and taken its
    /// place: it serves from then on. Its predecessor, successor list and
    /// fingers fill in over the next upkeep rounds; [`ChordNode::ready`]
    /// waits for that.
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

    /// Waits until the node's neighbours are settled ([`Status::settled`]):
    /// it has a predecessor and its successor names it as its own (or it
    /// is alone in its ring). A client is ready once attached. Fails with
    /// `Error::Timeout` after `timeout`, `Error::NotJoined` if neither
    /// `join` nor `attach` was called, and `Error::Closed` after leaving;
    /// at once with `Error::NotAdmitted` when the ring refuses it as a
    /// member and `Error::Isolated` when its peers have gone silent, since
    /// waiting out the timeout would not make it serve.
    pub async fn ready(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status().await?;
            match status.health {
                Health::NotAdmitted => {
                    return Err(Error::NotAdmitted(
                        "the ring refuses this node as a member; attach as a client",
                    ));
                }
                Health::Isolated { silent } => return Err(Error::Isolated { silent }),
                _ => {}
            }
            match status.state {
                crate::NodeState::Client => return Ok(()),
                crate::NodeState::Left => return Err(Error::Closed),
                crate::NodeState::Joined if status.settled => return Ok(()),
                // Idle: `join` may be on its way from another handle.
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(match status.state {
                    crate::NodeState::Idle => Error::NotJoined,
                    _ => Error::Timeout,
                });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// The node's health now and whenever it changes kind (the `silent`
    /// of [`Health::Isolated`] is as of the change): `changed().await` on
    /// the receiver wakes on each change.
    pub fn watch_health(&self) -> watch::Receiver<Health> {
        self.health.clone()
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
    tracing::error!("the node answered a call with {o:?}");
    Error::Internal("the node answered a call with another call's outcome")
}

#[async_trait]
impl LocationService for ChordNode {
    async fn publish(&self, record: SignedRecord) -> Result<Published, Error> {
        match self.call(|r| Command::Publish(Box::new(record), r)).await? {
            Outcome::Published(p) => Ok(p),
            o => Err(unexpected(o)),
        }
    }

    async fn publish_own(&self, record: OwnRecord) -> Result<Published, Error> {
        match self
            .call(|r| Command::PublishOwn(Box::new(record), r))
            .await?
        {
            Outcome::Published(p) => Ok(p),
            o => Err(unexpected(o)),
        }
    }

    async fn publish_as_replacing(
        &self,
        signer: &Arc<Identity>,
        record: Record,
        replaces: u64,
    ) -> Result<Published, Error> {
        let own = Box::new(record.sign_own(signer)?);
        match self
            .call(|r| Command::PublishOwnReplacing(own, replaces, r))
            .await?
        {
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
    health: watch::Sender<Health>,
) {
    let mut waiting: HashMap<OpId, Reply> = HashMap::new();
    let (fail_tx, mut failures) = mpsc::channel::<SendFailed>(FAILURES_QUEUE);
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
                    Command::PublishOwn(rec, r) => (chord.publish_own(*rec, now), r),
                    Command::PublishOwnReplacing(rec, replaces, r) => {
                        (chord.publish_own_replacing(*rec, replaces, now), r)
                    }
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
                Ok(first) => {
                    // What else has arrived is handled with it, so that the
                    // records it carries are checked in one batch.
                    let mut batch = vec![first];
                    let mut closed = false;
                    while batch.len() < RECEIVE_BATCH {
                        match transport.recv().now_or_never() {
                            Some(Ok(i)) => batch.push(i),
                            Some(Err(_)) => {
                                closed = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    let arrived: Vec<Arrived<'_>> = batch
                        .iter()
                        .map(|i| Arrived {
                            from: PeerAddr { id: i.from, addr: i.from_addr },
                            frame: &i.frame,
                            enrolled: i.enrolled,
                        })
                        .collect();
                    let handled = chord.handle_messages(&arrived, Instant::now());
                    for (a, result) in arrived.iter().zip(handled) {
                        if let Err(e) = result {
                            tracing::debug!("frame from {}: {e}", a.from.id);
                        }
                    }
                    if closed {
                        break;
                    }
                }
                Err(_) => break,
            },
            Some(failed) = failures.recv() => match failed.not_enrolled {
                true => chord.handle_not_enrolled(failed.to, Instant::now()),
                false => chord.handle_unreachable(failed.to, Instant::now()),
            },
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
        let now_health = chord.health(Instant::now());
        health.send_if_modified(|h| {
            let changed = std::mem::discriminant(h) != std::mem::discriminant(&now_health);
            if changed {
                *h = now_health;
            }
            changed
        });
        if chord.state() == crate::NodeState::Left && waiting.is_empty() {
            break;
        }
    }
    for (_, reply) in waiting.drain() {
        let _ = reply.send(Err(Error::Closed));
    }
    transport.close().await;
}
