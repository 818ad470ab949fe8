#!/usr/bin/env bash
# The dashboard's vendored JavaScript (no CDN: the CSP allows only the app's own scripts).
# Chart.js's UMD build from the npm registry's tarball, both sha256-checked; the committed copy is
# kept when it matches, so this needs the network only when the file is missing or was changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.6.2
TARBALL_SHA256=24bdaa65a5f90246ef451c0b47b29463fcfa4ff445d2cfcf684ff8f1a1e949c3
FILE_SHA256=3f288f4f26882c26b58931fb586a9b4f30370b5de38d69dc005b0bd05b08e113
DEST=vigil/web/static/vendor
if echo "$FILE_SHA256  $DEST/chart.umd.min.js" | sha256sum --check --status 2>/dev/null; then
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl --fail --silent --show-error --location -o "$work/chart.tgz" \
	"https://registry.npmjs.org/chart.js/-/chart.js-$VERSION.tgz"
echo "$TARBALL_SHA256  $work/chart.tgz" | sha256sum --check --quiet
tar -xzf "$work/chart.tgz" -C "$work" package/dist/chart.umd.min.js package/LICENSE.md
echo "$FILE_SHA256  $work/package/dist/chart.umd.min.js" | sha256sum --check --quiet
mkdir -p "$DEST"
cp "$work/package/dist/chart.umd.min.js" "$DEST/chart.umd.min.js"
cp "$work/package/LICENSE.md" "$DEST/chart.js-LICENSE.md"
echo "Chart.js $VERSION installed into $DEST"
