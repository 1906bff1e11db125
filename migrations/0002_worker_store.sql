-- 0002_worker_store.sql: columns the worker's ExperimentStore
-- (server/analysis/worker/experiment_store.h) needs beyond 0001.

-- Generate streams opened for a run (v1.Run.attempts), so that retries are
-- counted across worker restarts.
ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0
  CHECK (attempts >= 0);

-- A condition map computed without one run (leave-one-repeat-out) names
-- that run, so it is never mistaken for the condition's own map.
ALTER TABLE glm_maps ADD COLUMN excluded_run_id INTEGER
  REFERENCES runs(id) ON DELETE CASCADE;

-- A run map's block-permutation max-|t| cut-off (threshold PERMUTATION),
-- kept so that re-analysis needs no new permutations.
ALTER TABLE glm_maps ADD COLUMN permutation_threshold REAL;

-- A network's size per hook point: a JSON array of counts in the order of
-- the hook points of the layout named by layout_hash. Computed when the
-- network is stored so that listing networks reads no units.
ALTER TABLE networks ADD COLUMN hook_counts_json TEXT
  CHECK (hook_counts_json IS NULL OR json_valid(hook_counts_json));

-- Finds a condition's own map (or its leave-one-out maps) without reading
-- other maps' rows: excluded_run_id, added above, sits after the large
-- stats_blob in each row.
CREATE INDEX glm_maps_condition_level
  ON glm_maps(experiment_id, condition, excluded_run_id) WHERE run_id IS NULL;
