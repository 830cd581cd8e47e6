#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests (Debian's postgresql, installed if missing) and
# print the SQLAlchemy URL that reaches it: `export ARTLENS_TEST_POSTGRES_URL=$(.ci/postgres.sh)`.
# The cluster lives in a temporary folder owned by the postgres user, listens on 127.0.0.1 only, trusts
# local connections (nothing but this machine can reach it) and is stopped with
# `.ci/postgres.sh stop`. Several runs on one machine share it: a second start finds it running.
set -euo pipefail
PORT=${ARTLENS_PG_PORT:-54329}
DIR=${ARTLENS_PG_DIR:-/tmp/artlens-pg-$PORT}
SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
as_postgres() {  # PostgreSQL refuses to run as root
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else sudo -u postgres "$@"; fi
}

if [ "${1:-start}" = stop ]; then
  [ -n "$BIN" ] && [ -d "$DIR" ] && as_postgres "$BIN/pg_ctl" -D "$DIR" -m fast stop >/dev/null || true
  exit 0
fi
if [ -z "$BIN" ]; then
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
if ! as_postgres "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
  $SUDO mkdir -p "$DIR" && $SUDO chown postgres: "$DIR" && $SUDO chmod 700 "$DIR"
  [ -f "$DIR/PG_VERSION" ] || as_postgres "$BIN/initdb" -D "$DIR" -U postgres --auth=trust -E UTF8 >/dev/null
  as_postgres "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off" start >/dev/null
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
