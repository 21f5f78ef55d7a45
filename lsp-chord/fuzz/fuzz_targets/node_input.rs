//! Any frames from any peer into a joined node: it never panics and keeps
//! its own place in the ring.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lsp_chord::{Chord, Config, NodeState};
use lsp_core::{NodeId, PeerAddr};

fuzz_target!(|frames: Vec<(u8, Vec<u8>)>| {
    let addr: SocketAddr = "127.0.0.1:7000".parse().expect("literal");
    let me = PeerAddr { id: NodeId([0x80; 32]), addr };
    let mut node = Chord::new(me, Config::default());
    let mut now = Instant::now();
    node.join(&[], now);
    for (who, frame) in frames {
        let from = PeerAddr { id: NodeId([who; 32]), addr };
        let _ = node.handle_message(from, &frame, now);
        now += Duration::from_millis(700);
        node.handle_timeout(now);
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
    }
    assert_eq!(node.state(), NodeState::Joined);
    assert_eq!(node.me(), me);
});
