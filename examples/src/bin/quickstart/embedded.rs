//! Part 1, the embedded store: a registrar publishes signed bindings for its
//! domain, a UA registers itself with no server, a proxy queries both,
//! forgeries and replays bounce, bindings expire, and the store survives a
//! restart.

use std::sync::Arc;
use std::time::Duration;

use lsp_core::{
    Aor, Binding, DomainTrustAnchors, Error, FirstComeFirstServed, Identity, LocalConfig,
    LocalLocationService, LocationService, ManualClock, QValue, Record, StorageError, UnixTime,
};

use crate::{refused, step};

fn show(service: &LocalLocationService, aor: &Aor, now: UnixTime) -> Result<(), Error> {
    match service.query_sync(aor) {
        Ok(bindings) if bindings.is_empty() => println!("   {aor}: known, no live contact (480)"),
        Ok(bindings) => {
            for b in bindings {
                let left = b.remaining(now).as_secs();
                println!("   {aor} -> {} q={} expires in {left}s", b.contact, b.q);
            }
        }
        Err(Error::NotFound(_)) => println!("   {aor}: unknown (404)"),
        Err(e) => return Err(e),
    }
    Ok(())
}

pub async fn run() -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("lsp-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| StorageError::new("the quickstart's directory", e))?;
    let path = dir.join("location.redb");

    let registrar = Identity::generate()?;
    let clock = Arc::new(ManualClock::new(UnixTime::now()));
    // Domain AORs need the registrar's key; any other is first come, first served.
    let config = || {
        let policy = DomainTrustAnchors::new()
            .trust("example.com", registrar.public_key())
            .otherwise(FirstComeFirstServed);
        LocalConfig::default().policy(policy).clock(clock.clone())
    };
    let service = LocalLocationService::open(&path, config())?;
    let now = || lsp_core::Clock::now(&*clock);

    step("A registrar for example.com publishes alice's two phones (signed with its domain key)");
    let alice = Aor::parse("sip:alice@example.com")?;
    let mut desk = Binding::new(
        "sip:alice@192.0.2.10:5060",
        now() + Duration::from_secs(3600),
        "reg-1@desk",
        1,
    );
    desk.q = QValue::parse("1.0")?;
    let mut mobile = Binding::new(
        "sip:alice@198.51.100.7:5062",
        now() + Duration::from_secs(600),
        "reg-2@mobile",
        1,
    );
    mobile.q = QValue::parse("0.5")?;
    let record = Record {
        aor: alice.clone(),
        version: 1,
        bindings: vec![mobile, desk],
    };
    let signed = record.sign(&registrar)?;
    service.publish(signed.clone()).await?;
    println!(
        "   published {} (Resource-ID {}…)",
        alice,
        &alice.resource_id().to_string()[..16]
    );

    step("A proxy queries a differently written URI for the same AOR");
    let raw = "SIP:alice@EXAMPLE.COM;transport=tcp";
    let asked = Aor::parse(raw)?;
    println!("   {raw} is canonically {asked}");
    show(&service, &asked, now())?;

    step("A UA with no server registers itself (pure P2P, first come first served)");
    let bob_key = Identity::generate()?;
    let bob = Aor::parse("sip:bob@p2p.example.net")?;
    let binding = Binding::new(
        "sip:bob@203.0.113.5:5060",
        now() + Duration::from_secs(120),
        "self@bob",
        1,
    );
    service.refresh_binding(&bob_key, &bob, binding).await?;
    show(&service, &bob, now())?;

    step("Forgeries, replays and hijacks are refused");
    let mallory = Identity::generate()?;
    let hijack = Record {
        aor: alice.clone(),
        version: 2,
        bindings: vec![],
    }
    .sign(&mallory)?;
    println!(
        "   mallory writes alice:      {}",
        refused(service.publish(hijack).await)?
    );
    let mut tampered = signed;
    tampered.record.version = 2;
    tampered.record.bindings[0].contact = "sip:alice@6.6.6.6".into();
    println!(
        "   tampered contact:          {}",
        refused(service.publish(tampered).await)?
    );
    let old = Record {
        aor: alice.clone(),
        version: 0,
        bindings: vec![],
    }
    .sign(&registrar)?;
    println!(
        "   replayed older version:    {}",
        refused(service.publish(old).await)?
    );
    let squat = Record {
        aor: bob.clone(),
        version: u64::MAX,
        bindings: vec![],
    }
    .sign(&mallory)?;
    println!(
        "   mallory takes bob's name:  {}",
        refused(service.publish(squat).await)?
    );

    step("Time passes: 11 minutes");
    clock.advance(Duration::from_secs(660));
    show(&service, &alice, now())?;
    show(&service, &bob, now())?;
    println!("   reclaimed {} lapsed AOR(s)", service.purge_expired());

    step("The registrar restarts: registrations come back from disk");
    drop(service);
    let service = LocalLocationService::open(&path, config())?;
    show(&service, &alice, now())?;
    let stats = service.stats();
    println!(
        "   store holds {} AOR(s), {} record(s), {} bytes",
        stats.aors, stats.records, stats.bytes
    );

    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
