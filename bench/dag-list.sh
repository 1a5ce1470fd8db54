#!/bin/sh
# DAG-list latency at scale: N generated noop DAG files (default 10000) in a folder, one embedded silo (memory
# mode) built from this tree, then curl timings of the DAG list unpaged, paged, filtered, and of the dashboard's
# first page (its prerendered HTML holds the first 50 rows). Usage: bench/dag-list.sh [N] [PORT]
set -eu
n=${1:-10000}
port=${2:-5391}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/batchyard-dag-list-XXXXXX)
mkdir -p "$work/dags"
i=0
while [ "$i" -lt "$n" ]; do
  id=$(printf "gen-%05d" "$i")
  printf 'id: %s\ndescription: scores %d\nowner: team-%d\ntags: [t%d]\ntasks:\n  only:\n    backend: noop\n' \
    "$id" "$i" $((i % 4)) $((i % 5)) > "$work/dags/$id.yaml"
  i=$((i + 1))
done
dll="$root/src/Silo/bin/Release/net10.0/Batchyard.Silo.dll"
[ -f "$dll" ] || dotnet build "$root/src/Silo" -c Release >/dev/null
started=$(date +%s)
dotnet "$dll" --contentRoot "$root/src/Silo" --Urls="http://127.0.0.1:$port" --Batchyard:GrpcUrl="http://127.0.0.1:$((port + 1))" \
  --Batchyard:SiloPort=$((port + 6000)) --Batchyard:GatewayPort=$((port + 25000)) \
  --Batchyard:DagsFolder="$work/dags" --Batchyard:DataFolder="$work/data" --Logging:LogLevel:Default=Warning > "$work/silo.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
until [ "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$port/readyz")" = 200 ]; do sleep 1; done
echo "$n DAGs loaded in $(( $(date +%s) - started )) s; RSS $(($(ps -o rss= -p $pid) / 1024)) MB"
base="localhost:$port"
cursor=$(curl -s -D - -o /dev/null "$base/api/v1/dags?limit=100" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-next-cursor"{print $2}')
for path in "/api/v1/dags" "/api/v1/dags?limit=100" "/api/v1/dags?limit=100&cursor=$cursor" "/api/v1/dags?limit=1000" \
            "/api/v1/dags?tag=t3&q=scores%209&limit=100" "/"; do
  curl -s -o /dev/null "$base$path"   # warm-up
  times=$(for _ in 1 2 3 4 5 6 7 8 9 10; do curl -s -o /dev/null -w '%{time_total}\n' "$base$path"; done | sort -n)
  size=$(curl -s -o /dev/null -w '%{size_download}' "$base$path")
  echo "$path: median $(echo "$times" | sed -n 5p) s, max $(echo "$times" | tail -1) s, $size bytes"
done
