#!/usr/bin/env bash
# Serving throughput side by side: `cellm serve` (random SmolLM2-135M, int8)
# against llama.cpp's llama-server (a Q8_0 GGUF of the same shape), both
# driven by the same client, `cellm bench-serve --url`, with the same prompts,
# lengths, concurrency and stagger. Runs alternating pairs (cellm first, then
# llama-server first, ...) so drift of a busy machine hits both engines alike,
# and prints a markdown table: per engine the median aggregate tok/s and
# TTFT p50/p99 over pairs, the median tok/s while all clients were active,
# and the median [min-max] of the per-pair ratios.
#
# Usage: scripts/serve-vs-llamaserver.sh --llama DIR --gguf FILE
#          [--pairs 3] [--concurrency 1,4,8] [--threads T] [--rounds 3]
#          [--prompt 100] [--gen 64] [--stagger 100ms] [--cellm-kv f16]
# --cellm-kv is cellm's KV cache type; f16 (the default) matches llama-server's.
# DIR is a llama.cpp checkout or build with build/bin/llama-server.
set -euo pipefail
cd "$(dirname "$0")/.."

llama= gguf= pairs=3 conc=1,4,8 threads=$(nproc) rounds=3 prompt=100 gen=64 stagger=100ms kv=f16
while [ $# -gt 0 ]; do
	case "$1" in
	--llama) llama=$2 ;;
	--gguf) gguf=$2 ;;
	--pairs) pairs=$2 ;;
	--concurrency) conc=$2 ;;
	--threads) threads=$2 ;;
	--rounds) rounds=$2 ;;
	--prompt) prompt=$2 ;;
	--gen) gen=$2 ;;
	--stagger) stagger=$2 ;;
	--cellm-kv) kv=$2 ;;
	*) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
	esac
	shift 2
done
server_bin=$llama/build/bin/llama-server
[ -x "$server_bin" ] || { echo "--llama: no executable $server_bin" >&2; exit 2; }
[ -f "$gguf" ] || { echo "--gguf: no file '$gguf'" >&2; exit 2; }

most=$(tr , '\n' <<<"$conc" | sort -n | tail -1)
ctx=$((prompt + gen + 16)) # positions per request
tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "building cellm and the random int8 model in $tmp" >&2
go build -o "$tmp/cellm" ./cmd/cellm
"$tmp/cellm" make-random-model --model smollm2-135m --output "$tmp/random" >/dev/null
"$tmp/cellm" convert --input "$tmp/random" --output "$tmp/random.cellm" --dtype int8 >/dev/null 2>&1

port=$((20000 + RANDOM % 20000))

# start_server ENGINE: starts it on $port in the background (pid in $pid)
# and waits until /health answers.
start_server() {
	case "$1" in
	cellm) "$tmp/cellm" serve -m "$tmp/random.cellm" --alias bench --port "$port" --parallel "$most" \
		--max-queue "$most" --ctx-size "$ctx" --max-tokens "$gen" --kv-type "$kv" -t "$threads" >"$tmp/$1.log" 2>&1 & ;;
	llama) "$server_bin" -m "$gguf" --port "$port" -np "$most" -t "$threads" -c $((ctx * most)) \
		--cont-batching >"$tmp/$1.log" 2>&1 & ;;
	esac
	pid=$!
	for _ in $(seq 600); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "$1 server did not start:" >&2
	cat "$tmp/$1.log" >&2
	exit 1
}

stop_server() {
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
}

