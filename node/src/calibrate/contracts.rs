//! Whole example-contract calls through the node's contract runtime: gas used under the
//! current table against time, to see whether real code (compiled Rust and C, crates nobody
//! here wrote) gets the same nanoseconds per gas as the microbenchmarks.
//!
//! Each scenario's contracts are deployed (and set up) in one committed block of the lab
//! ([`super::lab`]); every sample then runs the scenario's call with
//! [`crate::runtime::Runtime::call`] on a fresh working state of that block, so each sample
//! does the same work. The time covers the whole frame as block execution runs it (module
//! from the runtime's cache, fresh instance, checkpoint), which is why the per-frame cost
//! measured on an empty contract is reported beside it.

use std::path::Path;

use ed25519_dalek::{Signer, SigningKey};
use parity_scale_codec::Encode;

use super::lab::{expect_success, Install, Lab, CALLER};
use super::measure::median;
use super::CalibrateError;
use crate::state::Address;

/// One contract of a scenario: file in `contracts/wasm` and constructor call data.
pub struct Deployment {
    /// File in `contracts/wasm`.
    pub file: &'static str,
    /// Constructor call data.
    pub input: Vec<u8>,
    /// Setup calls by the lab's caller after every deployment of the scenario.
    pub setup: Vec<Vec<u8>>,
}

/// One timed call of one example contract.
pub struct Scenario {
    /// Label in the report (method and arguments in brief).
    pub label: String,
    /// The contracts deployed (the first is the one called).
    pub deploy: Vec<Deployment>,
    /// Call data.
    pub call: Vec<u8>,
}

/// The `file` of the generated memory-touch contract (not in `contracts/wasm`).
pub const TOUCH_FILE: &str = "generated: memory touch";
/// Initial memory of the memory-touch contract, 64 KiB pages.
pub const TOUCH_PAGES: u64 = 256;

/// A contract with `pages` of initial memory whose `call` writes one byte in every 4 KiB
/// page of it: the first touch of fresh memory, which the runtime allocates lazily.
pub fn touch_contract(pages: u64) -> Result<Vec<u8>, CalibrateError> {
    let end = pages * 65_536;
    wat::parse_str(format!(
        r#"(module (memory (export "memory") {pages})
  (func (export "deploy"))
  (func (export "call") (local $a i32)
    (loop $l
      local.get $a i32.const 1 i32.store8
      local.get $a i32.const 4096 i32.add local.tee $a
      i32.const {end} i32.lt_u br_if $l)))"#
    ))
    .map_err(|e| CalibrateError::Setup(format!("touch contract: {e}")))
}

fn code_of(dir: &Path, file: &str) -> Option<Vec<u8>> {
    if file == TOUCH_FILE {
        touch_contract(TOUCH_PAGES).ok()
    } else {
        std::fs::read(dir.join(file)).ok()
    }
}

/// The address a scenario deploys `file` at (scenario `index`).
pub fn scenario_address(index: usize, file: &str) -> Address {
    Address(*blake3::hash(format!("calibration scenario {index} {file}").as_bytes()).as_bytes())
}

