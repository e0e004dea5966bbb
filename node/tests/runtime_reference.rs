//! The wasmi backend of the contract runtime (`Backend::Wasmi`: wasmi over
//! `keel_metering::instrument`) gives exactly the native backend's receipts and state roots
//! on blocks that exercise the whole host ABI, nested calls, reverts, every out-of-gas
//! point of a gas-limit sweep, stack exhaustion, NaN canonicalization and rejected
//! modules; and `keel replay --engine wasmi` audits a stored chain holding contract blocks.

mod common;
use common::chain::*;
use common::who;
use ed25519_dalek::Signer;
use keel_engine::Config;
use keel_node::chain::*;
use keel_node::consensus::{Chain as NodeChain, ChainSpec, Engine, Genesis, GenesisBalance};
use keel_node::replay::{replay, ReplayOptions};
use keel_node::runtime::{Backend, Runtime};
use keel_node::state::{contract_address, Address};
use parity_scale_codec::Encode;

/// Executes every block of `native` (built on the native backend) again on a fresh chain
/// with the wasmi backend and requires identical receipts and headers. Returns the number
/// of contract transactions compared.
fn assert_wasmi_agrees(native: &common::chain::Chain) -> usize {
    let rt = Runtime::with_backend(Config::default(), Backend::Wasmi).unwrap();
    assert_eq!(rt.backend(), Backend::Wasmi);
    let mirror = common::chain::Chain::new();
    assert_eq!(mirror.blocks[0], native.blocks[0], "same genesis");
    let mut contract_txs = 0;
    for (h, stored) in native.blocks.iter().enumerate().skip(1) {
        let parent = native.blocks[h - 1].block.header.hash();
        let txs = stored.block.transactions.clone();
        contract_txs += txs.iter().filter(|t| !matches!(t.tx.action, TxAction::Transfer { .. })).count();
        let replayed = execute_block_with(&rt, &mirror.db, &ctx(h as u64), parent, txs).unwrap();
        for (i, (n, w)) in stored.receipts.iter().zip(&replayed.receipts).enumerate() {
            assert_eq!(n, w, "block {h} receipt {i}: native (left) and wasmi (right) differ");
        }
        assert_eq!(stored.block.header, replayed.block.header, "block {h} header");
    }
    contract_txs
}

/// Every example contract, through the calls of its documented methods (nested calls,
/// events, reverts, storage removal, hashing and signature checks included).
#[test]
fn examples_agree_on_every_receipt() {
    let mut c = Chain::new();
    let (counter, _) = c.deploy(1, wasm("counter"), 5u64.encode());
    c.call(2, counter, call_data("increment", 3u64));
    c.call(2, counter, call_data("increment", u64::MAX));
    c.call(2, counter, call_data("reset", ()));
    c.call(1, counter, call_data("reset", ()));
    c.call(2, counter, call_data("get", 1u8));
    let (cc, _) = c.deploy(1, wasm("c_counter"), 40u64.to_le_bytes().to_vec());
    c.call(3, cc, call_data("increment", 2u64));
    c.call(3, cc, call_data("decrement", 1u64));

    let (token, _) = c.deploy(1, wasm("token"), ("T".to_string(), "T".to_string(), 1_000u128).encode());
    let (buyer, seller, arbiter) = (who(1), who(2), who(3));
    let (escrow, _) = c.deploy(2, wasm("escrow"), (token, buyer, seller, arbiter, 300u128).encode());
    c.call(4, escrow, call_data("fund", ()));
    c.call(1, escrow, call_data("fund", ()));
    c.call(1, token, call_data("approve", (escrow, 300u128)));
    c.call(1, escrow, call_data("fund", ()));
    c.call(3, escrow, call_data("release", ()));
    c.call(4, token, call_data("balance_of", seller));
    c.call(1, token, call_data("transfer", (who(4), 7u128)));

    let (reg, _) = c.deploy(1, wasm("registry"), vec![]);
    c.call(2, reg, call_data("register", "alice"));
    c.call(3, reg, call_data("register", "alice"));
    c.call(3, reg, call_data("register", "Bad Name"));
    c.call(2, reg, call_data("transfer", ("alice", who(3))));
    c.call(3, reg, call_data("release", "alice"));

    let (hasher, _) = c.deploy(1, wasm("sha2_hasher"), vec![]);
    c.call(2, hasher, call_data("sha256", (vec![0xabu8; 300], 50u32)));
    c.call(2, hasher, call_data("blake3_host", (vec![0xcdu8; 100], 3u32)));
    let (verifier, _) = c.deploy(1, wasm("ed25519_verifier"), vec![]);
    let signer = common::key(9);
    let msg = b"keel".to_vec();
    let sig = signer.sign(&msg).to_bytes();
    let pk = signer.verifying_key().to_bytes();
    for method in ["verify", "verify_host"] {
        c.call(2, verifier, call_data(method, (pk, &msg, sig)));
        c.call(2, verifier, call_data(method, (pk, b"kee1".to_vec(), sig)));
    }
    c.call(2, verifier, call_data("verify_many", (pk, &msg, sig, 2u32)));

    let compared = assert_wasmi_agrees(&c);
    assert!(compared >= 30, "{compared} contract transactions compared");
}

