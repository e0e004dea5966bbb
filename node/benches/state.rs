//! State-layer throughput: transfer blocks committed on RocksDB, and raw state reads /
//! writes. Run: `cargo bench -p keel-node --bench state`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use keel_node::chain::*;
use keel_node::state::*;

const ACCOUNTS: usize = 1000;
const TXS_PER_BLOCK: usize = 1000;

fn keys() -> Vec<SigningKey> {
    (0..ACCOUNTS)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            SigningKey::from_bytes(&seed)
        })
        .collect()
}

fn ctx(height: u64) -> BlockContext {
    BlockContext { chain_id: 1, height, timestamp_ms: 0, proposer: Address([0xee; 32]), cost_table_hash: [0; 32] }
}

fn transfers(c: &mut Criterion) {
    let keys = keys();
    let addrs: Vec<Address> = keys.iter().map(|k| address_of(&k.verifying_key())).collect();
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    let alloc: Vec<_> = addrs.iter().map(|a| (*a, u64::MAX as u128)).collect();
    commit_genesis(&db, &ctx(0), &alloc).unwrap();
    let mut nonces = vec![0u64; ACCOUNTS];
    let mut g = c.benchmark_group("transfer_block");
    g.throughput(Throughput::Elements(TXS_PER_BLOCK as u64));
    g.sample_size(10);
    // Signed outside the measurement; measured: signature checks, execution, trie update,
    // one synced RocksDB commit per block.
    g.bench_function("1000_transfers_execute_and_commit", |b| {
        b.iter_batched(
            || {
                (0..TXS_PER_BLOCK)
                    .map(|i| {
                        let from = i % ACCOUNTS;
                        let tx = Transaction {
                            chain_id: 1,
                            sender: addrs[from],
                            nonce: nonces[from],
                            gas_limit: TRANSFER_GAS,
                            gas_price: 1,
                            action: TxAction::Transfer { to: addrs[(i * 7 + 3) % ACCOUNTS], amount: 1 },
                        };
                        nonces[from] += 1;
                        tx.sign(&keys[from])
                    })
                    .collect::<Vec<_>>()
            },
            |txs| {
                let h = db.next_height().unwrap();
                execute_block(&db, &ctx(h), [0; 32], txs).unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("state_rw");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("1000_account_reads", |b| {
        let view = db.latest().unwrap();
        b.iter(|| {
            let mut sum = 0u128;
            for a in &addrs {
                sum = sum.wrapping_add(view.account(a).unwrap().balance);
            }
            sum
        })
    });
    g.bench_function("1000_storage_writes_commit", |b| {
        let contract = Address([7; 32]);
        let mut round = 0u64;
        b.iter(|| {
            let mut ws = db.working().unwrap();
            for i in 0..1000u64 {
                ws.storage_write(&contract, &i.to_le_bytes(), round.to_le_bytes().to_vec()).unwrap();
            }
            round += 1;
            let h = db.next_height().unwrap();
            db.commit_block(h, ws.changes(), b"").unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, transfers);
criterion_main!(benches);
