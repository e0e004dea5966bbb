//! The fork choice (`specs/protocol.md` §4): longest chain, then the lower slot, then the
//! lower header hash of the first block after the fork point; `Chain::reorg` switches to a
//! preferred branch by state rollback and full re-execution, restores the original chain
//! when the branch is invalid, and refuses branches that are not preferred or too deep.
//! Then over libp2p: two partitioned sides of a devnet produce competing chains and, once
//! joined, every node converges on the longer one.

use std::cmp::Ordering;
use std::time::Duration;

mod common;
use common::nodes::{height, wait_until};

use keel_node::chain::{address_of, SignedTransaction, Transaction, TxAction, TRANSFER_GAS};
use keel_node::consensus::{compare_branches, Chain, ChainSpec, ImportError, SignedBlock};
use keel_node::devnet::{account_key, devnet_spec, node_config, validator_key, DEVNET_CHAIN_ID};
use keel_node::state::Address;
use keel_node::validator::{now_ms, Node, NodeApi};

const SLOT_MS: u64 = 1000;

/// A chain spec whose slots 1..=100 are all in the past (no `FutureSlot`).
fn past_spec() -> ChainSpec {
    devnet_spec(3, 4, SLOT_MS, now_ms() - 200 * SLOT_MS)
}

fn transfer(account: usize, nonce: u64, to: u8) -> SignedTransaction {
    let k = account_key(account);
    Transaction {
        chain_id: DEVNET_CHAIN_ID,
        sender: address_of(&k.verifying_key()),
        nonce,
        gas_limit: TRANSFER_GAS,
        gas_price: 1,
        action: TxAction::Transfer { to: Address([to; 32]), amount: 5 },
    }
    .sign(&k)
}

/// `chain` proposes the next block in `slot` (as that slot's leader) with `txs`.
fn propose(chain: &Chain, slot: u64, txs: Vec<SignedTransaction>) -> SignedBlock {
    let p = chain.propose(&validator_key((slot % 3) as usize), slot, txs).unwrap();
    assert!(p.rejected.is_empty());
    p.block
}

fn open(dir: &tempfile::TempDir, name: &str, spec: &ChainSpec) -> Chain {
    Chain::open(&dir.path().join(name), spec.clone(), false).unwrap()
}

/// `(hash, state root)` of every block 0..=head.
fn blocks_of(chain: &Chain) -> Vec<([u8; 32], [u8; 32])> {
    (0..=chain.head().height).map(|h| chain.header_at(h).unwrap().map(|x| (x.hash(), x.state_root)).unwrap()).collect()
}

#[test]
fn the_rule_orders_branches_by_length_then_slot_then_hash() {
    let spec = past_spec();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (open(&dir, "a", &spec), open(&dir, "b", &spec), open(&dir, "c", &spec));
    let a1 = propose(&a, 1, vec![]);
    b.import(&a1, now_ms()).unwrap();
    c.import(&a1, now_ms()).unwrap();
    // At height 2: a in slot 3, b in slot 4, c equivocates with b's leader in slot 4.
    let x = propose(&a, 3, vec![]).block.header;
    let y = propose(&b, 4, vec![transfer(0, 0, 7)]).block.header;
    let z = propose(&c, 4, vec![transfer(1, 0, 7)]).block.header;
    let cmp = |ours: &[_], theirs: &[_]| compare_branches(&spec, 1, ours, theirs);
    assert_eq!(cmp(&[x.clone()], &[y.clone()]), Ordering::Less, "equal length: the lower slot wins");
    assert_eq!(cmp(&[y.clone()], &[x.clone()]), Ordering::Greater);
    let (lo, hi) = if y.hash() < z.hash() { (y.clone(), z.clone()) } else { (z.clone(), y.clone()) };
    assert_eq!(cmp(&[hi.clone()], &[lo.clone()]), Ordering::Greater, "same slot: the lower hash wins");
    assert_eq!(cmp(&[lo.clone()], &[hi.clone()]), Ordering::Less);
    let y2 = propose(&b, 5, vec![]).block.header;
    assert_eq!(cmp(&[x.clone()], &[y.clone(), y2.clone()]), Ordering::Greater, "the longer branch wins despite a later slot");
    assert_eq!(cmp(&[y, y2], &[x.clone()]), Ordering::Less);
    assert_eq!(cmp(&[], &[x.clone()]), Ordering::Greater, "any block beats none");
    assert_eq!(cmp(&[x.clone()], &[x]), Ordering::Equal);
}

