#!/usr/bin/env bash
# Runs real clients against `cellm serve`: the official openai npm package
# (non-stream, stream, image; pinned version, installed into a temporary
# folder) and an Ollama-style request with curl. Needs node, npm and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
OPENAI_VERSION=7.60.0
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/cellm" ./cmd/cellm
"$tmp/cellm" convert --input testdata/pretrained-micro --output "$tmp/micro.cellm" --dtype int8 >/dev/null 2>&1
mkdir "$tmp/vlm"
cp testdata/smolvlm-tiny/*.json testdata/smolvlm-tiny/*.safetensors "$tmp/vlm/"
gunzip -c tokenizer/testdata/SmolVLM-256M-Instruct.tokenizer.json.gz > "$tmp/vlm/tokenizer.json"
"$tmp/cellm" convert --input "$tmp/vlm" --output "$tmp/vlm.cellm" >/dev/null 2>&1

"$tmp/cellm" serve -m "$tmp/micro.cellm" -m "$tmp/vlm.cellm" --port 0 --max-tokens 64 2> "$tmp/serve.log" &
pid=$!
for _ in $(seq 100); do
	addr=$(sed -n 's|^cellm serve: http://\([^ ]*\) .*|\1|p' "$tmp/serve.log")
	[ -n "$addr" ] && break
	sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/serve.log"; exit 1; }
echo "server at $addr"

echo "== ollama-style request (curl)"
out=$(curl -sS --fail "http://$addr/api/chat" -d '{"model":"micro","messages":[{"role":"user","content":"What is a class?"}],"stream":false,"options":{"temperature":0,"num_predict":8}}')
echo "$out"
echo "$out" | grep -q '"done":true' || { echo "FAIL: no done:true"; exit 1; }
curl -sS --fail "http://$addr/api/tags" | grep -q '"name":"micro"' || { echo "FAIL: /api/tags"; exit 1; }

echo "== openai npm package $OPENAI_VERSION"
(cd "$tmp" && npm install --no-audit --no-fund --silent "openai@$OPENAI_VERSION" >/dev/null)
cp server/testdata/openai-client.mjs server/testdata/red.png "$tmp/"
(cd "$tmp" && BASE_URL="http://$addr/v1" TEXT_MODEL=micro VLM_MODEL=vlm IMAGE=red.png node openai-client.mjs)
