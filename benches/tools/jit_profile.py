#!/usr/bin/env python3
"""Where guest code spends its instructions: a callgrind profile of Keel's generated code,
mapped onto the machine code `dump_code` writes.

    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=CG \
        target/release/peers --profile keel contract:ed25519_verifier --n 3
    target/release/examples/dump_code contracts/wasm/ed25519_verifier.wasm CODE.bin metered
    benches/tools/jit_profile.py CG CODE.bin [--top N] [--function OFFSET]

callgrind counts every instruction executed, JIT code included, but knows nothing of it:
generated code is an anonymous mapping (object `???`), where a small module's code may
share pages with other code. The module's code starts with the entry trampoline (offset
0, run by every call from the host): its base is an address where the dump's first
instructions were all executed (the one under which most of the profile decodes). Each executed address minus the base is an offset
into the dump, which objdump decodes (x86-64 only).

Prints the share of instructions per category (frame-slot loads and stores, linear-memory
accesses, gas charges, ...), per function (functions start with the stack check
`lea N(%rcx),%rdx; cmp stack_limit(%r15),%rdx`), and the hottest instructions; with
`--function OFFSET` (hex), that function's instructions with their counts.

Errors: exits with a message when the profile holds no generated code or when its
addresses do not decode in the dump (a dump of other code than the profiled run's).
"""

import argparse
import bisect
import collections
import re
import subprocess
import sys


def parse_position(token, previous):
    """A callgrind position: absolute (hex or decimal), `+d`/`-d` relative, or `*` (same)."""
    if token == "*":
        return previous
    if token[0] in "+-":
        body = token[1:]
        delta = int(body, 16) if body.startswith("0x") else int(body)
        return previous + delta if token[0] == "+" else previous - delta
    return int(token, 16) if token.startswith("0x") else int(token)


def jit_counts(path):
    """Self instruction counts per address of object `???` (inclusive call costs skipped)."""
    objects, current, counts = {}, None, collections.Counter()
    instr = line_no = 0
    skip_next = False
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line or line[0] == "#":
                continue
            m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?$", line)
            if m:
                if m.group(3):
                    objects[m.group(2)] = m.group(3)
                if m.group(1) == "ob":
                    current = objects.get(m.group(2))
                continue
            if line.startswith("calls="):
                skip_next = True  # the next cost line is the call's inclusive cost
                continue
            if re.match(r"^[a-z]+[=:]", line):
                continue
            parts = line.split()
            if len(parts) < 3:
                continue
            try:
                instr = parse_position(parts[0], instr)
                line_no = parse_position(parts[1], line_no)
                cost = int(parts[2])
            except ValueError:
                continue
            if skip_next:
                skip_next = False
                continue
            if current == "???":
                counts[instr] += cost
    return counts


def code_base(counts, offsets):
    """Where the dump's offset 0 was: an executed address at which the dump's first
    instructions (the entry trampoline, which every call from the host runs) were all
    executed, the one under which most of the profile decodes."""
    executed = set(counts)
    head = offsets[:8]
    candidates = [a for a in executed if all(a + o in executed for o in head)]
    if not candidates:
        sys.exit("no generated code in the profile (was it taken with --dump-instr=yes?)")
    text = set(offsets)
    return max(candidates, key=lambda b: sum(n for a, n in counts.items() if a - b in text))


def decode(code_path):
    """(offsets in order, {offset: instruction text}) from objdump."""
    out = subprocess.run(
        ["objdump", "-D", "-b", "binary", "-mi386:x86-64", code_path],
        check=True, capture_output=True, text=True,
    ).stdout
    offsets, text = [], {}
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\t[^\t]*\t?(.*)$", line)
        if m:
            off = int(m.group(1), 16)
            offsets.append(off)
            text[off] = m.group(2).strip()
    return offsets, text


def category(ins):
    op, _, arg = ins.partition(" ")
    arg = arg.strip()
    if op in ("mov", "movq", "movl"):
        if "(%rsp)" in arg:
            return "frame slot store" if arg.endswith("(%rsp)") else "frame slot load"
        if "(%rbp" in arg:
            return "linear memory store" if arg.endswith(")") else "linear memory load"
        if "(%r15)" in arg:
            return "vmctx load"
        if re.match(r"%\w+,%\w+$", arg):
            return "register move"
        if arg.startswith("$"):
            return "constant"
        return "other memory access (arguments, results, cells)"
    if op in ("sub", "add") and arg.startswith("$") and arg.endswith("%r14"):
        return "gas charge"
    if op == "jmp":
        return "jump"
    if op.startswith("j"):
        return "conditional branch"
    if op in ("call", "ret"):
        return op
    return "operation: " + op


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("callgrind_out")
    ap.add_argument("code_bin")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--function", help="hex offset of a function to list")
    args = ap.parse_args()

    counts = jit_counts(args.callgrind_out)
    offsets, text = decode(args.code_bin)
    base = code_base(counts, offsets)
    per_offset = collections.Counter()
    unmapped = 0
    for addr, n in counts.items():
        off = addr - base
        if off in text:
            per_offset[off] += n
        elif off >= 0:
            unmapped += n
    total = sum(per_offset.values())
    if total == 0 or unmapped > total // 100:
        sys.exit(f"the profile's addresses do not decode in {args.code_bin} "
                 f"({unmapped} of {unmapped + total} instructions unmapped): a dump of other code?")
    starts = [o for i, o in enumerate(offsets[:-1])
              if re.match(r"lea\s+0x[0-9a-f]+\(%rcx\),%rdx$", text[o])
              and "(%r15),%rdx" in text[offsets[i + 1]]]

    print(f"{total:,} instructions of generated code (base {base:#x})\n")
    cats = collections.Counter()
    for off, n in per_offset.items():
        cats[category(text[off])] += n
    print("by category:")
    for c, n in cats.most_common():
        if n * 1000 >= total:
            print(f"  {100 * n / total:5.1f}%  {c}")
    funcs = collections.Counter()
    for off, n in per_offset.items():
        i = bisect.bisect_right(starts, off) - 1
        funcs[starts[i] if i >= 0 else 0] += n
    print("\nby function (offset of its first instruction):")
    for f, n in funcs.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {f:#x}")
    print("\nhottest instructions:")
    for off, n in per_offset.most_common(args.top):
        print(f"  {n:>12,}  {off:#8x}  {text[off]}")
    if args.function:
        f = int(args.function, 16)
        i = bisect.bisect_right(starts, f)
        end = starts[i] if i < len(starts) else offsets[-1] + 1
        print(f"\nfunction {f:#x}:")
        for off in offsets:
            if f <= off < end:
                print(f"  {per_offset.get(off, 0):>12,}  {off:#8x}  {text[off]}")


if __name__ == "__main__":
    main()
