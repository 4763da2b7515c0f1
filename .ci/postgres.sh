#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the test suite.
#   bash .ci/postgres.sh start   install (apt, if missing) and start it
#   bash .ci/postgres.sh env     print the exports that point the tests at it
#   bash .ci/postgres.sh stop    stop it and remove its data
set -euo pipefail
PGHOME=${VITALSIGN_CI_PGDATA:-/tmp/vitalsign-ci-postgres}
PORT=${VITALSIGN_CI_PGPORT:-55432}

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    if [ -z "$(pg_bin)" ]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq postgresql >/dev/null
    fi
    BIN=$(pg_bin)
    if as_postgres "$BIN/pg_ctl" -D "$PGHOME" status >/dev/null 2>&1; then
      echo "postgres already running on $PORT"; exit 0
    fi
    rm -rf "$PGHOME"; mkdir -p "$PGHOME"
    [ "$(id -u)" = 0 ] && chown postgres "$PGHOME"
    as_postgres "$BIN/initdb" -D "$PGHOME" -A trust -U postgres >/dev/null
    as_postgres "$BIN/pg_ctl" -D "$PGHOME" -l "$PGHOME/server.log" -w start \
      -o "-p $PORT -k $PGHOME -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
    echo "postgres started on 127.0.0.1:$PORT"
    ;;
  env)
    echo "export VITALSIGN_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
    ;;
  stop)
    BIN=$(pg_bin)
    [ -n "$BIN" ] && as_postgres "$BIN/pg_ctl" -D "$PGHOME" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PGHOME"
    ;;
  *) echo "usage: $0 start|env|stop" >&2; exit 2 ;;
esac
