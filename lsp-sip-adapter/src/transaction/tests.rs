use super::*;

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

fn key(branch: &str, method: &str) -> TxKey {
    TxKey::new(branch, "192.0.2.1:5060", Method::from(method))
}

fn sent(source: IpAddr, len: usize, reliable: bool) -> Sent {
    Sent {
        source,
        len,
        reliable,
    }
}

fn layer() -> TransactionLayer<&'static str> {
    TransactionLayer::new(TxConfig::default())
}

fn new_tx(
    l: &mut TransactionLayer<&'static str>,
    k: &TxKey,
    source: IpAddr,
    len: usize,
    reliable: bool,
) {
    let v = l.on_request(
        Instant::now(),
        k.clone(),
        None,
        sent(source, len, reliable),
        "dest",
    );
    assert_eq!(v, Arrival::New { cancels: None });
}

/// Runs the timers from `start` in 10 ms steps up to `until`, returning
/// when each retransmission went out.
fn run(l: &mut TransactionLayer<&'static str>, start: Instant, until: Duration) -> Vec<Duration> {
    let mut sent = Vec::new();
    let mut out = Vec::new();
    let mut t = Duration::ZERO;
    while t <= until {
        l.handle_timeout(start + t, &mut out);
        sent.extend(out.drain(..).map(|_| t));
        t += Duration::from_millis(10);
    }
    sent
}

