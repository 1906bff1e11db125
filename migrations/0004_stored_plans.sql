-- 0004_stored_plans.sql: each run's plan is stored when the experiment is
-- submitted and read back by every later step (generation, resume,
-- re-analysis, run events), never recomputed from the spec: a change to
-- the planner cannot change the prompts of an experiment already stored.

-- A run's prompts in presentation order, with the block each belongs to
-- (blocks are consecutive positions; `task` 1 for a task block, 0 for a
-- baseline block). Experiments stored before this migration have no rows
-- here; the worker plans those from the spec only when their plan_version
-- is the current planner's.
CREATE TABLE run_prompts (
  run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position  INTEGER NOT NULL CHECK (position >= 0),
  block     INTEGER NOT NULL CHECK (block >= 0),
  task      INTEGER NOT NULL CHECK (task IN (0, 1)),
  prompt    TEXT    NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;