/// The adversarial modules: rejected ones give the same `InvalidCode` reason, running ones
/// stop the same way (out of gas, stack exhausted, canonical NaN bits).
#[test]
fn adversarial_modules_agree() {
    let mut c = Chain::new();
    let names = [
        "adv_atomics",
        "adv_simd",
        "adv_jit_nested_blocks_10000",
        "adv_infinite_loop",
        "adv_memory_grow_spam",
        "adv_memory_fill_huge",
        "adv_memory_fill_loop",
        "adv_recursion",
        "adv_nan_bits",
        "adv_jit_nested_blocks_1000",
        "adv_jit_br_table_100k",
        "adv_jit_nested_br_tables",
        "adv_jit_many_locals",
    ];
    let mut outcomes = Vec::new();
    for name in names {
        let (addr, r) = c.deploy(1, wasm(name), vec![]);
        if r.status == ReceiptStatus::Success {
            let tx = c.tx(2, TxAction::Call { contract: addr, input: call_data("run", ()), value: 0 }, 5_000_000);
            outcomes.push(c.block(vec![tx]).receipts[0].status.clone());
        } else {
            outcomes.push(r.status);
        }
    }
    // The table covers the outcomes that matter, so the comparison below is not vacuous.
    assert!(outcomes.iter().any(|s| matches!(s, ReceiptStatus::InvalidCode(_))));
    assert!(outcomes.contains(&ReceiptStatus::OutOfGas));
    assert!(outcomes.contains(&ReceiptStatus::Trap(TrapKind::StackExhausted)));
    assert!(outcomes.contains(&ReceiptStatus::Success));
    assert_wasmi_agrees(&c);
}

/// A token transfer (a nested-free call with storage reads and writes and an event) and an
/// escrow funding (a nested call) at every gas limit from below the intrinsic cost of the
/// call to past what it needs, in steps: the out-of-gas point falls inside wasm code, inside
/// host functions' base and per-byte charges, and inside the nested frame, and both backends
/// must put it at the same gas.
#[test]
fn out_of_gas_points_agree_across_a_gas_sweep() {
    let mut c = Chain::new();
    let (token, _) = c.deploy(1, wasm("token"), ("T".to_string(), "T".to_string(), 1_000_000u128).encode());
    let (escrow, _) = c.deploy(1, wasm("escrow"), (token, who(1), who(2), who(3), 10u128).encode());
    c.call(1, token, call_data("approve", (escrow, 1_000_000u128)));
    let transfer = call_data("transfer", (who(4), 1u128));
    let full = c.call(1, token, transfer.clone()).gas_used;
    let base = intrinsic_gas(&TxAction::Call { contract: token, input: transfer.clone(), value: 0 });
    assert!(full > base);
    let step = ((full - base) / 60).max(1);
    let mut statuses = std::collections::BTreeSet::new();
    let mut txs = Vec::new();
    let mut limit = base;
    while limit <= full + step {
        txs.push(c.tx(1, TxAction::Call { contract: token, input: transfer.clone(), value: 0 }, limit));
        limit += step;
    }
    for r in c.block(txs).receipts {
        statuses.insert(format!("{:?}", r.status));
    }
    let fund = call_data("fund", ());
    let fund_full = {
        let mut probe = Chain::new();
        let (t, _) = probe.deploy(1, wasm("token"), ("T".to_string(), "T".to_string(), 1_000_000u128).encode());
        let (e, _) = probe.deploy(1, wasm("escrow"), (t, who(1), who(2), who(3), 10u128).encode());
        probe.call(1, t, call_data("approve", (e, 1_000_000u128)));
        probe.call(1, e, fund.clone()).gas_used
    };
    let fund_base = intrinsic_gas(&TxAction::Call { contract: escrow, input: fund.clone(), value: 0 });
    let step = ((fund_full - fund_base) / 40).max(1);
    let mut limit = fund_base;
    let mut txs = Vec::new();
    while limit <= fund_full {
        txs.push(c.tx(1, TxAction::Call { contract: escrow, input: fund.clone(), value: 0 }, limit));
        limit += step;
    }
    for r in c.block(txs).receipts {
        statuses.insert(format!("{:?}", r.status));
    }
    assert!(statuses.contains("OutOfGas") && statuses.contains("Success"), "{statuses:?}");
    let compared = assert_wasmi_agrees(&c);
    assert!(compared >= 100, "{compared}");
}