#[test]
fn reorg_switches_to_the_preferred_branch_and_restores_after_an_invalid_one() {
    let spec = past_spec();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (open(&dir, "a", &spec), open(&dir, "b", &spec), open(&dir, "c", &spec));
    // Common prefix: heights 1 and 2.
    for slot in [1, 2] {
        let sb = propose(&a, slot, vec![transfer(3, slot - 1, 9)]);
        b.import(&sb, now_ms()).unwrap();
        c.import(&sb, now_ms()).unwrap();
    }
    // Height 3: a in slot 3 with one transfer, b in slot 4 with another.
    let tx_a = transfer(0, 0, 7);
    let tx_b = transfer(1, 0, 8);
    let a3 = propose(&a, 3, vec![tx_a.clone()]);
    let b3 = propose(&b, 4, vec![tx_b.clone()]);
    assert_ne!(a3.block.header.state_root, b3.block.header.state_root);

    // a does not prefer b's branch (later slot): refused before anything changes.
    let before = blocks_of(&a);
    assert!(matches!(a.reorg(2, &[b3.clone()], now_ms()), Err(ImportError::NotPreferred { fork_height: 2 })));
    assert_eq!(blocks_of(&a), before);
    // b prefers a's (lower slot): reverts its block 3, re-executes a's.
    assert_eq!(b.fork_point(&[a3.clone()]).unwrap().map(|(f, rest)| (f, rest.len())), Some((2, 1)));
    let r = b.reorg(2, &[a3.clone()], now_ms()).unwrap();
    assert_eq!((r.fork_height, r.reverted.len(), r.applied.len()), (2, 1, 1));
    assert_eq!(r.reverted[0].block.transactions, vec![tx_b.clone()]);
    assert_eq!(blocks_of(&b), blocks_of(&a), "b is now on a's chain, roots included");
    assert_eq!(b.db().recompute_root(3).unwrap(), a3.block.header.state_root);
    assert_eq!(b.tx_location(&tx_a.hash()).unwrap(), Some((3, 0)));
    assert_eq!(b.tx_location(&tx_b.hash()).unwrap(), None, "the reverted transaction is no longer reported");
    assert_eq!(b.db().latest().unwrap().account(&Address([8; 32])).unwrap().balance, 0);
    assert_eq!(b.db().latest().unwrap().account(&Address([7; 32])).unwrap().balance, 5);
    // b's chain goes on from there: it imports a's next block.
    let a4 = propose(&a, 6, vec![]);
    b.import(&a4, now_ms()).unwrap();

    // A longer branch wins: c forks at 2 and reaches height 5.
    let c3 = propose(&c, 5, vec![tx_b.clone()]);
    let c4 = propose(&c, 7, vec![]);
    let c5 = propose(&c, 8, vec![transfer(2, 0, 7)]);
    let r = a.reorg(2, &[c3.clone(), c4.clone(), c5.clone()], now_ms()).unwrap();
    assert_eq!((r.reverted.len(), r.applied.len()), (2, 3));
    assert_eq!(blocks_of(&a), blocks_of(&c));
    assert_eq!(a.tx_location(&tx_a.hash()).unwrap(), None);
    assert_eq!(a.tx_location(&tx_b.hash()).unwrap(), Some((3, 0)));

    // An invalid branch: longer than b's chain (height 4), well signed, but its last block
    // claims a wrong state root. b ends on its original chain, and nothing is lost.
    let d = open(&dir, "d", &spec);
    for h in 1..=2 {
        d.import(&a.signed_block(h).unwrap().unwrap(), now_ms()).unwrap();
    }
    let d3 = propose(&d, 9, vec![]);
    let d4 = propose(&d, 10, vec![transfer(0, 0, 9)]);
    let mut d5 = propose(&d, 11, vec![]);
    d5.block.header.state_root = [1; 32];
    let d5 = SignedBlock::sign(d5.block, &validator_key(11 % 3));
    let before = blocks_of(&b);
    let err = b.reorg(2, &[d3, d4, d5], now_ms()).unwrap_err();
    assert!(matches!(err, ImportError::HeaderMismatch { .. }), "{err}");
    assert!(err.is_offence());
    assert_eq!(blocks_of(&b), before, "the original chain is back");
    assert_eq!(b.head().hash(), before.last().unwrap().0);
    assert_eq!(b.db().recompute_root(4).unwrap(), before[4].1);
    assert_eq!(b.tx_location(&tx_a.hash()).unwrap(), Some((3, 0)), "its transaction index is back too");
    assert_eq!(b.signed_block(3).unwrap().unwrap(), a3, "and it still serves its blocks signed");
    let b5 = propose(&b, 12, vec![]);
    assert_eq!(b5.block.header.height, 5, "b keeps building on its chain");
}

