//! The registrar and redirect rules, one test each, through
//! `SipService::handle` over the embedded store with a manual clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::executor::block_on;
use lsp_core::{
    Aor, Identity, LocalConfig, LocalLocationService, LocationService, ManualClock, UnixTime,
};
use lsp_sip_adapter::digest::{Algorithm, DigestAuth, StaticCredentials, authorization};
use lsp_sip_adapter::message::{self, Inbound, Request, Response};
use lsp_sip_adapter::service::{ConfigError, SipConfig, SipService};

const SOURCE: &str = "192.0.2.4:5060";

struct Rig {
    sip: SipService,
    store: Arc<LocalLocationService>,
    clock: Arc<ManualClock>,
    identity: Arc<Identity>,
}

fn rig(auth: bool) -> Rig {
    let clock = Arc::new(ManualClock::new(UnixTime::from_secs(1_800_000_000)));
    let store = Arc::new(LocalLocationService::new(
        LocalConfig::default().clock(clock.clone()),
    ));
    let identity = Arc::new(Identity::from_secret_bytes([7; 32]));
    let mut config = SipConfig::new(identity.clone())
        .serve_domain("example.com")
        .clock(clock.clone());
    config = if auth {
        config.digest(Arc::new(
            DigestAuth::new(alice_secret())
                .with_algorithms(vec![Algorithm::Sha256, Algorithm::Md5]),
        ))
    } else {
        config.allow_unauthenticated()
    };
    Rig {
        sip: SipService::new(store.clone(), config).expect("config"),
        store,
        clock,
        identity,
    }
}

fn alice_secret() -> Arc<StaticCredentials> {
    Arc::new(StaticCredentials::new().with_password("alice", "example.com", "secret"))
}

fn parse(text: &str) -> Request {
    match message::parse(text.as_bytes()) {
        Ok(Inbound::Request(r)) => *r,
        other => panic!("not a request: {other:?}"),
    }
}

