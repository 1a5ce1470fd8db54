#!/usr/bin/env bash
# Durable-mode benchmark: Batchyard on PostgreSQL configured as deployed (scripts/pg-test.sh: scram-sha-256,
# fsync, synchronous_commit, full_page_writes), next to Hangfire and Quartz.NET (../shared/peers) on the
# same server, in one table; plus Batchyard in memory mode. Never part of the tests. See bench/README.md.
#
#   bench/durable.sh [--chain N] [--width N] [--runs N] [--runs-width N] [--timeout S]
#                    [--map-items N] [--map-cap N] [--no-map]
#                    [--no-peers] [--no-pgbench] [--no-memory] [--no-postgres] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

chain=200 width=2000 runs=10 runs_width=1000 timeout_s=300 peers=1 pgbench=1 memory=1 postgres=1 map_items=10000 map_cap=50 map=1
out=/tmp/batchyard-durable-$(date +%Y%m%d-%H%M%S)
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --chain) chain=$2; shift 2 ;;
    --width) width=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --runs-width) runs_width=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --no-peers) peers=0; shift ;;
    --no-pgbench) pgbench=0; shift ;;
    --no-memory) memory=0; shift ;;
    --no-postgres) postgres=0; shift ;;
    --map-items) map_items=$2; shift 2 ;;
    --map-cap) map_cap=$2; shift 2 ;;
    --no-map) map=0; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "durable.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done
for v in "$chain" "$width" "$runs" "$runs_width" "$timeout_s"; do
  [[ "$v" =~ ^[0-9]+$ && "$v" -gt 0 ]] || { echo "durable.sh: sizes and --timeout must be positive integers" >&2; exit 2; }
done
[[ "$chain" -ge 2 ]] || { echo "durable.sh: --chain must be at least 2" >&2; exit 2; }

mkdir -p "$out"
work=$(mktemp -d /tmp/batchyard-durable-work.XXXXXX)
env_file="$work/pg.env"
silo="" peer_pid="" status=0
began=$(date +%s)

