#!/usr/bin/env python3
"""Time SmolVLM-256M's vision side by side with llama.cpp's llama-mtmd-cli, on the same weights.

Two tests, each as PAIRS alternating pairs (cellm first, then llama.cpp first, ...) per thread
count, printed as a markdown table with each engine's median and the median [range] of the
per-pair ratios cellm / llama.cpp (below 1: cellm faster; only ratios of back-to-back runs on one
machine are comparable):

  tile   one 512x512 tile through the vision tower and connector.
         cellm:     cellm bench -m M.cellm --vision -p "" -n 0 -r 2 -t T   (mean of 2 tiles after
                    a warm-up tile)
         llama.cpp: llama-mtmd-cli with an mmproj whose preprocessor longest edge is 512, on the
                    512x512 image: llama.cpp then encodes 2 tiles (the 1x1 slice and the overview,
                    where transformers and cellm encode 1); the mean of its
                    "mtmd batch encoding done in N ms" lines.
  ttft   time to first token of a chat question about the 512x512 image with SmolVLM's default
         splitting: upscaled to a 2048-pixel longest edge, 4x4 slices of 512 + a 512x512 overview =
         17 tiles, ~1100 prompt tokens (image decode, preprocessing, 17 encodes, prefill).
         cellm:     cellm vlm-infer -m M.cellm --image IMG -p Q -n 1 --stats -t T
                    ("time to first token")
         llama.cpp: llama-mtmd-cli -m TEXT.gguf --mmproj MMPROJ.gguf --image IMG -p Q -n 1 -t T,
                    logged with timestamps: from the line printed just before it loads the image
                    ("This is an experimental CLI") to the first llama_perf line printed after the
                    first token, minus its reported eval time of that token. Both exclude model
                    loading; llama.cpp's warm-up at load is not counted.

The weights: a random-weight SmolVLM-256M folder (`cellm make-random-model --model smolvlm-256m`,
bf16 safetensors, with the genuine tokenizer copied from --tokenizer-dir), converted once with
`cellm convert --dtype DTYPE` for cellm and with scripts/make-smolvlm-gguf.py (gguf-py of the
llama.cpp checkout, numpy only) for llama.cpp. Speed does not depend on the weight values. Give
--hf-dir to use an existing SmolVLM folder instead (e.g. the real model). The image is a
512x512 synthetic PNG written once (or --image).

Preprocessing differs in details that do not change the work: llama.cpp resizes with its own
filter (transformers and cellm use Lanczos), and its chat template puts "User: " before the image
where SmolVLM's puts "User:"; the tile grid, tile count and image tokens per tile are the same.

Needs Python 3 with numpy (Debian: apt-get install python3-numpy; run with /usr/bin/python3) and a
llama.cpp build with the llama-mtmd-cli target.

usage: bench-vision-vs-llamacpp.py --llama LLAMA_CPP_DIR --cellm ./cellm --tokenizer-dir SMOLVLM_DIR
           [--threads 1,2] [--pairs 3] [--tests tile,ttft] [--dtype f16] [--image PNG]
           [--hf-dir DIR] [--work-dir DIR] [--prompt TEXT] [--check]
       (--check --pairs 0: only check that both engines compute the same image features)
"""
import argparse
import datetime
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llama", required=True, help="llama.cpp checkout with gguf-py/ and build/bin/llama-mtmd-cli")
    ap.add_argument("--cellm", required=True, help="the cellm binary")
    ap.add_argument("--tokenizer-dir", help="folder with SmolVLM-256M-Instruct's tokenizer.json, tokenizer_config.json, "
                    "special_tokens_map.json, chat_template.json (copied into the random-weight folder)")
    ap.add_argument("--hf-dir", help="an existing SmolVLM folder with safetensors to use instead of random weights")
    ap.add_argument("--threads", default="2,1", help="thread counts, comma-separated")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--tests", default="tile,ttft", help="tile, ttft or both, comma-separated")
    ap.add_argument("--dtype", default="f16", choices=["f16", "bf16"], help="weights of both engines")
    ap.add_argument("--image", help="PNG/JPEG to ask about (default: a synthetic 512x512 PNG)")
    ap.add_argument("--prompt", default="What is in this image?")
    ap.add_argument("--check", action="store_true",
                    help="first check that both engines compute the same image features on one tile "
                    "(cellm's f32 vision path against llama.cpp's MTMD_DEBUG_EMBEDDINGS summary)")
    ap.add_argument("--work-dir", default=os.path.expanduser("~/.cache/cellm-bench/smolvlm"),
                    help="where the model files and the image are made once and kept")
    a = ap.parse_args()
    if not a.hf_dir and not a.tokenizer_dir:
        ap.error("give --tokenizer-dir (SmolVLM's tokenizer files for the random-weight model) or --hf-dir")
    for t in a.tests.split(","):
        if t not in ("tile", "ttft"):
            ap.error("--tests: unknown test %r (want tile, ttft)" % t)
    return a


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("%s failed (exit %d):\n%s%s" % (" ".join(cmd), out.returncode, out.stdout[-4000:], out.stderr[-4000:]))
    return out.stdout, out.stderr


