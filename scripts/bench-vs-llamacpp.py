#!/usr/bin/env python3
"""Reproduce the README's cellm vs llama.cpp speed table on this machine.

For each weight type and thread count, runs PAIRS alternating pairs (cellm first, then
llama.cpp first, ...) of

    cellm bench --random MODEL --dtype D -p P -n N -r R -t T
    llama-bench -m MODEL-random-K.gguf -p P -n N -r R -t T -o jsonl

and prints a markdown table: the median speed of each engine and the median and range of the
per-pair ratios cellm / llama.cpp (ratios of back-to-back runs are what stays comparable on a
shared machine; absolute speeds are not). The header names the machine, date, commits and
threads.

The GGUF files are random-weight models at the same shapes and of the same llama.cpp
architecture (llama, qwen2, qwen3 or gemma3; speed does not depend on the values), written with
the gguf-py package of the llama.cpp checkout given by --llama, with a synthetic byte-level
vocabulary of the real size, and quantized with its llama-quantize. They are cached in
--gguf-dir. Nothing of llama.cpp is part of cellm.

Needs Python 3 with numpy (Debian: apt-get install python3-numpy; run with /usr/bin/python3).

usage: bench-vs-llamacpp.py --llama ~/llama.cpp --cellm ./cellm [--model smollm2-135m]
           [--threads 1,2] [--pairs 3] [--configs int8:q8_0,f16:f16,bf16:bf16]
           [-p 512] [-n 128] [-r 3] [--busy] [--gguf-dir DIR]
       models: smollm2-135m, smollm2-360m, qwen2.5-0.5b, qwen3-0.6b, gemma-3-1b
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

# Shapes of the models `cellm bench --random` knows, from their config.json: GGUF architecture,
# hidden size, layers, heads, KV heads, head size, MLP width, vocabulary, RoPE base, RMSNorm epsilon.
# The architecture decides the extra tensors and keys: qwen2 has Q/K/V biases; qwen3 a per-head
# RMSNorm of Q and K; gemma3 those norms too, norms after attention and after the MLP, and
# sliding-window attention (5 local layers with their own RoPE base, then a global one).
SHAPES = {
    "smollm2-135m": ("llama", 576, 30, 9, 3, 64, 1536, 49152, 100000.0, 1e-5),
    "smollm2-360m": ("llama", 960, 32, 15, 5, 64, 2560, 49152, 100000.0, 1e-5),
    "qwen2.5-0.5b": ("qwen2", 896, 24, 14, 2, 64, 4864, 151936, 1000000.0, 1e-6),
    "qwen3-0.6b": ("qwen3", 1024, 28, 16, 8, 128, 3072, 151936, 1000000.0, 1e-6),
    "gemma-3-1b": ("gemma3", 1152, 26, 4, 1, 256, 6912, 262144, 1000000.0, 1e-6),
}
# gemma-3-1b's sliding window, layer pattern (every 6th layer global) and local RoPE base.
GEMMA3_SWA = (512, 6, 10000.0)
# llama-quantize names of the quantized GGUF kinds.
QUANT = {"q8_0": "Q8_0", "q4_0": "Q4_0"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llama", required=True, help="llama.cpp checkout with gguf-py/ and build/bin/")
    ap.add_argument("--cellm", required=True, help="the cellm binary")
    ap.add_argument("--model", default="smollm2-135m", choices=sorted(SHAPES))
    ap.add_argument("--threads", default="2", help="thread counts, comma-separated")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--configs", default="int8:q8_0,f16:f16,bf16:bf16",
                    help="cellm dtype:GGUF kind pairs (kinds: f16, bf16, q8_0, q4_0)")
    ap.add_argument("-p", type=int, default=512, help="prompt tokens (prefill test)")
    ap.add_argument("-n", type=int, default=128, help="generated tokens (decode test)")
    ap.add_argument("-r", type=int, default=3, help="repetitions inside each engine run")
    ap.add_argument("--busy", action="store_true", help="run one CPU-bound process beside both engines")
    ap.add_argument("--gguf-dir", default=os.path.expanduser("~/.cache/cellm-bench/gguf"))
    ap.add_argument("--cellm-arg", action="append", default=[],
                    help="extra argument for every cellm bench run (repeatable), e.g. --cellm-arg=--prefill-bf16=false")
    return ap.parse_args()


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("%s failed (exit %d):\n%s%s" % (" ".join(cmd), out.returncode, out.stdout, out.stderr))
    return out.stdout


def byte_tokens():
    """The 256 byte-level BPE symbols (GPT-2's printable mapping of bytes)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    sym, extra = {}, 0
    for b in range(256):
        if b in keep:
            sym[b] = chr(b)
        else:
            sym[b] = chr(256 + extra)
            extra += 1
    return [sym[b] for b in range(256)]


def write_gguf(a, kind, path):
    """A random-weight f16 or bf16 GGUF of a.model's architecture and shape."""
    sys.path.insert(0, os.path.join(a.llama, "gguf-py"))
    import numpy as np
    import gguf

    arch, hidden, layers, heads, kv, hd, inter, vocab, rope, eps = SHAPES[a.model]
    w = gguf.GGUFWriter(path, arch)
    w.add_name("%s-random" % a.model)
    w.add_context_length(8192)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(inter)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_freq_base(rope)
    w.add_rope_dimension_count(hd)
    w.add_layer_norm_rms_eps(eps)
    if arch == "gemma3":
        window, period, local_rope = GEMMA3_SWA
        w.add_sliding_window(window)
        w.add_sliding_window_pattern(period)
        w.add_rope_freq_base_swa(local_rope)
    w.add_vocab_size(vocab)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if kind == "f16" else gguf.LlamaFileType.MOSTLY_BF16)
    toks = byte_tokens()
    toks += ["<tok%d>" % i for i in range(vocab - len(toks))]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(toks)
    w.add_token_types([gguf.TokenType.NORMAL] * vocab)
    w.add_token_merges([toks[ord("t")] + " " + toks[ord("h")]])
    w.add_bos_token_id(256)
    w.add_eos_token_id(257)
    w.add_add_bos_token(False)
    rng = np.random.default_rng(1)

    def mat(name, rows, cols):
        x = rng.standard_normal((rows, cols), dtype=np.float32) * 0.02
        if kind == "f16":
            w.add_tensor(name, x.astype(np.float16))
        else:
            qt = gguf.GGMLQuantizationType.BF16
            w.add_tensor(name, gguf.quants.quantize(x, qt), raw_dtype=qt)

    def ones(name, n=hidden):
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    def bias(name, n):
        w.add_tensor(name, rng.standard_normal(n, dtype=np.float32) * 0.02)

    mat("token_embd.weight", vocab, hidden)
    for l in range(layers):
        p = "blk.%d." % l
        ones(p + "attn_norm.weight")
        ones(p + "ffn_norm.weight")
        mat(p + "attn_q.weight", heads * hd, hidden)
        mat(p + "attn_k.weight", kv * hd, hidden)
        mat(p + "attn_v.weight", kv * hd, hidden)
        mat(p + "attn_output.weight", hidden, heads * hd)
        mat(p + "ffn_gate.weight", inter, hidden)
        mat(p + "ffn_up.weight", inter, hidden)
        mat(p + "ffn_down.weight", hidden, inter)
        if arch == "qwen2":
            bias(p + "attn_q.bias", heads * hd)
            bias(p + "attn_k.bias", kv * hd)
            bias(p + "attn_v.bias", kv * hd)
        if arch in ("qwen3", "gemma3"):
            ones(p + "attn_q_norm.weight", hd)
            ones(p + "attn_k_norm.weight", hd)
        if arch == "gemma3":
            ones(p + "post_attention_norm.weight")
            ones(p + "post_ffw_norm.weight")
    ones("output_norm.weight")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_path(a, kind):
    """The cached GGUF of a.model in kind, made on first use."""
    os.makedirs(a.gguf_dir, exist_ok=True)
    path = os.path.join(a.gguf_dir, "%s-random-%s.gguf" % (a.model, kind))
    if os.path.exists(path):
        return path
    tmp = path + ".tmp"
    if kind in ("f16", "bf16"):
        write_gguf(a, kind, tmp)
    elif kind in QUANT:
        run([os.path.join(a.llama, "build", "bin", "llama-quantize"), gguf_path(a, "f16"), tmp, QUANT[kind]])
    else:
        sys.exit("unknown GGUF kind %r (want f16, bf16, q8_0 or q4_0)" % kind)
    os.replace(tmp, path)
    return path