# run_engine ENGINE PAIR: one bench-serve run; appends "engine streams tok/s
# p50ms p99ms all-active-tok/s" lines to $tmp/results.
run_engine() {
	start_server "$1"
	vocab=()
	[ "$1" = cellm ] && vocab=(--vocab 49152) # cellm serve's /v1/models has no n_vocab
	# One short unmeasured request first: first-request costs (page faults,
	# lazy allocation) are not serving throughput.
	"$tmp/cellm" bench-serve --url "http://127.0.0.1:$port" "${vocab[@]}" -c 1 -p "$prompt" -n 4 -r 1 >/dev/null
	"$tmp/cellm" bench-serve --url "http://127.0.0.1:$port" "${vocab[@]}" -c "$conc" -p "$prompt" -n "$gen" \
		-r "$rounds" --stagger "$stagger" >"$tmp/$1-$2.md" || {
		cat "$tmp/$1-$2.md" >&2
		echo "$1 server log (tail):" >&2
		tail -20 "$tmp/$1.log" >&2
		exit 1
	}
	stop_server
	echo "pair $2, $1:" >&2
	cat "$tmp/$1-$2.md" >&2
	awk -v e="$1" -F'|' '/^\| [0-9]/ { gsub(/ ms/, ""); printf "%s %d %s %s %s %s\n", e, $2, $3, $5, $6, $8 + 0 }' \
		"$tmp/$1-$2.md" >>"$tmp/results"
}

: >"$tmp/results"
for p in $(seq "$pairs"); do
	if [ $((p % 2)) -eq 1 ]; then order="cellm llama"; else order="llama cellm"; fi
	for e in $order; do
		run_engine "$e" "$p"
	done
done

cellm_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
llama_commit=$(git -C "$llama" rev-parse --short HEAD 2>/dev/null || basename "$(cd "$llama" && pwd)")
cpu=$(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo 2>/dev/null | head -1)
echo
echo "Serving, random SmolLM2-135M: cellm int8 ($cellm_commit) vs llama-server $(basename "$gguf") ($llama_commit)"
echo "$(date -u +%Y-%m-%dT%H:%MZ), ${cpu:-$(uname -m)}, $(nproc) CPUs, $threads threads each, $pairs pairs (alternating order), cellm KV $kv,"
echo "prompt $prompt tokens, $gen generated (ignore_eos), $rounds rounds per client, clients $stagger apart."
echo
# Medians over pairs; ratio columns are cellm/llama-server per pair (tok/s:
# above 1 means cellm faster; TTFT: below 1 means cellm faster).
awk -v pairs="$pairs" '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
# med(KEY, STREAMS): median over pairs of one engine and column.
function med(k, s,   a, i) { for (i = 1; i <= pairs; i++) a[i] = v[k, s, i]; return median(a, pairs) }
# ratio(COLUMN, STREAMS): median [min-max] over pairs of cellm / llama-server.
function ratio(k, s,   a, i, lo, hi) {
	lo = 1e30; hi = 0
	for (i = 1; i <= pairs; i++) {
		a[i] = v["cellm" k, s, i] / v["llama" k, s, i]
		if (a[i] < lo) lo = a[i]
		if (a[i] > hi) hi = a[i]
	}
	return sprintf("%.2f [%.2f-%.2f]", median(a, pairs), lo, hi)
}
{
	i = ++count[$1, $2]
	v[$1 "tps", $2, i] = $3; v[$1 "p50", $2, i] = $4; v[$1 "p99", $2, i] = $5; v[$1 "act", $2, i] = $6
	if (!($2 in seen)) { seen[$2] = 1; streams[++ns] = $2 }
}
END {
	print "| streams | cellm tok/s | llama-server tok/s | tok/s ratio | cellm TTFT p50 / p99 | llama-server TTFT p50 / p99 | TTFT p50 ratio | TTFT p99 ratio | all-active tok/s cellm / llama-server |"
	print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for (j = 1; j <= ns; j++) {
		s = streams[j]
		printf "| %d | %.1f | %.1f | %s | %.0f / %.0f ms | %.0f / %.0f ms | %s | %s | %.1f / %.1f |\n", s,
			med("cellmtps", s), med("llamatps", s), ratio("tps", s),
			med("cellmp50", s), med("cellmp99", s), med("llamap50", s), med("llamap99", s),
			ratio("p50", s), ratio("p99", s), med("cellmact", s), med("llamaact", s)
	}
}' "$tmp/results"
