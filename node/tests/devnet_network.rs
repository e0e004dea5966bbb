//! Validators over libp2p on loopback, in one process: blocks are produced and gossiped,
//! every node agrees on every state root, a stopped validator restarts and catches up by
//! sync, a full node that joins late syncs; a whole devnet run replays to identical roots.

use std::time::Duration;

mod common;
use common::nodes::{height, wait_until};

use keel_node::chain::{address_of, Transaction, TxAction, TRANSFER_GAS};
use keel_node::devnet::{account_key, devnet_spec, node_config, DevnetOptions, DEVNET_CHAIN_ID};
use keel_node::validator::{Node, NodeApi};
use keel_node::state::Address;

const SLOT_MS: u64 = 300;


/// Every node has the same state root and block hash at every height all of them have.
fn assert_agree(apis: &[&NodeApi]) -> u64 {
    let common = apis.iter().map(|a| height(a)).min().unwrap();
    for h in 0..=common {
        let roots: Vec<_> = apis.iter().map(|a| a.chain().db().state_root(h).unwrap()).collect();
        let hashes: Vec<_> = apis.iter().map(|a| a.chain().header_at(h).unwrap().unwrap().hash()).collect();
        assert!(roots.iter().all(|r| *r == roots[0]), "state roots differ at height {h}");
        assert!(hashes.iter().all(|x| *x == hashes[0]), "blocks differ at height {h}");
    }
    common
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_validators_agree_restart_catch_up_and_late_join() {
    let dir = tempfile::tempdir().unwrap();
    let spec = devnet_spec(3, 4, SLOT_MS, keel_node::validator::now_ms() + 1500);
    let v0 = Node::start(node_config(&spec, dir.path(), 0, vec![])).await.unwrap();
    let v1 = Node::start(node_config(&spec, dir.path(), 1, v0.listen_addrs())).await.unwrap();
    let boot: Vec<_> = v0.listen_addrs().into_iter().chain(v1.listen_addrs()).collect();
    let v2 = Node::start(node_config(&spec, dir.path(), 2, boot.clone())).await.unwrap();
    let (a0, a1) = (v0.api().clone(), v1.api().clone());
    let a2 = v2.api().clone();

    // Blocks are produced by all three leaders and reach everyone.
    wait_until("height 6 on every validator", Duration::from_secs(30), || [&a0, &a1, &a2].iter().all(|a| height(a) >= 6)).await;
    let proposers: std::collections::HashSet<Address> =
        (1..=6).map(|h| a0.chain().header_at(h).unwrap().unwrap().proposer).collect();
    assert_eq!(proposers.len(), 3, "round-robin: every validator proposed");

    // Transactions submitted at one node are gossiped and included.
    let k = account_key(0);
    let sender = address_of(&k.verifying_key());
    let mut last = [0; 32];
    for nonce in 0..20 {
        let tx = Transaction { chain_id: DEVNET_CHAIN_ID, sender, nonce, gas_limit: TRANSFER_GAS, gas_price: 1, action: TxAction::Transfer { to: Address([7; 32]), amount: 1 } };
        last = [&a0, &a1, &a2][nonce as usize % 3].submit(tx.sign(&k)).unwrap();
    }
    wait_until("the 20 transfers on every node", Duration::from_secs(30), || {
        [&a0, &a1, &a2].iter().all(|a| a.chain().store().tx_position(&last).unwrap().is_some())
    })
    .await;
    assert_eq!(a2.chain().db().latest().unwrap().account(&Address([7; 32])).unwrap().balance, 20);
    assert_agree(&[&a0, &a1, &a2]);

    // Stop validator 2; the others go on without its slots.
    drop(a2);
    v2.shutdown().await;
    let stopped_at = height(&a0);
    wait_until("4 more blocks without validator 2", Duration::from_secs(30), || height(&a0) >= stopped_at + 4).await;

    // Restart it on the same data directory: it syncs the missed blocks, then follows.
    let v2 = Node::start(node_config(&spec, dir.path(), 2, boot.clone())).await.unwrap();
    let a2 = v2.api().clone();
    assert!(height(&a2) <= stopped_at, "validator 2 restarted behind");
    let target = height(&a0) + 3;
    wait_until("validator 2 to catch up and follow", Duration::from_secs(30), || height(&a2) >= target).await;

    // A full node joining late syncs the whole chain from the others.
    let mut cfg = node_config(&spec, dir.path(), 3, boot.clone());
    cfg.key = None;
    let full = Node::start(cfg).await.unwrap();
    let a3 = full.api().clone();
    let target = height(&a0) + 2;
    wait_until("the late full node to sync", Duration::from_secs(30), || height(&a3) >= target).await;
    let common = assert_agree(&[&a0, &a1, &a2, &a3]);
    assert!(common >= target);
    // Validator 2 proposes again after its restart.
    let h = height(&a0);
    wait_until("validator 2 to propose after restarting", Duration::from_secs(30), || {
        (target..=height(&a0)).any(|x| a0.chain().header_at(x).unwrap().is_some_and(|hd| hd.proposer == spec.validators[2])) && height(&a0) > h
    })
    .await;
    assert_agree(&[&a0, &a1, &a2, &a3]);

    drop((a0, a1, a2, a3));
    for n in [v0, v1, v2, full] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_devnet_run_replays_to_identical_roots() {
    let opts = DevnetOptions {
        validators: 3,
        slot_ms: 250,
        blocks: Some(8),
        accounts: 16,
        tps: 400,
        rpc_port: None,
        print_blocks: false,
        ..DevnetOptions::default()
    };
    let report = keel_node::devnet::run(opts, std::future::pending::<()>()).await.unwrap();
    assert!(report.height >= 8);
    assert!(report.agreed_heights >= 8, "{report:?}");
    assert!(report.transactions > 0, "the load reached the blocks: {report:?}");
    assert!(report.token_transfers, "the example contracts deployed and the stream is token transfers");
    // devnet::run replays validator 0's database and fails on any divergence.
    assert!(report.replay.is_some());
}
