//! Per-seed outcome digests shared across instruction sets: a differential run on one ISA
//! writes one line per seed (a hash of every observable outcome: results and their bits,
//! trap kinds, gas used, final memory/globals hash) to
//! `<target-dir>/tmp/keel-digests/<name>.<isa>.txt`, and compares it line by line
//! with the other ISA's file when that one exists for the same run parameters. The CI
//! test command runs x86-64 first and then aarch64 (under QEMU), so the aarch64 run
//! compares against the fresh x86-64 digest explicitly, not only through wasmi.

use std::path::PathBuf;

use keel_engine::Isa;

/// The digest directory shared by every target of one cargo target directory:
/// `KEEL_DIGEST_DIR` if set, else `<target-dir>/tmp/keel-digests` (cargo gives a
/// cross-compiled test `<target-dir>/<triple>/tmp`, so the triple level is skipped).
fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KEEL_DIGEST_DIR") {
        return PathBuf::from(d);
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let triple = tmp.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("");
    let cross = Isa::ALL.iter().any(|i| triple.starts_with(&format!("{}-", i.name())));
    let base = match (cross, tmp.parent().and_then(|p| p.parent())) {
        (true, Some(target_dir)) => target_dir.join("tmp"),
        _ => tmp,
    };
    base.join("keel-digests")
}

fn path(name: &str, isa: Isa) -> PathBuf {
    dir().join(format!("{name}.{}.txt", isa.name()))
}

/// Writes this ISA's digest (`header` first: the run parameters) and compares it with
/// every other ISA's digest of the same `name` and `header`. Returns the number of seeds
/// compared with another ISA (0 when no other digest exists yet, an error instead when
/// `KEEL_DIGEST_REQUIRE` is set), or the differing lines.
pub fn record_and_compare(name: &str, header: &str, lines: &[String]) -> Result<usize, String> {
    let isa = Isa::host().expect("tests run on a supported ISA");
    let mut text = String::new();
    text.push_str(header);
    text.push('\n');
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let mine = path(name, isa);
    if let Some(dir) = mine.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&mine, &text).map_err(|e| format!("{}: {e}", mine.display()))?;
    let mut compared = 0;
    for other in Isa::ALL.into_iter().filter(|o| *o != isa) {
        let Ok(theirs) = std::fs::read_to_string(path(name, other)) else {
            println!("{name}: no {} digest yet (run the tests on that ISA too)", other.name());
            continue;
        };
        let mut their_lines = theirs.lines();
        if their_lines.next() != Some(header) {
            println!("{name}: the {} digest has other run parameters; not compared", other.name());
            continue;
        }
        let theirs: Vec<&str> = their_lines.collect();
        if theirs.len() != lines.len() {
            return Err(format!("{} digest has {} seeds, {} has {}", other.name(), theirs.len(), isa.name(), lines.len()));
        }
        let diffs: Vec<String> = lines
            .iter()
            .zip(&theirs)
            .filter(|(a, b)| a.as_str() != **b)
            .take(20)
            .map(|(a, b)| format!("{}: {a} | {}: {b}", isa.name(), other.name()))
            .collect();
        if !diffs.is_empty() {
            return Err(format!("{} vs {} outcomes differ:\n{}", isa.name(), other.name(), diffs.join("\n")));
        }
        println!("{name}: {} seeds identical to the {} digest", lines.len(), other.name());
        compared += lines.len();
    }
    if compared == 0 && std::env::var_os("KEEL_DIGEST_REQUIRE").is_some() {
        return Err(format!(
            "KEEL_DIGEST_REQUIRE is set but no other ISA's {name} digest with the same parameters exists in {} \
             (run the native tests first: cargo test --release -p keel-engine --test {name})",
            dir().display()
        ));
    }
    Ok(compared)
}
