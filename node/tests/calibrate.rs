//! `keel bench gas` end to end on a tiny sample size: the command succeeds and writes a
//! well-formed report. No timing is asserted (only that every number is there and sane).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use keel_metering::{CostTable, OpClass};

/// One CSV row of `calibration.csv`.
struct Row {
    kind: String,
    name: String,
    current: String,
    ns: String,
    ns_per_gas: String,
    ratio: String,
    candidate: String,
}

fn parse_csv(text: &str) -> Vec<Row> {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("kind,name,current_gas,ns,ns_per_gas,ratio_to_median,candidate_gas"),
        "CSV header"
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 7, "CSV row with 7 fields: {l}");
            Row {
                kind: f[0].into(),
                name: f[1].into(),
                current: f[2].into(),
                ns: f[3].into(),
                ns_per_gas: f[4].into(),
                ratio: f[5].into(),
                candidate: f[6].into(),
            }
        })
        .collect()
}

fn finite_non_negative(what: &str, s: &str) -> f64 {
    let x: f64 = s.parse().unwrap_or_else(|e| panic!("{what}: {s:?} is not a number: {e}"));
    assert!(x.is_finite() && x >= 0.0, "{what}: {x} is not finite and non-negative");
    x
}

#[test]
fn bench_gas_quick_writes_a_well_formed_report() {
    let out = tempfile::tempdir().unwrap();
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/wasm");
    let run = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["bench", "gas", "--quick", "--samples", "1", "--out"])
        .arg(out.path())
        .arg("--contracts")
        .arg(&contracts)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "keel bench gas failed:\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("1 gas = "), "{stdout}");

    let current = CostTable::default();
    let rows = parse_csv(&std::fs::read_to_string(out.path().join("calibration.csv")).unwrap());

    // Every operator class, once, with finite numbers; candidate gas >= 1 except structure.
    let classes: BTreeMap<&str, &Row> = rows.iter().filter(|r| r.kind == "class").map(|r| (r.name.as_str(), r)).collect();
    assert_eq!(classes.len(), OpClass::ALL.len());
    assert_eq!(rows.iter().filter(|r| r.kind == "class").count(), OpClass::ALL.len());
    for c in OpClass::ALL {
        let r = classes.get(c.name()).unwrap_or_else(|| panic!("class {} missing", c.name()));
        assert_eq!(r.current, current.class_cost(c).to_string(), "{}: current gas", c.name());
        finite_non_negative(c.name(), &r.ns);
        if current.class_cost(c) == 0 {
            assert!(r.ns_per_gas.is_empty() && r.ratio.is_empty(), "{} is priced 0: no ns per gas", c.name());
        } else {
            finite_non_negative(c.name(), &r.ns_per_gas);
            finite_non_negative(c.name(), &r.ratio);
        }
        let cand: u64 = r.candidate.parse().unwrap();
        if c != OpClass::Structure {
            assert!(cand >= 1, "{}: candidate gas {cand}", c.name());
        }
    }
    // The three operand-dependent unit costs, each at least 1 gas in the candidate.
    let dynamic: Vec<&Row> = rows.iter().filter(|r| r.kind == "dynamic").collect();
    let names: Vec<&str> = dynamic.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["memory_per_byte", "table_per_element", "memory_grow_per_page"]);
    for r in &dynamic {
        finite_non_negative(&r.name, &r.ns);
        finite_non_negative(&r.name, &r.ns_per_gas);
        assert!(r.candidate.parse::<u64>().unwrap() >= 1);
    }
    // Every host function the shipped table prices.
    for (name, cost) in current.host_costs() {
        let r = rows
            .iter()
            .find(|r| r.kind == "host" && &r.name == name)
            .unwrap_or_else(|| panic!("host function {name} missing from the report"));
        assert_eq!(r.current, format!("{}+{}", cost.base, cost.per_byte));
        finite_non_negative(name, &r.ns);
        finite_non_negative(name, &r.ns_per_gas);
        let (b, p) = r.candidate.split_once('+').unwrap();
        assert!(b.parse::<u64>().unwrap() >= 1, "{name}: candidate base {b}");
        p.parse::<u64>().unwrap();
    }
    // Whole contract calls: the committed examples ran and used gas.
    let calls: Vec<&Row> = rows.iter().filter(|r| r.kind == "contract").collect();
    if contracts.is_dir() {
        assert!(calls.iter().any(|r| r.name.starts_with("token transfer")), "token transfer not run");
        assert!(calls.iter().any(|r| r.name.starts_with("escrow fund")), "escrow (cross-contract call) not run");
        assert!(calls.len() >= 8, "{} contract calls", calls.len());
    }
    for r in calls {
        assert!(r.current.parse::<u64>().unwrap() > 0, "{}: gas", r.name);
        assert!(finite_non_negative(&r.name, &r.ns) > 0.0);
        finite_non_negative(&r.name, &r.ns_per_gas);
    }

    // The candidate table loads with CostTable and says what the CSV says.
    let toml = std::fs::read_to_string(out.path().join("gas-schedule.candidate.toml")).unwrap();
    let cand = CostTable::from_toml(&toml).expect("candidate table loads");
    assert_eq!(cand.version(), current.version() + 1);
    for c in OpClass::ALL {
        assert_eq!(cand.class_cost(c).to_string(), classes[c.name()].candidate, "{}", c.name());
    }
    for name in current.host_costs().keys() {
        assert!(cand.host(name).is_some(), "candidate prices {name}");
    }
    assert!(toml.contains("ns per operator"), "measured ns beside the entries");

    // The markdown table has a row per class; the plot is an SVG naming the priced classes.
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("1 gas = "));
    for c in OpClass::ALL {
        assert!(md.contains(&format!("| {} | {} |", c.name(), current.class_cost(c))), "report row for {}", c.name());
    }
    let svg = std::fs::read_to_string(out.path().join("ns_per_gas.svg")).unwrap();
    assert!(svg.trim_start().starts_with("<svg"), "SVG output");
    for c in OpClass::ALL.iter().filter(|c| current.class_cost(**c) > 0) {
        assert!(svg.contains(&format!("\n{}\n", c.name())), "plot label {}", c.name());
    }
}

#[test]
fn bench_gas_rejects_bad_arguments() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["bench", "gas", "--quick", "--samples", "0", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--samples"));
    assert!(!out.path().join("report.md").exists(), "nothing written on bad input");

    let bad = out.path().join("bad.toml");
    std::fs::write(&bad, "version = 1\n[operators]\nint_alu = 1\n").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["bench", "gas", "--quick", "--table"])
        .arg(&bad)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("bad.toml"));
}
