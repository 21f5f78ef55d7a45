//! Admission: who is taken as a member, served as a client, or refused,
//! and how a node learns that the ring refuses it.

use super::*;

/// Bytes `b` in `range` whose `peer(b)` the rule admits, or does not.
fn pick(rule: lsp_core::Admission, range: std::ops::Range<u8>, admitted: bool) -> u8 {
    range
        .clone()
        .find(|b| rule.admits(&NodeId([*b; 32])) == admitted)
        .expect("half of all IDs carry one bit of work")
}

/// In a proof-of-work ring, a lookup answer that names a node without proof of
/// work is used without it: the node is never asked.
#[test]
fn a_lookup_answer_naming_a_node_without_work_does_not_use_it() {
    let now = Instant::now();
    let rule = lsp_core::Admission::Work { bits: 1 };
    let (hop, bad, good) = (
        pick(rule, 0x20..0x30, true),
        // The one without work is the nearer the target: asked first, were
        // it not left out.
        pick(rule, 0x50..0x6f, false),
        pick(rule, 0x30..0x50, true),
    );
    let mut node = joined(0xf0, &[hop]);
    node.set_admission(rule);
    node.lookup(Point([0x70; 32]), now);
    let [(to, id, _)] = requests(&mut node)[..] else {
        panic!("one request")
    };
    assert_eq!(to, peer(hop));
    let hints = vec![peer(bad), peer(good)];
    answer(&mut node, to, id, Response::Closer { peers: hints }, now);
    let asked: Vec<PeerAddr> = requests(&mut node).into_iter().map(|r| r.0).collect();
    assert_eq!(asked, vec![peer(good)]);
}

/// In a proof-of-work ring, a node without proof of work is served as a client:
/// its lookups are answered, but its ping, notify or answers never make
/// it a neighbour.
#[test]
fn a_node_without_work_is_served_as_a_client_and_never_installed() {
    let now = Instant::now();
    let rule = lsp_core::Admission::Work { bits: 1 };
    // Between the predecessor 0xf0 and the node 0x10: a closer predecessor.
    let stranger = peer(pick(rule, 0x01..0x10, false));
    let mut node = joined(0xf0, &[0x20, 0x30]);
    node.set_admission(rule);
    let ask = |node: &mut Chord, id: u64, body: Request| {
        let frame = Message::Request { id, body }.encode().expect("encode");
        node.handle_message(stranger, &frame, now).expect("served");
        std::iter::from_fn(|| node.poll_transmit()).collect::<Vec<_>>()
    };
    let out = ask(&mut node, 1, Request::Ping);
    assert_eq!(out.len(), 1, "an Ack, and no asking back");
    let out = ask(&mut node, 2, Request::Notify);
    assert!(matches!(
        Message::decode(&out[0].frame),
        Ok(Message::Response {
            body: Response::Refused { .. },
            ..
        })
    ));
    let out = ask(&mut node, 3, Request::FindSuccessor { target: [0x18; 32] });
    assert!(matches!(
        Message::decode(&out[0].frame),
        Ok(Message::Response {
            body: Response::Successors { .. },
            ..
        })
    ));
    assert_eq!(node.predecessor(), Some(peer(0xf0)));
    assert!(node.successors().iter().all(|p| p.id != stranger.id));
}

/// A request that does not decode, but whose id can be read, is refused
/// at once: the asker does not wait through its retries.
#[test]
fn a_malformed_request_is_refused_not_left_to_time_out() {
    let now = Instant::now();
    let mut node = joined(0xf0, &[0x20]);
    // Fetch (5) of an AOR that is not canonical, as request 9.
    let mut frame = vec![crate::wire::PROTOCOL_VERSION, 0, 9, 5, 9];
    frame.extend_from_slice(b"SIP:a@b.c");
    assert!(node.handle_message(peer(0x30), &frame, now).is_err());
    let t = node.poll_transmit().expect("an answer");
    assert_eq!(t.to, peer(0x30));
    let Ok(Message::Response {
        id: 9,
        body:
            Response::Refused {
                code: RefusalCode::Malformed,
                reason,
            },
    }) = Message::decode(&t.frame)
    else {
        panic!("not a refusal of request 9 as malformed")
    };
    assert!(reason.starts_with("malformed request"), "{reason}");
    assert_eq!(node.status().counters.malformed, 1);
}

fn closed_ring() -> lsp_core::Admission {
    lsp_core::Admission::Enrolled {
        ring: lsp_core::Identity::from_secret_bytes([0xee; 32]).public_key(),
    }
}

