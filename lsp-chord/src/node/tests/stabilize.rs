//! What a stabilize answer passes on to the predecessor.

use super::*;

/// Runs one stabilize round whose successor answers with `successors`,
/// and returns the requests it led to.
fn stabilize_with(node: &mut Chord, successors: &[u8], now: Instant) -> Vec<(PeerAddr, Request)> {
    node.table.stabilize(&mut node.io, 0);
    let [(to, id, Request::GetNeighbours)] = requests(node)[..] else {
        panic!("stabilize asks the successor for its neighbours")
    };
    let body = Response::Neighbours {
        predecessor: Some(peer(0x10)),
        successors: successors.iter().map(|b| peer(*b)).collect(),
        farther_predecessors: vec![],
    };
    answer(node, to, id, body, now);
    requests(node)
        .into_iter()
        .map(|(to, _, r)| (to, r))
        .collect()
}

/// A successor list that grew (a node joined past the successor) is
/// passed on at once: the predecessor is told to stabilize now, not a
/// period later. A list that did not change tells no one.
#[test]
fn a_changed_successor_list_hints_the_predecessor_and_an_unchanged_one_does_not() {
    let now = Instant::now();
    let mut node = joined(0xf0, &[0x20]);
    let sent = stabilize_with(&mut node, &[0x30, 0x10], now);
    assert_eq!(node.table.succs(), &[peer(0x20), peer(0x30)]);
    assert!(
        sent.contains(&(peer(0xf0), Request::StabilizeHint)),
        "the predecessor is hinted: {sent:?}"
    );
    let sent = stabilize_with(&mut node, &[0x30, 0x10], now);
    assert!(
        !sent.iter().any(|(_, r)| *r == Request::StabilizeHint),
        "nothing changed, no hint: {sent:?}"
    );
}
