#!/usr/bin/env bash
# The import benchmark (see BENCHMARKS.md): needs sqlite3 for the SQLite floor and a PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
ensure_postgres
if ! command -v sqlite3 >/dev/null 2>&1; then
  as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq sqlite3
fi
cargo bench --locked -p tessera --bench import -- "$@"