/// In a closed ring, a sender the transport did not vouch for is served
/// as a client, whatever its Node-ID; one it vouched for is a member.
#[test]
fn in_a_closed_ring_only_an_enrolled_sender_is_taken_as_a_member() {
    let now = Instant::now();
    let mut node = joined(0xf0, &[0x20, 0x30]);
    node.set_admission(closed_ring());
    let claimant = peer(0x08);
    let notify = Message::Request {
        id: 1,
        body: Request::Notify,
    }
    .encode()
    .expect("encode");
    node.handle_message(claimant, &notify, now).expect("served");
    let out: Vec<_> = std::iter::from_fn(|| node.poll_transmit()).collect();
    assert!(matches!(
        &out[..],
        [t] if matches!(
            Message::decode(&t.frame),
            Ok(Message::Response { body: Response::Refused { .. }, .. })
        )
    ));
    // Its answers are not taken either.
    node.lookup(Point([0x25; 32]), now);
    let [(to, id, _)] = requests(&mut node)[..] else {
        panic!("one request")
    };
    let lie = Message::Response {
        id,
        body: Response::Successors {
            peers: vec![claimant],
        },
    };
    node.handle_message(to, &lie.encode().expect("encode"), now)
        .expect("read");
    assert!(
        node.poll_event().is_none(),
        "an unvouched answer is dropped"
    );
    assert!(
        requests(&mut node).iter().all(|r| r.0 != claimant),
        "nor is the peer it names asked"
    );

    node.handle_enrolled_message(claimant, &notify, now)
        .expect("served");
    let asked = requests(&mut node);
    assert!(
        matches!(&asked[..], [(p, _, Request::GetNeighbours)] if *p == claimant),
        "an enrolled claimant is checked as a predecessor: {asked:?}"
    );
}

/// A node whose successor refuses its Notify as `NotAdmitted` is not a
/// member, whatever its join said: its health says so and it takes no
/// user operation. A refusal for another reason (not in a ring yet, busy)
/// says nothing of admission: the node stays a member.
#[test]
fn a_node_refused_as_a_member_says_so_and_takes_no_work() {
    for (code, want) in [
        (RefusalCode::NotInRing, Health::Healthy),
        (RefusalCode::Busy, Health::Healthy),
        (RefusalCode::NotAdmitted, Health::NotAdmitted),
    ] {
        let now = Instant::now();
        let mut node = joined(0xf0, &[0x20]);
        node.set_admission(closed_ring());
        let purpose = requests::Purpose::Notify;
        let maintenance = outputs::Traffic::Maintenance;
        let _ = (node.io).request(peer(0x20), Request::Notify, purpose, maintenance, 0);
        let [(to, id, Request::Notify)] = requests(&mut node)[..] else {
            panic!("a notify")
        };
        let refusal = Message::Response {
            id,
            body: Response::refused(code, "refused"),
        };
        node.handle_enrolled_message(to, &refusal.encode().expect("encode"), now)
            .expect("read");
        assert_eq!(node.health(now), want, "{code:?}");
        if want == Health::NotAdmitted {
            let op = node.lookup(Point([0x25; 32]), now);
            assert!(matches!(
                node.poll_event(),
                Some(Event::Done { op: o, outcome: Err(Error::NotAdmitted(_)) }) if o == op
            ));
        }
    }
}

/// One successor's refusal is not the ring's: the node asks the next
/// successor, stays a member while that one takes it, and counts as
/// refused once most of its successors refused and none took it.
#[test]
fn one_refusing_successor_cannot_switch_a_member_off() {
    for second_refuses in [false, true] {
        let now = Instant::now();
        let mut node = joined(0xf0, &[0x20, 0x30, 0x40]);
        node.set_admission(closed_ring());
        let purpose = requests::Purpose::Notify;
        let maintenance = outputs::Traffic::Maintenance;
        let _ = (node.io).request(peer(0x20), Request::Notify, purpose, maintenance, 0);
        let [(hostile, id, Request::Notify)] = requests(&mut node)[..] else {
            panic!("a notify")
        };
        let refusal = |id| Message::Response {
            id,
            body: Response::refused(RefusalCode::NotAdmitted, "not admitted as a ring member"),
        };
        node.handle_enrolled_message(hostile, &refusal(id).encode().expect("encode"), now)
            .expect("read");
        assert_eq!(node.health(now), Health::Healthy, "one refusal of three");
        let [(next, id, Request::Notify)] = requests(&mut node)[..] else {
            panic!("the next successor is asked")
        };
        assert_eq!(next, peer(0x30));
        let answer = if second_refuses {
            refusal(id)
        } else {
            Message::Response {
                id,
                body: Response::Ack,
            }
        };
        node.handle_enrolled_message(next, &answer.encode().expect("encode"), now)
            .expect("read");
        let want = if second_refuses {
            Health::NotAdmitted
        } else {
            Health::Healthy
        };
        assert_eq!(node.health(now), want);
        assert!(requests(&mut node).is_empty(), "the verdict is in");
    }
}

/// In a closed ring, a successor whose enrollment ran out keeps talking
/// (its frames now arrive unvouched for) but its answers count for
/// nothing: it is not heard as a member, so when stabilize goes
/// unanswered it is dropped, instead of staying the successor for ever.
#[test]
fn an_expired_member_that_keeps_talking_is_dropped() {
    let t0 = Instant::now();
    let mut node = joined(0xf0, &[0x20, 0x30]);
    node.set_admission(closed_ring());
    let (expired, next) = (peer(0x20), peer(0x30));
    node.table.stabilize(&mut node.io, 0);
    let asked = requests(&mut node);
    assert!(matches!(&asked[..], [(p, _, Request::GetNeighbours)] if *p == expired));
    let ping = Message::Request {
        id: 5,
        body: Request::Ping,
    }
    .encode()
    .expect("encode");
    let mut t = t0;
    for _ in 0..60 {
        t += Duration::from_millis(100);
        node.handle_message(expired, &ping, t)
            .expect("a stranger's ping");
        node.handle_timeout(t);
        let _ = requests(&mut node);
        if node.successors().first() != Some(&expired) {
            break;
        }
    }
    assert_eq!(
        node.successors().first(),
        Some(&next),
        "{:?}",
        node.successors()
    );
}