/// The scenarios.
pub fn scenarios() -> Vec<Scenario> {
    let to = [0x22u8; 32];
    let sk = SigningKey::from_bytes(&[9; 32]);
    let pk = sk.verifying_key().to_bytes();
    let msg = b"keel calibration message".to_vec();
    let sig = sk.sign(&msg).to_bytes();
    let token_deploy = ("Keel Token".to_string(), "KEEL".to_string(), 1_000_000_000u128).encode();
    let data = vec![0xABu8; 64];
    let one = |file, input: Vec<u8>| vec![Deployment { file, input, setup: Vec::new() }];
    let s = |label: &str, deploy: Vec<Deployment>, call: Vec<u8>| Scenario { label: label.to_string(), deploy, call };
    let zero = 0u64.encode();
    let none = Vec::new();
    // The escrow scenario: index of the scenario in this list, for the addresses.
    let escrow_index = 11;
    let escrow = scenario_address(escrow_index, "escrow.wasm");
    let token = scenario_address(escrow_index, "token.wasm");
    vec![
        s("counter increment(5)", one("counter.wasm", zero.clone()), ("increment", 5u64).encode()),
        s("counter get()", one("counter.wasm", zero.clone()), "get".encode()),
        s("c_counter increment(5)", one("c_counter.wasm", zero), ("increment", 5u64).encode()),
        s("token transfer(to, 100)", one("token.wasm", token_deploy.clone()), ("transfer", to, 100u128).encode()),
        s("token approve(spender, 100)", one("token.wasm", token_deploy.clone()), ("approve", to, 100u128).encode()),
        s("token balance_of(deployer)", one("token.wasm", token_deploy.clone()), ("balance_of", CALLER.0).encode()),
        s("registry register(\"alice\")", one("registry.wasm", none.clone()), ("register", "alice".to_string()).encode()),
        s("sha2_hasher sha256(64 B, 100 rounds)", one("sha2_hasher.wasm", none.clone()), ("sha256", data.clone(), 100u32).encode()),
        s("sha2_hasher blake3_host(64 B, 100 rounds)", one("sha2_hasher.wasm", none.clone()), ("blake3_host", data, 100u32).encode()),
        s("ed25519_verifier verify (in wasm)", one("ed25519_verifier.wasm", none.clone()), ("verify", pk, msg.clone(), sig).encode()),
        s("ed25519_verifier verify_host", one("ed25519_verifier.wasm", none), ("verify_host", pk, msg, sig).encode()),
        // Index 11 (`escrow_index`): fund() pulls 100 tokens via token.transfer_from.
        s(
            "escrow fund() (calls token.transfer_from)",
            vec![
                Deployment {
                    file: "escrow.wasm",
                    input: (token.0, CALLER.0, [0x51u8; 32], [0xA7u8; 32], 100u128).encode(),
                    setup: Vec::new(),
                },
                Deployment { file: "token.wasm", input: token_deploy, setup: vec![("approve", escrow.0, 100u128).encode()] },
            ],
            "fund".encode(),
        ),
        // Not an example: every 4 KiB page of a large initial memory touched once.
        s(
            "memory touch: 256 initial pages, one i32.store8 per 4 KiB (generated)",
            one(TOUCH_FILE, Vec::new()),
            Vec::new(),
        ),
    ]
}

/// One scenario's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractRun {
    /// Contract file.
    pub file: String,
    /// Scenario label.
    pub label: String,
    /// Gas of the Call transaction under the current table: intrinsic gas
    /// ([`call_intrinsic_gas`]) plus the frame's gas.
    pub gas: u64,
    /// Median time of the whole frame, ns (thread CPU time).
    pub ns: f64,
    /// `ns / gas`.
    pub ns_per_gas: f64,
    /// Initial memory of the contract, 64 KiB pages.
    pub memory_pages: u64,
    /// Median time of an empty frame of a contract with the same initial memory, ns, and
    /// the gas it uses: the per-frame cost no operator meters.
    pub empty_frame: (f64, u64),
}

/// Initial pages of the module's memory (0 if it has none or does not parse).
pub fn memory_pages(code: &[u8]) -> u64 {
    for payload in wasmparser::Parser::new(0).parse_all(code) {
        if let Ok(wasmparser::Payload::MemorySection(r)) = payload {
            if let Some(Ok(m)) = r.into_iter().next() {
                return m.initial;
            }
        }
    }
    0
}

/// Address of the empty contract with `pages` of memory.
pub fn empty_address(pages: u64) -> Address {
    Address(*blake3::hash(format!("calibration empty frame {pages}").as_bytes()).as_bytes())
}