fn register(call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK{call_id}{cseq}\r\n\
         Max-Forwards: 70\r\nTo: <sip:alice@example.com>\r\nFrom: <sip:alice@example.com>;tag=a1\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

fn invite(uri: &str, extra: &str) -> String {
    format!(
        "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKinv\r\n\
         To: <{uri}>\r\nFrom: <sip:bob@example.net>;tag=b1\r\nCall-ID: inv-1\r\nCSeq: 1 INVITE\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

fn send(rig: &Rig, text: &str) -> Response {
    let source: SocketAddr = SOURCE.parse().expect("addr");
    block_on(rig.sip.handle(&parse(text), source)).expect("a response")
}

fn contacts(r: &Response) -> Vec<String> {
    r.header_values("Contact").map(str::to_owned).collect()
}

fn alice() -> Aor {
    Aor::parse("sip:alice@example.com").expect("aor")
}

#[test]
fn register_answers_every_binding_with_expires_q_and_date() {
    let rig = rig(false);
    let r = send(
        &rig,
        &register(
            "c1",
            1,
            "Contact: <sip:alice@192.0.2.4:5060>;q=0.5;expires=600, <sip:alice@198.51.100.9;transport=tcp>;q=0.9\r\n\
             m: <sip:alice@[2001:db8::9]:5070>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\r\n\
             Expires: 1200\r\n",
        ),
    );
    assert_eq!(r.code, 200, "{}", r.reason());
    assert_eq!(
        contacts(&r),
        vec![
            "<sip:alice@[2001:db8::9]:5070>;expires=1200;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1",
            "<sip:alice@198.51.100.9;transport=tcp>;expires=1200;q=0.9",
            "<sip:alice@192.0.2.4:5060>;expires=600;q=0.5",
        ]
    );
    assert!(
        r.header_values("Date")
            .next()
            .is_some_and(|d| d.ends_with("GMT"))
    );
    assert_eq!(r.header_values("Require").next(), Some("outbound"));
    let bytes = String::from_utf8(r.to_bytes()).expect("utf8");
    // RFC 3261 18.2.1: received only when the sent-by host is not the
    // source's address (RFC 3581: or rport asks for it).
    assert!(!bytes.contains(";received="), "{bytes}");
    assert!(
        bytes.contains("To: <sip:alice@example.com>;tag="),
        "{bytes}"
    );
}

/// RFC 3261 18.2.1 and RFC 3581: the top Via of a response gains
/// `received` when the sent-by host is not the source's address or when
/// `rport` asks for the source, and `rport` is filled in.
#[test]
fn received_is_added_only_where_the_rfcs_ask_for_it() {
    let rig = rig(false);
    let via = |text: &str| {
        let r = send(&rig, text);
        let bytes = String::from_utf8(r.to_bytes()).expect("utf8");
        bytes
            .lines()
            .find(|l| l.starts_with("Via: "))
            .expect("a Via")
            .to_owned()
    };
    let options = |sent_by: &str| {
        format!(
            "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {sent_by};branch=z9hG4bKv\r\n\
             Max-Forwards: 70\r\nTo: <sip:example.com>\r\nFrom: <sip:bob@example.net>;tag=b1\r\n\
             Call-ID: via-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    assert_eq!(
        via(&options(SOURCE)),
        "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKv"
    );
    assert_eq!(
        via(&options("192.0.2.4")),
        "Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKv"
    );
    assert_eq!(
        via(&options("phone.example.net:5060")),
        "Via: SIP/2.0/UDP phone.example.net:5060;branch=z9hG4bKv;received=192.0.2.4"
    );
    assert_eq!(
        via(&options("10.0.0.7:5060")),
        "Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKv;received=192.0.2.4"
    );
    assert_eq!(
        via(&options("192.0.2.4:5060;rport")),
        "Via: SIP/2.0/UDP 192.0.2.4:5060;rport=5060;branch=z9hG4bKv;received=192.0.2.4"
    );
}

#[test]
fn register_is_one_publish_signed_by_the_domain_key() {
    let rig = rig(false);
    send(
        &rig,
        &register("c1", 1, "Contact: <sip:alice@192.0.2.4>\r\n"),
    );
    send(
        &rig,
        &register("c1", 2, "Contact: <sip:alice@192.0.2.5>\r\n"),
    );
    let records = block_on(rig.store.fetch(&alice())).expect("stored");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].publisher, rig.identity.public_key());
    assert!(records[0].verify().is_ok());
    assert_eq!(records[0].record.bindings.len(), 2);
}

#[test]
fn expires_default_and_clamp() {
    let rig = rig(false);
    let r = send(
        &rig,
        &register("c1", 1, "Contact: <sip:alice@192.0.2.4>\r\n"),
    );
    assert_eq!(contacts(&r), vec!["<sip:alice@192.0.2.4>;expires=3600"]);
    let r = send(
        &rig,
        &register(
            "c1",
            2,
            "Contact: <sip:alice@192.0.2.4>\r\nExpires: 99999999999999\r\n",
        ),
    );
    assert_eq!(contacts(&r), vec!["<sip:alice@192.0.2.4>;expires=3600"]);
}

#[test]
fn too_brief_gets_423_with_min_expires() {
    let rig = rig(false);
    let r = send(
        &rig,
        &register("c1", 1, "Contact: <sip:alice@192.0.2.4>;expires=30\r\n"),
    );
    assert_eq!(r.code, 423);
    assert_eq!(r.header_values("Min-Expires").next(), Some("60"));
    assert!(block_on(rig.store.query(&alice())).is_err());
}

#[test]
fn refresh_extends_and_expires_zero_removes_one() {
    let rig = rig(false);
    send(
        &rig,
        &register(
            "c1",
            1,
            "Contact: <sip:alice@192.0.2.4>, <sip:alice@192.0.2.5>\r\nExpires: 600\r\n",
        ),
    );
    rig.clock.advance(Duration::from_secs(500));
    let r = send(
        &rig,
        &register("c1", 2, "Contact: <sip:alice@192.0.2.4>;expires=600\r\n"),
    );
    assert_eq!(
        contacts(&r),
        vec![
            "<sip:alice@192.0.2.4>;expires=600",
            "<sip:alice@192.0.2.5>;expires=100"
        ]
    );
    let r = send(
        &rig,
        &register("c1", 3, "Contact: <sip:alice@192.0.2.5>;expires=0\r\n"),
    );
    assert_eq!(contacts(&r), vec!["<sip:alice@192.0.2.4>;expires=600"]);
}

#[test]
fn star_with_expires_zero_removes_all_and_other_uses_get_400() {
    let rig = rig(false);
    send(
        &rig,
        &register(
            "c1",
            1,
            "Contact: <sip:alice@192.0.2.4>, <sip:alice@192.0.2.5>\r\n",
        ),
    );
    let r = send(&rig, &register("c1", 2, "Contact: *\r\nExpires: 600\r\n"));
    assert_eq!(r.code, 400, "{}", r.reason());
    let r = send(
        &rig,
        &register(
            "c1",
            3,
            "Contact: *\r\nContact: <sip:alice@192.0.2.6>\r\nExpires: 0\r\n",
        ),
    );
    assert_eq!(r.code, 400);
    let r = send(&rig, &register("c1", 4, "Contact: *\r\n"));
    assert_eq!(r.code, 400);
    assert_eq!(block_on(rig.store.query(&alice())).expect("kept").len(), 2);
    let r = send(&rig, &register("c1", 5, "Contact: *\r\nExpires: 0\r\n"));
    assert_eq!(r.code, 200);
    assert!(contacts(&r).is_empty());
    assert_eq!(block_on(rig.store.query(&alice())), Ok(Vec::new()));
}

#[test]
fn out_of_order_cseq_does_not_overwrite() {
    let rig = rig(false);
    send(
        &rig,
        &register("c1", 5, "Contact: <sip:alice@192.0.2.4>;expires=900\r\n"),
    );
    let r = send(
        &rig,
        &register("c1", 4, "Contact: <sip:alice@192.0.2.4>;expires=120\r\n"),
    );
    assert_eq!(r.code, 400);
    assert_eq!(r.reason(), "Out-of-order CSeq");
    let r = send(
        &rig,
        &register("c1", 5, "Contact: <sip:alice@192.0.2.4>;expires=0\r\n"),
    );
    assert_eq!(r.code, 400, "the same CSeq is not newer either");
    let kept = block_on(rig.store.query(&alice())).expect("kept");
    assert_eq!(kept[0].cseq, 5);
    // Another Call-ID (the UA rebooted) may update whatever its CSeq.
    let r = send(
        &rig,
        &register("c2", 1, "Contact: <sip:alice@192.0.2.4>;expires=120\r\n"),
    );
    assert_eq!(contacts(&r), vec!["<sip:alice@192.0.2.4>;expires=120"]);
}

#[test]
fn a_register_seen_again_is_answered_as_before() {
    let rig = rig(false);
    let again = register("c1", 7, "Contact: <sip:alice@192.0.2.4>;expires=900\r\n");
    let first = send(&rig, &again);
    assert_eq!(first.code, 200);
    rig.clock.advance(Duration::from_secs(10));
    // Past the transaction layer (its state was reclaimed, say).
    let second = send(&rig, &again);
    assert_eq!(second.code, 200, "{}", second.reason());
    assert_eq!(contacts(&second), vec!["<sip:alice@192.0.2.4>;expires=890"]);
}

#[test]
fn instance_and_reg_id_replace_the_flow_not_the_contact() {
    let rig = rig(false);
    let inst = "+sip.instance=\"<urn:uuid:1>\";reg-id=1";
    send(
        &rig,
        &register(
            "c1",
            1,
            &format!("Contact: <sip:alice@192.0.2.4>;{inst}\r\n"),
        ),
    );
    let r = send(
        &rig,
        &register(
            "c1",
            2,
            &format!("Contact: <sip:alice@203.0.113.7:40000>;{inst}\r\n"),
        ),
    );
    assert_eq!(contacts(&r).len(), 1);
    assert!(contacts(&r)[0].starts_with("<sip:alice@203.0.113.7:40000>"));
    let r = send(
        &rig,
        &register(
            "c1",
            3,
            "Contact: <sip:alice@192.0.2.4>;+sip.instance=\"<urn:uuid:1>\";reg-id=2\r\n",
        ),
    );
    assert_eq!(contacts(&r).len(), 2, "another reg-id is another flow");
}

#[test]
fn path_is_stored_and_echoed_when_supported() {
    let rig = rig(false);
    let r = send(
        &rig,
        &register(
            "c1",
            1,
            "Contact: <sip:alice@192.0.2.4>\r\nPath: <sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>\r\nSupported: path\r\n",
        ),
    );
    assert_eq!(
        r.header_values("Path").collect::<Vec<_>>(),
        vec!["<sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>"]
    );
    let stored = block_on(rig.store.query(&alice())).expect("stored");
    assert_eq!(
        stored[0].path,
        vec!["<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr>"]
    );
}

#[test]
fn foreign_domains_are_refused() {
    let rig = rig(false);
    let other_ruri = register("c1", 1, "Contact: <sip:alice@192.0.2.4>\r\n")
        .replace("REGISTER sip:example.com", "REGISTER sip:example.org");
    assert_eq!(send(&rig, &other_ruri).code, 404);
    let other_to = register("c1", 2, "Contact: <sip:alice@192.0.2.4>\r\n")
        .replace("To: <sip:alice@example.com>", "To: <sip:alice@example.org>");
    assert_eq!(send(&rig, &other_to).code, 403);
    let unknown_ext = register(
        "c1",
        3,
        "Contact: <sip:alice@192.0.2.4>\r\nRequire: foo\r\n",
    );
    let r = send(&rig, &unknown_ext);
    assert_eq!(r.code, 420);
    assert_eq!(r.header_values("Unsupported").next(), Some("foo"));
}

/// Alice's answer to a REGISTER challenge for `sip:example.com`.
fn alice_auth(alg: Algorithm, password: &str, nonce: &str, nc: u32, cnonce: &str) -> String {
    authorization(
        alg,
        "alice",
        password,
        "example.com",
        nonce,
        "REGISTER",
        "sip:example.com",
        nc,
        cnonce,
    )
}

fn challenge_nonce(r: &Response, alg: &str) -> String {
    let c = r
        .header_values("WWW-Authenticate")
        .find(|c| c.contains(&format!("algorithm={alg},")))
        .expect("challenge");
    let start = c.find("nonce=\"").expect("nonce") + 7;
    c[start..start + c[start..].find('"').expect("quote")].to_owned()
}

#[test]
fn digest_sha256_and_md5_challenge_then_success() {
    let rig = rig(true);
    let plain = register("c1", 1, "Contact: <sip:alice@192.0.2.4>\r\n");
    let r = send(&rig, &plain);
    assert_eq!(r.code, 401);
    let challenges: Vec<_> = r.header_values("WWW-Authenticate").collect();
    assert_eq!(challenges.len(), 2);
    assert!(
        challenges[0].contains("algorithm=SHA-256"),
        "SHA-256 is preferred"
    );
    assert!(challenges[1].contains("algorithm=MD5"));
    for (i, (alg, token)) in [(Algorithm::Sha256, "SHA-256"), (Algorithm::Md5, "MD5")]
        .into_iter()
        .enumerate()
    {
        let cseq = 2 + i as u32 * 2;
        let r = send(
            &rig,
            &register("c1", cseq, "Contact: <sip:alice@192.0.2.4>\r\n"),
        );
        let nonce = challenge_nonce(&r, token);
        let auth = alice_auth(alg, "secret", &nonce, 1, "abc");
        let r = send(
            &rig,
            &register(
                "c1",
                cseq + 1,
                &format!("Contact: <sip:alice@192.0.2.4>\r\nAuthorization: {auth}\r\n"),
            ),
        );
        assert_eq!(r.code, 200, "{token}: {}", r.reason());
    }
}

#[test]
fn the_default_challenge_is_md5_alone() {
    let identity = Arc::new(Identity::from_secret_bytes([7; 32]));
    let store = Arc::new(LocalLocationService::new(LocalConfig::default()));
    let config = SipConfig::new(identity)
        .serve_domain("example.com")
        .credentials(alice_secret());
    let rig = Rig {
        sip: SipService::new(store.clone(), config).expect("config"),
        store,
        clock: Arc::new(ManualClock::new(UnixTime::from_secs(0))),
        identity: Arc::new(Identity::from_secret_bytes([7; 32])),
    };
    let r = send(
        &rig,
        &register("c1", 1, "Contact: <sip:alice@192.0.2.4>\r\n"),
    );
    let challenges: Vec<_> = r.header_values("WWW-Authenticate").collect();
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(challenges[0].contains("algorithm=MD5"));
}

#[test]
fn digest_refuses_wrong_password_replay_other_user_and_stale_nonce() {
    let rig = rig(true);
    let r = send(
        &rig,
        &register("c1", 1, "Contact: <sip:alice@192.0.2.4>\r\n"),
    );
    let nonce = challenge_nonce(&r, "SHA-256");
    let with = |cseq: u32, auth: &str| {
        register(
            "c1",
            cseq,
            &format!("Contact: <sip:alice@192.0.2.4>\r\nAuthorization: {auth}\r\n"),
        )
    };
    let wrong = alice_auth(Algorithm::Sha256, "guess", &nonce, 1, "x");
    assert_eq!(send(&rig, &with(2, &wrong)).code, 403);
    let good = alice_auth(Algorithm::Sha256, "secret", &nonce, 1, "x");
    assert_eq!(send(&rig, &with(3, &good)).code, 200);
    assert_eq!(
        send(&rig, &with(4, &good)).code,
        403,
        "nonce count 1 again is a replay"
    );
    let next = alice_auth(Algorithm::Sha256, "secret", &nonce, 2, "x");
    assert_eq!(send(&rig, &with(5, &next)).code, 200);

    let as_bob = with(6, &next.replace("nc=00000002", "nc=00000003"))
        .replace("To: <sip:alice@example.com>", "To: <sip:bob@example.com>");
    assert_eq!(send(&rig, &as_bob).code, 403, "alice may not register bob");

    rig.clock.advance(Duration::from_secs(301));
    let late = alice_auth(Algorithm::Sha256, "secret", &nonce, 9, "x");
    let r = send(&rig, &with(7, &late));
    assert_eq!(r.code, 401);
    assert!(
        r.header_values("WWW-Authenticate")
            .all(|c| c.contains("stale=true"))
    );
    let forged = good.replace(&nonce[..16], "0000000000000001");
    assert_eq!(
        send(&rig, &with(8, &forged)).code,
        401,
        "a forged nonce gets a fresh challenge"
    );
}

#[test]
fn a_domain_registrar_needs_credentials_by_default() {
    let store = Arc::new(LocalLocationService::new(LocalConfig::default()));
    let config =
        SipConfig::new(Arc::new(Identity::from_secret_bytes([1; 32]))).serve_domain("example.com");
    assert!(matches!(
        SipService::new(store, config),
        Err(ConfigError::NoCredentials)
    ));
}

#[test]
fn redirect_302_lists_live_contacts_by_q() {
    let rig = rig(false);
    send(
        &rig,
        &register(
            "c1",
            1,
            "Contact: <sip:alice@192.0.2.4>;q=0.2, <sip:alice@192.0.2.5>;q=0.8\r\nExpires: 600\r\n",
        ),
    );
    rig.clock.advance(Duration::from_secs(100));
    let r = send(
        &rig,
        &invite("sip:alice@example.com", "Max-Forwards: 70\r\n"),
    );
    assert_eq!(r.code, 302);
    assert_eq!(
        contacts(&r),
        vec![
            "<sip:alice@192.0.2.5>;expires=500;q=0.8",
            "<sip:alice@192.0.2.4>;expires=500;q=0.2"
        ]
    );
    assert!(
        String::from_utf8(r.to_bytes())
            .expect("utf8")
            .contains("To: <sip:alice@example.com>;tag=")
    );
}

#[test]
fn redirect_unknown_404_lapsed_480_hops_483() {
    let rig = rig(false);
    assert_eq!(send(&rig, &invite("sip:nobody@example.com", "")).code, 404);
    send(
        &rig,
        &register("c1", 1, "Contact: <sip:alice@192.0.2.4>;expires=60\r\n"),
    );
    send(&rig, &register("c1", 2, "Contact: *\r\nExpires: 0\r\n"));
    assert_eq!(
        send(&rig, &invite("sip:alice@example.com", "")).code,
        480,
        "unregistered"
    );
    assert_eq!(
        send(
            &rig,
            &invite("sip:alice@example.com", "Max-Forwards: 0\r\n")
        )
        .code,
        483
    );
    assert_eq!(
        send(&rig, &invite("sip:alice@example.org", "")).code,
        404,
        "foreign domain"
    );
}

#[test]
fn redirect_knows_the_domain_users() {
    let rig = rig(true);
    assert_eq!(
        send(&rig, &invite("sip:alice@example.com", "")).code,
        480,
        "known, offline"
    );
    assert_eq!(send(&rig, &invite("sip:nobody@example.com", "")).code, 404);
}

#[test]
fn options_ack_cancel_and_in_dialog() {
    let rig = rig(false);
    let options = invite("sip:alice@example.com", "").replace("INVITE", "OPTIONS");
    let r = send(&rig, &options);
    assert_eq!(r.code, 200);
    assert!(
        r.header_values("Allow")
            .next()
            .is_some_and(|a| a.contains("REGISTER"))
    );
    let ack = invite("sip:alice@example.com", "").replace("INVITE", "ACK");
    let source: SocketAddr = SOURCE.parse().expect("addr");
    assert!(
        block_on(rig.sip.handle(&parse(&ack), source)).is_none(),
        "ACK is absorbed"
    );
    let cancel = invite("sip:alice@example.com", "").replace("INVITE", "CANCEL");
    assert_eq!(send(&rig, &cancel).code, 481, "no INVITE to cancel");
    let in_dialog = invite("sip:alice@example.com", "").replace(
        "To: <sip:alice@example.com>",
        "To: <sip:alice@example.com>;tag=x",
    );
    assert_eq!(send(&rig, &in_dialog).code, 481);
}

/// A location service that answers whatever it was given, unchecked.
struct Unchecked(Vec<lsp_core::Binding>);

#[async_trait::async_trait]
impl LocationService for Unchecked {
    async fn publish(
        &self,
        _: lsp_core::SignedRecord,
    ) -> Result<lsp_core::Published, lsp_core::Error> {
        Err(lsp_core::Error::Closed)
    }
    async fn query(&self, _: &Aor) -> Result<Vec<lsp_core::Binding>, lsp_core::Error> {
        Ok(self.0.clone())
    }
    async fn fetch(&self, aor: &Aor) -> Result<Vec<lsp_core::SignedRecord>, lsp_core::Error> {
        Err(lsp_core::Error::NotFound(aor.clone()))
    }
    async fn lookup(&self, _: lsp_core::ResourceId) -> Result<lsp_core::Lookup, lsp_core::Error> {
        Err(lsp_core::Error::Closed)
    }
}

#[test]
fn a_302_never_prints_a_binding_that_would_break_it() {
    let live = UnixTime::from_secs(4_000_000_000);
    let good = lsp_core::Binding::new("sip:alice@192.0.2.4", live, "c1", 1);
    let evil = lsp_core::Binding::new("sip:a@x\r\nContact: <sip:thief@evil>", live, "c2", 1);
    let not_uri = lsp_core::Binding::new("not-a-uri", live, "c3", 1);
    let config = SipConfig::new(Arc::new(Identity::from_secret_bytes([8; 32])))
        .registrar(false)
        .clock(Arc::new(ManualClock::new(UnixTime::from_secs(
            1_800_000_000,
        ))));
    let only_evil = Unchecked(vec![evil.clone(), not_uri.clone()]);
    let only_evil = SipService::new(Arc::new(only_evil), config.clone()).expect("config");
    let both = Unchecked(vec![evil, not_uri, good]);
    let both = SipService::new(Arc::new(both), config).expect("config");
    let source: SocketAddr = SOURCE.parse().expect("addr");
    let request = parse(&invite("sip:alice@example.com", ""));
    let r = block_on(both.handle(&request, source)).expect("answer");
    assert_eq!(r.code, 302);
    assert_eq!(contacts(&r), ["<sip:alice@192.0.2.4>;expires=2200000000"]);
    let text = String::from_utf8(r.to_bytes()).expect("utf8");
    assert!(
        !text.contains("thief") && !text.contains("not-a-uri"),
        "{text}"
    );
    let r = block_on(only_evil.handle(&request, source)).expect("answer");
    assert_eq!(r.code, 480, "nothing printable is nothing live");
}

/// A UA that registers itself with a Contact that is not a URI is refused
/// at its first publish, before anything leaves.
#[test]
fn a_self_registration_with_a_contact_that_is_not_a_uri_is_refused() {
    let store = LocalLocationService::new(LocalConfig::default());
    let spec = lsp_sip_adapter::ua::SelfBinding::new(alice(), "not-a-uri");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = runtime.block_on(lsp_sip_adapter::ua::SelfRegistration::start(
        store,
        Identity::from_secret_bytes([9; 32]),
        spec,
    ));
    let err = started.expect_err("refused");
    assert!(matches!(err, lsp_core::Error::InvalidBinding(_)), "{err}");
    assert_eq!(
        err.to_string().matches("invalid binding").count(),
        1,
        "{err}"
    );
}

/// A response without qop carries no count: its nonce serves once, and a
/// replay of it (here with another Contact) gets a fresh challenge.
#[test]
fn a_digest_without_qop_serves_its_nonce_once() {
    let rig = rig(true);
    let r = send(
        &rig,
        &register("q1", 1, "Contact: <sip:alice@192.0.2.4>\r\n"),
    );
    let nonce = challenge_nonce(&r, "SHA-256");
    let alg = Algorithm::Sha256;
    let ha1 = alg.hex("alice:example.com:secret");
    let ha2 = alg.hex("REGISTER:sip:example.com");
    let response = alg.hex(&format!("{ha1}:{nonce}:{ha2}"));
    let auth = format!(
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"{nonce}\", \
         uri=\"sip:example.com\", response=\"{response}\", algorithm=SHA-256"
    );
    let with = |cseq: u32, contact: &str| {
        register(
            "q1",
            cseq,
            &format!("Contact: <{contact}>\r\nAuthorization: {auth}\r\n"),
        )
    };
    assert_eq!(send(&rig, &with(2, "sip:alice@192.0.2.4")).code, 200);
    let replay = send(&rig, &with(3, "sip:mallory@203.0.113.6"));
    assert_eq!(replay.code, 401, "{}", replay.reason());
    assert!(
        replay
            .header_values("WWW-Authenticate")
            .all(|c| c.contains("stale=true"))
    );
    let bound = block_on(rig.store.query(&alice())).expect("alice");
    assert!(bound.iter().all(|b| b.contact != "sip:mallory@203.0.113.6"));
}

/// Password guessing: past a few failures in a row a source waits, and is
/// refused unchecked meanwhile, even with the right password; the user's
/// own phone elsewhere is not held up.
#[test]
fn a_source_that_keeps_guessing_is_made_to_wait() {
    let rig = rig(true);
    let from = |text: &str, source: &str| {
        let source: SocketAddr = source.parse().expect("addr");
        block_on(rig.sip.handle(&parse(text), source)).expect("a response")
    };
    let (guesser, phone) = ("198.51.100.66:5060", "192.0.2.4:5060");
    let r = from(&register("g1", 1, ""), guesser);
    let nonce = challenge_nonce(&r, "SHA-256");
    let with = |cseq: u32, password: &str| {
        let auth = alice_auth(Algorithm::Sha256, password, &nonce, cseq, "g");
        register("g1", cseq, &format!("Authorization: {auth}\r\n"))
    };
    let mut refused = Vec::new();
    for cseq in 2..12 {
        refused.push(
            from(&with(cseq, &format!("guess{cseq}")), guesser)
                .reason()
                .to_owned(),
        );
    }
    assert!(
        refused
            .iter()
            .any(|r| r.contains("Too many failed attempts")),
        "{refused:?}"
    );
    let right = from(&with(12, "secret"), guesser);
    assert_eq!(right.code, 403, "refused unchecked while it waits");
    assert_eq!(
        from(&with(13, "secret"), phone).code,
        200,
        "the phone is served"
    );
}
