#!/usr/bin/env python3
"""Driver of bench/durable.sh: measures one running Batchyard silo over its HTTP API, and prints the table.

  durable.py measure chain|wide|ten-wide|memory-wide|map --url URL --tsv FILE [--chain N] [--width N] [--runs N]
                     [--runs-width N] [--timeout S] [--psql PSQL --pg-cs CS]   # wide: PostgreSQL's counters
                     [--map-items N] [--map-cap N] [--pid PID]                 # map: a mapped task, the silo's RSS
  durable.py table --out DIR     # DIR/batchyard.tsv (+ peers.tsv, pgbench.tsv) -> DIR/summary.tsv, printed

Every wait has a deadline; a scenario that misses it is written as a row with ok=no (and its reason on stderr),
the remaining scenarios still run, and the exit status is 1.
"""
import argparse
import concurrent.futures
import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import http.client

PEER_COLUMNS = ["peer", "scenario", "mode", "n", "ok", "total_ms", "hop_p50_ms", "hop_p99_ms", "jobs_per_s", "enqueue_ms", "drain_ms"]
# Appended after the peers' own columns; "-" in the peers' rows.
EXTRA_COLUMNS = ["wall_ms", "not_succeeded", "value", "goal", "verdict"]
COLUMNS = PEER_COLUMNS + EXTRA_COLUMNS
FINAL_RUN_STATES = {"succeeded", "failed", "cancelled"}
POLL_S = 0.2


