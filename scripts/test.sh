#!/usr/bin/env bash
# Runs every test of the workspace, with a real PostgreSQL (started or created if none answers),
# the front-end packages installed and Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_tools
ensure_web_assets
ensure_chromium
ensure_test_tools
source scripts/postgres.sh
ensure_postgres
echo "PostgreSQL for the tests: ${TESSERA_TEST_POSTGRES_URL}" >&2
cargo test --workspace --locked "$@"
