# Sourced by the test and benchmark scripts: makes sure a PostgreSQL answers for the tests and
# exports TESSERA_TEST_POSTGRES_URL. In order: the URL already set; a server on 127.0.0.1:5432
# that lets user postgres in without a password; the machine's cluster, started if it was down; a
# throwaway cluster made with initdb in a temporary directory on port 55432 (installing Debian's
# postgresql package first if needed), stopped and removed when the calling script exits. The
# client tools come from Debian's postgresql-client if missing.

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pg_answers() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

# psql and pg_isready, to probe; the server itself only when a throwaway cluster is needed.
ensure_pg_client() { command -v psql >/dev/null 2>&1 && command -v pg_isready >/dev/null 2>&1 || apt_install postgresql-client; }
ensure_pg_tools() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql; }

ensure_postgres() {
  ensure_pg_client
  if [ -n "${TESSERA_TEST_POSTGRES_URL:-}" ] && pg_answers "$TESSERA_TEST_POSTGRES_URL"; then return 0; fi
  local default="postgres://postgres@127.0.0.1:5432/postgres"
  if pg_answers "$default"; then export TESSERA_TEST_POSTGRES_URL="$default"; return 0; fi
  # A server that is up but refuses us (a password, say) is left alone: use a throwaway one.
  if ! pg_isready -q -h 127.0.0.1 -p 5432 && [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    for v in $(ls /etc/postgresql); do
      as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || true
    done
    for _ in $(seq 1 20); do
      pg_isready -q -h 127.0.0.1 -p 5432 && break
      sleep 0.5
    done
    if pg_answers "$default"; then export TESSERA_TEST_POSTGRES_URL="$default"; return 0; fi
  fi
  start_throwaway_postgres
}

# A throwaway cluster of our own, trust auth on 127.0.0.1:55432, removed when the script exits.
start_throwaway_postgres() {
  ensure_pg_tools
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  TESSERA_PG_DIR=$(mktemp -d /tmp/tessera-pg.XXXXXX)
  export TESSERA_PG_DIR
  local run=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$TESSERA_PG_DIR"; run=(runuser -u postgres --); fi
  "${run[@]}" "$bin/initdb" -D "$TESSERA_PG_DIR/data" -U postgres -A trust >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$TESSERA_PG_DIR/data" -o "-p 55432 -k $TESSERA_PG_DIR -c listen_addresses=127.0.0.1" -l "$TESSERA_PG_DIR/log" -w start >/dev/null
  trap 'stop_throwaway_postgres' EXIT
  export TESSERA_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:55432/postgres"
  pg_answers "$TESSERA_TEST_POSTGRES_URL" || { echo "could not start a PostgreSQL for the tests" >&2; return 1; }
}

stop_throwaway_postgres() {
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$TESSERA_PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  else
    "$bin/pg_ctl" -D "$TESSERA_PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$TESSERA_PG_DIR"
}
