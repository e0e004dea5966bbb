//! The token contract (contracts/wasm/token.wasm) deployed and called through signed
//! transactions in blocks: balances move, events are emitted, fees and nonces are charged,
//! and the same transactions on a fresh database give the same roots and receipts.

mod common;
use common::chain::*;
use common::who;
use keel_node::chain::*;
use keel_node::state::{Address, StateDb};
use parity_scale_codec::{Decode, Encode};

const SUPPLY: u128 = 1_000_000;

fn ctor() -> Vec<u8> {
    ("Keel".to_string(), "KEEL".to_string(), SUPPLY).encode()
}

fn balance_of(c: &mut Chain, token: Address, owner: Address) -> u128 {
    let r = c.call(3, token, call_data("balance_of", owner));
    assert_eq!(r.status, ReceiptStatus::Success, "{r:?}");
    u128::decode(&mut &r.return_data[..]).unwrap()
}

/// The token's storage slot of `owner`'s balance: `SCALE(b"bal") ++ owner` (the SDK's
/// `StorageMap` layout), holding SCALE(u128).
fn balance_slot(owner: Address) -> Vec<u8> {
    let mut k = b"bal".as_slice().encode();
    k.extend_from_slice(&owner.0);
    k
}

/// Deploy + a few blocks of transfers, approvals and a failing transfer.
fn scenario(c: &mut Chain) -> Address {
    let (token, r) = c.deploy(1, wasm("token"), ctor());
    assert_eq!(r.status, ReceiptStatus::Success, "{r:?}");
    // Constructor event: Transfer from zero to the deployer.
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.events[0].contract, token);
    assert_eq!(r.events[0].topics, vec![topic("Transfer"), [0; 32], who(1).0]);
    assert_eq!(r.events[0].data, SUPPLY.encode());

    let t1 = c.call_tx(1, token, call_data("transfer", (who(2), 250u128)), 0);
    let t2 = c.call_tx(1, token, call_data("approve", (who(3), 100u128)), 0);
    let t3 = c.call_tx(3, token, call_data("transfer_from", (who(1), who(4), 60u128)), 0);
    let b = c.block(vec![t1, t2, t3]);
    for r in &b.receipts {
        assert_eq!(r.status, ReceiptStatus::Success, "{r:?}");
        assert_eq!(r.return_data, true.encode());
    }
    assert_eq!(b.receipts[0].events[0].topics, vec![topic("Transfer"), who(1).0, who(2).0]);
    assert_eq!(b.receipts[0].events[0].data, 250u128.encode());
    assert_eq!(b.receipts[1].events[0].topics, vec![topic("Approval"), who(1).0, who(3).0]);
    assert_eq!(b.receipts[2].events[0].topics, vec![topic("Transfer"), who(1).0, who(4).0]);

    // Over-spending reverts with the contract's message and moves nothing.
    let t4 = c.call_tx(2, token, call_data("transfer", (who(1), 251u128)), 0);
    let b = c.block(vec![t4]);
    assert_eq!(b.receipts[0].status, ReceiptStatus::Revert(b"insufficient balance".to_vec()));
    assert!(b.receipts[0].events.is_empty());
    token
}

#[test]
fn token_transfers_move_balances_and_emit_events() {
    let mut c = Chain::new();
    let token = scenario(&mut c);
    assert_eq!(balance_of(&mut c, token, who(1)), SUPPLY - 250 - 60);
    assert_eq!(balance_of(&mut c, token, who(2)), 250);
    assert_eq!(balance_of(&mut c, token, who(4)), 60);
    let r = c.call(3, token, call_data("allowance", (who(1), who(3))));
    assert_eq!(r.return_data, 40u128.encode());
    let r = c.call(3, token, call_data("total_supply", ()));
    assert_eq!(r.return_data, SUPPLY.encode());
    let r = c.call(3, token, call_data("name", ()));
    assert_eq!(r.return_data, "Keel".to_string().encode());
    // Raw storage, read without the contract.
    let v = c.view();
    assert_eq!(v.storage(&token, &balance_slot(who(2))).unwrap(), Some(250u128.encode()));
    // The contract account holds the code hash of the deployed binary.
    assert_eq!(v.account(&token).unwrap().code_hash, Some(keel_node::state::code_hash(&wasm("token"))));
    // An unknown method reverts.
    let r = c.call(3, token, call_data("mint", (who(3), 5u128)));
    assert_eq!(r.status, ReceiptStatus::Revert(b"unknown method".to_vec()));
}

#[test]
fn fees_and_nonces_are_charged_for_success_and_failure() {
    let mut c = Chain::new();
    let (token, deploy) = c.deploy(1, wasm("token"), ctor());
    let code_len = wasm("token").len() as u64;
    let intrinsic = TX_BASE_GAS + DEPLOY_CODE_GAS_PER_BYTE * code_len + TX_INPUT_GAS_PER_BYTE * ctor().len() as u64;
    assert!(deploy.gas_used > intrinsic, "the constructor ran and used gas");
    let v = c.view();
    assert_eq!(v.account(&who(1)).unwrap().balance, FUNDS - deploy.gas_used as u128 * PRICE as u128);
    assert_eq!(v.account(&who(1)).unwrap().nonce, 1);
    assert_eq!(v.account(&PROPOSER).unwrap().balance, deploy.gas_used as u128);
    // A reverted call: fee and nonce charged, token state unchanged.
    let root_before = c.view().storage(&token, &balance_slot(who(2))).unwrap();
    let r = c.call(2, token, call_data("transfer", (who(1), 1u128)));
    assert_eq!(r.status, ReceiptStatus::Revert(b"insufficient balance".to_vec()));
    let v = c.view();
    assert_eq!(v.account(&who(2)).unwrap().balance, FUNDS - r.gas_used as u128);
    assert_eq!(v.account(&who(2)).unwrap().nonce, 1);
    assert_eq!(v.storage(&token, &balance_slot(who(2))).unwrap(), root_before);
    // Gas used is deterministic: the same call again uses exactly the same gas.
    let r2 = c.call(2, token, call_data("transfer", (who(1), 1u128)));
    assert_eq!(r2, r);
}

#[test]
fn same_transactions_on_a_fresh_database_give_same_roots_and_receipts() {
    let mut a = Chain::new();
    let mut b = Chain::new();
    scenario(&mut a);
    scenario(&mut b);
    assert_eq!(a.blocks, b.blocks, "headers (state roots, receipts roots) and receipts");
    let roots: Vec<_> = a.blocks.iter().map(|s| s.block.header.state_root).collect();
    for w in roots.windows(2) {
        assert_ne!(w[0], w[1], "every block changes the state");
    }
    // Replaying the committed blocks through execute_block on a third database.
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    let alloc: Vec<_> = (1..=4).map(|i| (who(i), FUNDS)).collect();
    let mut parent = commit_genesis(&db, &ctx(0), &alloc).unwrap().block.header.hash();
    for stored in &a.blocks[1..] {
        let h = stored.block.header.height;
        let replayed = execute_block(&db, &ctx(h), parent, stored.block.transactions.clone()).unwrap();
        assert_eq!(&replayed, stored);
        parent = replayed.block.header.hash();
    }
}
