//! Daemons started in-process through the library, without a process
//! boundary: how they enter the ring, what they create, their status
//! endpoint, and how they fail and stop.

mod support;

use lsp_node::{Daemon, Entered, Leaving, NodeConfig, StartError};
use support::{http_get, write_config};

fn anchor() -> String {
    lsp_core::Identity::generate()
        .expect("key")
        .public_key()
        .to_string()
}

async fn start(path: &std::path::Path) -> Result<Daemon, StartError> {
    Daemon::start(NodeConfig::load(path).expect("config")).await
}

async fn health(daemon: &Daemon) -> u16 {
    let at = daemon.status_addr().expect("status endpoint");
    tokio::task::spawn_blocking(move || http_get(at, "/health").0)
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_start_a_ring_join_it_serve_status_and_leave() {
    let dir = tempfile::tempdir().unwrap();
    let anchor = anchor();
    let a = start(&write_config(dir.path(), "a", None, "", &anchor))
        .await
        .expect("a starts");
    assert_eq!(a.created_keys().len(), 1, "a new identity file");
    assert_eq!(a.created_keys()[0].field, "identity_file");
    assert_eq!(a.entered().await, Entered::StartedRing);
    assert_eq!(health(&a).await, 200);

    let boot = format!("{}@{}", a.local().id, a.local().addr);
    let sip = "[sip]\nudp = [\"127.0.0.1:0\"]\nregistrar = false\nredirect = true\n\
               domains = [\"example.com\"]\n";
    let b_config = write_config(dir.path(), "b", Some(&boot), sip, &anchor);
    let b = start(&b_config).await.expect("b starts");
    assert_eq!(b.entered().await, Entered::Joined);
    assert_eq!(b.sip_udp_addrs().len(), 1);
    assert!(b.sip_tcp_addrs().is_empty());
    assert!(matches!(b.shutdown().await, Leaving::Left));

    // The same configuration again reads the key it created.
    let b = start(&b_config).await.expect("b starts again");
    assert!(b.created_keys().is_empty());
    assert_eq!(b.entered().await, Entered::Joined);

    // A status endpoint on a port in use stops the start, naming it.
    let taken = a.status_addr().unwrap();
    let extra = format!("[status]\nlisten = \"{taken}\"\n");
    let c_config = write_config(dir.path(), "c", Some(&boot), "", &anchor);
    let text = std::fs::read_to_string(&c_config).unwrap();
    let text = text.replace("[status]\nlisten = \"127.0.0.1:0\"\n", &extra);
    std::fs::write(&c_config, text).unwrap();
    let err = start(&c_config).await.expect_err("the port is taken");
    assert!(matches!(err, StartError::Status { .. }), "{err:?}");
    assert!(err.to_string().starts_with("status.listen: "), "{err}");

    assert!(matches!(b.shutdown().await, Leaving::Left));
    assert!(matches!(a.shutdown().await, Leaving::Left));
}

/// The local store's file holds every registration: it is created private,
/// and one that others may read stops the start, naming the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_store_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let anchor = anchor();
    let sip = "[sip]\nudp = [\"127.0.0.1:0\"]\nstore = \"local\"\nlocal_db = \"reg.db\"\n\
               registrar = false\nredirect = true\ndomains = [\"example.com\"]\n";
    let config = write_config(dir.path(), "a", None, sip, &anchor);
    let a = start(&config).await.expect("a starts");
    let db = dir.path().join("reg.db");
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "created private");
    a.shutdown().await;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = start(&config).await.err().map(|e| e.to_string());
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("chmod 600")),
        "{refused:?}"
    );
}

/// Every field path of a JSON value: `a.b` for an object's fields, `a[].b`
/// for those of an array's elements, and each object or array itself.
fn field_paths(value: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
    let join = |key: &str| match at {
        "" => key.to_owned(),
        _ => format!("{at}.{key}"),
    };
    match value {
        serde_json::Value::Object(fields) => {
            for (key, v) in fields {
                out.insert(join(key));
                field_paths(v, &join(key), out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items.iter().filter(|i| i.is_object()) {
                field_paths(item, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

/// `/status` of a member with neighbours and a SIP front has exactly the
/// fields the table in docs/operations.md describes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_document_has_the_fields_operations_md_describes() {
    let guide = include_str!("../../docs/operations.md");
    let table = &guide[guide.find("**`GET /status`**").expect("the table")..];
    let documented: std::collections::BTreeSet<String> = table
        .lines()
        .skip_while(|l| !l.starts_with("| field |"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| l.split('`').nth(1).expect("a field").to_owned())
        .collect();
    assert!(documented.len() > 40, "{documented:?}");

    let dir = tempfile::tempdir().unwrap();
    let anchor = anchor();
    let a = start(&write_config(dir.path(), "a", None, "", &anchor))
        .await
        .expect("a starts");
    a.entered().await;
    let boot = format!("{}@{}", a.local().id, a.local().addr);
    let sip = "[sip]\nudp = [\"127.0.0.1:0\"]\nregistrar = false\nredirect = true\n\
               domains = [\"example.com\"]\n";
    let b = start(&write_config(dir.path(), "b", Some(&boot), sip, &anchor))
        .await
        .expect("b starts");
    b.entered().await;
    let at = b.status_addr().expect("status endpoint");
    let mut live = std::collections::BTreeSet::new();
    for _ in 0..100 {
        let (code, body) = tokio::task::spawn_blocking(move || http_get(at, "/status"))
            .await
            .expect("join");
        assert_eq!(code, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        live.clear();
        field_paths(&doc, "", &mut live);
        let full = !doc["predecessor"].is_null()
            && doc["fingers"].as_array().is_some_and(|f| !f.is_empty());
        if full {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let undocumented: Vec<_> = live.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&live).collect();
    assert!(
        undocumented.is_empty(),
        "served but not described: {undocumented:?}"
    );
    assert!(missing.is_empty(), "described but not served: {missing:?}");
    b.shutdown().await;
    a.shutdown().await;
}
