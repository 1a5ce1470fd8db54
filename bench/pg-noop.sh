#!/usr/bin/env bash
# Noop-task completions per second in PostgreSQL mode, next to the commit rate of the same PostgreSQL (pgbench).
#   bench/pg-noop.sh [RUNS] [TASKS_PER_RUN]     (defaults 40 runs x 25 parallel noop tasks)
# Starts a throwaway PostgreSQL (scripts/pg-test.sh) and one Release silo on loopback; never part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-40}; tasks=${2:-25}
work=$(mktemp -d /tmp/batchyard-bench.XXXXXX); env_file="$work/pg.env"
cleanup() { [[ -n "${silo:-}" ]] && kill "$silo" 2>/dev/null; scripts/pg-test.sh stop "$env_file" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
scripts/pg-test.sh start "$env_file" >/dev/null; . "$env_file"
port=$(sed 's/.*Port=\([0-9]*\).*/\1/' <<<"$BATCHYARD_TEST_PG")
export PGPASSWORD=$(sed 's/.*Password=\([^;]*\).*/\1/' <<<"$BATCHYARD_TEST_PG")
dotnet build src/Silo -c Release -v q -nologo >/dev/null
mkdir "$work/dags"
Batchyard__Storage=Postgres ConnectionStrings__Postgres="$BATCHYARD_TEST_PG" Batchyard__DagsFolder="$work/dags" \
  Batchyard__AdvertisedAddress=127.0.0.1 Batchyard__SiloPort=21999 Batchyard__GatewayPort=31999 Urls=http://127.0.0.1:5999 Batchyard__GrpcUrl=http://127.0.0.1:5998 \
  Logging__LogLevel__Default=Warning dotnet src/Silo/bin/Release/net10.0/Batchyard.Silo.dll >"$work/silo.log" 2>&1 &
silo=$!
for _ in $(seq 120); do curl -sf http://127.0.0.1:5999/readyz >/dev/null && break; sleep 0.5; done
python3 - "$runs" "$tasks" <<'PY'
import json, sys, time, urllib.request
runs, tasks = int(sys.argv[1]), int(sys.argv[2])
base = "http://127.0.0.1:5999/api/v1/dags/bench"
dag = "id: bench\nmax_active_runs: 1000\ntasks:\n" + "".join(f"  t{i}: {{ backend: noop }}\n" for i in range(tasks))
urllib.request.urlopen(urllib.request.Request(base, dag.encode(), {"content-type": "application/yaml"}, method="PUT"))
start = time.monotonic()
for n in range(runs):
    body = json.dumps({"logical_date": f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z"}).encode()
    urllib.request.urlopen(urllib.request.Request(base + "/runs", body, {"content-type": "application/json"}))
while True:
    listed = json.load(urllib.request.urlopen(base + f"/runs?limit={runs}"))
    if len(listed) == runs and all(r["state"] in ("succeeded", "failed") for r in listed):
        break
    time.sleep(0.2)
elapsed = time.monotonic() - start
print(f"noop tasks: {runs * tasks} in {elapsed:.1f} s = {runs * tasks / elapsed:.0f} completions/s ({runs} runs x {tasks} tasks, 1 silo)")
PY
pgbin=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)")
"$pgbin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -q batchyard_test >/dev/null 2>&1
"$pgbin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -c 8 -j 2 -T 10 -N batchyard_test 2>/dev/null | grep -E "^tps" | sed 's/^/pgbench -N (8 clients, same server): /'
