#!/usr/bin/env bash
# Re-vendor the API docs UIs from npm: `bash src/marketsvc/api/static/vendor.sh [SWAGGER_VER] [REDOC_VER]`.
# Only the files the pages load are kept, with the packages' licence files. One edit is made to
# ReDoc (see README.md): its sidebar footer loads a logo from Redocly's CDN, which an offline
# page must not do; the script fails if that edit no longer applies.
set -euo pipefail
SWAGGER_VER=${1:-5.35.0}
REDOC_VER=${2:-2.5.4}
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "swagger-ui-dist@$SWAGGER_VER" "redoc@$REDOC_VER" >/dev/null)
mkdir -p "$work/swagger" "$work/redoc"
tar xzf "$work/swagger-ui-dist-$SWAGGER_VER.tgz" -C "$work/swagger"
tar xzf "$work/redoc-$REDOC_VER.tgz" -C "$work/redoc"

rm -rf "$here/swagger-ui" "$here/redoc"
mkdir -p "$here/swagger-ui" "$here/redoc"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png \
    LICENSE NOTICE package.json; do
  cp "$work/swagger/package/$f" "$here/swagger-ui/$f"
done
for f in bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE package.json; do
  cp "$work/redoc/package/$f" "$here/redoc/$(basename "$f")"
done

logo='src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
js="$here/redoc/redoc.standalone.js"
if [ "$(grep -c -F "$logo" "$js")" != 1 ]; then
  echo "vendor.sh: ReDoc's CDN logo reference changed; review the patch" >&2
  exit 1
fi
# An empty src makes no request; the image's onError handler then hides it.
sed -i "s#$logo#src:\"\"#" "$js"
if grep -q 'cdn\.redoc\.ly' "$js"; then
  echo "vendor.sh: ReDoc still references its CDN" >&2
  exit 1
fi
(cd "$here" && sha256sum swagger-ui/* redoc/* > SHA256SUMS)
echo "vendored swagger-ui-dist $SWAGGER_VER and redoc $REDOC_VER into $here"
