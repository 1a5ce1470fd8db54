-- Batchyard 0002: run history, task attempts, state-change events and attempt logs.
-- Grain state stays small; everything that grows with the number of runs lives here and is read by
-- the API and dashboard without activating grains. States are the snake_case names of the API.

CREATE TABLE IF NOT EXISTS batchyard_runs
(
    -- "C" collation: ids sort by code point, the same order as the in-memory store (ordinal).
    dag_id       text COLLATE "C" NOT NULL,
    run_id       text COLLATE "C" NOT NULL,
    state        text        NOT NULL,
    logical_date timestamptz NOT NULL,
    run_type     text        NOT NULL,
    dag_version  text        NOT NULL DEFAULT '',
    queued_at    timestamptz NOT NULL,
    started_at   timestamptz NULL,
    ended_at     timestamptz NULL,
    params       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- The run's latest full snapshot (tasks and attempts), what GET .../runs/{runId} returns.
    snapshot     jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (dag_id, run_id)
);

-- "Runs of a DAG, newest first, before a date", and the same filtered by state.
CREATE INDEX IF NOT EXISTS ix_batchyard_runs_dag_date ON batchyard_runs (dag_id, logical_date DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS ix_batchyard_runs_dag_state_date ON batchyard_runs (dag_id, state, logical_date DESC, run_id DESC);

CREATE TABLE IF NOT EXISTS batchyard_task_attempts
(
    dag_id     text        NOT NULL,
    run_id     text        NOT NULL,
    task_id    text        NOT NULL,
    attempt    integer     NOT NULL,
    state      text        NOT NULL,
    backend    text        NOT NULL DEFAULT '',
    job_id     text        NULL,
    queued_at  timestamptz NOT NULL,
    started_at timestamptz NULL,
    ended_at   timestamptz NULL,
    exit_code  integer     NULL,
    reason     text        NULL,
    details    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (dag_id, run_id, task_id, attempt),
    FOREIGN KEY (dag_id, run_id) REFERENCES batchyard_runs (dag_id, run_id) ON DELETE CASCADE
);

-- Finding an attempt by its backend job (e.g. a SageMaker job name seen in a console).
CREATE INDEX IF NOT EXISTS ix_batchyard_task_attempts_job ON batchyard_task_attempts (job_id) WHERE job_id IS NOT NULL;

-- Append-only: one row per state transition of a run (task_id NULL) or of a task instance.
CREATE TABLE IF NOT EXISTS batchyard_state_changes
(
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dag_id     text        NOT NULL,
    run_id     text        NOT NULL,
    task_id    text        NULL,
    from_state text        NULL,
    to_state   text        NOT NULL,
    at         timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_batchyard_state_changes_run ON batchyard_state_changes (dag_id, run_id, id);

-- An attempt's log as ordered chunks. start_offset/end_offset are UTF-16 character offsets in the
-- whole log, so a reader's cursor (characters read so far) finds its chunk through the index.
CREATE TABLE IF NOT EXISTS batchyard_task_logs
(
    dag_id       text    NOT NULL,
    run_id       text    NOT NULL,
    task_id      text    NOT NULL,
    attempt      integer NOT NULL,
    seq          integer NOT NULL,
    start_offset bigint  NOT NULL,
    end_offset   bigint  NOT NULL,
    text_chunk   text    NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, attempt, seq)
);

CREATE INDEX IF NOT EXISTS ix_batchyard_task_logs_offset ON batchyard_task_logs (dag_id, run_id, task_id, attempt, end_offset);
