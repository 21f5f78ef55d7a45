//! What a sender's frames may make this node hold: each attack is played
//! through the node's inputs, and the node must keep room for others.

use super::*;
use crate::node::requests::ANSWERS_PER_ORIGIN;

/// A stranger that sends `Forward`s for a key this node answers for, and
/// never acknowledges the `Routed` answers, holds at most its share of the
/// pending table; the rest are refused, and the node's own lookups still
/// go out.
#[test]
fn forwards_never_acknowledged_hold_only_their_senders_share() {
    let now = Instant::now();
    let cfg = Config {
        max_pending_requests: 256,
        ..Config::default()
    };
    let mut node = Chord::new(peer(0x10), cfg);
    node.state = NodeState::Joined;
    let succs = vec![peer(0x40), peer(0x60)];
    node.table
        .set_neighbours(Some(peer(0xf0)), succs, Vec::new());
    let stranger = peer(0x33);
    let forward = Request::Forward {
        target: [0x30; 32],
        origin: stranger,
        token: 7,
        hops: 1,
    };
    let mut refused = 0;
    for id in 0..1_000 {
        let frame = Message::Request {
            id,
            body: forward.clone(),
        };
        let frame = frame.encode().expect("encode");
        node.handle_message(stranger, &frame, now).expect("served");
        for t in std::iter::from_fn(|| node.poll_transmit()) {
            if let Ok(Message::Response {
                body: Response::Refused { .. },
                ..
            }) = Message::decode(&t.frame)
            {
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 1_000 - ANSWERS_PER_ORIGIN);
    // The node's own work still finds room.
    node.lookup(Point([0x90; 32]), now);
    let asked = requests(&mut node);
    assert!(
        !asked.is_empty()
            && asked
                .iter()
                .all(|(_, _, r)| matches!(r, Request::FindSuccessor { .. })),
        "{asked:?}"
    );
}