#[test]
fn reorg_refuses_malformed_and_too_deep_branches() {
    let spec = past_spec();
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(&dir, "a", &spec);
    let b = open(&dir, "b", &spec);
    let b1 = propose(&b, 1, vec![]);
    let b2 = propose(&b, 2, vec![]);
    let b3 = propose(&b, 3, vec![]);
    propose(&a, 4, vec![]);
    propose(&a, 5, vec![]);
    let before = blocks_of(&a);
    assert!(matches!(a.reorg(0, &[], now_ms()), Err(ImportError::BadBranch(_))));
    assert!(matches!(a.reorg(1, &[b1.clone()], now_ms()), Err(ImportError::BadBranch(_))), "does not start after the fork point");
    assert!(matches!(a.reorg(0, &[b1.clone(), b3.clone()], now_ms()), Err(ImportError::BadBranch(_))), "not consecutive");
    let mut forged = b2.clone();
    forged.signature[0] ^= 1;
    let err = a.reorg(0, &[b1.clone(), forged], now_ms()).unwrap_err();
    assert!(matches!(err, ImportError::BadSignature) && err.is_offence());
    a.set_max_reorg_depth(1);
    assert!(matches!(a.reorg(0, &[b1.clone(), b2.clone(), b3.clone()], now_ms()), Err(ImportError::ReorgTooDeep { depth: 2, max: 1 })));
    assert_eq!(blocks_of(&a), before, "nothing changed");
    a.set_max_reorg_depth(2);
    a.reorg(0, &[b1, b2, b3], now_ms()).unwrap();
    assert_eq!(blocks_of(&a), blocks_of(&b));
}


fn hash_at(api: &NodeApi, h: u64) -> Option<[u8; 32]> {
    api.chain().header_at(h).unwrap().map(|x| x.hash())
}