class Timeout(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def percentile(xs, p):
    """Nearest rank, as bench/Bench/Program.cs and PeerBench's Stats.Percentile."""
    s = sorted(xs)
    rank = math.ceil(p / 100.0 * len(s))
    return s[min(max(rank - 1, 0), len(s) - 1)]


def ts(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def ms(a, b):
    return (b - a).total_seconds() * 1000.0


def fmt(x, spec="{:.1f}"):
    return "-" if x is None else spec.format(x)


class Api:
    """The silo's HTTP API. Reads are retried on transient failures (5xx, resets, timeouts) until the caller's
    deadline and counted in `errors`; writes (apply, trigger, cancel) are tried once."""
    def __init__(self, url):
        self.base = url.rstrip("/") + "/api/v1/dags"
        self.list_calls = 0
        self.errors = 0
        self.error_kinds = {}

    def _call(self, method, path, body=None, content_type=None, timeout=60):
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if content_type:
            req.add_header("content-type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            raise HttpFailure(f"{method} {path}: HTTP {e.code}: {e.read()[:300].decode(errors='replace')}", e.code) from None

    def _read(self, path, deadline, timeout=60):
        while True:
            try:
                # Never wait on one read much past the caller's deadline.
                return self._call("GET", path, timeout=max(5.0, min(timeout, deadline - time.monotonic())))
            except TRANSIENT as e:
                if isinstance(e, HttpFailure) and e.code < 500:
                    raise
                self.errors += 1
                kind = type(e).__name__ if not isinstance(e, HttpFailure) else f"HTTP {e.code}"
                self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
                if time.monotonic() > deadline:
                    raise Timeout(f"GET {path} kept failing until the deadline: {e}") from None
                time.sleep(0.5)

    def apply(self, dag_id, yaml_text):
        return self._call("PUT", f"/{dag_id}", yaml_text.encode(), "application/yaml")

    def trigger(self, dag_id, logical_date):
        return self._call("POST", f"/{dag_id}/runs", json.dumps({"logical_date": logical_date}).encode(), "application/json")

    def cancel(self, dag_id, run_id):
        return self._call("POST", f"/{dag_id}/runs/{run_id}/cancel", b"", "application/json", timeout=30)

    def run(self, dag_id, run_id, deadline):
        return self._read(f"/{dag_id}/runs/{run_id}", deadline, timeout=120)

    def runs(self, dag_id, limit, deadline):
        self.list_calls += 1
        return self._read(f"/{dag_id}/runs?limit={limit}", deadline)

    def take_errors(self):
        n, kinds = self.errors, self.error_kinds
        self.errors, self.error_kinds = 0, {}
        return n, kinds


class HttpFailure(RuntimeError):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


TRANSIENT = (HttpFailure, urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException)


def wait_runs(api, dag_id, run_ids, timeout_s):
    """Polls the run list until every run in run_ids is final; returns ({run_id: monotonic time seen final}, error)."""
    deadline = time.monotonic() + timeout_s
    seen = {}
    limit = min(1000, max(25, len(run_ids) + 5))
    while True:
        try:
            listed = api.runs(dag_id, limit, deadline)
        except Timeout as e:
            return seen, str(e)
        for r in listed:
            if r["runId"] in run_ids and r["state"] in FINAL_RUN_STATES and r["runId"] not in seen:
                seen[r["runId"]] = time.monotonic()
        if len(seen) == len(run_ids):
            return seen, None
        if time.monotonic() > deadline:
            return seen, f"{len(run_ids) - len(seen)} of {len(run_ids)} runs of {dag_id} not final after {timeout_s:.0f} s"
        time.sleep(POLL_S)


def cancel_leftovers(api, dag_id, run_ids, timeout_s=60):
    """After a missed deadline: cancels what is still going, so that the next scenario starts on a quiet silo."""
    log(f"    cancelling {len(run_ids)} unfinished run(s) of {dag_id} and waiting up to {timeout_s} s for them")
    for r in run_ids:
        try:
            api.cancel(dag_id, r)
        except TRANSIENT as e:
            log(f"    cancel {r}: {e}")
    _, err = wait_runs(api, dag_id, set(run_ids), timeout_s)
    if err:
        log(f"    !! {err}: the rest of this scenario shares the silo with them")


def chain_yaml(dag_id, n):
    return (f"id: {dag_id}\nmax_active_runs: 100\ndefaults: {{ backend: noop }}\n"
            f"flow: {' >> '.join(f't{k}' for k in range(n))}\ntasks:\n"
            + "".join(f"  t{k}: {{}}\n" for k in range(n)))


def wide_yaml(dag_id, width):
    return (f"id: {dag_id}\nmax_active_runs: 100\ndefaults: {{ backend: noop }}\n"
            f"flow: start >> [{', '.join(f'w{k}' for k in range(width))}] >> join\ntasks:\n  start: {{}}\n  join: {{}}\n"
            + "".join(f"  w{k}: {{}}\n" for k in range(width)))


class Dates:
    """Distinct logical dates: a run's slot must not collide with another run of the same DAG."""
    def __init__(self):
        self.next = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

    def take(self):
        d = self.next
        self.next += dt.timedelta(minutes=1)
        return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def row(**kw):
    r = {c: "-" for c in COLUMNS}
    r.update({k: str(v) for k, v in kw.items()})
    return r


def not_succeeded(details):
    return sum(1 for t in details["tasks"] if t["state"] != "succeeded")


def run_once(api, dates, dag_id, timeout_s):
    """Triggers one run and waits for it; returns (details or None, trigger_ms, wall_ms or None, error or None)."""
    t0 = time.monotonic()
    try:
        run_id = api.trigger(dag_id, dates.take())["runId"]
    except TRANSIENT as e:
        return None, None, None, f"trigger failed: {e}"
    t1 = time.monotonic()
    seen, err = wait_runs(api, dag_id, {run_id}, timeout_s)
    try:
        details = api.run(dag_id, run_id, time.monotonic() + (60 if err else 120))
    except Timeout as e:
        details, err = None, err or str(e)
    if err:
        cancel_leftovers(api, dag_id, [run_id])
    return details, (t1 - t0) * 1000, (seen[run_id] - t0) * 1000 if run_id in seen else None, err


def map_yaml(dag_id, items, cap):
    capped = f", max_active: {cap}" if cap else ""
    return (f"id: {dag_id}\nmax_active_runs: 10\ndefaults: {{ backend: noop }}\ntasks:\n  start: {{}}\n"
            f"  score:\n    depends_on: [start]\n    map: {{ over: [{', '.join(str(k) for k in range(items))}]{capped} }}\n"
            f"  join: {{ depends_on: [score] }}\n")


def rss_mib(pid):
    """The silo's resident memory now and at its peak (VmRSS, VmHWM), in MiB; None when unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return tuple(int(fields[k].split()[0]) / 1024.0 for k in ("VmRSS", "VmHWM"))
    except (OSError, KeyError, ValueError, TypeError):
        return None, None


def max_active(instances):
    """The most instances active at once (queued to ended: what map.max_active caps), from their attempts' times."""
    events = []
    for t in instances:
        for a in t["attempts"]:
            if a.get("endedAt"):
                events.append((ts(a["queuedAt"]), 1))
                events.append((ts(a["endedAt"]), -1))
    # At one instant an end frees its place before a start takes one.
    events.sort(key=lambda e: (e[0], e[1]))
    active = peak = 0
    for _, d in events:
        active += d
        peak = max(peak, active)
    return peak


def measure_map(api, dates, items, cap, timeout_s, pid):
    """A noop task mapped over ITEMS items (start >> score[items] >> join): from the list's availability (start's
    end, when score becomes ready) to the last instance's end; then, capped, the most instances active at once."""
    rows, err = [], None
    for name, limit in (("map", None), ("map-capped", cap)):
        dag = f"durable-{name}"
        api.apply(dag, map_yaml(dag, items, limit))
        log(f"  {name}: {items} items" + (f", max_active {limit}" if limit else "") + " (a warm-up of the same DAG first)")
        if err := warm_up(api, dates, dag, timeout_s):
            return rows + [failed_row(name, "postgres", items, err, api)], err
        done, trigger_ms, wall, err = run_once(api, dates, dag, timeout_s)
        if done is None or err:
            return rows + [failed_row(name, "postgres", items, err or "no details", api)], err
        instances = [t for t in done["tasks"] if t.get("mapIndex") is not None]
        start = next(t for t in done["tasks"] if t["taskId"] == "start")
        ready = ts(start["attempts"][0]["endedAt"])
        last = max(ts(a["endedAt"]) for t in instances for a in t["attempts"] if a.get("endedAt"))
        total = ms(ready, last)
        rate = len(instances) / total * 1000 if total > 0 else None
        bad = sum(1 for t in instances if t["state"] != "succeeded")
        peak = max_active(instances)
        rss, hwm = rss_mib(pid) if pid else (None, None)
        ok = done["state"] == "succeeded" and bad == 0 and len(instances) == items
        held = limit is None or peak <= limit
        log(f"    {done['state']}: {len(instances)} instances in {fmt(total)} ms from the list's availability = {fmt(rate)} completions/s;"
            f" {bad} not succeeded; most active at once {peak}; silo RSS {fmt(rss)} MiB (peak {fmt(hwm)} MiB)")
        note = f"max-active {peak}" + (f" (cap {limit})" if limit else "") + f"; rss {fmt(rss, '{:.0f}')} MiB, peak {fmt(hwm, '{:.0f}')} MiB"
        rows.append(row(peer="batchyard", scenario=name, mode="postgres", n=len(instances), ok="yes" if ok else "no", total_ms=fmt(total),
                        jobs_per_s=fmt(rate), enqueue_ms=fmt(trigger_ms), wall_ms=fmt(wall), not_succeeded=bad, value=note,
                        goal=f"<= {limit} active" if limit else "(info)", verdict=("PASS" if ok and held else "FAIL") if limit else ("-" if ok else "FAIL")))
    return rows, None


def warm_up(api, dates, dag_id, timeout_s):
    """The same run once before the measured one; returns the error when it missed its deadline (the
    measured run is then skipped: the silo is not in a state to measure)."""
    details, _, wall, err = run_once(api, dates, dag_id, timeout_s)
    state = details["state"] if details else "unknown"
    log(f"    warm-up {state} in {fmt(wall, '{:.0f}')} ms" + (f" ({not_succeeded(details)} tasks not succeeded)" if details and state != "succeeded" else "")
        + (f"; {err}" if err else ""))
    return f"warm-up: {err}" if err else None


def drain_ms(runs):
    starts = [ts(a["startedAt"]) for d in runs for t in d["tasks"] for a in t["attempts"] if a.get("startedAt")]
    ends = [ts(a["endedAt"]) for d in runs for t in d["tasks"] for a in t["attempts"] if a.get("endedAt")]
    return ms(min(starts), max(ends)) if starts and ends else None


def problems(err, api):
    """A short note for the value column: what went wrong besides the figures."""
    n, kinds = api.take_errors()
    parts = []
    if err:
        kind = "timeout" if "not final" in err or "deadline" in err else "error"
        parts.append(("warm-up " if err.startswith("warm-up") else "") + kind)
    if n:
        parts.append(f"{n} failed reads (" + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())) + ")")
        log(f"    {n} API reads failed and were retried: {kinds}")
    return "; ".join(parts) or "-"


GOALS = {("chain", "postgres"): "p50<=3,p99<=15", ("wide", "postgres"): ">=2000/s", ("wide", "memory"): ">=10000/s",
         ("ten-wide", "postgres"): "0 not succeeded"}


def failed_row(scenario, mode, n, err, api):
    return row(peer="batchyard", scenario=scenario, mode=mode, n=n, ok="no", value=problems(err, api),
               goal=GOALS.get((scenario, mode), "-"), verdict="FAIL")


def measure_chain(api, dates, n, timeout_s):
    dag = "durable-chain"
    api.apply(dag, chain_yaml(dag, n))
    log(f"  chain of {n}: warm-up run")
    if err := warm_up(api, dates, dag, timeout_s):
        return [failed_row("chain", "postgres", n, err, api)], err
    log("    measured run")
    done, _, wall, err = run_once(api, dates, dag, timeout_s)
    if done is None:
        return [failed_row("chain", "postgres", n, err, api)], err
    tasks = {t["taskId"]: t for t in done["tasks"]}
    hops_started, hops_queued = [], []
    retried = 0
    for k in range(1, n):
        up, down = tasks[f"t{k - 1}"]["attempts"], tasks[f"t{k}"]["attempts"]
        retried += len(down) > 1
        if not up or not down or not up[0].get("endedAt") or not down[0].get("startedAt"):
            continue
        end = ts(up[0]["endedAt"])
        hops_started.append(ms(end, ts(down[0]["startedAt"])))
        hops_queued.append(ms(end, ts(down[0]["queuedAt"])))
    bad = not_succeeded(done)
    ok = err is None and done["state"] == "succeeded" and bad == 0 and len(hops_started) == n - 1
    first, last = tasks["t0"]["attempts"], tasks[f"t{n - 1}"]["attempts"]
    total = (ms(ts(first[0]["startedAt"]), ts(last[-1]["endedAt"]))
             if first and last and first[0].get("startedAt") and last[-1].get("endedAt") else None)
    p50, p99 = (percentile(hops_started, 50), percentile(hops_started, 99)) if hops_started else (None, None)
    q50, q99 = (percentile(hops_queued, 50), percentile(hops_queued, 99)) if hops_queued else (None, None)
    verdict = "PASS" if ok and p50 <= 3 and p99 <= 15 else "FAIL"
    if retried:
        log(f"    note: {retried} chain tasks needed more than one attempt")
    log(f"    {done['state']}: hop (start - upstream end) p50 {fmt(p50, '{:.2f}')} ms p99 {fmt(p99, '{:.2f}')} ms"
        f" max {fmt(max(hops_started, default=None), '{:.2f}')} ms; to queuedAt p50 {fmt(q50, '{:.2f}')} p99 {fmt(q99, '{:.2f}')} ms; {bad} not succeeded")
    note = problems(err, api)
    return [
        row(peer="batchyard", scenario="chain", mode="postgres", n=n, ok="yes" if ok else "no", total_ms=fmt(total),
            hop_p50_ms=fmt(p50, "{:.2f}"), hop_p99_ms=fmt(p99, "{:.2f}"), jobs_per_s=fmt(n / total * 1000 if total else None),
            wall_ms=fmt(wall), not_succeeded=bad, value=note, goal="p50<=3,p99<=15", verdict=verdict),
        # bench/Bench/Program.cs measures to the downstream attempt's queuedAt (before its first durable write).
        row(peer="batchyard", scenario="chain-queued", mode="postgres", n=n, ok="yes" if ok else "no", total_ms=fmt(total),
            hop_p50_ms=fmt(q50, "{:.2f}"), hop_p99_ms=fmt(q99, "{:.2f}"), wall_ms=fmt(wall), not_succeeded=bad,
            goal="(info)", verdict="-"),
    ], err


def wide_row(mode, done, trigger_ms, wall, err, api, goal_rate):
    n = len(done["tasks"])
    bad = not_succeeded(done)
    total = ms(ts(done["startedAt"]), ts(done["endedAt"])) if done.get("startedAt") and done.get("endedAt") else None
    rate = n / total * 1000 if total else None
    ok = err is None and done["state"] == "succeeded" and bad == 0
    log(f"    {mode} wide {done['state']}: {n} tasks, run start->end {fmt(total)} ms = {fmt(rate)} completions/s,"
        f" trigger->observed end {fmt(wall, '{:.0f}')} ms, {bad} not succeeded {task_states([done])}")
    return row(peer="batchyard", scenario="wide", mode=mode, n=n, ok="yes" if ok else "no", total_ms=fmt(total),
               jobs_per_s=fmt(rate), enqueue_ms=fmt(trigger_ms), drain_ms=fmt(drain_ms([done])), wall_ms=fmt(wall),
               not_succeeded=bad, value=problems(err, api), goal=f">={goal_rate}/s",
               verdict="PASS" if ok and rate and rate >= goal_rate else "FAIL")


def task_states(runs):
    states = {}
    for d in runs:
        for t in d["tasks"]:
            states[t["state"]] = states.get(t["state"], 0) + 1
    return states


class Counters(tuple):
    def __new__(cls, commits, xid, wal_syncs):
        return super().__new__(cls, (commits, xid, wal_syncs))

    commits = property(lambda self: self[0])
    xid = property(lambda self: self[1])
    wal_syncs = property(lambda self: self[2])


class Commits:
    """xact_commit of Batchyard's database, read from another database so that the reads do not count."""
    def __init__(self, psql, cs, settle_s):
        parts = dict(p.split("=", 1) for p in cs.split(";") if "=" in p)
        self.db = parts["Database"]
        self.settle_s = settle_s
        # Besides xact_commit (which counts read-only transactions too): the next transaction id, which only
        # writing transactions consume (cluster-wide; reading it consumes none), and WAL syncs (cluster-wide).
        self.cmd = [psql, "-X", "-At", "-h", parts["Host"], "-p", parts["Port"], "-U", parts["Username"], "-d", "postgres", "-c",
                    "SELECT pg_stat_clear_snapshot(); SELECT xact_commit, pg_snapshot_xmax(pg_current_snapshot()), "
                    f"(SELECT wal_sync FROM pg_stat_wal) FROM pg_stat_database WHERE datname = '{self.db}'"]
        self.env = dict(os.environ, PGPASSWORD=parts.get("Password", ""))

    def read(self):
        out = subprocess.run(self.cmd, env=self.env, capture_output=True, text=True, timeout=30, check=True).stdout
        commits, xid, wal_syncs = (int(x) for x in out.split()[-1].split("|"))
        return Counters(commits, xid, wal_syncs), time.monotonic()

    def tables(self):
        """Row writes per table of Batchyard's database (to see where the commits go); one commit of its own,
        counted before the window opens and after it closes."""
        cmd = list(self.cmd)
        cmd[cmd.index("-d") + 1] = self.db
        cmd[-1] = "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30, check=True).stdout
        return {name: (int(i), int(u), int(d)) for name, i, u, d in (l.split("|") for l in out.split())}

    def settle(self):
        # A backend defers its statistics when it flushed less than 1 s ago and then sends them when idle
        # for 10 s (PostgreSQL 15: PGSTAT_MIN_INTERVAL, PGSTAT_IDLE_INTERVAL): wait that out before reading.
        time.sleep(self.settle_s)


def measure_wide_with_commits(api, dates, width, timeout_s, commits, background_s):
    dag, warm = "durable-wide", "durable-wide-warm-up"
    api.apply(dag, wide_yaml(dag, width))
    # A smaller warm-up: a full-size one wedges today's silo about every other time, and the measured run
    # should start from a warm but quiet silo.
    api.apply(warm, wide_yaml(warm, min(width, 200)))
    log(f"  wide {width}: warm-up run of {min(width, 200)}")
    if err := warm_up(api, dates, warm, timeout_s):
        return [failed_row("wide", "postgres", width + 2, err, api)], err
    log(f"    {commits.settle_s:.0f} s for PostgreSQL's statistics to settle, then {background_s:.0f} s of idle background")
    commits.settle()
    idle0, t_idle0 = commits.read()
    time.sleep(background_s)
    tables_before = commits.tables()
    before, t_before = commits.read()
    background_per_s = (before.commits - idle0.commits) / (t_before - t_idle0)
    polls0 = api.list_calls
    log("    measured run")
    done, trigger_ms, wall, err = run_once(api, dates, dag, timeout_s)
    if done is None:
        return [failed_row("wide", "postgres", width + 2, err, api)], err
    polls = api.list_calls - polls0
    commits.settle()
    after, t_after = commits.read()
    tables_after = commits.tables()
    ended = max(1, sum(1 for t in done["tasks"] for a in t["attempts"] if a.get("endedAt")))
    raw = after.commits - before.commits
    # The harness's own run-list polls are one read-only transaction each; the idle background (membership,
    # reminders, autovacuum) is what the same silo commits with no run going.
    net = raw - polls - background_per_s * (t_after - t_before)
    xids, syncs = after.xid - before.xid, after.wal_syncs - before.wal_syncs
    log(f"    commits: {raw} in the window ({polls} of them the harness's polls, idle background {background_per_s:.2f}/s"
        f" over {t_after - t_before:.0f} s) -> {raw / ended:.3f} per ended attempt ({net / ended:.3f} net of polls and background);"
        f" {xids} writing transactions ({xids / ended:.3f} per attempt), {syncs} WAL syncs ({syncs / ended:.3f}); {ended} attempts ended")
    writes = sorted(((sum(tables_after.get(t, (0, 0, 0))) - sum(tables_before.get(t, (0, 0, 0))), t,
                      tuple(a - b for a, b in zip(tables_after[t], tables_before.get(t, (0, 0, 0)))))
                     for t in tables_after), reverse=True)
    log("    row writes per ended attempt (insert/update/delete) by table: "
        + "; ".join(f"{t} {w / ended:.2f} ({i}/{u}/{d})" for w, t, (i, u, d) in writes if w > 0))
    n = len(done["tasks"])
    # Counted over the attempts that ended: a run whose tasks failed still did (some of) the writes.
    ok = "yes" if err is None and ended == n else "no"
    info = dict(peer="batchyard", n=ended, ok=ok, goal="(info)")
    return [
        wide_row("postgres", done, trigger_ms, wall, err, api, 2000),
        row(peer="batchyard", scenario="commits-per-task", mode="postgres", n=ended, ok=ok, value=f"{raw / ended:.3f}",
            goal="<=0.5", verdict="PASS" if ok == "yes" and raw / ended <= 0.5 else "FAIL"),
        row(scenario="commits-per-task", mode="postgres-net", value=f"{net / ended:.3f}", **info),
        row(scenario="write-xacts-per-task", mode="postgres", value=f"{xids / ended:.3f}", **info),
        row(scenario="wal-syncs-per-task", mode="postgres", value=f"{syncs / ended:.3f}", **info),
    ], err


MEMORY_WARMUPS = 3
MEMORY_MEASURED = 5


def measure_memory_wide(api, dates, width, timeout_s):
    """A few full-size warm-up runs (the JIT tiers up while they run), then several measured runs, one at a time;
    the row is the median run by completions/s, and every measured run is logged."""
    dag = "durable-wide"
    api.apply(dag, wide_yaml(dag, width))
    log(f"  memory wide {width}: {MEMORY_WARMUPS} warm-up runs, then {MEMORY_MEASURED} measured runs (the median is the row)")
    for _ in range(MEMORY_WARMUPS):
        if err := warm_up(api, dates, dag, timeout_s):
            return [failed_row("wide", "memory", width + 2, err, api)], err
    measured = []
    for i in range(MEMORY_MEASURED):
        done, trigger_ms, wall, err = run_once(api, dates, dag, timeout_s)
        if done is None or err:
            return [failed_row("wide", "memory", width + 2, err or "no details", api)], err
        total = ms(ts(done["startedAt"]), ts(done["endedAt"])) if done.get("startedAt") and done.get("endedAt") else None
        bad = not_succeeded(done)
        log(f"    measured run {i + 1}: {done['state']}, {len(done['tasks'])} tasks in {fmt(total)} ms, {bad} not succeeded")
        if done["state"] != "succeeded" or bad or not total:
            return [wide_row("memory", done, trigger_ms, wall, err, api, 10000)], err
        measured.append((len(done["tasks"]) / total, done, trigger_ms, wall))
    measured.sort(key=lambda m: m[0])
    _, done, trigger_ms, wall = measured[len(measured) // 2]
    return [wide_row("memory", done, trigger_ms, wall, None, api, 10000)], None


def measure_ten_wide(api, dates, runs, width, timeout_s):
    dag = "durable-concurrent"
    api.apply(dag, wide_yaml(dag, width))
    # A small warm-up (code paths, connection pool) that leaves the silo quiet for the burst.
    warm = "durable-concurrent-warm-up"
    api.apply(warm, wide_yaml(warm, min(width, 100)))
    log(f"  {runs} runs of {width} triggered at once: one warm-up run of {min(width, 100)} first")
    if err := warm_up(api, dates, warm, timeout_s):
        return [failed_row("ten-wide", "postgres", runs * (width + 2), err, api)], err
    slots = [dates.take() for _ in range(runs)]
    log("    measured runs")

    def trigger(slot):
        try:
            return api.trigger(dag, slot)["runId"], None
        except TRANSIENT as e:
            return None, str(e)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=runs) as pool:
        triggered = list(pool.map(trigger, slots))
    errors = [e for _, e in triggered if e]
    run_ids = [r for r, _ in triggered if r]
    deadline = time.monotonic() + timeout_s
    if errors:
        log(f"    !! {len(errors)} of {runs} triggers failed, e.g. {errors[0][:300]}")
        # A trigger that timed out may still have made its run: find it by its slot.
        listed = api.runs(dag, min(1000, runs + 5), deadline)
        lost = {slots[i] for i, (r, _) in enumerate(triggered) if r is None}
        found = [r["runId"] for r in listed if r["logicalDate"].replace(".000Z", "Z") in lost]
        log(f"    {len(found)} of the failed triggers made their run anyway")
        run_ids += found
    seen, err = wait_runs(api, dag, set(run_ids), timeout_s)
    wall = (max(seen.values()) - t0) * 1000 if seen and err is None else None
    details, unreadable = [], 0
    read_by = time.monotonic() + (60 if err else 300)
    for r in run_ids:
        try:
            details.append(api.run(dag, r, read_by))
        except Timeout as e:
            unreadable += 1
            log(f"    run {r} could not be read: {e}")
    missing = runs - len(details)
    tasks = sum(len(d["tasks"]) for d in details)
    bad = sum(not_succeeded(d) for d in details) + missing * (width + 2)
    runs_bad = sum(1 for d in details if d["state"] != "succeeded") + missing
    starts = [ts(d["startedAt"]) for d in details if d.get("startedAt")]
    ends = [ts(d["endedAt"]) for d in details if d.get("endedAt")]
    total = ms(min(starts), max(ends)) if err is None and starts and len(ends) == len(details) else None
    rate = tasks / total * 1000 if total else None
    log(f"    {tasks} tasks in {len(details)} runs: first run start -> last run end {fmt(total)} ms = {fmt(rate)} completions/s;"
        f" {bad} tasks not succeeded (incl. {missing} runs never made or unreadable: {unreadable} unreadable), {runs_bad} runs not succeeded; task states {task_states(details)}")
    if err:
        cancel_leftovers(api, dag, [r for r in run_ids if r not in seen])
    err = err or (f"{len(errors)} of {runs} triggers failed: {errors[0][:200]}" if errors else None)
    ok = err is None and bad == 0 and runs_bad == 0
    note = problems(err, api)
    if errors:
        note = f"{len(errors)} triggers failed; " + note
    return [row(peer="batchyard", scenario="ten-wide", mode="postgres", n=runs * (width + 2), ok="yes" if ok else "no",
                total_ms=fmt(total), jobs_per_s=fmt(rate), drain_ms=fmt(drain_ms(details)), wall_ms=fmt(wall),
                not_succeeded=bad, value=f"{runs}x{width + 2}" + ("" if note == "-" else f"; {note}"),
                goal="0 not succeeded", verdict="PASS" if ok else "FAIL")], err


def write_tsv(path, rows):
    with open(path, "a", encoding="utf-8") as f:
        if f.tell() == 0:
            f.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            f.write("\t".join(r[c] for c in COLUMNS) + "\n")


def scenario(tsv, name, mode, failures, fn):
    """Runs one scenario and appends its rows to the TSV at once. A missed deadline is already a failed row;
    anything unexpected becomes one too, and the remaining scenarios still run."""
    try:
        out, err = fn()
    except (Timeout, RuntimeError, urllib.error.URLError, OSError, subprocess.SubprocessError, KeyError, ValueError) as e:
        err = f"{type(e).__name__}: {e}"
        out = [row(peer="batchyard", scenario=name, mode=mode, ok="no", verdict="FAIL", value=type(e).__name__)]
    write_tsv(tsv, out)
    if err:
        failures.append(f"{name} ({mode}): {err}")
        log(f"!! {name} ({mode}) FAILED: {err}")


def cmd_measure(a):
    """One scenario against one silo (durable.sh gives each its own silo and, in PostgreSQL mode, database)."""
    api, dates, failures = Api(a.url), Dates(), []
    if a.scenario == "chain":
        scenario(a.tsv, "chain", "postgres", failures, lambda: measure_chain(api, dates, a.chain, a.timeout))
    elif a.scenario == "wide":
        commits = Commits(a.psql, a.pg_cs, a.stats_settle)
        scenario(a.tsv, "wide", "postgres", failures, lambda: measure_wide_with_commits(api, dates, a.width, a.timeout, commits, a.background))
    elif a.scenario == "ten-wide":
        scenario(a.tsv, "ten-wide", "postgres", failures, lambda: measure_ten_wide(api, dates, a.runs, a.runs_width, a.timeout))
    elif a.scenario == "map":
        scenario(a.tsv, "map", "postgres", failures, lambda: measure_map(api, dates, a.map_items, a.map_cap, a.timeout, a.pid))
    else:
        scenario(a.tsv, "wide", "memory", failures, lambda: measure_memory_wide(api, dates, a.width, a.timeout))
    return finish(failures)


def finish(failures):
    if failures:
        log("!! failed scenarios:")
    for f in failures:
        log(f"!!   {f}")
    return 1 if failures else 0


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    # pgbench.sh appends rows in PeerBench's layout without a header line.
    header, body = (lines[0], lines[1:]) if lines and lines[0][:1] == ["peer"] else (PEER_COLUMNS, lines)
    out = []
    for cells in body:
        r = {c: "-" for c in COLUMNS}
        r.update(dict(zip(header, cells)))
        out.append(r)
    return out


def num(x):
    try:
        return float(x)
    except ValueError:
        return None


def cmd_table(a):
    peers = read_tsv(os.path.join(a.out, "peers.tsv")) + read_tsv(os.path.join(a.out, "pgbench.tsv"))
    ours = read_tsv(os.path.join(a.out, "batchyard.tsv"))
    rows = peers + ours
    fanouts = [r for r in peers if r["scenario"] == "fanout" and r["ok"] == "yes" and num(r["jobs_per_s"])]
    wide = next((r for r in ours if r["scenario"] == "wide" and r["mode"] == "postgres"), None)
    if fanouts and wide and num(wide["jobs_per_s"]):
        best = max(fanouts, key=lambda r: num(r["jobs_per_s"]))
        ratio = num(wide["jobs_per_s"]) / num(best["jobs_per_s"])
        rows.append(row(peer="batchyard", scenario="wide/best-peer-fanout", mode="postgres", n=wide["n"], ok=wide["ok"],
                        jobs_per_s=wide["jobs_per_s"], value=f"{ratio:.2f}x", goal=">=7x",
                        verdict="PASS" if wide["ok"] == "yes" and ratio >= 7 else "FAIL"))
        best_note = f"best peer fanout: {best['peer']}/{best['mode']} {best['jobs_per_s']} jobs/s (n={best['n']})"
    elif not fanouts:
        best_note = "no ratio: no successful peer fanout row (peers skipped or failed)"
    else:
        best_note = "no ratio: Batchyard's PostgreSQL wide run has no completions/s"
    with open(os.path.join(a.out, "summary.tsv"), "w", encoding="utf-8") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            f.write("\t".join(r[c] for c in COLUMNS) + "\n")
    table = [COLUMNS] + [[r[c] for c in COLUMNS] for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(COLUMNS))]
    left = {0, 1, 2, 13, 14}
    for t in table:
        print("  ".join(cell.ljust(widths[i]) if i in left else cell.rjust(widths[i]) for i, cell in enumerate(t)).rstrip())
    print(best_note)
    not_ok = [f"{r['peer']}/{r['scenario']}/{r['mode']}" for r in rows if r["ok"] == "no"]
    if not_ok:
        print("not ok (failed tasks, timeouts or failed triggers): " + ", ".join(not_ok))
    return 1 if not_ok else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("scenario", choices=["chain", "wide", "ten-wide", "memory-wide", "map"])
    m.add_argument("--map-items", type=int, default=10000)
    m.add_argument("--map-cap", type=int, default=50)
    m.add_argument("--pid", type=int, help="the silo's process id (map: its resident memory)")
    m.add_argument("--url", required=True)
    m.add_argument("--tsv", required=True)
    m.add_argument("--timeout", type=float, default=300, help="seconds allowed for each awaited run (or set of runs)")
    m.add_argument("--chain", type=int, default=200)
    m.add_argument("--width", type=int, default=2000)
    m.add_argument("--runs", type=int, default=10)
    m.add_argument("--runs-width", type=int, default=1000)
    m.add_argument("--psql", help="wide: psql, to read PostgreSQL's counters")
    m.add_argument("--pg-cs", help="wide: the silo's connection string")
    m.add_argument("--stats-settle", type=float, default=11)
    m.add_argument("--background", type=float, default=10)
    t = sub.add_parser("table")
    t.add_argument("--out", required=True)
    a = p.parse_args()
    if a.cmd == "measure" and a.scenario == "wide" and not (a.psql and a.pg_cs):
        p.error("measure wide needs --psql and --pg-cs")
    return {"measure": cmd_measure, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
