#!/usr/bin/env bash
# test-onnxruntime.sh — run the ONNX Runtime backend tests (build tag
# onnxruntime, needs cgo) against the library fetched by get-onnxruntime.sh.
# Needs Go, gcc and npm. Extra arguments go to `go test` (e.g. -v, -bench .).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

lib="$(scripts/get-onnxruntime.sh)"
echo "test-onnxruntime: using $lib" >&2

export CGO_ENABLED=1
CELLM_ONNXRUNTIME_LIB="$lib" go test -tags onnxruntime -count=1 "$@" ./backend/onnxrt/... . ./cmd/...
