//! `keel key`, `keel contract deploy | call | query` and `keel transfer` against a running
//! node's JSON-RPC, run as a user would (the binary, in a child process).

use keel_node::devnet::{account_key, devnet_spec, node_config};
use keel_node::validator::{now_ms, Node};

fn keel(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keel")).args(args).output().expect("runs keel");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploy_call_query_and_transfer_through_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let spec = devnet_spec(1, 2, 200, now_ms());
    let mut cfg = node_config(&spec, dir.path(), 0, vec![]);
    cfg.rpc = Some("127.0.0.1:0".parse().unwrap());
    let node = Node::start(cfg).await.unwrap();
    let url = format!("http://{}", node.rpc_addr().unwrap());
    let key = dir.path().join("funded.key");
    std::fs::write(&key, hex::encode(account_key(0).to_bytes())).unwrap();
    let key = key.to_str().unwrap().to_string();

    // `keel key new` writes a fresh key and refuses to overwrite it.
    let fresh = dir.path().join("fresh.key");
    let (ok, out, _) = tokio::task::spawn_blocking({
        let f = fresh.clone();
        move || keel(&["key", "new", "--out", f.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(ok && out.contains("address:") && out.contains("peer id:"), "{out}");
    let (ok, _, err) = keel(&["key", "new", "--out", fresh.to_str().unwrap()]);
    assert!(!ok && err.contains("not overwriting"), "{err}");

    let run = |args: Vec<String>| tokio::task::spawn_blocking(move || keel(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    let wasm = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/wasm/counter.wasm");
    let (ok, out, err) = run(vec!["contract".into(), "deploy".into(), wasm.into(), "u64:5".into(), "--rpc".into(), url.clone(), "--key".into(), key.clone()]).await.unwrap();
    assert!(ok, "{out}{err}");
    let address = out.lines().find_map(|l| l.strip_prefix("contract address ")).expect("address printed").to_string();
    assert!(out.contains("\"status\": \"success\""), "{out}");

    let (ok, out, err) = run(vec!["contract".into(), "call".into(), address.clone(), "increment".into(), "u64:3".into(), "--rpc".into(), url.clone(), "--key".into(), key.clone()]).await.unwrap();
    assert!(ok, "{out}{err}");
    // The return value is the new count, SCALE u64 8 = 0x0800000000000000.
    assert!(out.contains("\"return_data\": \"0800000000000000\""), "{out}");

    let (ok, out, err) = run(vec!["contract".into(), "query".into(), address.clone(), "get".into(), "--rpc".into(), url.clone()]).await.unwrap();
    assert!(ok, "{out}{err}");
    assert!(out.contains("\"return_data\": \"0800000000000000\""), "{out}");
    // A query changes nothing: querying `increment` returns 9 but `get` still says 8.
    let (_, out, _) = run(vec!["contract".into(), "query".into(), address.clone(), "increment".into(), "u64:1".into(), "--rpc".into(), url.clone()]).await.unwrap();
    assert!(out.contains("\"return_data\": \"0900000000000000\""), "{out}");
    let (_, out, _) = run(vec!["contract".into(), "query".into(), address.clone(), "get".into(), "--rpc".into(), url.clone()]).await.unwrap();
    assert!(out.contains("\"return_data\": \"0800000000000000\""), "{out}");

    // Bad arguments get clear errors before anything is sent.
    let (ok, _, err) = run(vec!["contract".into(), "call".into(), address.clone(), "increment".into(), "u64:x".into(), "--rpc".into(), url.clone(), "--key".into(), key.clone()]).await.unwrap();
    assert!(!ok && err.contains("u64:x"), "{err}");
    let (ok, _, err) = run(vec!["contract".into(), "query".into(), "nothex".into(), "get".into(), "--rpc".into(), url.clone()]).await.unwrap();
    assert!(!ok && err.contains("address"), "{err}");

    // A native transfer.
    let to = hex::encode([9u8; 32]);
    let (ok, out, err) = run(vec!["transfer".into(), to.clone(), "1234".into(), "--rpc".into(), url.clone(), "--key".into(), key.clone()]).await.unwrap();
    assert!(ok, "{out}{err}");
    let bal = node.api().chain().db().latest().unwrap().account(&keel_node::state::Address([9; 32])).unwrap().balance;
    assert_eq!(bal, 1234);
    node.shutdown().await;
}
