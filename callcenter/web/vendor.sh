#!/usr/bin/env bash
# Refresh the vendored front-end libraries from npm (pinned in package.json/package-lock.json):
#   bash callcenter/web/vendor.sh
# The files are committed; the service embeds them and serves them under /assets/vendor/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../src/http/assets/vendor"
cd "$here"
npm ci --no-audit --no-fund
mkdir -p "$out"
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css "$out/"
cp node_modules/leaflet/LICENSE "$out/leaflet.LICENSE"
cp node_modules/leaflet.markercluster/dist/leaflet.markercluster.js \
   node_modules/leaflet.markercluster/dist/MarkerCluster.css \
   node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css "$out/"
cp node_modules/leaflet.markercluster/MIT-LICENCE.txt "$out/leaflet.markercluster.LICENSE"
ls -l "$out"
