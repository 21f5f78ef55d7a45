//! The embedding examples run to the end on their own small ring.
#![allow(clippy::unwrap_used)]

use std::process::Command;

/// Runs the program to the end and returns what it printed.
fn run(program: &str, path: &str) -> String {
    let out = Command::new(path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{program} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("{program}: OK")), "{stdout}");
    stdout.into_owned()
}

#[test]
fn ua_p2p() {
    let out = run("ua-p2p", env!("CARGO_BIN_EXE_ua-p2p"));
    assert!(out.contains("uses the ring as a client"), "{out}");
}

#[test]
fn hybrid_proxy() {
    run("hybrid-proxy", env!("CARGO_BIN_EXE_hybrid-proxy"));
}

#[test]
fn stateless_registrar() {
    run(
        "stateless-registrar",
        env!("CARGO_BIN_EXE_stateless-registrar"),
    );
}