stop_silo() {
  [[ -n "$silo" ]] || return 0
  if kill -0 "$silo" 2>/dev/null; then
    kill -TERM "$silo" 2>/dev/null || true
    for _ in $(seq 80); do kill -0 "$silo" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$silo" 2>/dev/null && { echo "durable.sh: silo $silo did not stop in 40 s, killing it" >&2; kill -KILL "$silo" 2>/dev/null || true; }
  fi
  wait "$silo" 2>/dev/null || true
  silo=""
}
cleanup() {
  # PeerBench runs in its own process group (setsid): that group holds its per-measurement children.
  if [[ -n "$peer_pid" ]] && kill -0 "$peer_pid" 2>/dev/null; then kill -TERM -- "-$peer_pid" 2>/dev/null || true; sleep 1; kill -KILL -- "-$peer_pid" 2>/dev/null || true; fi
  stop_silo
  scripts/pg-test.sh stop "$env_file" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
silo_log_tail() { echo "---- last 60 lines of $1 ----" >&2; tail -n 60 "$1" >&2 || true; echo "----" >&2; }

# start_silo NAME [CONNECTION_STRING]: one Release silo on loopback, in PostgreSQL mode with a connection
# string, else in memory mode; waits for /readyz (bounded).
start_silo() {
  local name=$1 cs=${2:-} http grpc siloport gw
  http=$(free_port) grpc=$(free_port) siloport=$(free_port) gw=$(free_port)
  mkdir -p "$work/$name/dags" "$work/$name/data"
  silo_log="$out/silo-$name.log"
  url="http://127.0.0.1:$http"
  local storage=(Batchyard__Storage=Memory)
  [[ -n "$cs" ]] && storage=(Batchyard__Storage=Postgres "ConnectionStrings__Postgres=$cs")
  env "${storage[@]}" Batchyard__DagsFolder="$work/$name/dags" Batchyard__DataFolder="$work/$name/data" \
    Batchyard__AdvertisedAddress=127.0.0.1 Batchyard__SiloPort="$siloport" Batchyard__GatewayPort="$gw" \
    Urls="$url" Batchyard__GrpcUrl="http://127.0.0.1:$grpc" Logging__LogLevel__Default=Warning \
    dotnet src/Silo/bin/Release/net10.0/Batchyard.Silo.dll >"$silo_log" 2>&1 &
  silo=$!
  for _ in $(seq 240); do
    curl -sf "$url/readyz" >/dev/null 2>&1 && { echo "   silo ready at $url (pid $silo, log $silo_log)"; return 0; }
    kill -0 "$silo" 2>/dev/null || { echo "durable.sh: the $name silo exited during startup" >&2; silo_log_tail "$silo_log"; exit 1; }
    sleep 0.5
  done
  echo "durable.sh: the $name silo was not ready after 120 s" >&2; silo_log_tail "$silo_log"; exit 1
}

# measure SCENARIO ARGS...: one scenario against the running silo; on failure the silo log's tail goes to stderr.
measure() {
  local scenario=$1; shift
  # An outer bound only: two awaited runs, the cancellation after a missed deadline, statistics settling.
  local budget=$(( timeout_s * 3 + 400 ))
  if ! timeout --kill-after=10 "$budget" python3 bench/durable.py measure "$scenario" --url "$url" --tsv "$out/batchyard.tsv" \
      --timeout "$timeout_s" --pid "$silo" "$@"; then
    echo "durable.sh: $scenario FAILED (or hit the ${budget} s bound); the silo log ends with:" >&2
    silo_log_tail "$silo_log"
    status=1
  fi
  local complaints
  complaints=$(grep -ciE '^(warn|fail)' "$silo_log" || true)
  [[ "$complaints" == 0 ]] || echo "   (the silo logged $complaints warnings/errors: $silo_log)"
}

# postgres_scenario SCENARIO ARGS...: a fresh database and a fresh silo for each, so that a scenario that
# wedges the silo or leaves runs behind does not spill into the next one.
postgres_scenario() {
  local scenario=$1 db="durable_${1//-/_}"; shift
  PGPASSWORD=$pg_password "$pg_bin/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "CREATE DATABASE $db" >/dev/null
  local cs
  cs=$(sed "s/Database=[^;]*/Database=$db/" <<<"$BATCHYARD_TEST_PG")
  start_silo "postgres-$scenario" "$cs"
  measure "$scenario" --pg-cs "$cs" "$@"
  stop_silo
}

echo "== results in $out"
echo "== PostgreSQL (scripts/pg-test.sh: scram-sha-256, fsync/synchronous_commit/full_page_writes on)"
scripts/pg-test.sh start "$env_file" >/dev/null
. "$env_file"
pg_port=$(sed 's/.*Port=\([0-9]*\).*/\1/' <<<"$BATCHYARD_TEST_PG")
pg_password=$(sed 's/.*Password=\([^;]*\).*/\1/' <<<"$BATCHYARD_TEST_PG")
pg_bin=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/psql | sort -V | tail -n 1)")
PGPASSWORD=$pg_password "$pg_bin/psql" -X -At -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c \
  "SELECT 'PostgreSQL ' || current_setting('server_version') || ': ' || string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings
   WHERE name IN ('fsync','synchronous_commit','full_page_writes','max_connections','autovacuum_naptime','password_encryption','shared_buffers')" \
  | tee "$out/postgres-settings.txt"
grep -E '^host' "$BATCHYARD_TEST_PG_DIR/data/pg_hba.conf" | sort -u | sed 's/^/   pg_hba: /' | tee -a "$out/postgres-settings.txt"