def bench_cellm(a, dtype, threads):
    out = run([a.cellm, "bench", "--random", a.model, "--dtype", dtype, "-p", str(a.p), "-n", str(a.n),
               "-r", str(a.r), "-t", str(threads)] + a.cellm_arg)
    got = {t: float(v) for t, v in re.findall(r"^\s*\d+\s+(pp\d+|tg\d+)\s+([\d.]+)", out, re.M)}
    pp, tg = "pp%d" % a.p, "tg%d" % a.n
    if pp not in got or tg not in got:
        sys.exit("cellm bench printed no %s/%s:\n%s" % (pp, tg, out))
    return got[pp], got[tg]


def bench_llama(a, path, threads):
    out = run([os.path.join(a.llama, "build", "bin", "llama-bench"), "-m", path, "-p", str(a.p), "-n", str(a.n),
               "-r", str(a.r), "-t", str(threads), "-o", "jsonl"])
    pp = tg = None
    for line in out.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            if r["n_prompt"] == a.p and r["n_gen"] == 0:
                pp = r["avg_ts"]
            elif r["n_gen"] == a.n and r["n_prompt"] == 0:
                tg = r["avg_ts"]
    if pp is None or tg is None:
        sys.exit("llama-bench printed no pp%d/tg%d:\n%s" % (a.p, a.n, out))
    return pp, tg


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    return "%s, %d CPUs, %s" % (cpu, os.cpu_count() or 0, platform.platform())


