#!/usr/bin/env bash
# The benchmarks (see BENCHMARKS.md): `scripts/bench.sh import [ARGS]` (the default) needs
# sqlite3 for the SQLite floor and a PostgreSQL; `scripts/bench.sh web [ARGS]` needs wrk, the
# front-end packages and a PostgreSQL; `scripts/bench.sh survival [ARGS]` needs Rscript (r-cran-survival)
# and python3 with numpy, pandas and lifelines.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_tools
source scripts/postgres.sh
ensure_postgres
which="${1:-import}"
[ $# -gt 0 ] && shift
case "$which" in
  import)
    command -v sqlite3 >/dev/null 2>&1 || apt_install sqlite3
    cargo bench --locked -p tessera --bench import -- "$@" ;;
  web)
    command -v wrk >/dev/null 2>&1 || apt_install wrk
    ensure_web_assets
    cargo bench --locked -p tessera --bench web -- "$@" ;;
  survival)
    cargo bench --locked -p tessera --bench survival -- "$@" ;;
  *) echo "usage: scripts/bench.sh [import|web|survival] [options]" >&2; exit 2 ;;
esac
