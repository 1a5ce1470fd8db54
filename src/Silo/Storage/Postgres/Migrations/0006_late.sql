-- Batchyard 0006: deadlines. A run that passed its DAG's deadline unfinished is late for good; run lists show it.
-- Set in the same commit as the journal's "late" event of the run.

ALTER TABLE batchyard_runs ADD COLUMN IF NOT EXISTS late boolean NOT NULL DEFAULT false;
