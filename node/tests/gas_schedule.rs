//! The consensus gas schedule against the committed calibration: no operator class,
//! operand-dependent cost, host function, empty frame or example contract may buy 10x or
//! more validator time per gas than the median operator class (a denial-of-service
//! vector: chains have halted over operators priced 10x too cheap).
//!
//! Deterministic: it reads the measurements committed in `specs/calibration/calibration.csv`
//! (written by `keel bench gas`, method in `specs/gas.md`, "Calibration") and prices them
//! with the shipped table (`specs/gas-schedule.toml`, [`CostTable::default`]) and the chain's
//! intrinsic gas; no timing happens here. Every ratio is recomputed from the measured
//! nanoseconds and the table, not read from the CSV's own ratio column.

use std::collections::BTreeMap;
use std::path::Path;

use keel_metering::{CostTable, OpClass};
use keel_node::chain::{intrinsic_gas, TxAction, TRANSFER_GAS, TX_BASE_GAS, TX_SIGNATURE_GAS};

/// The line no entry may reach: ns per gas / median ns per gas of the priced classes.
const TOO_CHEAP: f64 = 10.0;

/// The committed measurements, by kind and name.
struct Calibration {
    /// `kind,name` -> the remaining fields (`current_gas,ns,ns_per_gas,ratio,candidate,
    /// ns_per_byte,min_bytes,max_bytes`).
    rows: BTreeMap<(String, String), Vec<String>>,
}

impl Calibration {
    fn committed() -> Calibration {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/calibration/calibration.csv");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("kind,name,current_gas,ns,ns_per_gas,ratio_to_median,candidate_gas,ns_per_byte,min_bytes,max_bytes")
        );
        let mut rows = BTreeMap::new();
        for l in lines {
            let f: Vec<String> = l.split(',').map(str::to_string).collect();
            assert_eq!(f.len(), 10, "{l}");
            rows.insert((f[0].clone(), f[1].clone()), f[2..].to_vec());
        }
        Calibration { rows }
    }

    fn field(&self, kind: &str, name: &str, i: usize) -> &str {
        &self.rows.get(&(kind.to_string(), name.to_string())).unwrap_or_else(|| panic!("no {kind} {name} in the CSV"))[i]
    }

    fn num(&self, kind: &str, name: &str, i: usize) -> f64 {
        let s = self.field(kind, name, i);
        let x: f64 = s.parse().unwrap_or_else(|e| panic!("{kind} {name}: field {i} {s:?}: {e}"));
        assert!(x.is_finite() && x >= 0.0, "{kind} {name}: {x}");
        x
    }

    fn names(&self, kind: &str) -> Vec<String> {
        self.rows.keys().filter(|(k, _)| k == kind).map(|(_, n)| n.clone()).collect()
    }
}

