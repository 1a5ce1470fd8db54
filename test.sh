#!/usr/bin/env bash
# Runs every Batchyard test: starts a throwaway PostgreSQL for the tests (stopped afterwards), then
# `dotnet test` over the solution. Benchmarks under bench/ are not run here.
set -euo pipefail
cd "$(dirname "$0")"

env_file=$(mktemp /tmp/batchyard-pg-XXXXXX.env)
cleanup() { scripts/pg-test.sh stop "$env_file" >/dev/null 2>&1 || true; }
trap cleanup EXIT
scripts/pg-test.sh start "$env_file"
set -a; . "$env_file"; set +a

dotnet build Orleans.sln -c Release -warnaserror
dotnet test Orleans.sln -c Release --no-build --logger "console;verbosity=normal" "$@" 2>&1 | tee /tmp/batchyard-test.log | grep -Ev '^\s+Passed ' || true
status=${PIPESTATUS[0]}

# One closing line that CI reads: totals over every test project.
python3 - <<'PY'
import re
passed = failed = skipped = 0
for line in open("/tmp/batchyard-test.log", encoding="utf-8", errors="replace"):
    m = re.search(r"Failed:\s+(\d+), Passed:\s+(\d+), Skipped:\s+(\d+)", line)
    if m:
        failed += int(m.group(1)); passed += int(m.group(2)); skipped += int(m.group(3))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit "$status"
