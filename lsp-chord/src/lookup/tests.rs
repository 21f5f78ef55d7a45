use super::*;
use crate::test_peers::peer;

fn target(b: u8) -> Point {
    Point([b; 32])
}

/// A lookup by node 0x10, unconfirmed unless `confirm`.
fn lookup(t: u8, candidates: &[u8], confirm: bool) -> Lookup {
    let peers = candidates.iter().map(|b| peer(*b)).collect();
    Lookup::new(target(t), peer(0x10).id, peers, confirm, 3)
}

fn peers(bs: &[u8]) -> Vec<PeerAddr> {
    bs.iter().map(|b| peer(*b)).collect()
}

fn asks(l: &mut Lookup, b: u8, q: Question) {
    assert_eq!(l.next(), Want::Ask(peer(b), q));
}

#[test]
fn hints_lead_to_the_owner() {
    let mut l = lookup(0x70, &[0x20], false);
    asks(&mut l, 0x20, Question::FindSuccessor);
    assert_eq!(l.next(), Want::Wait, "one question at a time");
    l.on_response(peer(0x20), Answer::Closer(peers(&[0x60, 0x50])));
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_response(peer(0x60), Answer::Successors(peers(&[0x80, 0x90, 0x80])));
    assert_eq!(l.next(), Want::Done(peers(&[0x80, 0x90])));
    assert_eq!(l.hops(), 2);
}

#[test]
fn a_hop_whose_hints_are_not_closer_is_a_liar_and_is_dropped() {
    let mut l = lookup(0x70, &[0x40, 0x30], false);
    asks(&mut l, 0x40, Question::FindSuccessor);
    // 0x30 is behind the responder, 0x90 past the target; 0x60 is fine.
    l.on_response(peer(0x40), Answer::Closer(peers(&[0x30, 0x90, 0x60])));
    assert_eq!(l.lies(), 1);
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_failure(peer(0x60));
    // The liar is not walked along: the next candidate is asked.
    asks(&mut l, 0x30, Question::FindSuccessor);
}

#[test]
fn owners_claimed_farther_than_the_rings_density_allows_are_a_lie() {
    let gap = Point::from_fraction(0x20 as f64 / 256.0);
    let mut l = lookup(0x70, &[0x60, 0x50], false).with_max_gap(gap);
    asks(&mut l, 0x60, Question::FindSuccessor);
    // 0xc0 is 0x50 past the target: no honest gap is that wide here.
    l.on_response(peer(0x60), Answer::Successors(peers(&[0xc0])));
    assert_eq!(l.lies(), 1);
    asks(&mut l, 0x50, Question::FindSuccessor);
    l.on_response(peer(0x50), Answer::Closer(Vec::new()));
    asks(&mut l, 0x50, Question::Neighbours);
    // Nor can a walk along a successor list claim such a gap.
    let far = Answer::Neighbours {
        predecessor: None,
        successors: peers(&[0x58, 0x78]),
    };
    l.on_response(peer(0x50), far);
    assert_eq!(l.lies(), 1, "0x58..0x78 is within the bound");
    assert_eq!(l.next(), Want::Done(peers(&[0x78])));
}

#[test]
fn an_owner_answering_for_its_own_range_is_no_liar() {
    let gap = Point::from_fraction(0x20 as f64 / 256.0);
    let mut l = lookup(0x70, &[0x78], false).with_max_gap(gap);
    asks(&mut l, 0x78, Question::FindSuccessor);
    l.on_response(peer(0x78), Answer::Successors(peers(&[0x78, 0x80])));
    assert_eq!(l.lies(), 0);
    assert_eq!(l.next(), Want::Done(peers(&[0x78, 0x80])));
}

#[test]
fn answers_and_failures_from_peers_not_asked_are_ignored() {
    // Candidates are asked in the order given.
    let mut l = lookup(0x70, &[0x30, 0x20], false);
    asks(&mut l, 0x30, Question::FindSuccessor);
    l.on_response(peer(0x20), Answer::Successors(peers(&[0x66])));
    l.on_failure(peer(0x20));
    assert_eq!(l.next(), Want::Wait);
    l.on_failure(peer(0x30));
    asks(&mut l, 0x20, Question::FindSuccessor);
}

