//! A conditional publish over a simulated ring: each owner checks the
//! condition where it stores, so a writer that remembers a stale version
//! cannot overwrite a newer write it has not seen.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "sim")]

use std::time::Duration;

use lsp_chord::Outcome;
use lsp_chord::sim::{Sim, SimConfig};
use lsp_core::{Aor, Binding, Error, Identity, OwnRecord, Record};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn own(sim: &Sim, key: &Identity, version: u64, contact: &str) -> OwnRecord {
    let aor = Aor::parse("sip:carol@example.com").unwrap();
    let mut rec = Record::new(aor, version);
    rec.bindings = vec![Binding::new(contact, sim.now() + secs(600), "c", 1)];
    rec.sign_own(key).unwrap()
}

fn contacts(sim: &mut Sim, at: usize) -> Vec<String> {
    let aor = Aor::parse("sip:carol@example.com").unwrap();
    let op = sim.query(at, aor);
    match sim.wait(at, op, secs(30)) {
        Some(Ok(Outcome::Bindings(b))) => b.into_iter().map(|b| b.contact).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn owners_refuse_a_conditional_publish_past_a_newer_write() {
    let mut sim = Sim::new(SimConfig::new(21));
    sim.converged_ring(12);
    sim.run_for(secs(10));
    let key = Identity::from_secret_bytes([21; 32]);
    let (a, b) = (0, 5);

    // Writer a publishes version 100, then version 5,000 replacing it.
    let op = sim.publish_own(a, own(&sim, &key, 100, "sip:c@h1"));
    assert!(matches!(
        sim.wait(a, op, secs(30)),
        Some(Ok(Outcome::Published(_)))
    ));
    let op = sim.publish_own_replacing(a, own(&sim, &key, 5_000, "sip:c@h2"), 100);
    let outcome = sim.wait(a, op, secs(30));
    assert!(
        matches!(outcome, Some(Ok(Outcome::Published(_)))),
        "{outcome:?}"
    );

    // Writer b, with the same key, publishes version 6,000.
    let op = sim.publish_own(b, own(&sim, &key, 6_000, "sip:c@h3"));
    assert!(matches!(
        sim.wait(b, op, secs(30)),
        Some(Ok(Outcome::Published(_)))
    ));

    // Writer a still remembers 5,000 and offers 9,000: every owner refuses.
    let op = sim.publish_own_replacing(a, own(&sim, &key, 9_000, "sip:c@h4"), 5_000);
    let outcome = sim.wait(a, op, secs(30));
    assert!(
        matches!(
            outcome,
            Some(Err(Error::Replay {
                stored: 6_000,
                offered: 9_000
            }))
        ),
        "{outcome:?}"
    );
    assert_eq!(contacts(&mut sim, 9), ["sip:c@h3"]);

    // Knowing 6,000, it is taken.
    let op = sim.publish_own_replacing(a, own(&sim, &key, 9_000, "sip:c@h4"), 6_000);
    let outcome = sim.wait(a, op, secs(30));
    assert!(
        matches!(outcome, Some(Ok(Outcome::Published(_)))),
        "{outcome:?}"
    );
    assert_eq!(contacts(&mut sim, 9), ["sip:c@h4"]);
}
