#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests and print its URL (for PEDAGRAPH_TEST_DATABASE_URL).
#   scripts/test_postgres.sh start [DIR]   initdb into DIR (default: a new temp dir), start on a free loopback port
#   scripts/test_postgres.sh stop DIR      stop the server of DIR and remove DIR
# Uses Debian's PostgreSQL (apt-get install postgresql): the binaries of the newest /usr/lib/postgresql/N/bin.
# As root, the server runs as the `postgres` user (initdb refuses root). Trust auth, loopback only: tests only.
set -euo pipefail

pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  local newest
  newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$newest" ] && command -v initdb >/dev/null 2>&1; then newest="$(dirname "$(readlink -f "$(command -v initdb)")")"; fi
  [ -n "$newest" ] || { echo "error: PostgreSQL not installed (apt-get install postgresql)" >&2; exit 1; }
  echo "$newest"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

cmd="${1:-start}"
BIN="$(pg_bin)"
case "$cmd" in
  start)
    DIR="${2:-$(mktemp -d /tmp/pedagraph-pg.XXXXXX)}"
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log" >&2; exit 1; }
    PORT="$(free_port)"
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=100" start >/dev/null \
      || { cat "$DIR/server.log" >&2; exit 1; }
    as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres pedagraph_test
    echo "$PORT" > "$DIR/port"
    echo "postgresql://postgres@127.0.0.1:$PORT/pedagraph_test"
    ;;
  stop)
    DIR="${2:?usage: $0 stop DIR}"
    [ -d "$DIR/data" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null || true
    rm -rf "$DIR"
    ;;
  *) echo "usage: $0 start [DIR] | stop DIR" >&2; exit 2 ;;
esac