/// `keel replay --engine wasmi` (the library call behind it) audits a node's database whose
/// blocks deploy and call contracts, and agrees with the stored roots and receipts.
#[test]
fn replay_with_the_wasmi_engine_audits_contract_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let vkey = ed25519_dalek::SigningKey::from_bytes(&[77; 32]);
    let spec = ChainSpec::new(Genesis {
        chain_id: common::CHAIN,
        genesis_time_ms: 1_000_000,
        slot_ms: 100,
        validators: vec![hex::encode(vkey.verifying_key().to_bytes())],
        balances: (1..=2).map(|i| GenesisBalance { address: hex::encode(who(i).0), balance: "1000000000000000".into() }).collect(),
    })
    .unwrap();
    let chain = NodeChain::open(dir.path(), spec, false).unwrap();
    let sign = |from: u8, nonce: u64, action: TxAction| {
        Transaction { chain_id: common::CHAIN, sender: who(from), nonce, gas_limit: GAS, gas_price: 1, action }.sign(&common::key(from))
    };
    let token = contract_address(&who(1), 0);
    let deploy = TxAction::Deploy { code: wasm("token"), input: ("T".to_string(), "T".to_string(), 1_000u128).encode(), value: 0 };
    chain.propose(&vkey, 1, vec![sign(1, 0, deploy)]).unwrap();
    let mut contract_txs = 1;
    for slot in 2..=6u64 {
        let txs: Vec<_> = (0..4u64)
            .map(|k| {
                let nonce = (slot - 2) * 4 + k + 1;
                let amount = if k == 3 { 1_000_000u128 } else { slot as u128 + k as u128 };
                sign(1, nonce, TxAction::Call { contract: token, input: call_data("transfer", (Address([9; 32]), amount)), value: 0 })
            })
            .collect();
        contract_txs += txs.len();
        let p = chain.propose(&vkey, slot, txs).unwrap();
        assert!(p.rejected.is_empty());
    }
    drop(chain);
    for engine in [Engine::Native, Engine::Wasmi] {
        let report = replay(&ReplayOptions {
            db: dir.path().to_path_buf(),
            genesis: None,
            from: 1,
            to: None,
            engine,
            progress: false,
        })
        .unwrap_or_else(|e| panic!("{engine:?}: {e}"));
        assert!(report.divergence.is_none(), "{engine:?}: {:?}", report.divergence);
        assert_eq!(report.transactions, contract_txs as u64, "{engine:?}");
    }
    // The command an auditor runs.
    for (engine, says) in [("native", "contracts on Keel's compiler"), ("wasmi", "contracts on wasmi")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["replay", "--engine", engine, "--db"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{engine}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!("({contract_txs} transactions; {says}")), "{stdout}");
        assert!(stdout.contains("heights 1..=6: every state root, receipts root and receipt matches"), "{stdout}");
    }
}
