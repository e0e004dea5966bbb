//! Outputs of a calibration: the candidate table (TOML), a markdown report, a CSV of every
//! number, and an SVG plot of ns per gas by class.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use keel_metering::CostTable;

use super::{Calibration, CalibrateError, ClassResult, DynamicResult, HostRow, REFERENCE_CLASS, UNDER_PRICED_RATIO};

/// File names written by [`write_all`] into the output directory.
pub const REPORT_MD: &str = "report.md";
/// Every number, one row per entry (see [`csv`]).
pub const REPORT_CSV: &str = "calibration.csv";
/// The plot.
pub const PLOT_SVG: &str = "ns_per_gas.svg";
/// The candidate cost table.
pub const CANDIDATE_TOML: &str = "gas-schedule.candidate.toml";

/// The candidate gas schedule in the format of `specs/gas-schedule.toml` (so
/// [`CostTable::from_toml`] loads it), version = current + 1, with the measured time beside
/// each entry as a comment.
pub fn candidate_toml(
    current: &CostTable,
    classes: &[ClassResult],
    dynamic: &[DynamicResult],
    hosts: &[HostRow],
    gas_ns: f64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Keel gas schedule: CANDIDATE calibrated by `keel bench gas` (not the consensus table).");
    let _ = writeln!(s, "#");
    let _ = writeln!(
        s,
        "# 1 gas = {gas_ns:.4} ns: the measured time of one `{}` operator (the reference class, {} gas in",
        REFERENCE_CLASS.name(),
        current.class_cost(REFERENCE_CLASS)
    );
    let _ = writeln!(s, "# the current table), so this table keeps the current table's scale. Method: specs/gas.md,");
    let _ = writeln!(s, "# \"Calibration\". Comments give the measured ns and the current value.");
    let _ = writeln!(s);
    let _ = writeln!(s, "version = {}", current.version() + 1);
    let _ = writeln!(s);
    let _ = writeln!(s, "[operators]");
    for c in classes {
        let _ = writeln!(
            s,
            "{:<15} = {:<8} # {:>9.3} ns per operator{}; current {}",
            c.class.name(),
            c.candidate_gas,
            c.ns_per_op,
            if c.below_resolution { " (below resolution)" } else { "" },
            c.current_gas
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "[dynamic]");
    for d in dynamic {
        let _ = writeln!(
            s,
            "{:<21} = {:<8} # {:>9.4} ns per {}; current {}",
            d.key,
            d.candidate_gas,
            d.ns_per_unit,
            unit_name(&d.key),
            d.current_gas
        );
    }
    let measured: Vec<&str> = hosts.iter().map(|h| h.measured.name.as_str()).collect();
    let _ = writeln!(s);
    let _ = writeln!(s, "# Host functions of module \"env\" (specs/abi.md): base + per_byte x metered bytes.");
    for h in hosts {
        let m = &h.measured;
        let _ = writeln!(s, "[host.{}]", m.name);
        let mut comment = format!(
            "measured {:.1} ns per call + {:.4} ns per byte; current base {} per_byte {}",
            m.base_ns, m.per_byte_ns, h.current.base, h.current.per_byte
        );
        if m.fixed_size {
            comment = format!(
                "measured {:.1} ns per call ({} bytes each: per_byte kept); current base {} per_byte {}",
                m.base_ns,
                m.points.first().map_or(0, |p| p.bytes),
                h.current.base,
                h.current.per_byte
            );
        }
        if let Some((b, p, what)) = h.added {
            let _ = write!(comment, "; plus {what} {b:.1} ns + {p:.4} ns/byte");
        }
        if let Some(n) = &m.note {
            let _ = write!(comment, "; NOTE {n}");
        }
        let _ = writeln!(s, "base = {:<10} # {comment}", h.candidate.base);
        let _ = writeln!(s, "per_byte = {}", h.candidate.per_byte);
    }
    for (name, cost) in current.host_costs() {
        if !measured.contains(&name.as_str()) {
            let _ = writeln!(s, "[host.{name}]  # not measured: current value kept");
            let _ = writeln!(s, "base = {}\nper_byte = {}", cost.base, cost.per_byte);
        }
    }
    s
}

fn unit_name(key: &str) -> &'static str {
    match key {
        "memory_per_byte" => "byte",
        "table_per_element" => "element",
        _ => "page",
    }
}