echo "== build (Release)"
dotnet build src/Silo -c Release -warnaserror -nologo -v q >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }
if [[ "$peers" == 1 ]]; then
  cp -r /work/shared/peers "$work/peers" 2>/dev/null || cp -r "$repo/../shared/peers" "$work/peers"
  dotnet build "$work/peers/PeerBench/PeerBench.csproj" -c Release -nologo -v q >"$out/peers-build.log" 2>&1 \
    || { cat "$out/peers-build.log" >&2; exit 1; }
fi

if [[ "$postgres" == 1 ]]; then
  echo "== Batchyard, PostgreSQL mode (one silo and database each): chain $chain"
  postgres_scenario chain --chain "$chain"
  echo "== Batchyard, PostgreSQL mode: wide $width, with PostgreSQL's commit counters"
  postgres_scenario wide --width "$width" --psql "$pg_bin/psql"
  echo "== Batchyard, PostgreSQL mode: $runs runs of $runs_width triggered at once"
  postgres_scenario ten-wide --runs "$runs" --runs-width "$runs_width"
  if [[ "$map" == 1 ]]; then
    echo "== Batchyard, PostgreSQL mode: a task mapped over $map_items items, then capped at $map_cap"
    postgres_scenario map --map-items "$map_items" --map-cap "$map_cap"
  fi
fi

if [[ "$memory" == 1 ]]; then
  echo "== Batchyard, memory mode: wide $width"
  start_silo memory
  measure memory-wide --width "$width"
  stop_silo
fi

if [[ "$peers" == 1 ]]; then
  echo "== peers (Hangfire, Quartz.NET) on the same PostgreSQL: chain $chain, fanout $width"
  peer_cs="Host=127.0.0.1;Port=$pg_port;Username=postgres;Password=$pg_password;Database=postgres;Timeout=30"
  setsid timeout --kill-after=10 900 "$work/peers/PeerBench/bin/Release/net10.0/PeerBench" --cs "$peer_cs" --scenario all \
    --chain-n "$chain" --fanout-n "$width" --tsv "$out/peers.tsv" --json "$out/peers.json" >"$out/peerbench.log" 2>&1 &
  peer_pid=$!
  wait "$peer_pid" || { echo "durable.sh: PeerBench exited $? (see $out/peerbench.log)" >&2; tail -n 30 "$out/peerbench.log" >&2; status=1; }
  peer_pid=""
  grep -E '^ +(ok|FAILED|!)' "$out/peerbench.log" | sed 's/^ */   /' || true
  if [[ "$pgbench" == 1 ]]; then
    echo "== pgbench reference (one-row INSERT, ${PGBENCH_SECONDS:-10} s each, 1 and 8 clients)"
    timeout 120 "$work/peers/pgbench.sh" 127.0.0.1 "$pg_port" postgres "$pg_password" "$out/pgbench.tsv" >"$out/pgbench.log" 2>&1 \
      || { echo "durable.sh: pgbench failed" >&2; cat "$out/pgbench.log" >&2; status=1; }
  fi
fi

echo
echo "================ durable-mode benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(git rev-parse --short HEAD)) ================"
python3 bench/durable.py table --out "$out" || status=1
cat <<EOF
goals: chain hop p50 <= 3 ms, p99 <= 15 ms; wide >= 2000 completions/s and >= 7x the best peer's fanout;
       ten runs at once: 0 tasks not succeeded; commits per task <= 0.5; memory wide >= 10000 completions/s.
hop = downstream attempt's startedAt - upstream attempt's endedAt (chain-queued: to queuedAt, as bench/Bench);
      API times have 1 ms resolution. wide total_ms = run startedAt -> endedAt, jobs_per_s = tasks / total_ms,
      wall_ms = trigger POST -> run seen final (polled every 0.2 s). commits-per-task = xact_commit delta of
      Batchyard's database over the measured wide run / attempts ended (-net: minus the harness's polls and the
      idle background). Columns and rows: bench/README.md.
EOF
echo "(TSV: $out/summary.tsv; silo logs and PeerBench output beside it; took $(( $(date +%s) - began )) s)"
exit "$status"
