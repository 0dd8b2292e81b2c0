#!/usr/bin/env bash
# get-onnxruntime.sh — fetch the ONNX Runtime shared library used by the
# `onnxruntime` build tag (package backend/onnxrt) and print its path.
#
# The library comes from the npm package onnxruntime-node (`npm pack` only
# downloads the tarball; no install scripts run). It lands in
# <repo>/.cache/onnxruntime/<version>/ (ignored by git). Running the script
# again reuses the cached copy. Only the path is printed on stdout, so
#
#   export CELLM_ONNXRUNTIME_LIB="$(scripts/get-onnxruntime.sh)"
#
# works. ORT_VERSION overrides the version; it must provide C API >= 25
# (ONNX Runtime >= 1.25), which github.com/yalue/onnxruntime_go v1.28.0 needs.
set -euo pipefail

ORT_VERSION="${ORT_VERSION:-1.25.1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/onnxruntime"
dest="$cache/$ORT_VERSION"

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) plat=linux/x64 lib=libonnxruntime.so ;;
Linux/aarch64 | Linux/arm64) plat=linux/arm64 lib=libonnxruntime.so ;;
Darwin/arm64) plat=darwin/arm64 lib=libonnxruntime.dylib ;;
*)
	echo "get-onnxruntime: no onnxruntime-node build for $(uname -s)/$(uname -m)" >&2
	exit 1
	;;
esac

if [[ -f "$dest/$lib" ]]; then
	echo "$dest/$lib"
	exit 0
fi

command -v npm >/dev/null || {
	echo "get-onnxruntime: npm not found (needed to download onnxruntime-node@$ORT_VERSION)" >&2
	exit 1
}

mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "get-onnxruntime: downloading onnxruntime-node@$ORT_VERSION (about 100 MB)" >&2
tgz="$(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" | tail -n 1)"
tar -xzf "$tmp/$tgz" -C "$tmp" --wildcards "package/bin/napi-v*/$plat/*"

# The real file is e.g. libonnxruntime.so.1 or libonnxruntime.so.1.25.1;
# take the largest regular file, which is the library itself.
src="" best=0
for f in "$tmp"/package/bin/napi-v*/"$plat"/"${lib%.*}"*; do
	[[ -f "$f" && ! -L "$f" ]] || continue
	size="$(wc -c <"$f")"
	if ((size > best)); then
		src="$f" best="$size"
	fi
done
if [[ -z "$src" ]]; then
	echo "get-onnxruntime: no ${lib%.*} library for $plat in onnxruntime-node@$ORT_VERSION" >&2
	exit 1
fi

mkdir -p "$tmp/out"
cp "$src" "$tmp/out/$lib"
rm -rf "$dest"
mv "$tmp/out" "$dest"
echo "$dest/$lib"
