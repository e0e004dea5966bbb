#!/usr/bin/env python3
"""A third opinion on a differential divergence (engine/tests/differential.rs).

Usage: scripts/wabt-crosscheck.py SEED [GAS]

Runs the reference instrumentation of the diverging module, which
`KEEL_DIFF_DUMP=1 KEEL_DIFF_SEEDS=1 KEEL_DIFF_FIRST=SEED [KEEL_DIFF_GAS=GAS] cargo test
--release -p keel-engine --test differential` writes to /tmp/keel-diff-SEED.inst.wasm, on
wabt's interpreter (`wasm-interp`, Debian package wabt), making the harness's calls: every
exported function in export order, twice (all-zero arguments, then i32 3, i64 -5, f32 1.5,
f64 -2.25, null references), each with the gas counter reset to GAS (default 200000, the
harness's default). It prints each call's gas used (or its trap) and every mutable global at
the end, to set beside `KEEL_DIFF_TRACE=1`'s lines for Keel and wasmi: when wabt agrees with
Keel, the divergence is wasmi's. wabt rejects some modules wasm-smith writes (typed function
references in initializers); the script then says so.
"""

import re
import subprocess
import sys
import tempfile

ARGS = {
    "i32": ("0", "3"),
    "i64": ("0", "-5"),
    "f32": ("0", "1.5"),
    "f64": ("0", "-2.25"),
}


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        return 2
    seed = sys.argv[1]
    gas = sys.argv[2] if len(sys.argv) == 3 else "200000"
    if not seed.isdigit() or not gas.isdigit():
        print("SEED and GAS must be decimal numbers", file=sys.stderr)
        return 2
    inst = f"/tmp/keel-diff-{seed}.inst.wasm"
    with tempfile.TemporaryDirectory() as tmp:
        wat = subprocess.run(["wasm2wat", "--enable-all", inst], capture_output=True, text=True)
        if wat.returncode != 0:
            print(f"wasm2wat cannot read {inst}:\n{wat.stderr}", file=sys.stderr)
            return 1
        text = wat.stdout
        exports = re.findall(r'\(export "([^"]*)" \(func (\d+)\)\)', text)
        keel = dict(re.findall(r'\(export "(__keel_\w+)" \(global (\d+)\)\)', text))
        types = dict(re.findall(r"\(type \(;(\d+);\) \(func([^\n]*)\)\)", text))
        func_type = dict(re.findall(r"\(func \(;(\d+);\) \(type (\d+)\)", text))
        mutable = re.findall(r"\(global \(;(\d+);\) \(mut (i32|i64|f32|f64)\)", text)
        # The wrapper's exports replace the module's: wasm-interp runs every export in order.
        body = re.sub(r'\s*\(export "[^"]*" \(func \d+\)\)', "", text)
        calls = []
        for k, (name, func) in enumerate((e for e in exports if not e[0].startswith("__keel"))):
            sig = types[func_type[func]]
            params = " ".join(re.findall(r"\(param ([^)]*)\)", sig)).split()
            results = " ".join(re.findall(r"\(result ([^)]*)\)", sig)).split()
            for variant in (0, 1):
                args = "".join(
                    f" ({p}.const {ARGS[p][variant]})" if p in ARGS else f" (ref.null {p.replace('ref', '')})"
                    for p in params
                )
                calls.append(
                    f'(func (export "call{k:03}v{variant}") (result i64)'
                    f' (global.set {keel["__keel_gas"]} (i64.const {gas}))'
                    f' (global.set {keel["__keel_stack"]} (i64.const 0))'
                    f' (global.set {keel["__keel_trap"]} (i32.const 0))'
                    f' (call {func}{args}){" drop" * len(results)}'
                    f' (i64.sub (i64.const {gas}) (global.get {keel["__keel_gas"]})))'
                )
        getters = [f'(func (export "global{g}") (result {t}) (global.get {g}))' for g, t in mutable]
        end = body.rfind(")")
        wrapped = body[:end] + "\n" + "\n".join(calls + getters) + ")"
        src, out = f"{tmp}/wrap.wat", f"{tmp}/wrap.wasm"
        with open(src, "w") as f:
            f.write(wrapped)
        subprocess.run(["wat2wasm", "--enable-all", src, "-o", out], check=True)
        names = [e[0] for e in exports if not e[0].startswith("__keel")]
        print("calls in export order:", ", ".join(repr(n) for n in names))
        run = subprocess.run(["wasm-interp", "--enable-all", out, "--run-all-exports"], capture_output=True, text=True)
        print(run.stdout, end="")
        print(run.stderr, end="", file=sys.stderr)
        return run.returncode


if __name__ == "__main__":
    sys.exit(main())
