#!/usr/bin/env bash
# Refresh the dashboard's vendored map library (Leaflet) from the npm registry.
#
#   scripts/update_vendor.sh [VERSION]      # default: the version pinned below
#
# Needs npm and network access once, on a developer machine; the package itself never runs npm:
# the files are committed under src/rescity/web/static/vendor/leaflet/ and shipped as package data.
set -euo pipefail
VERSION=${1:-1.9.4}
cd "$(dirname "$0")/.."
DEST=src/rescity/web/static/vendor/leaflet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@${VERSION}" >/dev/null && tar xzf "leaflet-${VERSION}.tgz")
integrity=$(cd "$tmp" && npm view "leaflet@${VERSION}" dist.integrity 2>/dev/null)
sha256=$(sha256sum "$tmp/leaflet-${VERSION}.tgz" | cut -d' ' -f1)
rm -rf "$DEST"
mkdir -p "$DEST/images"
cp "$tmp/package/dist/leaflet.js" "$tmp/package/dist/leaflet.css" "$tmp/package/LICENSE" "$DEST/"
cp "$tmp/package/dist/images/"*.png "$DEST/images/"
cat > "$DEST/SOURCES.md" <<NOTE
# Leaflet ${VERSION}

Files copied unchanged from the npm registry package \`leaflet@${VERSION}\`
(https://www.npmjs.com/package/leaflet, https://leafletjs.com):
\`dist/leaflet.js\`, \`dist/leaflet.css\`, \`dist/images/*.png\`, \`LICENSE\` (BSD 2-Clause).

- tarball: leaflet-${VERSION}.tgz, sha256 ${sha256}
- npm integrity: ${integrity}

Refreshed with \`scripts/update_vendor.sh ${VERSION}\`.
NOTE
echo "leaflet ${VERSION} → ${DEST}"