/// Same block hash and state root at every height 0..=the lowest head.
fn agree(apis: &[&NodeApi]) -> bool {
    let common = apis.iter().map(|a| height(a)).min().unwrap();
    (0..=common).all(|h| {
        let first = apis[0].chain().header_at(h).unwrap().map(|x| (x.hash(), x.state_root));
        apis.iter().all(|a| a.chain().header_at(h).unwrap().map(|x| (x.hash(), x.state_root)) == first)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitioned_sides_converge_on_the_longer_chain_when_joined() {
    let dir = tempfile::tempdir().unwrap();
    let spec = devnet_spec(3, 4, 300, now_ms() + 1500);
    // Side A: validators 0 and 1, connected. Side B: validator 2 alone (no bootnodes).
    let v0 = Node::start(node_config(&spec, dir.path(), 0, vec![])).await.unwrap();
    let v1 = Node::start(node_config(&spec, dir.path(), 1, v0.listen_addrs())).await.unwrap();
    let v2 = Node::start(node_config(&spec, dir.path(), 2, vec![])).await.unwrap();
    let (a0, a1, a2) = (v0.api().clone(), v1.api().clone(), v2.api().clone());

    // Both sides produce: A fills two slots of three, B one.
    wait_until("both sides to produce", Duration::from_secs(30), || height(&a0) >= 6 && height(&a1) >= 6 && height(&a2) >= 2).await;
    assert!(agree(&[&a0, &a1]));
    assert_ne!(hash_at(&a0, 1), hash_at(&a2, 1), "the sides forked at height 1");
    // B's transfer, only on B's side: it must survive the reorganisation (mempool).
    let k = account_key(0);
    let tx = Transaction { chain_id: DEVNET_CHAIN_ID, sender: address_of(&k.verifying_key()), nonce: 0, gas_limit: TRANSFER_GAS, gas_price: 1, action: TxAction::Transfer { to: Address([5; 32]), amount: 3 } }.sign(&k);
    let tx_hash = a2.submit(tx).unwrap();
    wait_until("B to include its transfer", Duration::from_secs(10), || a2.chain().tx_location(&tx_hash).unwrap().is_some()).await;
    let a_chain: Vec<_> = (1..=height(&a0)).map(|h| hash_at(&a0, h)).collect();

    // Join: B dials A. B's chain is shorter: it reorganises onto A's; A keeps its chain.
    a2.dial(v0.listen_addrs()[0].clone());
    wait_until("validator 2 to switch to the longer chain", Duration::from_secs(30), || {
        hash_at(&a2, 1) == hash_at(&a0, 1) && height(&a2) + 1 >= height(&a0)
    })
    .await;
    assert!(a2.shared.metrics.reorgs.get() >= 1, "validator 2 reorganised");
    assert_eq!(a0.shared.metrics.reorgs.get(), 0, "the longer side never reverts");
    for (i, h) in a_chain.iter().enumerate() {
        assert_eq!(hash_at(&a0, i as u64 + 1), *h, "validator 0 kept block {}", i + 1);
    }
    // The network goes on as one: validator 2 proposes on the common chain, and its
    // reverted transfer is included there from the mempool.
    let joined = height(&a0);
    wait_until("validator 2 to propose on the common chain", Duration::from_secs(30), || {
        (joined + 1..=height(&a0)).any(|h| a0.chain().header_at(h).unwrap().is_some_and(|x| x.proposer == spec.validators[2]))
    })
    .await;
    wait_until("the reverted transfer on the common chain", Duration::from_secs(30), || {
        [&a0, &a1, &a2].iter().all(|a| a.chain().tx_location(&tx_hash).unwrap().is_some())
    })
    .await;
    wait_until("all nodes to agree", Duration::from_secs(10), || agree(&[&a0, &a1, &a2])).await;
    assert_eq!(a0.chain().db().latest().unwrap().account(&Address([5; 32])).unwrap().balance, 3);

    drop((a0, a1, a2));
    for n in [v0, v1, v2] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn equal_length_forks_converge_by_the_tie_break_over_the_network() {
    // Two data directories prepared offline with competing chains of equal length: the
    // leader of slot 4 equivocated (two blocks for one slot, on one common parent), and
    // each side built one more block. Started as full nodes (no proposals: the chains
    // stay as they are), the nodes find the fork through their peer's status and both
    // end on the branch whose first block has the lower header hash.
    let dir = tempfile::tempdir().unwrap();
    let spec = past_spec();
    let (tx0, tx1) = (transfer(0, 0, 7), transfer(1, 0, 8));
    let (side0, side1) = {
        let c0 = Chain::open(&dir.path().join("node0"), spec.clone(), false).unwrap();
        let c1 = Chain::open(&dir.path().join("node1"), spec.clone(), false).unwrap();
        c1.import(&propose(&c0, 1, vec![]), now_ms()).unwrap();
        let x = propose(&c0, 4, vec![tx0.clone()]);
        let y = propose(&c1, 4, vec![tx1.clone()]);
        assert_eq!(x.block.header.proposer, y.block.header.proposer, "one leader, two blocks for slot 4");
        propose(&c0, 5, vec![]);
        propose(&c1, 6, vec![]);
        (blocks_of(&c0), blocks_of(&c1))
    };
    assert_eq!(side0[..2], side1[..2], "common prefix");
    assert_ne!(side0[2], side1[2], "a fork at height 2");
    let (winner, loser) = if side0[2].0 < side1[2].0 { (0usize, 1usize) } else { (1, 0) };
    let expected = if winner == 0 { side0.clone() } else { side1.clone() };

    let full = |i: usize, boot: Vec<libp2p::Multiaddr>| {
        let mut cfg = node_config(&spec, dir.path(), i, boot);
        cfg.key = None;
        cfg
    };
    let n0 = Node::start(full(0, vec![])).await.unwrap();
    let n1 = Node::start(full(1, n0.listen_addrs())).await.unwrap();
    let (a0, a1) = (n0.api().clone(), n1.api().clone());
    let apis = [&a0, &a1];
    wait_until("both nodes on the lower-hash branch", Duration::from_secs(30), || {
        apis.iter().all(|a| blocks_of(a.chain()) == expected)
    })
    .await;
    assert_eq!(apis[loser].shared.metrics.reorgs.get(), 1, "the other side reorganised once");
    assert_eq!(apis[winner].shared.metrics.reorgs.get(), 0, "the preferred side never reverts");
    // The loser's reverted transaction is pending again (valid on the new chain).
    let reverted = if loser == 0 { &tx0 } else { &tx1 };
    assert!(apis[loser].shared.mempool.lock().unwrap().contains(&reverted.hash()));
    assert_eq!(apis[loser].chain().tx_location(&reverted.hash()).unwrap(), None);
    // A third node joining late syncs the same chain.
    let n2 = Node::start(full(2, n0.listen_addrs())).await.unwrap();
    let a2 = n2.api().clone();
    wait_until("the late node to sync", Duration::from_secs(30), || blocks_of(a2.chain()) == expected).await;

    drop((a0, a1, a2));
    for n in [n0, n1, n2] {
        n.shutdown().await;
    }
}