fn fmt_ratio(ns_per_gas: f64, median: f64) -> String {
    if median > 0.0 {
        format!("{:.2}", ns_per_gas / median)
    } else {
        "-".into()
    }
}

/// An entry priced too cheaply or too dearly, relative to the median ns per gas.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `class int_div`, `host storage_write`, `contract token.wasm transfer`...
    pub what: String,
    /// ns per gas / median ns per gas of the classes.
    pub ratio: f64,
}

/// Every priced entry (classes, dynamic costs, host functions) with its ratio to the median,
/// sorted from most under-priced (largest ratio) to most over-priced.
pub fn ranking(cal: &Calibration) -> Vec<Finding> {
    let m = cal.median_ns_per_gas;
    let mut v: Vec<Finding> = Vec::new();
    for c in &cal.classes {
        if let Some(x) = c.ns_per_gas {
            v.push(Finding { what: format!("operator class `{}`", c.class.name()), ratio: x / m });
        }
    }
    for d in &cal.dynamic {
        if d.current_gas > 0 {
            v.push(Finding { what: format!("`dynamic.{}`", d.key), ratio: d.ns_per_unit / d.current_gas as f64 / m });
        }
    }
    for h in &cal.hosts {
        v.push(Finding { what: format!("host `{}`", h.measured.name), ratio: h.ns_per_gas / m });
    }
    v.retain(|f| f.ratio.is_finite());
    v.sort_by(|a, b| b.ratio.total_cmp(&a.ratio));
    v
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} hardware threads, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

