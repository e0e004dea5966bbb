//! Contract throughput: blocks of 1 000 token transfers (contracts/wasm/token.wasm, a Call
//! transaction each) executed and committed on RocksDB with the compile cache warm, next to
//! blocks of 1 000 native transfers in the same run (for the ratio).
//! Run: `cargo bench -p keel-node --bench runtime`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use keel_node::chain::*;
use keel_node::state::*;
use parity_scale_codec::Encode;

const ACCOUNTS: usize = 1000;
const TXS_PER_BLOCK: usize = 1000;
const TOKEN_GAS: u64 = 1_000_000;

fn ctx(height: u64) -> BlockContext {
    BlockContext { chain_id: 1, height, timestamp_ms: 0, proposer: Address([0xee; 32]), cost_table_hash: [0; 32] }
}

fn call_data<A: Encode>(method: &str, args: A) -> Vec<u8> {
    let mut d = method.encode();
    args.encode_to(&mut d);
    d
}

struct Setup {
    _dir: tempfile::TempDir,
    db: StateDb,
    keys: Vec<SigningKey>,
    addrs: Vec<Address>,
    nonces: Vec<u64>,
    token: Address,
}

impl Setup {
    fn sign(&mut self, from: usize, gas_limit: u64, action: TxAction) -> SignedTransaction {
        let tx = Transaction { chain_id: 1, sender: self.addrs[from], nonce: self.nonces[from], gas_limit, gas_price: 1, action };
        self.nonces[from] += 1;
        tx.sign(&self.keys[from])
    }

    fn next_block(&self, txs: Vec<SignedTransaction>) -> StoredBlock {
        let h = self.db.next_height().unwrap();
        let b = execute_block(&self.db, &ctx(h), [0; 32], txs).unwrap();
        assert!(b.receipts.iter().all(|r| r.status == ReceiptStatus::Success), "{:?}", b.receipts.iter().find(|r| r.status != ReceiptStatus::Success));
        b
    }
}

/// Genesis, the token deployed by account 0, and 1 000 tokens sent to every account.
fn setup() -> Setup {
    let keys: Vec<SigningKey> = (0..ACCOUNTS)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            SigningKey::from_bytes(&seed)
        })
        .collect();
    let addrs: Vec<Address> = keys.iter().map(|k| address_of(&k.verifying_key())).collect();
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    let alloc: Vec<_> = addrs.iter().map(|a| (*a, u64::MAX as u128)).collect();
    commit_genesis(&db, &ctx(0), &alloc).unwrap();
    let code = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/wasm/token.wasm")).unwrap();
    let token = contract_address(&addrs[0], 0);
    let mut s = Setup { _dir: dir, db, keys, addrs, nonces: vec![0; ACCOUNTS], token };
    let deploy = s.sign(0, 10_000_000, TxAction::Deploy { code, input: ("B".to_string(), "B".to_string(), u64::MAX as u128).encode(), value: 0 });
    s.next_block(vec![deploy]);
    let funding: Vec<_> = (0..ACCOUNTS)
        .map(|i| {
            let input = call_data("transfer", (s.addrs[i], 1_000_000u128));
            s.sign(0, TOKEN_GAS, TxAction::Call { contract: token, input, value: 0 })
        })
        .collect();
    s.next_block(funding);
    s
}

fn token_transfers(c: &mut Criterion) {
    let s = std::cell::RefCell::new(setup());
    let mut g = c.benchmark_group("runtime_block");
    g.throughput(Throughput::Elements(TXS_PER_BLOCK as u64));
    g.sample_size(10);
    // Signed outside the measurement; measured: signature checks, contract execution
    // (instantiation, host calls, storage), trie update, one synced RocksDB commit.
    g.bench_function("1000_token_transfers_execute_and_commit", |b| {
        b.iter_batched(
            || {
                let mut s = s.borrow_mut();
                (0..TXS_PER_BLOCK)
                    .map(|i| {
                        let from = i % ACCOUNTS;
                        let to = s.addrs[(i * 7 + 3) % ACCOUNTS];
                        let token = s.token;
                        s.sign(from, TOKEN_GAS, TxAction::Call { contract: token, input: call_data("transfer", (to, 1u128)), value: 0 })
                    })
                    .collect::<Vec<_>>()
            },
            |txs| s.borrow().next_block(txs),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("1000_native_transfers_execute_and_commit", |b| {
        b.iter_batched(
            || {
                let mut s = s.borrow_mut();
                (0..TXS_PER_BLOCK)
                    .map(|i| {
                        let from = i % ACCOUNTS;
                        let to = s.addrs[(i * 7 + 3) % ACCOUNTS];
                        s.sign(from, TRANSFER_GAS, TxAction::Transfer { to, amount: 1 })
                    })
                    .collect::<Vec<_>>()
            },
            |txs| s.borrow().next_block(txs),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// The fixed cost of one contract frame (fresh store, instance and host-function table, a
/// state checkpoint) for a contract whose `call` does nothing, next to a token `balance_of`
/// frame; `Runtime::call` on a working state, no commit.
fn frame_overhead(c: &mut Criterion) {
    use keel_node::runtime::{BlockEnv, CallParams, Runtime};
    let mut s = setup();
    let empty = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call")))"#).unwrap();
    let empty_addr = contract_address(&s.addrs[1], s.nonces[1]);
    let deploy = s.sign(1, 1_000_000, TxAction::Deploy { code: empty, input: vec![], value: 0 });
    s.next_block(vec![deploy]);
    // The profile's largest initial memory: 512 pages (32 MiB), untouched.
    let big = wat::parse_str(r#"(module (memory (export "memory") 512) (func (export "deploy")) (func (export "call")))"#).unwrap();
    let big_addr = contract_address(&s.addrs[1], s.nonces[1]);
    let deploy = s.sign(1, 10_000_000, TxAction::Deploy { code: big, input: vec![], value: 0 });
    s.next_block(vec![deploy]);
    let rt = Runtime::shared().unwrap();
    let env = BlockEnv { height: 99, timestamp_ms: 0 };
    let mut g = c.benchmark_group("runtime_frame");
    for (name, contract, input) in [
        ("empty_call", empty_addr, vec![]),
        ("empty_call_512_pages", big_addr, vec![]),
        ("token_balance_of", s.token, call_data("balance_of", s.addrs[5])),
    ] {
        g.bench_function(name, |b| {
            let mut ws = s.db.working().unwrap();
            b.iter(|| {
                let p = CallParams { caller: s.addrs[2], contract, input: input.clone(), value: 0, gas_limit: 10_000_000 };
                rt.call(&mut ws, &env, p).unwrap()
            })
        });
    }
    // Handing work to the executor thread and back (`runtime::on_executor`).
    let config = keel_engine::Config::default();
    g.bench_function("on_executor_roundtrip", |b| b.iter(|| keel_node::runtime::on_executor(&config, || 1).unwrap()));
    g.finish();
}

criterion_group!(benches, token_transfers, frame_overhead);
criterion_main!(benches);
