-- Batchyard 0005: the cost projection. One row per ended attempt that has a cost, written in the same commit as
-- the journal event that ended it (an attempt written again overwrites its row); cost reports sum these rows by
-- DAG, instance type and day instead of replaying journals. batchyard_runs keeps each run's total for run lists.

CREATE TABLE IF NOT EXISTS batchyard_attempt_costs
(
    dag_id          text COLLATE "C" NOT NULL,
    run_id          text COLLATE "C" NOT NULL,
    -- The task instance's key in its run: the task id, or id[index] for an instance of a mapped task.
    task_key        text             NOT NULL,
    attempt         integer          NOT NULL,
    ended_at        timestamptz      NOT NULL,
    -- The SageMaker instance type, or the backend's name (local, noop).
    instance_type   text             NOT NULL,
    -- NULL when there is no price for the instance type.
    usd             numeric          NULL,
    compute_seconds double precision NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_key, attempt)
);

-- "Costs of the attempts that ended in a range": GET /api/v1/costs.
CREATE INDEX IF NOT EXISTS ix_batchyard_attempt_costs_ended ON batchyard_attempt_costs (ended_at);

ALTER TABLE batchyard_runs ADD COLUMN IF NOT EXISTS cost_usd numeric NULL;