/// The markdown report.
pub fn markdown(cal: &Calibration) -> String {
    let m = cal.median_ns_per_gas;
    let mut s = String::new();
    let _ = writeln!(s, "# Gas-schedule calibration\n");
    let _ = writeln!(s, "Machine: {}. Samples: {} per measurement, ~{:?} per timed call.", machine(), cal.samples, cal.target);
    let _ = writeln!(
        s,
        "Evaluated table: version {} (hash {}). Generated by `keel bench gas`; method in specs/gas.md, \"Calibration\".\n",
        cal.current.version(),
        hex(&cal.current.hash()[..8])
    );
    let _ = writeln!(
        s,
        "**Gas unit:** 1 gas = **{:.4} ns**, the measured time of one `{}` operator (reference class, {} gas now).",
        cal.gas_ns,
        REFERENCE_CLASS.name(),
        cal.current.class_cost(REFERENCE_CLASS)
    );
    let _ = writeln!(s, "Median ns per gas over the priced classes under the current table: **{m:.4}**.\n");

    let _ = writeln!(s, "## Findings\n");
    let rank = ranking(cal);
    let under: Vec<&Finding> = rank.iter().filter(|f| f.ratio > UNDER_PRICED_RATIO).collect();
    if under.is_empty() {
        let _ = writeln!(s, "No entry buys more than {UNDER_PRICED_RATIO}x the median time per gas.");
    } else {
        let _ = writeln!(
            s,
            "Under-priced (more than {UNDER_PRICED_RATIO}x the median ns per gas): each is a **denial-of-service vector** — \
             a transaction filled with it makes validators spend that many times more time per unit of fee than the table intends."
        );
        let _ = writeln!(s);
        for f in &under {
            let sev = if f.ratio >= 10.0 { " — **10x or more too cheap**" } else { "" };
            let _ = writeln!(s, "- {}: {:.1}x the median{sev}", f.what, f.ratio);
        }
    }
    let _ = writeln!(s);
    if let (Some(hi), Some(lo)) = (rank.first(), rank.last()) {
        let _ = writeln!(s, "Worst under-priced: {} at {:.2}x the median. Worst over-priced: {} at {:.3}x the median.", hi.what, hi.ratio, lo.what, lo.ratio);
    }
    let free: Vec<&ClassResult> = cal.classes.iter().filter(|c| c.current_gas == 0).collect();
    for c in free {
        let _ = writeln!(
            s,
            "\n`{}` is priced 0 gas and measured {:.3} ns per operator ({:.2} gas at the reference rate){}.",
            c.class.name(),
            c.ns_per_op,
            c.ns_per_op / cal.gas_ns,
            if c.ns_per_op / cal.gas_ns >= 0.5 { ": free work, a DoS vector unless bounded elsewhere" } else { "" }
        );
    }
    if !cal.contracts.is_empty() {
        let mut r: Vec<(f64, &str)> = cal.contracts.iter().map(|c| (c.ns_per_gas / m, c.label.as_str())).collect();
        r.sort_by(|a, b| b.0.total_cmp(&a.0));
        if let (Some(hi), Some(lo)) = (r.first(), r.last()) {
            let _ = writeln!(
                s,
                "\nWhole contract calls: from {:.2}x the median ns per gas ({}) to {:.2}x ({}).",
                hi.0, hi.1, lo.0, lo.1
            );
        }
    }
    let (fns, fgas) = cal.empty_frame;
    let _ = writeln!(
        s,
        "\n**Per-frame cost no operator meters.** An empty contract frame (1 page of memory; module from the cache, fresh \
         instance, checkpoint, no work) takes {fns:.0} ns and uses {fgas} gas: {:.0} gas at the reference rate, to be covered \
         by the transaction's intrinsic gas (`TX_BASE_GAS` = 10,000 in specs/state.md) and, for nested frames, by \
         `call_contract`'s base. It grows with the contract's *initial* memory, which nothing charges, by up to \
         {:.0} ns per initial 64 KiB page ({:.0} gas per page at the reference rate; `memory.grow` is charged {} per page), \
         and not linearly: the allocator either maps fresh zero pages or re-zeroes reused heap memory.",
        fns / cal.gas_ns,
        cal.frame_ns_per_page,
        cal.frame_ns_per_page / cal.gas_ns,
        cal.current.dynamic().memory_grow_per_page
    );
    let _ = writeln!(s, "\n| initial pages | empty frame ns | gas used | ratio of ns per gas to the median, were it charged 10,000 gas |");
    let _ = writeln!(s, "|---:|---:|---:|---:|");
    for (p, ns, gas) in &cal.empty_frames {
        let _ = writeln!(s, "| {p} | {ns:.0} | {gas} | {:.1} |", ns / 10_000.0 / m);
    }
    if let Some((p, ns, _)) = cal.empty_frames.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        if ns / 10_000.0 / m >= 10.0 {
            let _ = writeln!(
                s,
                "\n**DoS vector, 10x or more too cheap:** a call of a contract declaring {p} initial pages costs {:.1} ms of \
                 validator time for its intrinsic 10,000 gas ({:.0}x the median ns per gas). Proposal: charge initial pages at \
                 instantiation like `memory.grow` pages (candidate `memory_grow_per_page`), or allocate memory lazily.",
                ns / 1e6,
                ns / 10_000.0 / m
            );
        }
    }

    let _ = writeln!(s, "\n## Operator classes\n");
    let _ = writeln!(s, "ns/op is solved from all class benchmarks together (helpers subtracted); \"bench ns/gas\" is a class benchmark taken whole (its unit with helpers, marginal time over marginal gas); \"bench spread\" is the median absolute deviation of its samples relative to their median.\n");
    let _ = writeln!(s, "| class | current gas | ns/op | ns/gas (current) | ratio to median | bench ns/gas | bench spread | candidate gas |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for c in &cal.classes {
        let (npg, ratio) = match c.ns_per_gas {
            Some(x) => (format!("{x:.4}"), fmt_ratio(x, m)),
            None => ("priced 0".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.3}{} | {npg} | {ratio} | {:.4} | {:.1}% | {} |",
            c.class.name(),
            c.current_gas,
            c.ns_per_op,
            if c.below_resolution { " (≈0)" } else { "" },
            c.bench_ns_per_gas,
            if c.timing.ns.abs() > 0.0 { 100.0 * c.timing.mad / c.timing.ns.abs() } else { 0.0 },
            c.candidate_gas
        );
    }
    let _ = writeln!(s, "\n## Operand-dependent costs\n");
    let _ = writeln!(s, "| key | current gas/unit | ns/unit | ns/gas (current) | ratio to median | candidate gas/unit | points (size: ns/op) |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---|");
    for d in &cal.dynamic {
        let npg = if d.current_gas > 0 { d.ns_per_unit / d.current_gas as f64 } else { f64::INFINITY };
        let pts: Vec<String> = d.points.iter().map(|(x, y)| format!("{x:.0}: {y:.0}")).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {npg:.4} | {} | {} | {} |",
            d.key,
            d.current_gas,
            d.ns_per_unit,
            fmt_ratio(npg, m),
            d.candidate_gas,
            pts.join(", ")
        );
    }
    let _ = writeln!(s, "\n## Host functions\n");
    let _ = writeln!(s, "Measured through the node's contract runtime over RocksDB state; ns/gas is the worst over the measured sizes.\n");
    let _ = writeln!(s, "| function | current base + per_byte | ns/call (fit) | ns/byte (fit) | worst ns/gas (current) | ratio to median | candidate base + per_byte | notes |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---|");
    for h in &cal.hosts {
        let mm = &h.measured;
        let mut notes = Vec::new();
        if mm.fixed_size {
            notes.push(format!("fixed {} bytes", mm.points.first().map_or(0, |p| p.bytes)));
        }
        if let Some((b, p, what)) = h.added {
            notes.push(format!("+ {what}: {b:.0} ns + {p:.3} ns/byte"));
        }
        if let Some(n) = &mm.note {
            notes.push(n.clone());
        }
        let _ = writeln!(
            s,
            "| {} | {} + {} | {:.1} | {:.4} | {:.4} | {} | {} + {} | {} |",
            mm.name,
            h.current.base,
            h.current.per_byte,
            mm.base_ns,
            mm.per_byte_ns,
            h.ns_per_gas,
            fmt_ratio(h.ns_per_gas, m),
            h.candidate.base,
            h.candidate.per_byte,
            notes.join("; ")
        );
    }
    let _ = writeln!(s, "\n## Example contracts (whole calls)\n");
    if cal.contracts.is_empty() {
        let _ = writeln!(s, "Not run (no contracts directory).");
    } else {
        let _ = writeln!(s, "Each call is a whole frame through the node's runtime (`Runtime::call`) on a fresh working state holding the deployment; the time includes the frame's fixed cost. \"Empty frame\" is the same frame for an empty contract with the same initial memory; the last columns take it out of both time and gas.\n");
        let _ = writeln!(s, "| contract | call | pages | gas (current) | ns | ns/gas | ratio to median | empty frame ns | ns/gas without it | ratio without it |");
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for c in &cal.contracts {
            let (ens, egas) = c.empty_frame;
            let net = (c.ns - ens).max(0.0) / c.gas.saturating_sub(egas).max(1) as f64;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {:.4} | {} | {ens:.0} | {net:.4} | {} |",
                c.file,
                c.label,
                c.memory_pages,
                c.gas,
                c.ns,
                c.ns_per_gas,
                fmt_ratio(c.ns_per_gas, m),
                fmt_ratio(net, m)
            );
        }
    }
    let _ = writeln!(s, "\n![ns per gas by class]({PLOT_SVG})");
    s
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every number as CSV: `kind,name,current_gas,ns,ns_per_gas,ratio_to_median,candidate_gas`
/// (`kind` is `class`, `dynamic`, `host` or `contract`; for hosts `current_gas` and
/// `candidate_gas` are `base+per_byte` and `ns` is the fitted per-call time; an empty field
/// means not applicable, e.g. ns per gas of a class priced 0).
pub fn csv(cal: &Calibration) -> String {
    let m = cal.median_ns_per_gas;
    let mut s = String::from("kind,name,current_gas,ns,ns_per_gas,ratio_to_median,candidate_gas\n");
    for c in &cal.classes {
        let (npg, r) = c.ns_per_gas.map_or((String::new(), String::new()), |x| (format!("{x}"), format!("{}", x / m)));
        let _ = writeln!(s, "class,{},{},{},{npg},{r},{}", c.class.name(), c.current_gas, c.ns_per_op, c.candidate_gas);
    }
    for d in &cal.dynamic {
        let (npg, r) = if d.current_gas > 0 {
            let x = d.ns_per_unit / d.current_gas as f64;
            (format!("{x}"), format!("{}", x / m))
        } else {
            (String::new(), String::new())
        };
        let _ = writeln!(s, "dynamic,{},{},{},{npg},{r},{}", d.key, d.current_gas, d.ns_per_unit, d.candidate_gas);
    }
    for h in &cal.hosts {
        let _ = writeln!(
            s,
            "host,{},{}+{},{},{},{},{}+{}",
            h.measured.name,
            h.current.base,
            h.current.per_byte,
            h.measured.base_ns,
            h.ns_per_gas,
            h.ns_per_gas / m,
            h.candidate.base,
            h.candidate.per_byte
        );
    }
    for c in &cal.contracts {
        let _ = writeln!(s, "contract,{},{},{},{},{},", c.label.replace(',', ";"), c.gas, c.ns, c.ns_per_gas, c.ns_per_gas / m);
    }
    s
}

