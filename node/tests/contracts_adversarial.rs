//! Every adversarial module of contracts/wasm (adv_*.wasm) is rejected at deploy or stopped
//! with its specified outcome (contracts/README.md), and the transaction changes nothing
//! but the sender's balance and nonce (the fee) and the proposer's balance.

mod common;
use std::collections::BTreeSet;

use common::chain::*;
use common::who;
use keel_node::chain::*;
use keel_node::state::contract_address;

/// What each adversarial module must do.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Deploy fails with `InvalidCode` whose message contains this text.
    Rejected(&'static str),
    /// Deploys; `call` ends with this status.
    Call(fn(&ReceiptStatus) -> bool),
}

const TABLE: &[(&str, Expect)] = &[
    ("adv_atomics", Expect::Rejected("threads")),
    ("adv_simd", Expect::Rejected("SIMD")),
    ("adv_jit_nested_blocks_10000", Expect::Rejected("max_nesting_depth")),
    ("adv_infinite_loop", Expect::Call(|s| *s == ReceiptStatus::OutOfGas)),
    ("adv_memory_grow_spam", Expect::Call(|s| *s == ReceiptStatus::OutOfGas)),
    ("adv_memory_fill_huge", Expect::Call(|s| *s == ReceiptStatus::OutOfGas)),
    ("adv_memory_fill_loop", Expect::Call(|s| *s == ReceiptStatus::OutOfGas)),
    ("adv_recursion", Expect::Call(|s| *s == ReceiptStatus::Trap(TrapKind::StackExhausted))),
    ("adv_nan_bits", Expect::Call(|s| *s == ReceiptStatus::Success)),
    ("adv_jit_nested_blocks_1000", Expect::Call(|s| *s == ReceiptStatus::Success)),
    ("adv_jit_br_table_100k", Expect::Call(|s| *s == ReceiptStatus::Success)),
    ("adv_jit_nested_br_tables", Expect::Call(|s| *s == ReceiptStatus::Success)),
    ("adv_jit_many_locals", Expect::Call(|s| *s == ReceiptStatus::Success)),
];

/// Gas limit of the adversarial calls.
const CALL_GAS: u64 = 3_000_000;

#[test]
fn the_table_covers_every_adversarial_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".wasm").map(str::to_string))
        .filter(|n| n.starts_with("adv_"))
        .collect();
    let covered: BTreeSet<String> = TABLE.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, covered);
}

#[test]
fn rejected_modules_store_nothing() {
    for (name, expect) in TABLE {
        let Expect::Rejected(needle) = expect else { continue };
        let mut c = Chain::new();
        let code = wasm(name);
        let intrinsic = intrinsic_gas(&TxAction::Deploy { code: code.clone(), input: vec![], value: 0 });
        let (tx, addr) = c.deploy_tx(1, code, vec![]);
        let r = apply_checked(&mut c, tx);
        match &r.status {
            ReceiptStatus::InvalidCode(msg) => assert!(msg.contains(needle), "{name}: {msg}"),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(r.gas_used, intrinsic, "{name}: only the intrinsic gas");
        assert!(c.view().account_opt(&addr).unwrap().is_none(), "{name}");
    }
}

#[test]
fn running_modules_stop_with_the_specified_outcome() {
    for (name, expect) in TABLE {
        let Expect::Call(check) = expect else { continue };
        let mut c = Chain::new();
        let (addr, r) = c.deploy(1, wasm(name), vec![]);
        assert_eq!(r.status, ReceiptStatus::Success, "{name}: deploy");
        assert_eq!(addr, contract_address(&who(1), 0));
        let input = call_data("run", ());
        let tx = c.tx(2, TxAction::Call { contract: addr, input: input.clone(), value: 0 }, CALL_GAS);
        let r = apply_checked(&mut c, tx);
        assert!(check(&r.status), "{name}: {r:?}");
        if r.status == ReceiptStatus::OutOfGas {
            assert_eq!(r.gas_used, CALL_GAS, "{name}: out of gas uses the whole limit");
        }
        if *name == "adv_nan_bits" {
            let mut expected = 0x7fc0_0000u32.to_le_bytes().to_vec();
            expected.extend_from_slice(&0x7ff8_0000_0000_0000u64.to_le_bytes());
            assert_eq!(r.return_data, expected, "canonical NaN bits");
        }
        // Deterministic: the same call again gives the same receipt.
        let again = c.tx(2, TxAction::Call { contract: addr, input, value: 0 }, CALL_GAS);
        assert_eq!(apply_checked(&mut c, again), r, "{name}");
    }
}
