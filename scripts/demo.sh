#!/usr/bin/env bash
# Tessera's main job for now: set up a Tessera in .tessera/ (config, master key, SQLite database),
# load both shipped registries, synthesise 100,000 patients and print the counts. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_tools
cargo run --release --locked -p tessera -- demo --dir .tessera "$@"
