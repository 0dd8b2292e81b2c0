#!/usr/bin/env python3
"""Batched decoding, cellm against llama.cpp, in alternating pairs on this machine.

Each pair runs, one right after the other (cellm first in odd pairs, llama.cpp first in even
ones),

    cellm bench --random MODEL --dtype int8 --batch 1,8,16 -p 512 -n 128 --kv-type q8 -t T -o jsonl
    llama-batched-bench -m GGUF -npp 512 -ntg 128 -npl 1,8,16 -t T -fa on -ctk q8_0 -ctv q8_0

B sequences each prefill 512 tokens, then decode 128 tokens in batched steps (context 512..640).
The table gives, per batch size, each engine's median aggregate decode speed (tokens/s over all
sequences), its speed-up over its own B=1 (median of the pairs' ratios), and the median and range
of the per-pair ratios cellm / llama.cpp. Absolute speeds swing 10-30% from run to run on a
shared machine; ratios of back-to-back runs are what stays comparable.

The GGUF is a random-weight model at the same shape and of the same architecture (for
SmolLM2-135M Q8_0 it is made by the llama.cpp comparison script, bench-vs-llamacpp.py, into its
--gguf-dir). Nothing of llama.cpp is part of cellm.

usage: bench-batched-vs-llamacpp.py --llama DIR --cellm ./cellm --gguf FILE.gguf
           [--model smollm2-135m] [--threads 2] [--pairs 3] [--batch 1,8,16]
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llama", required=True, help="llama.cpp checkout with build/bin/llama-batched-bench")
    ap.add_argument("--cellm", required=True, help="the cellm binary")
    ap.add_argument("--gguf", required=True, help="the GGUF (Q8_0) of the same model shape")
    ap.add_argument("--model", default="smollm2-135m", help="cellm bench --random model name")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--batch", default="1,8,16", help="comma-separated batch sizes (1 first)")
    ap.add_argument("-p", type=int, default=512, help="prompt tokens per sequence")
    ap.add_argument("-n", type=int, default=128, help="decoded tokens per sequence")
    return ap.parse_args()


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return out.stdout


def cellm_run(a, batches):
    out = run([a.cellm, "bench", "--random", a.model, "--dtype", "int8", "--batch", a.batch,
               "-p", str(a.p), "-n", str(a.n), "--kv-type", "q8", "-t", str(a.threads),
               "-r", "1", "-o", "jsonl"])
    speed = {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r.get("test") == f"tg{a.n}":
            speed[r["batch"]] = r["tokens_per_s"]
    if sorted(speed) != batches:
        sys.exit(f"cellm bench gave batches {sorted(speed)}, want {batches}:\n{out}")
    return speed


def llama_run(a, batches):
    binary = os.path.join(a.llama, "build", "bin", "llama-batched-bench")
    ctx = max(batches) * (a.p + a.n) + 256
    out = run([binary, "-m", a.gguf, "-c", str(ctx), "-b", "2048", "-ub", "512",
               "-npp", str(a.p), "-ntg", str(a.n), "-npl", a.batch, "-t", str(a.threads),
               "-fa", "on", "-ctk", "q8_0", "-ctv", "q8_0"])
    # Rows: | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
    speed = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and re.fullmatch(r"\d+", cells[2] or ""):
            speed[int(cells[2])] = float(cells[7])
    if sorted(speed) != batches:
        sys.exit(f"llama-batched-bench gave batches {sorted(speed)}, want {batches}:\n{out}")
    return speed


def spread(xs):
    return f"{statistics.median(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]"


def main():
    a = parse_args()
    batches = sorted(int(b) for b in a.batch.split(","))
    if batches[0] != 1:
        sys.exit("--batch must include 1 (the speed-ups are over B=1)")
    pairs = []
    for i in range(a.pairs):
        if i % 2 == 0:
            c = cellm_run(a, batches)
            l = llama_run(a, batches)
        else:
            l = llama_run(a, batches)
            c = cellm_run(a, batches)
        pairs.append((c, l))
        print(f"pair {i + 1}: cellm {c}  llama.cpp {l}", file=sys.stderr)

    commit = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse",
                             "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"{platform.node()}, {datetime.date.today()}, cellm {commit}, {a.model} int8 / Q8_0, "
          f"q8 KV in both, {a.threads} threads, prompt {a.p}, decode {a.n}, {a.pairs} pairs\n")
    print("| B | cellm tok/s | cellm B/1 | llama.cpp tok/s | llama.cpp B/1 | cellm / llama.cpp |")
    print("|---:|---:|---:|---:|---:|---:|")
    for b in batches:
        cs = [c[b] for c, _ in pairs]
        ls = [l[b] for _, l in pairs]
        cup = [c[b] / c[1] for c, _ in pairs]
        lup = [l[b] / l[1] for _, l in pairs]
        ratio = [c[b] / l[b] for c, l in pairs]
        print(f"| {b} | {statistics.median(cs):.0f} | {spread(cup)} | {statistics.median(ls):.0f} | "
              f"{spread(lup)} | **{spread(ratio)}** |")


if __name__ == "__main__":
    main()
