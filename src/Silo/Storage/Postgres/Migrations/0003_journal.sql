-- Batchyard 0003: the append-only run journal. Every run, task and attempt change is one row, appended once
-- (group-committed by the silo's journal writer); batchyard_runs becomes a projection of the run-level events,
-- kept in the same commit. The run snapshot, the per-attempt upserts and the snapshot-diff state changes go:
-- a run's details are folded from its journal.

CREATE TABLE IF NOT EXISTS batchyard_journal
(
    dag_id  text COLLATE "C" NOT NULL,
    run_id  text COLLATE "C" NOT NULL,
    seq     bigint      NOT NULL,
    kind    text        NOT NULL,
    at      timestamptz NOT NULL,
    task_id text        NULL,
    payload jsonb       NOT NULL,
    PRIMARY KEY (dag_id, run_id, seq)
);

ALTER TABLE batchyard_runs DROP COLUMN IF EXISTS snapshot;
DROP TABLE IF EXISTS batchyard_task_attempts;
DROP TABLE IF EXISTS batchyard_state_changes;

-- What a failover resumes.
CREATE INDEX IF NOT EXISTS ix_batchyard_runs_running ON batchyard_runs (dag_id, run_id) WHERE state = 'running';
