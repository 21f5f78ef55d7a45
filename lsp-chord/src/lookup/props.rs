//! Properties of a lookup whatever its peers answer: it ends within its
//! hop bound, never routes through itself (a confirmation may ask it, and
//! the node answers from its own table), never asks one peer the same question
//! twice while it routes, and never asks one peer twice in one step of a
//! confirmation. (A step that follows a newer predecessor that then fails
//! asks the successor that named it once more: by then it may name a live
//! one.)

use proptest::prelude::*;

use super::*;
use crate::test_peers::peer;

/// Node-IDs of the ring the answers name (as bytes, see `peer`); `ME`
/// runs the lookup, and answers may name it too.
const ME: u8 = 0x10;
const RING: usize = 24;

/// What a peer does when asked, naming peers by index into the ring.
#[derive(Debug, Clone)]
enum Scripted {
    Fail,
    Useless,
    Successors(Vec<usize>),
    Closer(Vec<usize>),
    Neighbours(Option<usize>, Vec<usize>),
    /// Overdue: the lookup is told so, and the answer comes later.
    Slow,
}

/// A ring's peers, `ME` among them, and the same Node-IDs at other
/// addresses (a liar may name a live node's ID at a bogus address).
fn universe(ids: &[u8]) -> Vec<PeerAddr> {
    let mut all: Vec<PeerAddr> = ids.iter().map(|b| peer(*b)).collect();
    all.push(peer(ME));
    for b in ids.iter().take(4) {
        let mut bogus = peer(*b);
        bogus.addr.set_port(9);
        all.push(bogus);
    }
    all
}

fn arb_list() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..RING + 5, 0..10)
}

fn arb_reply() -> impl Strategy<Value = Scripted> {
    prop_oneof![
        1 => Just(Scripted::Fail),
        1 => Just(Scripted::Useless),
        1 => Just(Scripted::Slow),
        3 => arb_list().prop_map(Scripted::Successors),
        3 => arb_list().prop_map(Scripted::Closer),
        3 => (prop::option::of(0..RING + 5), arb_list())
            .prop_map(|(p, s)| Scripted::Neighbours(p, s)),
    ]
}

/// A lookup's settings: confirmed or not, the density checks on or off,
/// and how many opinions it gathers.
#[derive(Debug, Clone)]
struct Setup {
    ids: Vec<u8>,
    target: u8,
    candidates: Vec<usize>,
    confirm: bool,
    checks: bool,
    opinions: u32,
    /// How near a peer is asked in parallel (`None`: one at a time).
    reach: Option<f64>,
    replies: Vec<Scripted>,
}

fn arb_setup() -> impl Strategy<Value = Setup> {
    (
        prop::collection::btree_set(any::<u8>().prop_filter("not me", |b| *b != ME), RING),
        any::<u8>(),
        arb_list(),
        any::<bool>(),
        any::<bool>(),
        (1..4u32, prop::option::of(0.0..1.0f64)),
        prop::collection::vec(arb_reply(), 0..200),
    )
        .prop_map(
            |(ids, target, candidates, confirm, checks, (opinions, reach), replies)| Setup {
                ids: ids.into_iter().collect(),
                target,
                candidates,
                confirm,
                checks,
                opinions,
                reach,
                replies,
            },
        )
}

fn pick(all: &[PeerAddr], idx: &[usize]) -> Vec<PeerAddr> {
    idx.iter().map(|i| all[i % all.len()]).collect()
}

/// Runs a lookup against the scripted replies (a peer with no reply left
/// fails) and checks each question it asks.
fn run(s: &Setup) -> Result<(), TestCaseError> {
    let all = universe(&s.ids);
    let me = peer(ME).id;
    let mut l = Lookup::new(
        Point([s.target; 32]),
        me,
        pick(&all, &s.candidates),
        s.confirm,
        3,
    )
    .with_opinions(s.opinions)
    .with_parallel(s.reach);
    if s.checks {
        let gap = Point::from_fraction(4.0 / RING as f64);
        let density = Density {
            mean_gap: 1.0 / RING as f64,
            listed: 4,
        };
        l = l.with_max_gap(gap).with_density(Some(density));
    }
    let mut replies = s.replies.iter();
    let mut routed: Vec<(NodeId, Question)> = Vec::new();
    let mut confirm_asked: Vec<(u32, NodeId)> = Vec::new();
    let (mut route_asks, mut confirm_asks) = (0u32, 0u32);
    // Questions out, answered first asked first.
    let mut out: std::collections::VecDeque<PeerAddr> = Default::default();
    'lookup: loop {
        let (to, question) = match l.next() {
            Want::Ask(to, question) => (to, question),
            Want::Wait => {
                let Some(to) = out.pop_front() else {
                    return Err(TestCaseError::fail("waits with no question out"));
                };
                reply(&mut l, &all, to, replies.next(), &mut out);
                continue 'lookup;
            }
            Want::Done(_) => break,
            Want::Failed(_) => break,
        };
        if l.take_dropped() {
            out.clear();
        }
        let most = if s.reach.is_some() {
            s.opinions as usize
        } else {
            1
        };
        prop_assert!(
            l.in_flight() <= most,
            "{} questions held places",
            l.in_flight()
        );
        match &l.phase {
            Stage::Route { .. } => {
                prop_assert_ne!(to.id, me, "routed through itself");
                route_asks += 1;
                prop_assert!(
                    !routed.contains(&(to.id, question)),
                    "asked {:?} {:?} twice while routing",
                    to.id,
                    question
                );
                routed.push((to.id, question));
            }
            Stage::Confirm { steps, .. } => {
                confirm_asks += 1;
                prop_assert!(
                    !confirm_asked.contains(&(*steps, to.id)),
                    "asked {:?} twice in confirmation step {}",
                    to.id,
                    steps
                );
                confirm_asked.push((*steps, to.id));
            }
            Stage::Done(_) | Stage::Failed(_) => {
                return Err(TestCaseError::fail("asks after it ended"));
            }
        }
        prop_assert!(route_asks <= MAX_HOPS, "{route_asks} hops");
        prop_assert!(l.hops() <= MAX_HOPS);
        out.push_back(to);
    }
    // Each step asks each peer once at most.
    let steps = u32::try_from(all.len()).unwrap_or(u32::MAX) * (MAX_CONFIRM_STEPS + 1);
    prop_assert!(confirm_asks <= steps, "{confirm_asks} confirm asks");
    Ok(())
}

/// `to` answers as scripted; an overdue one goes to the back of `out`.
fn reply(
    l: &mut Lookup,
    all: &[PeerAddr],
    to: PeerAddr,
    scripted: Option<&Scripted>,
    out: &mut std::collections::VecDeque<PeerAddr>,
) {
    match scripted.cloned().unwrap_or(Scripted::Fail) {
        Scripted::Fail => l.on_failure(to),
        Scripted::Useless => l.on_response(to, Answer::Useless),
        Scripted::Successors(p) => l.on_response(to, Answer::Successors(pick(all, &p))),
        Scripted::Closer(p) => l.on_response(to, Answer::Closer(pick(all, &p))),
        Scripted::Neighbours(pred, succs) => l.on_response(
            to,
            Answer::Neighbours {
                predecessor: pred.map(|i| all[i % all.len()]),
                successors: pick(all, &succs),
            },
        ),
        Scripted::Slow => {
            l.on_slow(to);
            out.push_back(to);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_lookup_ends_within_its_bound_and_never_asks_itself_or_twice(s in arb_setup()) {
        run(&s)?;
    }
}
