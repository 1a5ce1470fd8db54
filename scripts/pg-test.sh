#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL for tests and benchmarks, configured as deployed: scram-sha-256
# password auth with a generated password (in the connection string), fsync, synchronous_commit and
# full_page_writes on; loopback only, data in a temp dir. Beyond stock it sets max_connections=200 and
# autovacuum_naptime=1s (as ../shared/peers/run.sh does: freshly loaded tables get analyzed promptly).
#   scripts/pg-test.sh start [ENV_FILE]   # writes BATCHYARD_TEST_PG=... and BATCHYARD_TEST_PG_DIR=... to ENV_FILE
#   scripts/pg-test.sh stop  [ENV_FILE]   # stops that server and removes its directory and ENV_FILE
# ENV_FILE is shell-sourceable: `. ENV_FILE && export BATCHYARD_TEST_PG`. It defaults to $BATCHYARD_TEST_PG_FILE, else /tmp/batchyard-pg-test.env.
# It never touches a server it did not start: stop only acts on the directory recorded in ENV_FILE.
# With BATCHYARD_TEST_PG_OWNER_PID set, a watcher stops the server once that process is gone (test hosts
# are often killed before their exit handlers run).
set -euo pipefail

cmd="${1:-}"
env_file="${2:-${BATCHYARD_TEST_PG_FILE:-/tmp/batchyard-pg-test.env}}"

pg_bin() {
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z "$initdb" ]]; then
    echo "pg-test: installing Debian's postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
  fi
  dirname "$initdb"
}

free_port() {
  # Ask the kernel for a free loopback port; a tiny race with other starters is handled by retrying.
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || shuf -i 20000-60000 -n 1
}

as_pg() {
  # initdb and postgres refuse to run as root; run them as the postgres user from a directory it can read.
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

start() {
  local bin dir port db password
  bin=$(pg_bin)
  dir=$(mktemp -d /tmp/batchyard-pg.XXXXXX)
  chmod 700 "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
  # Hex only: it goes into a connection string unquoted.
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  (umask 077; printf '%s' "$password" >"$dir/pwfile")
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir/pwfile"; fi
  as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 --pwfile="$dir/pwfile" --encoding=UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/pwfile"
  # In postgresql.conf rather than on the command line, so that a plain `pg_ctl start` of this directory
  # (tests restart a server after a simulated crash) gets the same settings.
  cat >>"$dir/data/postgresql.conf" <<'CONF'

# scripts/pg-test.sh: as deployed (these are also PostgreSQL's defaults, spelled out on purpose)
fsync = on
synchronous_commit = on
full_page_writes = on
# beyond stock
max_connections = 200
autovacuum_naptime = 1s
CONF
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if as_pg "$bin/pg_ctl" -D "$dir/data" -w -t 60 -l "$dir/server.log" \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir" \
        start >/dev/null; then
      break
    fi
    port=""
  done
  [[ -n "$port" ]] || { cat "$dir/server.log" >&2; exit 1; }
  db=batchyard_test
  as_pg env PGPASSWORD="$password" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
  local cs="Host=127.0.0.1;Port=$port;Username=postgres;Password=$password;Database=$db"
  # Quoted so that the file can be sourced (the connection string contains ';').
  (umask 077; printf "BATCHYARD_TEST_PG='%s'\nBATCHYARD_TEST_PG_DIR='%s'\n" "$cs" "$dir" >"$env_file")
  echo "BATCHYARD_TEST_PG=$cs"
  if [[ -n "${BATCHYARD_TEST_PG_OWNER_PID:-}" ]]; then
    setsid bash "$0" watch "$env_file" "$BATCHYARD_TEST_PG_OWNER_PID" </dev/null >/dev/null 2>&1 &
  fi
}

watch() {
  local owner="$1"
  while kill -0 "$owner" 2>/dev/null; do sleep 2; done
  stop
}

stop() {
  [[ -f "$env_file" ]] || { echo "pg-test: no $env_file, nothing to stop" >&2; return 0; }
  local dir
  dir=$(sed -n "s/^BATCHYARD_TEST_PG_DIR='\\(.*\\)'$/\\1/p" "$env_file")
  if [[ -n "$dir" && -d "$dir/data" ]]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -w -m immediate stop >/dev/null || true
  fi
  [[ -n "$dir" && "$dir" == /tmp/batchyard-pg.* ]] && rm -rf "$dir"
  rm -f "$env_file"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  watch) watch "${3:?owner pid}" ;;
  *) echo "usage: $0 start|stop [ENV_FILE]" >&2; exit 2 ;;
esac