/// Ratio to the median ns per gas of every priced entry under `table` (with `tx_base_gas`
/// as the intrinsic gas of an empty Call), most under-priced first.
fn ratios(cal: &Calibration, table: &CostTable, tx_base_gas: u64) -> Vec<(String, f64)> {
    let mut priced = Vec::new();
    let mut out = Vec::new();
    for c in OpClass::ALL {
        let ns = cal.num("class", c.name(), 1);
        let gas = table.class_cost(c);
        if gas > 0 {
            priced.push(ns / gas as f64);
        }
    }
    priced.sort_by(f64::total_cmp);
    let n = priced.len();
    assert!(n > 0);
    let median = if n % 2 == 1 { priced[n / 2] } else { (priced[n / 2 - 1] + priced[n / 2]) / 2.0 };
    assert!(median > 0.0);

    for c in OpClass::ALL {
        let ns = cal.num("class", c.name(), 1);
        match table.class_cost(c) {
            // A free class must measure below one gas at the median rate.
            0 => out.push((format!("operator class {} (free)", c.name()), ns / median)),
            gas => out.push((format!("operator class {}", c.name()), ns / gas as f64 / median)),
        }
    }
    let d = table.dynamic();
    for (key, gas) in [
        ("memory_per_byte", d.memory_per_byte),
        ("table_per_element", d.table_per_element),
        ("memory_grow_per_page", d.memory_grow_per_page),
    ] {
        let ns = cal.num("dynamic", key, 1);
        out.push((format!("dynamic.{key}"), ns / gas.max(1) as f64 / median));
    }
    for (name, cost) in table.host_costs() {
        let ns = cal.num("host", name, 1);
        let ns_per_byte = cal.num("host", name, 5);
        let lo = cal.num("host", name, 6);
        let hi = cal.num("host", name, 7);
        // (ns + ns_per_byte × b) / (base + per_byte × b) is monotonic in b: its worst over
        // the measured sizes is at one end.
        let worst = [lo, hi]
            .iter()
            .map(|b| (ns + ns_per_byte * b) / (cost.base as f64 + cost.per_byte as f64 * b).max(1.0))
            .fold(0.0, f64::max);
        out.push((format!("host {name}"), worst / median));
    }
    for pages in cal.names("frame") {
        let p: u64 = pages.parse().unwrap();
        let ns = cal.num("frame", &pages, 1);
        let gas = tx_base_gas + p * d.memory_grow_per_page;
        out.push((format!("empty Call frame with {p} initial pages"), ns / gas as f64 / median));
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

fn too_cheap(r: &[(String, f64)]) -> Vec<String> {
    r.iter().filter(|(_, x)| *x >= TOO_CHEAP).map(|(w, x)| format!("{w}: {x:.1}x the median ns per gas")).collect()
}

#[test]
fn the_committed_calibration_evaluated_the_shipped_table() {
    let cal = Calibration::committed();
    let table = CostTable::default();
    let hex: String = table.hash().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(cal.field("meta", "table_version", 0), table.version().to_string());
    assert_eq!(
        cal.field("meta", "table_hash", 0),
        hex,
        "specs/calibration/ was not generated with the shipped table: rerun `keel bench gas --out specs/calibration`"
    );
    assert_eq!(cal.field("meta", "tx_base_gas", 0), TX_BASE_GAS.to_string());
    // Every class, every priced host function and every dynamic cost was measured.
    for c in OpClass::ALL {
        cal.num("class", c.name(), 1);
    }
    for name in table.host_costs().keys() {
        cal.num("host", name, 1);
    }
    assert!(!cal.names("frame").is_empty(), "empty frames measured");
}

#[test]
fn nothing_in_the_shipped_table_is_ten_times_too_cheap() {
    let cal = Calibration::committed();
    let r = ratios(&cal, &CostTable::default(), TX_BASE_GAS);
    let bad = too_cheap(&r);
    assert!(bad.is_empty(), "priced 10x or more too cheap (DoS vectors):\n{}", bad.join("\n"));
    // Whole example calls, as measured under this same table (checked above), too.
    let median = cal.num("meta", "median_ns_per_gas", 1);
    for name in cal.names("contract") {
        let ratio = cal.num("contract", &name, 1) / cal.num("contract", &name, 0) / median;
        assert!(ratio < TOO_CHEAP, "contract call {name}: {ratio:.1}x the median ns per gas");
    }
}

/// Every transaction's own signature check costs what the table charges a contract for the
/// same check (whose price the test above holds to the measurements): `specs/state.md` §4.
#[test]
fn every_transaction_pays_for_its_signature_check() {
    let verify = CostTable::default().host("ed25519_verify").unwrap();
    assert_eq!(TX_SIGNATURE_GAS, verify.base);
    let to = keel_node::state::Address([1; 32]);
    assert_eq!(intrinsic_gas(&TxAction::Transfer { to, amount: 1 }), TRANSFER_GAS);
    assert!(TRANSFER_GAS > TX_SIGNATURE_GAS);
    let call = TxAction::Call { contract: to, input: vec![], value: 0 };
    assert_eq!(intrinsic_gas(&call), TX_SIGNATURE_GAS + TX_BASE_GAS);
    let deploy = TxAction::Deploy { code: vec![], input: vec![], value: 0 };
    assert_eq!(intrinsic_gas(&deploy), TX_SIGNATURE_GAS + TX_BASE_GAS);
}

#[test]
fn the_check_names_what_is_too_cheap() {
    // The same measurements priced with `storage_write` cut 20-fold, memory pages at 100 gas
    // and an intrinsic gas of 1: the check must name what became too cheap, and only that.
    let cal = Calibration::committed();
    let shipped = CostTable::default();
    let toml = keel_metering::cost::DEFAULT_GAS_SCHEDULE_TOML.replace("memory_grow_per_page = 10000", "memory_grow_per_page = 100");
    let mut cheap = CostTable::from_toml(&toml).unwrap();
    assert_eq!(cheap.dynamic().memory_grow_per_page, 100);
    let w = shipped.host("storage_write").unwrap();
    cheap.set_host_cost("storage_write", keel_metering::HostCost { base: w.base / 20, per_byte: w.per_byte / 20 });
    let before = too_cheap(&ratios(&cal, &shipped, TX_BASE_GAS));
    assert!(before.is_empty(), "{before:?}");
    let bad = too_cheap(&ratios(&cal, &cheap, 1));
    for what in ["host storage_write:", "dynamic.memory_grow_per_page:", "empty Call frame with 1 initial pages:"] {
        assert!(bad.iter().any(|b| b.starts_with(what)), "{what} not named in {bad:?}");
    }
    assert!(!bad.iter().any(|b| b.starts_with("host storage_read") || b.starts_with("operator class")), "only what was cut: {bad:?}");
}