#[test]
fn a_lookup_with_no_one_left_to_ask_fails() {
    let mut l = lookup(0x70, &[], false);
    assert_eq!(l.next(), Want::Failed(Failure::NoRoute));
    let mut l = lookup(0x70, &[0x20], false);
    asks(&mut l, 0x20, Question::FindSuccessor);
    l.on_failure(peer(0x20));
    assert_eq!(l.next(), Want::Failed(Failure::NoRoute));
}

#[test]
fn a_lookup_gives_up_after_max_hops() {
    let mut l = lookup(0xf0, &[0x11], false);
    for hop in 0..MAX_HOPS {
        let Want::Ask(p, _) = l.next() else {
            panic!("hop {hop}: {:?}", l.next());
        };
        // Each hop names one peer a little closer.
        let closer = PeerAddr {
            id: NodeId({
                let mut id = p.id.0;
                id[31] = id[31].wrapping_add(1);
                id
            }),
            addr: p.addr,
        };
        l.on_response(p, Answer::Closer(vec![closer]));
    }
    assert_eq!(l.next(), Want::Failed(Failure::TooManyHops));
}

/// After a crash, the successor list a lookup reads can name a live node
/// before the target, then dead ones, then the owner. The owner is the
/// first live node past the target, not only when it comes first.
#[test]
fn a_lookup_skips_dead_successors_to_the_owner() {
    let mut l = lookup(0x70, &[0x20], true);
    asks(&mut l, 0x20, Question::FindSuccessor);
    l.on_response(peer(0x20), Answer::Closer(peers(&[0x64, 0x60])));
    asks(&mut l, 0x64, Question::FindSuccessor);
    l.on_response(peer(0x64), Answer::Closer(peers(&[0x68])));
    // 0x68 has crashed: the nearest peer that answered is asked for its
    // successors.
    asks(&mut l, 0x68, Question::FindSuccessor);
    l.on_failure(peer(0x68));
    asks(&mut l, 0x64, Question::Neighbours);
    let answer = Answer::Neighbours {
        predecessor: Some(peer(0x60)),
        successors: peers(&[0x68]),
    };
    l.on_response(peer(0x64), answer);
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_response(peer(0x60), Answer::Closer(peers(&[0x64])));
    asks(&mut l, 0x60, Question::Neighbours);
    let answer = Answer::Neighbours {
        predecessor: Some(peer(0x20)),
        successors: peers(&[0x64, 0x68, 0x80, 0x90]),
    };
    l.on_response(peer(0x60), answer);
    // Found: 0x80 owns 0x70; the lookup confirms it with 0x80.
    asks(&mut l, 0x80, Question::Neighbours);
    assert_eq!(l.hops(), 6);
}

#[test]
fn confirmation_follows_a_newer_predecessor() {
    let mut l = lookup(0x70, &[0x20], true);
    asks(&mut l, 0x20, Question::FindSuccessor);
    l.on_response(peer(0x20), Answer::Successors(peers(&[0x90, 0xa0])));
    asks(&mut l, 0x90, Question::Neighbours);
    // 0x80 joined between the target and 0x90.
    let answer = Answer::Neighbours {
        predecessor: Some(peer(0x80)),
        successors: peers(&[0xa0, 0xb0]),
    };
    l.on_response(peer(0x90), answer);
    asks(&mut l, 0x80, Question::Neighbours);
    let answer = Answer::Neighbours {
        predecessor: Some(peer(0x60)),
        successors: peers(&[0x90, 0xa0, 0xb0]),
    };
    l.on_response(peer(0x80), answer);
    assert_eq!(l.next(), Want::Done(peers(&[0x80, 0x90, 0xa0])));
    assert_eq!(l.hops(), 1, "confirmation is not counted as hops");
}

#[test]
fn confirmation_stops_following_predecessors_after_three_steps() {
    let mut l = lookup(0x70, &[0x20], true);
    asks(&mut l, 0x20, Question::FindSuccessor);
    l.on_response(peer(0x20), Answer::Successors(peers(&[0xc0])));
    // Each asked node names a predecessor past the target.
    for (asked, pred) in [(0xc0, 0xb0), (0xb0, 0xa0), (0xa0, 0x90)] {
        asks(&mut l, asked, Question::Neighbours);
        let answer = Answer::Neighbours {
            predecessor: Some(peer(pred)),
            successors: vec![],
        };
        l.on_response(peer(asked), answer);
    }
    asks(&mut l, 0x90, Question::Neighbours);
    let answer = Answer::Neighbours {
        predecessor: Some(peer(0x80)),
        successors: peers(&[0xa0]),
    };
    l.on_response(peer(0x90), answer);
    assert_eq!(l.next(), Want::Done(peers(&[0x90, 0xa0])));
}

