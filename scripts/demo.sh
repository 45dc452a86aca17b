#!/usr/bin/env bash
# Tessera's main job: set up a Tessera in .tessera/ (config, master key, SQLite database), load
# both shipped registries, synthesise 100,000 patients, print the counts, then run the web server
# on http://localhost:8080 and print the single-use bootstrap link for the first operator.
# Safe to re-run. Stop the server with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_tools
ensure_web_assets
cargo run --release --locked -p tessera -- demo --dir .tessera "$@"
