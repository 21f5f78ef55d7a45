// Valid REGISTERs and INVITEs, then one message per RFC 4475 section 3.1.2
// fault ("bad-" names). Shared by tests/torture.rs and tools/sip-parser-eval.
#[allow(dead_code)]
const CASES: &[(&str, &str)] = &[
    (
        "register-multi-contact",
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhds\r\nMax-Forwards: 70\r\nTo: Alice <sip:alice@example.com>\r\nFrom: Alice <sip:alice@example.com>;tag=1928301774\r\nCall-ID: a84b4c76e66710@pc33\r\nCSeq: 314159 REGISTER\r\nContact: <sip:alice@192.0.2.4:5060>;q=0.7;expires=3600, \"Mobile\" <sip:alice@198.51.100.9;transport=tcp>;q=0.3\r\nContact: <sip:alice@[2001:db8::9]:5070>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\r\nPath: <sip:edge.example.com;lr>\r\nExpires: 7200\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "register-star",
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhdt\r\nMax-Forwards: 70\r\nTo: <sip:alice@example.com>\r\nFrom: <sip:alice@example.com>;tag=19283\r\nCall-ID: a84b4c76e66710@pc33\r\nCSeq: 314160 REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "register-compact",
        "REGISTER sip:example.com SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhdu\r\nmax-forwards: 70\r\nt: <sip:alice@example.com>\r\nf: <sip:alice@example.com>;tag=19284\r\ni: a84b4c76e66711@pc33\r\ncseq: 1 REGISTER\r\nm: <sip:alice@192.0.2.4:5060>;expires=60\r\nl: 0\r\n\r\n",
    ),
    (
        "register-folded",
        "REGISTER sip:example.com SIP/2.0\r\nVia  :   SIP/2.0/UDP 192.0.2.4:5060\r\n  ;branch=z9hG4bK776asdhdv\r\nMax-Forwards: 70\r\nTO: \"Al \\\"the\\\" ice\" <sip:%61lice@EXAMPLE.com>\r\nfrom: <sip:alice@example.com>;tag=19285\r\nCall-ID: x@pc33\r\nCSeq: 2 REGISTER\r\nContact:\r\n <sip:alice@192.0.2.4>\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "invite-sdp",
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=1\r\nCall-ID: inv1@pc33\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.4>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
    ),
    (
        "bad-extra-separators",
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;;;branch=z9hG4bK2\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>;;,;\r\nFrom: <sip:alice@example.com>;;tag=2\r\nCall-ID: bad1@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-content-length-large",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK3\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=3\r\nCall-ID: bad2@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 9999\r\n\r\nshort",
    ),
    (
        "bad-negative-content-length",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK4\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=4\r\nCall-ID: bad3@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: -999\r\n\r\n",
    ),
    (
        "bad-overlarge-scalars",
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK5\r\nMax-Forwards: 300\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:bob@example.com>;tag=5\r\nCall-ID: bad4@pc33\r\nCSeq: 36893488147419103232 REGISTER\r\nContact: <sip:bob@192.0.2.4>;expires=280297596632815\r\nExpires: 10000000000000000000000\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-unterminated-quote",
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK6\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: \"Alice <sip:alice@example.com>;tag=6\r\nCall-ID: bad5@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-ltgt-request-uri",
        "INVITE <sip:bob@example.com> SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK7\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=7\r\nCall-ID: bad6@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-lws-in-request-uri",
        "INVITE sip:bob@exam ple.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK8\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=8\r\nCall-ID: bad7@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-multiple-sp",
        "INVITE  sip:bob@example.com  SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK9\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=9\r\nCall-ID: bad8@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-trailing-sp",
        "OPTIONS sip:bob@example.com SIP/2.0 \r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKa\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=a\r\nCall-ID: bad9@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-escaped-headers-ruri",
        "INVITE sip:bob@example.com?Route=%3Csip:evil.example%3E SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKb\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=b\r\nCall-ID: bada@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-date-zone",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKc\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=c\r\nCall-ID: badb@pc33\r\nCSeq: 1 OPTIONS\r\nDate: Fri, 01 Jan 2010 16:00:00 EST\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-name-addr-unenclosed",
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKd\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:bob@example.com>;tag=d\r\nCall-ID: badc@pc33\r\nCSeq: 1 REGISTER\r\nContact: sip:bob@192.0.2.4?Route=%3Csip:evil%3E\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-space-in-addr-spec",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKe\r\nMax-Forwards: 70\r\nTo: sip:bob @example.com\r\nFrom: <sip:alice@example.com>;tag=e\r\nCall-ID: badd@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-display-name-chars",
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKf\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: Alice@Home <sip:alice@example.com>;tag=f\r\nCall-ID: bade@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-version",
        "OPTIONS sip:bob@example.com SIP/7.0\r\nVia: SIP/7.0/UDP 192.0.2.4;branch=z9hG4bKg\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=g\r\nCall-ID: badf@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-cseq-mismatch",
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKh\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=h\r\nCall-ID: badg@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-unknown-method-mismatch",
        "NEWMETHOD sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKi\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=i\r\nCall-ID: badh@pc33\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "bad-big-response-code",
        "SIP/2.0 4294967301 better not break the receiver\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKj\r\nTo: <sip:bob@example.com>;tag=x\r\nFrom: <sip:alice@example.com>;tag=j\r\nCall-ID: badi@pc33\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ),
];