#[test]
fn a_confirmation_that_fails_asks_the_next_successor() {
    let mut l = lookup(0x70, &[0x20], true);
    asks(&mut l, 0x20, Question::FindSuccessor);
    l.on_response(peer(0x20), Answer::Successors(peers(&[0x80, 0x90])));
    asks(&mut l, 0x80, Question::Neighbours);
    l.on_failure(peer(0x80));
    asks(&mut l, 0x90, Question::Neighbours);
    l.on_response(peer(0x90), Answer::Useless);
    assert_eq!(l.next(), Want::Failed(Failure::NoRoute));
}

#[test]
fn a_restart_keeps_what_is_known_dead() {
    let mut l = lookup(0x70, &[0x20], false);
    asks(&mut l, 0x20, Question::FindSuccessor);
    l.on_failure(peer(0x20));
    l.restart(peers(&[0x30, 0x20]));
    asks(&mut l, 0x30, Question::FindSuccessor);
    l.on_failure(peer(0x30));
    assert_eq!(l.next(), Want::Failed(Failure::NoRoute));
}

#[test]
fn a_routed_answer_ends_the_route_phase() {
    let mut l = lookup(0x70, &[0x20], true);
    asks(&mut l, 0x20, Question::FindSuccessor);
    l.on_routed(peers(&[0x80, 0x80, 0x90]), 4);
    asks(&mut l, 0x80, Question::Neighbours);
    assert_eq!(l.hops(), 4);
}

#[test]
fn a_second_opinion_with_a_nearer_owner_wins() {
    let mut l = lookup(0x70, &[0x60, 0x50], false).with_opinions(2);
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_response(peer(0x60), Answer::Successors(peers(&[0x90, 0x98])));
    // Not done: another peer is asked.
    asks(&mut l, 0x50, Question::FindSuccessor);
    l.on_response(peer(0x50), Answer::Successors(peers(&[0x78, 0x80])));
    assert_eq!(l.next(), Want::Done(peers(&[0x78, 0x80])));
    assert_eq!((l.hops(), l.check_hops()), (1, 1));
}

#[test]
fn with_three_opinions_an_honest_third_beats_two_lies_that_agree() {
    let mut l = lookup(0x70, &[0x60, 0x50, 0x40], false).with_opinions(3);
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_response(peer(0x60), Answer::Successors(peers(&[0x90, 0x98])));
    asks(&mut l, 0x50, Question::FindSuccessor);
    l.on_response(peer(0x50), Answer::Successors(peers(&[0x90, 0x98])));
    // Two claims agree, but a third is still sought.
    asks(&mut l, 0x40, Question::FindSuccessor);
    l.on_response(peer(0x40), Answer::Successors(peers(&[0x78, 0x80])));
    assert_eq!(l.next(), Want::Done(peers(&[0x78, 0x80])));
    assert_eq!((l.hops(), l.check_hops()), (1, 2));
}

#[test]
fn the_first_claim_stands_when_no_one_is_left_to_ask() {
    let mut l = lookup(0x70, &[0x60], false).with_opinions(2);
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_response(peer(0x60), Answer::Successors(peers(&[0x90])));
    assert_eq!(l.next(), Want::Done(peers(&[0x90])));
}

/// A ring whose neighbours are 2/256 of the ring apart, with successor
/// lists of 3.
fn dense_ring() -> Option<Density> {
    Some(Density {
        mean_gap: 2.0 / 256.0,
        listed: 3,
    })
}

#[test]
fn a_sparse_claim_counts_as_no_opinion_and_a_dense_one_is_sought() {
    let mut l = lookup(0x70, &[0x60, 0x6c], false).with_density(dense_ring());
    asks(&mut l, 0x60, Question::FindSuccessor);
    // Three owners over 0x50 of the ring: liars naming each other.
    l.on_response(peer(0x60), Answer::Successors(peers(&[0x90, 0xa0, 0xb0])));
    assert_eq!(l.lies(), 0, "sparse is not proof of a lie");
    asks(&mut l, 0x6c, Question::FindSuccessor);
    l.on_response(peer(0x6c), Answer::Successors(peers(&[0x72, 0x74, 0x76])));
    assert_eq!(l.next(), Want::Done(peers(&[0x72, 0x74, 0x76])));
}

