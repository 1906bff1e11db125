-- 0003_prompt_inference.sql: prompt-level (two-level) inference
-- (server/analysis/level_two.h).

-- A finished run's level one: one value per prompt and unit (the prompt's
-- mean over its generated tokens, or its first-level beta), P x V float64
-- in the FNPV format of server/analysis/stat_map.h. Written with the run
-- (MarkRunDone) and replaced by re-analysis; level two reads it back.
CREATE TABLE prompt_values (
  run_id       INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  num_prompts  INTEGER NOT NULL CHECK (num_prompts > 0),
  num_units    INTEGER NOT NULL CHECK (num_units > 0),
  values_blob  BLOB    NOT NULL
);

-- Which inference a network rests on: 'prompt' (prompts are the
-- observations) or 'token' (descriptive). NULL for networks stored before
-- this migration, which were token-level.
ALTER TABLE networks ADD COLUMN inference TEXT
  CHECK (inference IS NULL OR inference IN ('prompt', 'token'));

-- The run planner's version (run_planner.h kPlanVersion) an experiment was
-- planned with. Plans are recomputed from the spec, and version 2 draws
-- baseline prompts without replacement across repeats where version 1 drew
-- them per run: an experiment of version 1 is never resumed or re-analysed
-- with version 2's prompts (the worker fails or refuses it; its stored
-- results stay readable).
ALTER TABLE experiments ADD COLUMN plan_version INTEGER NOT NULL DEFAULT 1
  CHECK (plan_version >= 1);