/// Draws ns per gas by class (priced classes; the median as a line) as SVG into `path`.
///
/// Errors: [`CalibrateError::Io`] if the plot cannot be drawn or written.
pub fn plot(cal: &Calibration, path: &Path) -> Result<(), CalibrateError> {
    use plotters::prelude::*;
    let io = |e: String| CalibrateError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) };
    let bars: Vec<(&str, f64)> =
        cal.classes.iter().filter_map(|c| c.ns_per_gas.map(|x| (c.class.name(), x))).collect();
    let n = bars.len();
    let xmax = bars.iter().map(|b| b.1).fold(cal.median_ns_per_gas, f64::max) * 1.15;
    let root = SVGBackend::new(path, (900, 40 + 26 * n as u32 + 60)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| io(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("ns per gas by operator class (current table v{})", cal.current.version()), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(120)
        .build_cartesian_2d(0f64..xmax.max(1e-6), -0.5f64..(n as f64 - 0.5))
        .map_err(|e| io(e.to_string()))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                bars[n - 1 - i as usize].0.to_string()
            } else {
                String::new()
            }
        })
        .x_desc("ns per gas (black line: median; red: > 2x median, under-priced; blue: < median / 2)")
        .draw()
        .map_err(|e| io(e.to_string()))?;
    let m = cal.median_ns_per_gas;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, x))| {
            let y = (n - 1 - i) as f64;
            let color = if *x > UNDER_PRICED_RATIO * m { RED } else if *x < m / UNDER_PRICED_RATIO { BLUE } else { GREEN };
            Rectangle::new([(0.0, y - 0.35), (*x, y + 0.35)], color.filled())
        }))
        .map_err(|e| io(e.to_string()))?;
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(m, -0.5), (m, n as f64 - 0.5)], BLACK.stroke_width(2))))
        .map_err(|e| io(e.to_string()))?;
    root.present().map_err(|e| io(e.to_string()))?;
    Ok(())
}

/// Writes [`REPORT_MD`], [`REPORT_CSV`], [`PLOT_SVG`] and [`CANDIDATE_TOML`] into `dir`
/// (created if needed); returns their paths.
///
/// Errors: [`CalibrateError::Io`].
pub fn write_all(cal: &Calibration, dir: &Path) -> Result<Vec<PathBuf>, CalibrateError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CalibrateError::Io { path: path.clone(), source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Vec::new();
    for (name, text) in [(REPORT_MD, markdown(cal)), (REPORT_CSV, csv(cal)), (CANDIDATE_TOML, cal.candidate_toml.clone())] {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(io(&p))?;
        written.push(p);
    }
    let p = dir.join(PLOT_SVG);
    plot(cal, &p)?;
    written.push(p);
    Ok(written)
}