#[test]
fn a_claim_listing_fewer_owners_than_a_successor_list_is_sparse() {
    let mut l = lookup(0x70, &[0x6c, 0x6a], false).with_density(dense_ring());
    asks(&mut l, 0x6c, Question::FindSuccessor);
    l.on_response(peer(0x6c), Answer::Successors(peers(&[0x72])));
    asks(&mut l, 0x6a, Question::FindSuccessor);
}

#[test]
fn a_sparse_claim_stands_when_no_dense_one_can_be_found() {
    let mut l = lookup(0x70, &[0x60], false).with_density(dense_ring());
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_response(peer(0x60), Answer::Successors(peers(&[0x90, 0xa0, 0xb0])));
    assert_eq!(l.next(), Want::Done(peers(&[0x90, 0xa0, 0xb0])));
}

#[test]
fn a_walk_along_a_dense_successor_list_is_an_opinion() {
    let mut l = lookup(0x70, &[0x68], false).with_density(dense_ring());
    asks(&mut l, 0x68, Question::FindSuccessor);
    l.on_response(peer(0x68), Answer::Closer(peers(&[0x69])));
    asks(&mut l, 0x69, Question::FindSuccessor);
    l.on_failure(peer(0x69));
    asks(&mut l, 0x68, Question::Neighbours);
    let answer = Answer::Neighbours {
        predecessor: Some(peer(0x66)),
        successors: peers(&[0x69, 0x6e, 0x71, 0x73]),
    };
    l.on_response(peer(0x68), answer);
    assert_eq!(l.next(), Want::Done(peers(&[0x71, 0x73])));
}

#[test]
fn a_confirmation_whose_owners_all_fail_asks_those_of_the_claims_that_lost() {
    let mut l = lookup(0x70, &[0x60, 0x50], true).with_opinions(2);
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_response(peer(0x60), Answer::Successors(peers(&[0x80])));
    asks(&mut l, 0x50, Question::FindSuccessor);
    // Nearer, but stale: 0x72 has crashed.
    l.on_response(peer(0x50), Answer::Successors(peers(&[0x72])));
    asks(&mut l, 0x72, Question::Neighbours);
    l.on_failure(peer(0x72));
    asks(&mut l, 0x80, Question::Neighbours);
}

/// A ring's neighbours as `Neighbours` answers give them.
fn neighbours(succs: &[u8]) -> Answer {
    Answer::Neighbours {
        predecessor: None,
        successors: peers(succs),
    }
}

#[test]
fn parallel_opinions_ask_the_near_peers_for_their_lists_at_once() {
    let mut l = lookup(0x70, &[0x60, 0x50, 0x40, 0x30], false)
        .with_opinions(3)
        .with_parallel(Some(1.0));
    asks(&mut l, 0x60, Question::Neighbours);
    asks(&mut l, 0x50, Question::Neighbours);
    asks(&mut l, 0x40, Question::Neighbours);
    assert_eq!(l.next(), Want::Wait, "three claims needed, three asked");
    l.on_response(peer(0x50), neighbours(&[0x60, 0x78, 0x80]));
    l.on_response(peer(0x40), neighbours(&[0x50, 0x60, 0x90]));
    assert_eq!(l.next(), Want::Wait);
    l.on_response(peer(0x60), neighbours(&[0x78, 0x80, 0x88]));
    assert_eq!(l.next(), Want::Done(peers(&[0x78, 0x80, 0x88])));
    assert_eq!(l.hops(), 1, "the three were asked side by side");
}

#[test]
fn far_peers_are_asked_one_at_a_time_and_near_ones_together() {
    let mut l = lookup(0x70, &[0x50, 0x40], false)
        .with_opinions(3)
        .with_parallel(Some(6.0 / 256.0));
    asks(&mut l, 0x50, Question::FindSuccessor);
    assert_eq!(l.next(), Want::Wait, "0x50 is too far to name the owners");
    l.on_response(peer(0x50), Answer::Closer(peers(&[0x6c, 0x6b])));
    asks(&mut l, 0x6c, Question::Neighbours);
    asks(&mut l, 0x6b, Question::Neighbours);
    // 0x40 is far again: it waits for the near ones.
    assert_eq!(l.next(), Want::Wait);
}