def commits(a):
    cellm = run([a.cellm, "version"]).strip().replace("\n", "; ")
    try:
        llama = subprocess.run(["git", "-C", a.llama, "rev-parse", "--short", "HEAD"], capture_output=True,
                               text=True).stdout.strip()
    except OSError:
        llama = ""
    return cellm, llama or os.path.basename(os.path.normpath(a.llama))


def main():
    a = parse_args()
    configs = [c.split(":") for c in a.configs.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    cellm_ver, llama_ver = commits(a)
    paths = {kind: gguf_path(a, kind) for _, kind in configs}
    busy = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) if a.busy else None
    try:
        print("## cellm vs llama.cpp, %s (random weights)\n" % a.model)
        print("- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
        print("- machine: %s" % machine())
        print("- cellm: %s" % cellm_ver)
        print("- llama.cpp: %s" % llama_ver)
        print("- threads: %s; %d alternating pairs, -p %d -n %d -r %d%s\n" % (
            a.threads, a.pairs, a.p, a.n, a.r, "; one CPU-bound neighbour (yes)" if a.busy else ""))
        if a.cellm_arg:
            print("- cellm bench arguments added: %s\n" % " ".join(a.cellm_arg))
        print("| threads | cellm vs llama.cpp | test | cellm tok/s | llama.cpp tok/s | ratio median [range] |")
        print("|---:|---|---|---:|---:|---|")
        for th in threads:
            for dtype, kind in configs:
                res = {"pp%d" % a.p: ([], [], []), "tg%d" % a.n: ([], [], [])}
                for i in range(a.pairs):
                    if i % 2 == 0:
                        c = bench_cellm(a, dtype, th)
                        l = bench_llama(a, paths[kind], th)
                    else:
                        l = bench_llama(a, paths[kind], th)
                        c = bench_cellm(a, dtype, th)
                    for j, test in enumerate(res):
                        res[test][0].append(c[j])
                        res[test][1].append(l[j])
                        res[test][2].append(c[j] / l[j])
                for test, (cs, ls, rs) in res.items():
                    print("| %d | %s vs %s | %s | %.1f | %.1f | **%.2f** [%.2f-%.2f] |" % (
                        th, dtype, kind.upper(), test, statistics.median(cs), statistics.median(ls),
                        statistics.median(rs), min(rs), max(rs)))
                sys.stdout.flush()
    finally:
        if busy:
            busy.kill()


if __name__ == "__main__":
    main()
