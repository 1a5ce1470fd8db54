-- Batchyard 0004: the audit log. One row per action that changes something (or a refused attempt at one):
-- which key (by name, never the key), what, on which DAG/run/task, when, and how it ended. Append-only.

CREATE TABLE IF NOT EXISTS batchyard_audit
(
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL,
    key_name text        NOT NULL,
    action   text        NOT NULL,
    dag_id   text        NOT NULL,
    run_id   text        NULL,
    task_id  text        NULL,
    outcome  text        NOT NULL,
    status   integer     NOT NULL,
    detail   text        NULL
);

-- "Newest first, before a time": GET /api/v1/audit?before=.
CREATE INDEX IF NOT EXISTS ix_batchyard_audit_at ON batchyard_audit (at DESC, id DESC);
