#!/usr/bin/env bash
# The import benchmark (see BENCHMARKS.md): needs sqlite3 for the SQLite floor and a PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_tools
source scripts/postgres.sh
ensure_postgres
command -v sqlite3 >/dev/null 2>&1 || apt_install sqlite3
cargo bench --locked -p tessera --bench import -- "$@"