/// An empty contract (`deploy` and `call` do nothing) with `pages` of memory.
pub fn empty_contract(pages: u64) -> Result<Vec<u8>, CalibrateError> {
    wat::parse_str(format!(r#"(module (memory (export "memory") {pages}) (func (export "deploy")) (func (export "call")))"#))
        .map_err(|e| CalibrateError::Setup(format!("empty contract: {e}")))
}

/// Gas a Call transaction with call data `input` pays before its frame runs for the work
/// timed here: the chain's intrinsic gas ([`crate::chain::intrinsic_gas`], `specs/state.md`
/// §4) less [`crate::chain::TX_SIGNATURE_GAS`], since the timed frames verify no transaction
/// signature (that check is priced as, and calibrated with, `host.ed25519_verify`).
pub fn call_intrinsic_gas(input: &[u8]) -> u64 {
    let call = crate::chain::TxAction::Call { contract: Address([0; 32]), input: input.to_vec(), value: 0 };
    crate::chain::intrinsic_gas(&call) - crate::chain::TX_SIGNATURE_GAS
}

/// Median time (ns) of an empty frame with `pages` of memory (installed by
/// [`install_contracts`], or page count 1 always), and the gas of the Call transaction
/// running it: intrinsic gas plus the frame's gas (its initial pages).
pub fn empty_frame(lab: &Lab, pages: u64, samples: usize) -> Result<(f64, u64), CalibrateError> {
    let mut t = Vec::new();
    let mut gas = 0;
    for _ in 0..samples.max(1) * 4 {
        let (d, out) = lab.timed_call(empty_address(pages), &[])?;
        expect_success(&out)?;
        gas = call_intrinsic_gas(&[]) + out.gas_used;
        t.push(d.as_secs_f64() * 1e9);
    }
    Ok((median(&mut t), gas))
}

/// Deploys every scenario whose contracts are all in `dir` (others are skipped; none
/// without `dir`) in one block of `lab`, with an empty contract for every initial memory
/// size among them and in `frame_pages`; returns the runnable scenarios with their index
/// and memory pages.
pub fn install_contracts(dir: Option<&Path>, lab: &Lab, frame_pages: &[u64]) -> Result<Vec<(usize, Scenario, u64)>, CalibrateError> {
    let mut runnable = Vec::new();
    let mut items = Vec::new();
    let mut pages_seen = frame_pages.to_vec();
    for (i, sc) in scenarios().into_iter().enumerate() {
        let Some(dir) = dir else { break };
        let codes: Option<Vec<Vec<u8>>> = sc.deploy.iter().map(|d| code_of(dir, d.file)).collect();
        let Some(codes) = codes else { continue };
        let pages = codes.first().map_or(1, |c| memory_pages(c));
        if !pages_seen.contains(&pages) {
            pages_seen.push(pages);
        }
        for (d, code) in sc.deploy.iter().zip(codes) {
            items.push(Install {
                address: scenario_address(i, d.file),
                code,
                input: d.input.clone(),
                storage: Vec::new(),
                setup_calls: d.setup.clone(),
            });
        }
        runnable.push((i, sc, pages));
    }
    for p in pages_seen {
        items.push(Install { address: empty_address(p), code: empty_contract(p)?, input: Vec::new(), storage: Vec::new(), setup_calls: Vec::new() });
    }
    lab.install(&items)?;
    Ok(runnable)
}

/// Runs every installed scenario `samples` times; `progress` gets each label.
///
/// Errors: a scenario that does not succeed ([`CalibrateError::Contract`]).
pub fn measure_contracts(
    lab: &Lab,
    runnable: &[(usize, Scenario, u64)],
    samples: usize,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ContractRun>, CalibrateError> {
    let mut out = Vec::new();
    for (i, sc, pages) in runnable {
        progress(&sc.label);
        let Some(first) = sc.deploy.first() else { continue };
        let addr = scenario_address(*i, first.file);
        let mut times = Vec::new();
        let mut gas = 0;
        for _ in 0..samples.max(1) {
            let (d, o) = lab.timed_call(addr, &sc.call)?;
            expect_success(&o).map_err(|e| CalibrateError::Contract(format!("{}: {e}", sc.label)))?;
            gas = call_intrinsic_gas(&sc.call) + o.gas_used;
            times.push(d.as_secs_f64() * 1e9);
        }
        let ns = median(&mut times);
        let empty_frame = empty_frame(lab, *pages, samples)?;
        out.push(ContractRun {
            memory_pages: *pages,
            empty_frame,
            file: first.file.to_string(),
            label: sc.label.clone(),
            gas,
            ns,
            ns_per_gas: if gas > 0 { ns / gas as f64 } else { f64::NAN },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_pages_reads_the_initial_size() {
        assert_eq!(memory_pages(&empty_contract(3).unwrap()), 3);
        assert_eq!(memory_pages(&touch_contract(5).unwrap()), 5);
        assert_eq!(memory_pages(&wat::parse_str("(module)").unwrap()), 0);
        assert_eq!(memory_pages(b"not wasm"), 0);
    }

    #[test]
    fn scenario_addresses_are_distinct() {
        let mut seen = Vec::new();
        for (i, sc) in scenarios().iter().enumerate() {
            for d in &sc.deploy {
                let a = scenario_address(i, d.file);
                assert!(!seen.contains(&a), "{} {}", sc.label, d.file);
                seen.push(a);
            }
        }
        // The escrow scenario's hard-coded index matches its position.
        let escrow = scenarios().iter().position(|s| s.label.starts_with("escrow")).unwrap();
        assert_eq!(escrow, 11);
    }
}