def write_png(path, size=512):
    """A deterministic RGB test image: colour gradients with mild noise (PNG, no dependencies)."""
    import numpy as np
    y, x = np.mgrid[0:size, 0:size]
    img = np.stack([x * 255 // (size - 1), y * 255 // (size - 1), (x + y) * 255 // (2 * size - 2)], -1)
    img = np.clip(img + np.random.default_rng(7).integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path + ".tmp", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    os.replace(path + ".tmp", path)


def prepare(a):
    """The model files of both engines and the image, made once in a.work_dir."""
    os.makedirs(a.work_dir, exist_ok=True)
    hf = a.hf_dir
    if not hf:
        hf = os.path.join(a.work_dir, "smolvlm-256m-random")
        if not os.path.exists(os.path.join(hf, "model.safetensors")):
            run([a.cellm, "make-random-model", "--model", "smolvlm-256m", "--output", hf, "--tokenizer-dir", a.tokenizer_dir])
    tag = os.path.basename(os.path.normpath(hf))
    cellm_file = os.path.join(a.work_dir, "%s-%s.cellm" % (tag, a.dtype))
    if not os.path.exists(cellm_file):
        run([a.cellm, "convert", "--input", hf, "--output", cellm_file + ".tmp", "--dtype", a.dtype])
        os.replace(cellm_file + ".tmp", cellm_file)
    gdir = os.path.join(a.work_dir, "gguf-" + tag)
    text = os.path.join(gdir, "smolvlm-text-%s.gguf" % a.dtype)
    mmproj = os.path.join(gdir, "mmproj-smolvlm-%s.gguf" % a.dtype)
    mmproj512 = os.path.join(gdir, "mmproj-smolvlm-%s-le512.gguf" % a.dtype)
    conv = [sys.executable, os.path.join(HERE, "make-smolvlm-gguf.py"), "--llama", a.llama, hf, "--outdir", gdir,
            "--dtype", a.dtype]
    if not (os.path.exists(text) and os.path.exists(mmproj)):
        run(conv)
    if not os.path.exists(mmproj512):
        run(conv + ["--only", "mmproj", "--longest-edge", "512"])
    image = a.image
    if not image:
        image = os.path.join(a.work_dir, "test-512x512.png")
        if not os.path.exists(image):
            write_png(image)
    return cellm_file, text, mmproj, mmproj512, image


def num(pattern, text, what):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit("could not find %s in the output:\n%s" % (what, text[-4000:]))
    return float(m.group(1))


def cellm_tile(a, f, th):
    out, _ = run([a.cellm, "bench", "-m", f, "--vision", "-p", "", "-n", "0", "-r", "2", "-t", str(th)])
    return {"ms": num(r"vision \d+x\d+ tile\s+([\d.]+)", out, "the vision tile time")}


def cellm_ttft(a, f, image, th):
    out, err = run([a.cellm, "vlm-infer", "-m", f, "--image", image, "-p", a.prompt, "-n", "1", "--stats",
                    "-t", str(th)])
    s = out + err
    return {"ms": num(r"time to first token ([\d.]+) ms", s, "the time to first token"),
            "tiles": int(num(r"\((\d+) tiles\)", s, "the tile count")),
            "tokens": int(num(r"prompt tokens (\d+)", s, "the prompt tokens")),
            "encode": num(r"vision encode ([\d.]+) ms", s, "the vision encode time")
            + num(r"projection ([\d.]+) ms", s, "the projection time")}


LOG_LINE = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.(\d+) [IWED] (.*)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def llama_mtmd(a, text, mmproj, image, th):
    """Runs llama-mtmd-cli once; returns the timestamped log's figures."""
    cli = os.path.join(a.llama, "build", "bin", "llama-mtmd-cli")
    _, err = run([cli, "-m", text, "--mmproj", mmproj, "--image", image, "-p", a.prompt, "-n", "1", "--temp", "0",
                  "-t", str(th), "-v", "--log-timestamps", "--log-prefix"])
    start = end = None
    encodes, decodes = [], []
    for line in ANSI.sub("", err).splitlines():
        m = LOG_LINE.match(line)
        if not m:
            continue
        t_ms = ((int(m.group(1)) * 60 + int(m.group(2))) * 1000 + int(m.group(3))) + int(m.group(4)) / 1000
        msg = m.group(5)
        if start is None and "This is an experimental CLI" in msg:
            start = t_ms
        elif end is None and msg.startswith("llama_perf_context_print"):
            end = t_ms
        if e := re.search(r"mtmd batch encoding done in (\d+) ms", msg):
            encodes.append(float(e.group(1)))
        if d := re.search(r"image decoded \(batch \d+/\d+\) in (\d+) ms", msg):
            decodes.append(float(d.group(1)))
    if start is None or end is None or not encodes:
        sys.exit("llama-mtmd-cli's log lacks the expected lines (WARN, encoding done, llama_perf):\n%s" % err[-4000:])
    eval_ms = num(r"llama_perf_context_print:\s+eval time =\s+([\d.]+) ms", err, "llama.cpp's eval time")
    tokens = int(num(r"prompt eval time =\s+[\d.]+ ms /\s+(\d+) tokens", err, "llama.cpp's prompt tokens"))
    return {"ttft": end - start - eval_ms, "encodes": encodes, "decodes": decodes, "tokens": tokens}


def llama_tile(a, text, mmproj512, image, th):
    r = llama_mtmd(a, text, mmproj512, image, th)
    return {"ms": statistics.mean(r["encodes"]), "tiles": len(r["encodes"])}


def llama_ttft(a, text, mmproj, image, th):
    r = llama_mtmd(a, text, mmproj, image, th)
    return {"ms": r["ttft"], "tiles": len(r["encodes"]), "tokens": r["tokens"], "encode": sum(r["encodes"])}


def check_features(a, cellm_file, text, mmproj512, image):
    """Exits unless both engines give the same first tile features: the 1x1 slice and the overview of
    a 512x512 image are the image itself in llama.cpp, and cellm's single tile is too. llama.cpp
    prints token 0's first and last 16 values and the statistics of all 64 x hidden values."""
    import numpy as np
    feats = os.path.join(a.work_dir, "features-%s.f32" % a.dtype)
    run([a.cellm, "vlm-infer", "-m", cellm_file, "--image", image, "--image-max-tiles", "1", "-p", a.prompt, "-n", "1",
         "--vision-bf16=false", "--dump-image-features", feats])
    x = np.fromfile(feats, dtype=np.float32)
    cli = os.path.join(a.llama, "build", "bin", "llama-mtmd-cli")
    env = dict(os.environ, MTMD_DEBUG_EMBEDDINGS="1")
    out = subprocess.run([cli, "-m", text, "--mmproj", mmproj512, "--image", image, "-p", a.prompt, "-n", "1",
                          "--temp", "0", "-v"], capture_output=True, text=True, env=env)
    # Every value is its own log entry; drop the entries' "M.SS.mmm.uuu L " prefixes.
    log = re.sub(r"\d+\.\d{2}\.\d{3}\.\d{3} [IWED] ?", "", ANSI.sub("", out.stderr))
    m = re.search(r"Shape: \[(\d+), (\d+)\]", log)
    first = re.search(r"Token 0 \(first 16 values\):((?:\s+-?[\d.]+)+)", log)
    last = re.search(r"Token 0 \(last 16 values\):((?:\s+-?[\d.]+)+)", log)
    stats = re.search(r"Stats: mean=(-?[\d.]+), std=(-?[\d.]+), min=(-?[\d.]+), max=(-?[\d.]+)", log)
    if out.returncode != 0 or not (m and first and last and stats):
        sys.exit("llama-mtmd-cli printed no MTMD_DEBUG_EMBEDDINGS summary (exit %d):\n%s" % (out.returncode, log[-3000:]))
    hidden, n = int(m.group(1)), int(m.group(2))
    if x.size != hidden * n or not np.all(np.isfinite(x)):
        sys.exit("cellm's features: %d values (want %d x %d), finite: %s" % (x.size, n, hidden, np.all(np.isfinite(x))))
    x = x.reshape(n, hidden)
    ref = np.array([float(v) for v in first.group(1).split()] + [float(v) for v in last.group(1).split()])
    got = np.concatenate([x[0, :16], x[0, -16:]])
    ref_stats = np.array([float(v) for v in stats.groups()])
    got_stats = np.array([x.mean(), x.std(), x.min(), x.max()])
    # cellm's f32 path against llama.cpp on the same weights, random-weight SmolVLM-256M, features'
    # std 2.27: f16 weights 0.0022 apart; bf16 weights 0.021 apart (llama.cpp's CPU bf16 products
    # round the activations to bf16 too). Tolerances ~5x those.
    tol = (0.005 if a.dtype == "f16" else 0.05) * max(1.0, float(x.std()))
    diff = max(np.abs(ref - got).max(), np.abs(ref_stats - got_stats).max())
    print("- feature check (one tile, %d x %d): max |cellm - llama.cpp| over token 0's 32 printed values and "
          "mean/std/min/max = %.2g (tolerance %.2g)" % (n, hidden, diff, tol))
    if not diff <= tol:
        sys.exit("the engines' image features differ: cellm %s / %s, llama.cpp %s / %s" % (got, got_stats, ref, ref_stats))


def machine():
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average %.1f" % os.getloadavg()[0]
    return "%s, %d CPUs%s" % (cpu, os.cpu_count() or 0, load)


def llama_commit(a):
    try:
        out = subprocess.run(["git", "-C", a.llama, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except OSError:
        pass
    return os.path.basename(os.path.normpath(a.llama))


def main():
    a = parse_args()
    cellm_file, text, mmproj, mmproj512, image = prepare(a)
    threads = [int(t) for t in a.threads.split(",")]
    tests = a.tests.split(",")
    cellm_ver, _ = run([a.cellm, "version"])
    rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if rev.returncode == 0:
        cellm_ver = "%s (checkout %s)" % (cellm_ver.strip().split("\n")[0], rev.stdout.strip())
    print("## SmolVLM-256M vision: cellm vs llama.cpp (%s weights, same values)\n" % a.dtype)
    print("- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    print("- machine: %s (at start)" % machine())
    print("- cellm: %s" % cellm_ver.strip().replace("\n", "; "))
    print("- llama.cpp: %s (llama-mtmd-cli)" % llama_commit(a))
    print("- image: %s; %d alternating pairs per row" % (image, a.pairs))
    if a.check:
        check_features(a, cellm_file, text, mmproj512, image)
    if a.pairs < 1:
        return
    print()
    print("| test | threads | cellm | llama.cpp | ratio cellm / llama.cpp, median [range] | notes |")
    print("|---|---:|---:|---:|---|---|")
    sys.stdout.flush()
    for th in threads:
        for test in tests:
            if test == "tile":
                c_fn = lambda: cellm_tile(a, cellm_file, th)
                l_fn = lambda: llama_tile(a, text, mmproj512, image, th)
            else:
                c_fn = lambda: cellm_ttft(a, cellm_file, image, th)
                l_fn = lambda: llama_ttft(a, text, mmproj, image, th)
            cs, ls = [], []
            for i in range(a.pairs):
                if i % 2 == 0:
                    cs.append(c_fn())
                    ls.append(l_fn())
                else:
                    ls.append(l_fn())
                    cs.append(c_fn())
            ratios = [c["ms"] / l["ms"] for c, l in zip(cs, ls)]
            cm, lm = statistics.median(c["ms"] for c in cs), statistics.median(l["ms"] for l in ls)
            if test == "tile":
                name = "one 512x512 tile (vision + connector)"
                note = "llama.cpp: mean of its %d tile encodes per run" % ls[0]["tiles"]
            else:
                name = "%d-tile image, time to first token" % cs[0]["tiles"]
                cv = statistics.median(c["encode"] for c in cs) / 1000
                lv = statistics.median(l["encode"] for l in ls) / 1000
                note = "prompt tokens %d / %d; vision %.2f s / %.2f s, the rest %.2f s / %.2f s (medians)" % (
                    cs[0]["tokens"], ls[0]["tokens"], cv, lv, cm / 1000 - cv, lm / 1000 - lv)
                if cs[0]["tiles"] != ls[0]["tiles"]:
                    note += "; llama.cpp encoded %d tiles" % ls[0]["tiles"]
            print("| %s | %d | %.2f s | %.2f s | **%.2f** [%.2f-%.2f] | %s |" % (
                name, th, cm / 1000, lm / 1000, statistics.median(ratios), min(ratios), max(ratios), note))
            sys.stdout.flush()
    print("\n- machine at end: %s" % machine())


if __name__ == "__main__":
    main()
