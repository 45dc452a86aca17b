#!/usr/bin/env bash
# The benchmarks (see BENCHMARKS.md): `scripts/bench.sh import [ARGS]` (the default) needs
# sqlite3 for the SQLite floor and a PostgreSQL; `scripts/bench.sh web [ARGS]` needs wrk, the
# front-end packages and a PostgreSQL; `scripts/bench.sh survival [ARGS]` installs R with
# r-cran-survival (Debian) and numpy, pandas and lifelines (PyPI) if they are missing;
# `scripts/bench.sh audit [ARGS]` needs a PostgreSQL; `scripts/bench.sh recall [ARGS]` needs the
# front-end packages and a PostgreSQL.
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
  audit)
    cargo bench --locked -p tessera --bench audit -- "$@" ;;
  recall)
    ensure_web_assets
    cargo bench --locked -p tessera --bench recall -- "$@" ;;
  survival)
    # The peers: R with survival from Debian's packages, numpy, pandas and lifelines from PyPI.
    command -v Rscript >/dev/null 2>&1 && Rscript -e 'library(survival)' >/dev/null 2>&1 \
      || apt_install r-base-core r-cran-survival
    python3 -c 'import numpy, pandas, lifelines' >/dev/null 2>&1 \
      || python3 -m pip install --quiet numpy pandas lifelines
    cargo bench --locked -p tessera --bench survival -- "$@" ;;
  *) echo "usage: scripts/bench.sh [import|web|audit|recall|survival] [options]" >&2; exit 2 ;;
esac