#[test]
fn a_list_that_names_fewer_than_k_owners_is_no_full_opinion() {
    let mut l = lookup(0x70, &[0x6c, 0x6b], false)
        .with_density(dense_ring())
        .with_opinions(2)
        .with_parallel(Some(6.0 / 256.0));
    asks(&mut l, 0x6c, Question::Neighbours);
    asks(&mut l, 0x6b, Question::Neighbours);
    // Dense, but only two of the three owners are past the target.
    l.on_response(peer(0x6c), neighbours(&[0x6e, 0x72, 0x74]));
    l.on_response(peer(0x6b), neighbours(&[0x6c, 0x6e, 0x72]));
    assert_eq!(
        l.next(),
        Want::Done(peers(&[0x72, 0x74])),
        "no one else to ask"
    );
    assert_eq!(l.check_hops(), 1);
}

#[test]
fn a_slow_hop_lets_the_next_be_asked_and_its_late_answer_still_counts() {
    let mut l = lookup(0x70, &[0x60, 0x50], false);
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_slow(peer(0x60));
    asks(&mut l, 0x50, Question::FindSuccessor);
    assert_eq!(l.next(), Want::Wait);
    l.on_response(peer(0x60), Answer::Successors(peers(&[0x78])));
    assert_eq!(l.next(), Want::Done(peers(&[0x78])));
    assert!(l.take_dropped(), "0x50's answer is no longer awaited");
    assert!(!l.take_dropped(), "told once");
}

#[test]
fn answers_awaited_once_the_claims_are_in_are_dropped() {
    let mut l = lookup(0x70, &[0x60, 0x50, 0x40], false)
        .with_opinions(2)
        .with_parallel(Some(1.0));
    asks(&mut l, 0x60, Question::Neighbours);
    asks(&mut l, 0x50, Question::Neighbours);
    l.on_response(peer(0x60), neighbours(&[0x78]));
    assert_eq!(l.next(), Want::Wait, "one claim needed, one asked");
    l.on_slow(peer(0x50));
    asks(&mut l, 0x40, Question::Neighbours);
    l.on_response(peer(0x40), neighbours(&[0x50, 0x60, 0x78]));
    assert_eq!(l.next(), Want::Done(peers(&[0x78])));
    assert!(l.take_dropped());
    l.on_response(peer(0x50), neighbours(&[0x72]));
    assert_eq!(
        l.next(),
        Want::Done(peers(&[0x78])),
        "a late answer changes nothing"
    );
}

#[test]
fn of_two_claims_that_name_the_same_owner_the_nearer_list_wins() {
    let mut l = lookup(0x70, &[0x60, 0x50], false).with_opinions(2);
    asks(&mut l, 0x60, Question::FindSuccessor);
    // A liar names the true owner, then its accomplices farther on.
    l.on_response(peer(0x60), Answer::Successors(peers(&[0x78, 0xa0, 0xb0])));
    asks(&mut l, 0x50, Question::FindSuccessor);
    l.on_response(peer(0x50), Answer::Successors(peers(&[0x78, 0x80, 0x88])));
    assert_eq!(l.next(), Want::Done(peers(&[0x78, 0x80, 0x88])));
}

#[test]
fn a_claim_that_stops_short_loses_to_the_full_one() {
    let short = peers(&[0x78]);
    let full = peers(&[0x78, 0x80]);
    assert!(nearer(target(0x70), &full, &short));
    assert!(!nearer(target(0x70), &short, &full));
    assert!(!nearer(target(0x70), &full, &full));
}

#[test]
fn when_every_peer_before_the_target_fails_the_own_list_names_the_owners() {
    let own = peers(&[0x60, 0x78, 0x80, 0x88]);
    let mut l = lookup(0x70, &[0x60], false).with_own_successors(peer(0x10), own);
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_failure(peer(0x60));
    assert_eq!(l.next(), Want::Done(peers(&[0x78, 0x80, 0x88])));
    // Without it, the lookup has no route.
    let mut l = lookup(0x70, &[0x60], false);
    asks(&mut l, 0x60, Question::FindSuccessor);
    l.on_failure(peer(0x60));
    assert_eq!(l.next(), Want::Failed(Failure::NoRoute));
}
