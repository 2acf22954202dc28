"""Prints a side-by-side comparison of bench runs (`scripts/bench.sh --compare`): for every row,
the base's and the tree's throughput (ops/s, and MiB/s or keys/s where the row has them,
averaged over rounds) and their ratio tree / base, then the gateway's peak memory.

Usage: bench_compare.py BASE_REV TREE_REV FOLDER (FOLDER holds base-N.json and tree-N.json)."""

import glob
import json
import os
import sys


def load(folder, side):
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(folder, f"{side}-*.json")))]
    if not runs:
        sys.exit(f"no {side} runs in {folder}")
    return runs


def size_label(size):
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def rows(runs):
    """Mean throughput per (phase, op, size, concurrency) over the runs."""
    sums = {}
    for run in runs:
        for r in run["rows"]:
            key = (r["phase"], r["op"], r["size"], r["concurrency"])
            value = r.get("keys_per_s") or (r["mib_per_s"] if r["mib_per_s"] > 0 else r["ops_per_s"])
            unit = "keys/s" if r.get("keys_per_s") else ("MiB/s" if r["mib_per_s"] > 0 else "ops/s")
            total, count, _ = sums.get(key, (0.0, 0, unit))
            sums[key] = (total + value, count + 1, unit)
    return {k: (total / count, unit) for k, (total, count, unit) in sums.items()}


def main():
    base_rev, tree_rev, folder = sys.argv[1:4]
    base, tree = load(folder, "base"), load(folder, "tree")
    b, t = rows(base), rows(tree)
    print(f"side by side: base {base_rev} vs tree {tree_rev}, {len(base)} round(s) each, "
          f"single-core MD5 {base[0]['md5_mib_per_s']:.0f} MiB/s")
    print(f"{'phase':6} {'op':8} {'size':>6} {'conc':>4} {'unit':>6} {'base':>12} {'tree':>12} {'tree/base':>9}")
    phases = ["PUT", "GET", "POLICY", "HEAD", "MIXED", "DELETE", "LIST"]
    order = lambda k: (k[2], phases.index(k[0]) if k[0] in phases else len(phases), k[1])
    for key in sorted(b, key=order):
        if key not in t:
            continue
        (bv, unit), (tv, _) = b[key], t[key]
        ratio = tv / bv if bv else float("nan")
        phase, op, size, conc = key
        print(f"{phase:6} {op:8} {size_label(size):>6} {conc:>4} {unit:>6} {bv:12.1f} {tv:12.1f} {ratio:9.3f}")
    rss = [(side, [r.get("gateway_peak_rss_mib") for r in runs]) for side, runs in (("base", base), ("tree", tree))]
    for side, values in rss:
        values = [v for v in values if v is not None]
        if values:
            print(f"gateway peak RSS ({side}): {max(values):.1f} MiB")


if __name__ == "__main__":
    main()
