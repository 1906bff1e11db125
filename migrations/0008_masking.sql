-- 0008_masking.sql: masking experiments (server/analysis/masking_spec.h).
-- Their runs are ordinary rows of `runs` (one per unmasked evaluation batch
-- and per operation x network x evaluation batch); what each run does and
-- the unit sets it acts on are the plan, stored at submission and read back
-- by every later step; what each run scored is stored per text, so that
-- every statistic can be recomputed.

-- The plan as MaskingPlanToJson wrote it: networks resolved to units, their
-- random controls, and one entry per run in run order.
CREATE TABLE masking_plans (
  experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id) ON DELETE CASCADE,
  plan_json     TEXT    NOT NULL CHECK (json_valid(plan_json))
);

-- One member of one run on one evaluation text: member 0 is the network's
-- masking (or the unmasked run), member k >= 1 control k. `tokens` scored
-- positions (a text's positions but its last), `nll_sum` the sum of their
-- negative log-likelihoods, `top1` how many predicted their next token.
CREATE TABLE masking_scores (
  run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  member   INTEGER NOT NULL CHECK (member >= 0),
  text     INTEGER NOT NULL CHECK (text >= 0),
  tokens   INTEGER NOT NULL CHECK (tokens >= 0),
  nll_sum  REAL    NOT NULL,
  top1     INTEGER NOT NULL CHECK (top1 >= 0 AND top1 <= tokens),
  PRIMARY KEY (run_id, member, text)
) WITHOUT ROWID;
