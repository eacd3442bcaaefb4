#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the store tests (issue 22): ctest runs
# `start STATE_FILE` once before the tests that need it (FIXTURES_SETUP) and
# `stop STATE_FILE` after them (FIXTURES_CLEANUP), so the server costs one
# start per test run, not one per test process.
#
#   start STATE_FILE  initdb into a new folder under ${TMPDIR:-/tmp}, pg_ctl start
#                     on a Unix socket in that folder (no TCP port: nothing to
#                     collide with), create the database `inloop`, and write
#                     the libpq URL to STATE_FILE (line 1) and the folder (line 2)
#   stop STATE_FILE   pg_ctl stop (immediate) and remove the folder and STATE_FILE
#
# initdb and the server refuse to run as root: as root both run as the
# `postgres` user (from the postgresql-15 package) in a folder it owns.
# Exits non-zero when the server cannot be started, so the tests that need it
# fail rather than pass without it (CI=true or not).
set -euo pipefail

PG_BIN="${INLOOP_PG_BIN:-/usr/lib/postgresql/15/bin}"
action="${1:-}"
state="${2:-}"
[ -n "$action" ] && [ -n "$state" ] || { echo "usage: $0 start|stop STATE_FILE" >&2; exit 2; }

as_server() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_server() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_server "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "$action" in
  start)
    for tool in initdb pg_ctl; do
      [ -x "$PG_BIN/$tool" ] || {
        echo "test_postgres: $PG_BIN/$tool missing (apt-get install postgresql-15; scripts/test installs it)" >&2
        exit 1
      }
    done
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
      echo "test_postgres: running as root and there is no postgres user to run the server" >&2
      exit 1
    fi
    # A server left by an interrupted run (the cleanup never ran) goes first.
    if [ -f "$state" ]; then stop_server "$(sed -n 2p "$state")"; rm -f "$state"; fi
    dir="$(mktemp -d "${TMPDIR:-/tmp}/inloop-pg.XXXXXX")"
    trap 'stop_server "$dir"' ERR
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    # Test data only: no fsync, trust on the private socket (the folder is 0700).
    as_server "$PG_BIN/initdb" -D "$dir/data" -U inloop -A trust -E UTF8 --no-locale \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; false; }
    as_server "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses='' -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null || { cat "$dir/server.log" >&2; false; }
    as_server "$PG_BIN/createdb" -h "$dir" -U inloop inloop
    # The socket folder goes in the URL percent-encoded as libpq reads it.
    encoded="$(printf '%s' "$dir" | sed 's|/|%2F|g')"
    printf 'postgresql://inloop@%s/inloop\n%s\n' "$encoded" "$dir" >"$state"
    ;;
  stop)
    [ -f "$state" ] || exit 0
    stop_server "$(sed -n 2p "$state")"
    rm -f "$state"
    ;;
  *)
    echo "usage: $0 start|stop STATE_FILE" >&2
    exit 2
    ;;
esac
