#!/usr/bin/env bash
# Runs every Batchyard test: starts a throwaway PostgreSQL for the tests (stopped afterwards), then
# `dotnet test` over the solution. Benchmarks under bench/ are not run here.
set -euo pipefail
cd "$(dirname "$0")"

# What the tests run beside .NET: PostgreSQL, Chromium (the dashboard tests), docker-compose (the compose file
# is checked offline), setpriv (local jobs drop privileges). Installed from Debian's packages when missing;
# the AWS reference data they check the wire against is in the repository (tests/reference).
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root, which installs them" >&2
    exit 2
  fi
  echo "test.sh: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The official AWS clients the SageMaker emulator is checked against.
if [ ! -d tests/SageMaker.Tests/clients/node_modules ]; then
  (cd tests/SageMaker.Tests/clients && npm ci --no-audit --no-fund --loglevel=error)
fi

env_file=$(mktemp /tmp/batchyard-pg-XXXXXX.env)
cleanup() { scripts/pg-test.sh stop "$env_file" >/dev/null 2>&1 || true; }
trap cleanup EXIT
scripts/pg-test.sh start "$env_file"
set -a; . "$env_file"; set +a

dotnet build Orleans.sln -c Release -warnaserror
set +e
# A log of this run's own: two checkouts testing on one machine must not write into each other's.
log=$(mktemp /tmp/batchyard-test-XXXXXX.log)
dotnet test Orleans.sln -c Release --no-build --logger "console;verbosity=normal" "$@" > "$log" 2>&1
status=$?
set -e
grep -Ev '^\s+Passed ' "$log" || true

# One closing line that CI reads: totals over every test project.
python3 - "$log" <<'PY'
import re, sys
totals = {"passed": 0, "failed": 0, "skipped": 0}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = re.match(r"^\s+(Passed|Failed|Skipped): (\d+)\s*$", line)
    if m:
        totals[m.group(1).lower()] += int(m.group(2))
print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
PY
exit "$status"
