#!/usr/bin/env bash
# Re-vendor uPlot from npm: `bash src/marketsvc/dashboard/static/vendor.sh [VERSION]`.
# Only the files the dashboard loads are kept, with the package's licence; SHA256SUMS lists them.
set -euo pipefail
VER=${1:-1.6.32}
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$VER" >/dev/null && tar xzf "uplot-$VER.tgz")
rm -rf "$here/uplot" && mkdir -p "$here/uplot"
for f in dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE package.json; do
  cp "$work/package/$f" "$here/uplot/$(basename "$f")"
done
(cd "$here" && sha256sum uplot/* > SHA256SUMS)
echo "vendored uplot $VER into $here/uplot"