#[test]
fn an_unacked_invite_repeats_per_timer_g_and_ends_at_timer_h() {
    let mut l = layer();
    let now = Instant::now();
    let k = key("z9hG4bK1", "INVITE");
    // A big request pays for every retransmission.
    new_tx(&mut l, &k, A, 100_000, false);
    l.complete(now, &k, 302, Bytes::from_static(b"SIP/2.0 302 Moved"));
    let sent = run(&mut l, now, Duration::from_secs(40));
    let ms: Vec<u128> = sent.iter().map(Duration::as_millis).collect();
    // T1, then doubling up to T2, every T2 after, until 64*T1 = 32 s.
    assert_eq!(
        ms,
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(l.stats().timed_out, 1);
    assert_eq!(l.stats().transactions, 0);
    assert_eq!(l.stats().state_bytes, 0, "nothing left behind");
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn retransmissions_to_an_unproved_source_are_paid_for_by_what_it_sent() {
    let mut l = layer();
    let now = Instant::now();
    let k = key("z9hG4bK2", "INVITE");
    let response = Bytes::from(vec![b'x'; 400]);
    new_tx(&mut l, &k, A, 500, false);
    l.complete(now, &k, 302, response.clone());
    // 500 in, 400 out: not enough for another 400.
    assert!(run(&mut l, now, Duration::from_secs(40)).is_empty());
    assert!(l.stats().retransmit_unpaid >= 9);

    // An ACK with our tag proves the address: retransmissions then flow.
    let proof = key("z9hG4bK3", "INVITE");
    let later = now + Duration::from_secs(50);
    new_tx(&mut l, &proof, A, 500, false);
    l.complete(later, &proof, 302, response.clone());
    l.on_ack(later, &proof, A, 300, true);
    let k = key("z9hG4bK4", "INVITE");
    new_tx(&mut l, &k, A, 500, false);
    l.complete(later, &k, 302, response);
    assert_eq!(run(&mut l, later, Duration::from_secs(2)).len(), 2);
}

#[test]
fn an_ack_stops_timer_g_and_timer_i_ends_the_transaction() {
    let mut l = layer();
    let now = Instant::now();
    let k = key("z9hG4bK5", "INVITE");
    new_tx(&mut l, &k, A, 100_000, false);
    l.complete(now, &k, 404, Bytes::from_static(b"SIP/2.0 404"));
    assert_eq!(run(&mut l, now, Duration::from_millis(600)).len(), 1);
    l.on_ack(now + Duration::from_millis(600), &k, A, 300, false);
    // The retransmitted INVITE is now absorbed, and so are ACKs.
    let again = l.on_request(Instant::now(), k.clone(), None, sent(A, 500, false), "dest");
    assert_eq!(again, Arrival::Absorb);
    assert!(
        run(
            &mut l,
            now + Duration::from_millis(600),
            Duration::from_secs(4)
        )
        .is_empty()
    );
    assert_eq!(l.stats().transactions, 1, "confirmed until T4");
    run(&mut l, now, Duration::from_secs(6));
    assert_eq!(l.stats().transactions, 0);
    assert_eq!(l.stats().state_bytes, 0);
}

#[test]
fn a_completed_request_is_answered_again_until_timer_j() {
    let mut l = layer();
    let now = Instant::now();
    let k = key("z9hG4bK6", "REGISTER");
    new_tx(&mut l, &k, A, 400, false);
    // A retransmission while the TU works is absorbed.
    let v = l.on_request(Instant::now(), k.clone(), None, sent(A, 400, false), "dest");
    assert_eq!(v, Arrival::Absorb);
    l.complete(now, &k, 200, Bytes::from_static(b"SIP/2.0 200 OK"));
    let v = l.on_request(Instant::now(), k.clone(), None, sent(A, 400, false), "dest");
    assert_eq!(v, Arrival::Resend(Bytes::from_static(b"SIP/2.0 200 OK")));
    assert!(run(&mut l, now, Duration::from_millis(31_900)).is_empty());
    assert_eq!(l.stats().transactions, 1);
    run(&mut l, now, Duration::from_secs(33));
    assert_eq!(l.stats().transactions, 0);
    assert_eq!(l.stats().state_bytes, 0);
}

#[test]
fn reliable_transports_keep_no_completed_non_invite() {
    let mut l = layer();
    let now = Instant::now();
    let k = key("z9hG4bK7", "OPTIONS");
    new_tx(&mut l, &k, A, 400, true);
    l.complete(now, &k, 200, Bytes::from_static(b"SIP/2.0 200 OK"));
    assert_eq!(l.stats().transactions, 0);
    // A retransmitted INVITE over TCP gets no 100 Trying.
    let inv = key("z9hG4bK8", "INVITE");
    new_tx(&mut l, &inv, A, 400, true);
    let v = l.on_request(
        Instant::now(),
        inv.clone(),
        None,
        sent(A, 400, true),
        "dest",
    );
    assert_eq!(v, Arrival::Absorb);
    l.complete(now, &inv, 302, Bytes::from_static(b"SIP/2.0 302"));
    assert!(
        run(&mut l, now, Duration::from_secs(10)).is_empty(),
        "no Timer G"
    );
    l.on_ack(now, &inv, A, 300, false);
    assert_eq!(l.stats().transactions, 0, "Timer I is zero");
}

#[test]
fn a_retransmitted_invite_being_answered_gets_trying() {
    let mut l = layer();
    let k = key("z9hG4bK9", "INVITE");
    new_tx(&mut l, &k, A, 400, false);
    assert_eq!(
        l.on_request(Instant::now(), k, None, sent(A, 400, false), "dest"),
        Arrival::Trying
    );
}

#[test]
fn cancel_marks_an_invite_being_answered() {
    let mut l = layer();
    let now = Instant::now();
    let inv = key("z9hG4bKa", "INVITE");
    new_tx(&mut l, &inv, A, 400, false);
    let cancel = key("z9hG4bKa", "CANCEL");
    let v = l.on_request(
        Instant::now(),
        cancel.clone(),
        Some(&inv),
        sent(A, 300, false),
        "dest",
    );
    assert_eq!(
        v,
        Arrival::New {
            cancels: Some(true)
        }
    );
    assert!(l.is_cancelled(&inv));
    let stray = key("z9hG4bKb", "CANCEL");
    let none = key("z9hG4bKb", "INVITE");
    let v = l.on_request(
        Instant::now(),
        stray,
        Some(&none),
        sent(A, 300, false),
        "dest",
    );
    assert_eq!(
        v,
        Arrival::New {
            cancels: Some(false)
        }
    );
    // A CANCEL after the final response finds the INVITE but changes nothing.
    l.complete(now, &inv, 302, Bytes::from_static(b"SIP/2.0 302"));
    let late = key("z9hG4bKc", "INVITE");
    new_tx(&mut l, &late, A, 400, false);
    l.complete(now, &late, 302, Bytes::from_static(b"SIP/2.0 302"));
    let c = key("z9hG4bKc", "CANCEL");
    let v = l.on_request(Instant::now(), c, Some(&late), sent(A, 300, false), "dest");
    assert_eq!(
        v,
        Arrival::New {
            cancels: Some(true)
        }
    );
    assert!(!l.is_cancelled(&late));
}

fn small_layer(state_bytes: usize, per_source_bytes: usize) -> TransactionLayer<&'static str> {
    TransactionLayer::new(TxConfig {
        state_bytes,
        per_source_bytes,
        ..TxConfig::default()
    })
}

#[test]
fn when_pinned_state_fills_the_budget_the_newest_request_is_refused() {
    let mut l = small_layer(4_000, 100_000);
    let now = Instant::now();
    let mut admitted = Vec::new();
    for i in 0.. {
        let k = key(&format!("z9hG4bKp{i}"), "INVITE");
        match l.on_request(Instant::now(), k.clone(), None, sent(A, 400, false), "dest") {
            Arrival::New { .. } => admitted.push(k),
            Arrival::Busy(BusyReason::Full) => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(!admitted.is_empty());
    assert!(l.stats().state_bytes <= 4_000);
    assert_eq!(l.stats().refused_full, 1);
    // What was admitted is still served.
    for k in &admitted {
        l.complete(now, k, 404, Bytes::from_static(b"SIP/2.0 404"));
    }
    assert_eq!(l.stats().transactions, admitted.len());
}

#[test]
fn reclaimable_state_makes_room_for_new_work() {
    let mut l = small_layer(4_000, 4_000);
    let now = Instant::now();
    for i in 0..100 {
        let k = key(&format!("z9hG4bKr{i}"), "REGISTER");
        let v = l.on_request(Instant::now(), k.clone(), None, sent(A, 400, false), "dest");
        assert_eq!(v, Arrival::New { cancels: None }, "request {i}");
        l.complete(now, &k, 200, Bytes::from(vec![b'x'; 300]));
        assert!(l.stats().state_bytes <= 4_000);
    }
    assert!(l.stats().reclaimed > 80);
    // The newest completed one still answers its retransmission.
    let last = key("z9hG4bKr99", "REGISTER");
    assert!(matches!(
        l.on_request(Instant::now(), last, None, sent(A, 400, false), "dest"),
        Arrival::Resend(_)
    ));
}

#[test]
fn one_source_cannot_take_the_share_of_another() {
    let mut l = small_layer(100_000, 3_000);
    let now = Instant::now();
    let mut refused = false;
    for i in 0..100 {
        let k = key(&format!("z9hG4bKs{i}"), "INVITE");
        match l.on_request(Instant::now(), k.clone(), None, sent(A, 400, false), "dest") {
            Arrival::New { .. } => {
                l.complete(now, &k, 302, Bytes::from(vec![b'x'; 300]));
            }
            Arrival::Busy(BusyReason::SourceShare) => {
                refused = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(refused, "A is held to its share");
    let k = key("z9hG4bKother", "INVITE");
    assert_eq!(
        l.on_request(Instant::now(), k, None, sent(B, 400, false), "dest"),
        Arrival::New { cancels: None },
        "B is still served"
    );
}

#[test]
fn a_source_has_a_bounded_number_of_requests_in_flight() {
    let mut l = TransactionLayer::new(TxConfig {
        per_source_in_flight: 3,
        ..TxConfig::default()
    });
    for i in 0..3 {
        new_tx(
            &mut l,
            &key(&format!("z9hG4bKf{i}"), "OPTIONS"),
            A,
            300,
            false,
        );
    }
    let k = key("z9hG4bKf3", "OPTIONS");
    assert_eq!(
        l.on_request(Instant::now(), k.clone(), None, sent(A, 300, false), "dest"),
        Arrival::Busy(BusyReason::SourceShare)
    );
    l.abandon(&key("z9hG4bKf0", "OPTIONS"));
    assert_eq!(
        l.on_request(Instant::now(), k, None, sent(A, 300, false), "dest"),
        Arrival::New { cancels: None }
    );
}

/// Each answered request frees one place in flight, whatever becomes of
/// its state: a TCP REGISTER or an INVITE's 2xx is forgotten at once, a
/// UDP one is kept for retransmissions. None frees two.
#[test]
fn an_answered_request_frees_exactly_one_place_in_flight() {
    for (method, code, reliable) in [
        ("REGISTER", 200, true),
        ("INVITE", 200, false),
        ("OPTIONS", 200, false),
    ] {
        let mut l = TransactionLayer::new(TxConfig {
            per_source_in_flight: 2,
            ..TxConfig::default()
        });
        let k = |i: u32| key(&format!("z9hG4bKq{i}"), method);
        new_tx(&mut l, &k(0), A, 300, reliable);
        new_tx(&mut l, &k(1), A, 300, reliable);
        l.complete(
            Instant::now(),
            &k(0),
            code,
            Bytes::from_static(b"SIP/2.0 200 OK"),
        );
        new_tx(&mut l, &k(2), A, 300, reliable);
        assert_eq!(
            l.on_request(Instant::now(), k(3), None, sent(A, 300, reliable), "dest"),
            Arrival::Busy(BusyReason::SourceShare),
            "{method} {code} reliable={reliable}"
        );
    }
}

/// The addresses of one IPv6 /64 share one source's place in flight: a
/// host cannot take a fresh share per address.
#[test]
fn an_ipv6_64_is_one_source() {
    let mut l = TransactionLayer::new(TxConfig {
        per_source_in_flight: 2,
        ..TxConfig::default()
    });
    let host = |n: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, n));
    new_tx(&mut l, &key("z9hG4bKv0", "OPTIONS"), host(1), 300, false);
    new_tx(&mut l, &key("z9hG4bKv1", "OPTIONS"), host(2), 300, false);
    assert_eq!(
        l.on_request(
            Instant::now(),
            key("z9hG4bKv2", "OPTIONS"),
            None,
            sent(host(3), 300, false),
            "dest"
        ),
        Arrival::Busy(BusyReason::SourceShare)
    );
    let other = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
    new_tx(&mut l, &key("z9hG4bKv3", "OPTIONS"), other, 300, false);
}

/// A retransmission, or an ACK, of a transaction from another address
/// than its request's gets nothing: answering it would aim the stored
/// response at whoever the sender names.
#[test]
fn a_retransmission_from_another_address_is_not_answered() {
    let mut l = layer();
    let now = Instant::now();
    let k = key("z9hG4bKo1", "INVITE");
    new_tx(&mut l, &k, A, 300, false);
    l.complete(now, &k, 302, Bytes::from(vec![b'x'; 300]));
    let from_b = l.on_request(Instant::now(), k.clone(), None, sent(B, 300, false), "dest");
    assert_eq!(from_b, Arrival::Absorb);
    assert!(matches!(
        l.on_request(Instant::now(), k.clone(), None, sent(A, 300, false), "dest"),
        Arrival::Resend(_)
    ));
    l.on_ack(now, &k, B, 300, true);
    assert_eq!(l.stats().acked, 0, "B's ACK does not end A's transaction");
    assert_eq!(l.stats().foreign_retransmissions, 2);
    l.on_ack(now, &k, A, 300, true);
    assert_eq!(l.stats().acked, 1);
}

/// Over UDP, an address not proved gets no more bytes than it sent, first
/// answer, resends and Timer G together: an answer it has not paid for
/// waits for the retransmissions that pay for it.
#[test]
fn every_answer_to_an_unproved_address_is_paid_for_by_what_it_sent() {
    let mut l = layer();
    let now = Instant::now();
    let k = key("z9hG4bKp1", "INVITE");
    new_tx(&mut l, &k, A, 300, false);
    assert!(!l.complete(now, &k, 302, Bytes::from(vec![b'x'; 900])));
    assert_eq!(l.stats().answers_unpaid, 1);
    assert!(run(&mut l, now, Duration::from_millis(600)).is_empty());
    let again = |l: &mut TransactionLayer<&'static str>| {
        l.on_request(now, k.clone(), None, sent(A, 300, false), "dest")
    };
    assert_eq!(again(&mut l), Arrival::Absorb, "600 in, 900 owed");
    assert!(matches!(again(&mut l), Arrival::Resend(b) if b.len() == 900));
    assert_eq!(again(&mut l), Arrival::Absorb, "1,200 in, 900 out");

    // An answer the layer makes for a source it keeps nothing for is paid
    // by its request alone.
    assert!(l.may_answer(now, B, 300, 300));
    assert!(!l.may_answer(now, B, 300, 301));

    // A reliable transport needs no proof; nor does an address an ACK
    // with our tag proved.
    let tcp = key("z9hG4bKp2", "OPTIONS");
    new_tx(&mut l, &tcp, B, 100, true);
    assert!(l.complete(now, &tcp, 200, Bytes::from(vec![b'x'; 5000])));
    l.on_ack(now, &k, A, 300, true);
    let big = key("z9hG4bKp3", "INVITE");
    new_tx(&mut l, &big, A, 300, false);
    assert!(l.complete(now, &big, 302, Bytes::from(vec![b'x'; 5000])));
}

/// Answers being made at once each get, as their budget, what their
/// source paid and was not yet sent (at most their request's size), set
/// aside when the request arrived: two never count on the same bytes, so
/// none is held back for want of credit another took. What an answer did
/// not use is given back.
#[test]
fn answers_made_at_once_never_spend_the_same_credit_twice() {
    let mut l = layer();
    let now = Instant::now();
    let tx = |n: u32| key(&format!("z9hG4bKr{n}"), "OPTIONS");
    new_tx(&mut l, &tx(1), A, 300, false);
    new_tx(&mut l, &tx(2), A, 300, false);
    assert_eq!(l.budget(&tx(1)), Some(300));
    assert_eq!(l.budget(&tx(2)), Some(300));
    assert!(l.complete(now, &tx(1), 200, Bytes::from(vec![b'x'; 250])));
    assert!(l.complete(now, &tx(2), 200, Bytes::from(vec![b'x'; 300])));
    new_tx(&mut l, &tx(3), A, 300, false);
    assert_eq!(l.budget(&tx(3)), Some(300), "no longer than the request");
    new_tx(&mut l, &tx(4), A, 5000, false);
    assert_eq!(l.budget(&tx(4)), Some(1300), "one datagram at most");
    // An answer that cannot be cut is paid from what was left over.
    assert!(l.complete(now, &tx(3), 200, Bytes::from(vec![b'x'; 340])));

    // No budget over a reliable transport.
    new_tx(&mut l, &tx(5), B, 300, true);
    assert_eq!(l.budget(&tx(5)), None);
}
