-- 0001_init.sql: the initial fnprobe schema (DESIGN.md "Storage").
--
-- Applied by MigrationRunner inside one transaction together with its row in
-- schema_migrations. NEVER edit this file once merged: the runner refuses to
-- start when an applied migration's checksum changes. Add 0002_<name>.sql.
--
-- Conventions: ids are INTEGER PRIMARY KEY; timestamps are ISO-8601 UTC text
-- ('2026-01-02T03:04:05.678Z'); JSON columns are checked with json_valid();
-- status/state columns are closed vocabularies enforced by CHECK.

-- Models served by fnprobe-inference replicas.
CREATE TABLE models (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
  architecture  TEXT,
  num_layers    INTEGER CHECK (num_layers IS NULL OR num_layers > 0),
  d_model       INTEGER CHECK (d_model IS NULL OR d_model > 0),
  config_json   TEXT    CHECK (config_json IS NULL OR json_valid(config_json)),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Researchers. token_hash is a hash of the bearer token, never the token.
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
  token_hash    TEXT    UNIQUE,
  role          TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- One submitted ExperimentSpec (stored as its proto JSON).
CREATE TABLE experiments (
  id            INTEGER PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
  model_id      INTEGER REFERENCES models(id) ON DELETE RESTRICT,
  name          TEXT    NOT NULL CHECK (length(name) > 0),
  spec_json     TEXT    NOT NULL CHECK (json_valid(spec_json)),
  status        TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'analyzing', 'done',
                                  'failed', 'cancelled')),
  error         TEXT,
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  started_at    TEXT,
  finished_at   TEXT,
  CHECK (status <> 'failed' OR error IS NOT NULL)
);
CREATE INDEX experiments_by_user ON experiments(user_id, created_at);
CREATE INDEX experiments_by_status ON experiments(status);

-- One condition x repeat of an experiment: one Generate stream, one
-- activation file. A run is 'done' only once its activation file is written
-- (path and checksum present).
CREATE TABLE runs (
  id                  INTEGER PRIMARY KEY,
  experiment_id       INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
  condition           TEXT    NOT NULL CHECK (length(condition) > 0),
  repeat_index        INTEGER NOT NULL CHECK (repeat_index >= 0),
  status              TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'running', 'done', 'failed',
                                        'cancelled')),
  seed                INTEGER,
  layout_hash         TEXT,
  layout_json         TEXT    CHECK (layout_json IS NULL OR json_valid(layout_json)),
  num_units           INTEGER CHECK (num_units IS NULL OR num_units > 0),
  num_time_points     INTEGER CHECK (num_time_points IS NULL OR num_time_points >= 0),
  capture_dtype       TEXT    CHECK (capture_dtype IS NULL OR
                                     capture_dtype IN ('F32', 'F16', 'BF16')),
  activation_path     TEXT    UNIQUE,
  activation_checksum TEXT,
  activation_rows     INTEGER CHECK (activation_rows IS NULL OR activation_rows >= 0),
  tokens_generated    INTEGER NOT NULL DEFAULT 0 CHECK (tokens_generated >= 0),
  overflow_count      INTEGER NOT NULL DEFAULT 0 CHECK (overflow_count >= 0),
  error               TEXT,
  created_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  started_at          TEXT,
  finished_at         TEXT,
  UNIQUE (experiment_id, condition, repeat_index),
  CHECK (status <> 'done' OR
         (activation_path IS NOT NULL AND activation_checksum IS NOT NULL)),
  CHECK (status <> 'failed' OR error IS NOT NULL)
);
CREATE INDEX runs_by_status ON runs(status);

-- BIDS events.tsv rows of a run (onset and duration in token time).
CREATE TABLE events (
  id            INTEGER PRIMARY KEY,
  run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  onset         REAL    NOT NULL CHECK (onset >= 0),
  duration      REAL    NOT NULL CHECK (duration >= 0),
  trial_type    TEXT    NOT NULL CHECK (length(trial_type) > 0),
  prompt_index  INTEGER CHECK (prompt_index IS NULL OR prompt_index >= 0),
  prompt_text   TEXT
);
CREATE INDEX events_by_run ON events(run_id, onset);

-- Generated tokens of a run, one row per (prompt, step).
CREATE TABLE generations (
  run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  prompt_index  INTEGER NOT NULL CHECK (prompt_index >= 0),
  step          INTEGER NOT NULL CHECK (step >= 0),
  token_id      INTEGER NOT NULL CHECK (token_id >= 0),
  text          TEXT    NOT NULL,
  PRIMARY KEY (run_id, prompt_index, step)
) WITHOUT ROWID;

-- Statistical maps (per run, or per condition over all its repeats). Values
-- live in stats_blob (small) or in a file at stats_path (large).
CREATE TABLE glm_maps (
  id              INTEGER PRIMARY KEY,
  experiment_id   INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
  run_id          INTEGER REFERENCES runs(id) ON DELETE CASCADE,
  condition       TEXT,
  contrast        TEXT    NOT NULL CHECK (length(contrast) > 0),
  stat            TEXT    NOT NULL DEFAULT 't' CHECK (stat IN ('t', 'F', 'beta', 'z')),
  layout_hash     TEXT    NOT NULL,
  num_units       INTEGER NOT NULL CHECK (num_units > 0),
  dof             REAL    CHECK (dof IS NULL OR dof > 0),
  noise_model     TEXT    CHECK (noise_model IS NULL OR noise_model IN ('OLS', 'AR1')),
  stats_blob      BLOB,
  stats_path      TEXT,
  stats_checksum  TEXT,
  created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK (run_id IS NOT NULL OR condition IS NOT NULL),
  CHECK (stats_blob IS NOT NULL OR stats_path IS NOT NULL)
);
CREATE INDEX glm_maps_by_experiment ON glm_maps(experiment_id, condition, contrast);
CREATE INDEX glm_maps_by_run ON glm_maps(run_id);

-- Functional networks: thresholded GLM maps or ICA components. A network
-- defined without one run (leave-one-repeat-out) names it in excluded_run_id.
CREATE TABLE networks (
  id                INTEGER PRIMARY KEY,
  experiment_id     INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
  run_id            INTEGER REFERENCES runs(id) ON DELETE CASCADE,
  condition         TEXT,
  excluded_run_id   INTEGER REFERENCES runs(id) ON DELETE CASCADE,
  glm_map_id        INTEGER REFERENCES glm_maps(id) ON DELETE SET NULL,
  method            TEXT    NOT NULL CHECK (method IN ('glm', 'ica')),
  contrast          TEXT,
  component         INTEGER CHECK (component IS NULL OR component >= 0),
  layout_hash       TEXT    NOT NULL,
  threshold_method  TEXT    NOT NULL
                    CHECK (threshold_method IN ('none', 'uncorrected', 'bonferroni',
                                                'fdr', 'permutation', 'zscore')),
  alpha             REAL    CHECK (alpha IS NULL OR (alpha > 0 AND alpha < 1)),
  threshold         REAL,
  size              INTEGER NOT NULL CHECK (size >= 0),
  created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK (run_id IS NOT NULL OR condition IS NOT NULL),
  CHECK (method <> 'ica' OR component IS NOT NULL)
);
CREATE INDEX networks_by_experiment ON networks(experiment_id, condition);
CREATE INDEX networks_by_run ON networks(run_id);
CREATE INDEX networks_by_excluded_run ON networks(excluded_run_id);
CREATE INDEX networks_by_glm_map ON networks(glm_map_id);

-- Members of a network. network_units_by_unit makes "which networks contain
-- this unit" one index lookup.
CREATE TABLE network_units (
  network_id    INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  unit          INTEGER NOT NULL CHECK (unit >= 0),
  beta          REAL,
  t             REAL,
  p             REAL    CHECK (p IS NULL OR (p >= 0 AND p <= 1)),
  q             REAL    CHECK (q IS NULL OR (q >= 0 AND q <= 1)),
  PRIMARY KEY (network_id, unit)
) WITHOUT ROWID;
CREATE INDEX network_units_by_unit ON network_units(unit, network_id);

-- Pairwise overlap, stored once per unordered pair (network_a_id < network_b_id).
CREATE TABLE overlaps (
  network_a_id  INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  network_b_id  INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  intersection  INTEGER NOT NULL CHECK (intersection >= 0),
  dice          REAL    NOT NULL CHECK (dice >= 0 AND dice <= 1),
  jaccard       REAL    NOT NULL CHECK (jaccard >= 0 AND jaccard <= 1),
  PRIMARY KEY (network_a_id, network_b_id),
  CHECK (network_a_id < network_b_id)
) WITHOUT ROWID;
CREATE INDEX overlaps_by_b ON overlaps(network_b_id);

-- Held-out identification: a run's map scored against each condition's
-- network defined without it.
CREATE TABLE classifications (
  id                  INTEGER PRIMARY KEY,
  experiment_id       INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
  held_out_run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  method              TEXT    NOT NULL DEFAULT 'dice' CHECK (length(method) > 0),
  true_condition      TEXT    NOT NULL,
  predicted_condition TEXT    NOT NULL,
  scores_json         TEXT    NOT NULL CHECK (json_valid(scores_json)),
  created_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (experiment_id, held_out_run_id, method)
);
CREATE INDEX classifications_by_run ON classifications(held_out_run_id);

-- Durable work queue of the worker. A leased job names its owner and the
-- time its lease expires; an expired lease may be taken over.
CREATE TABLE jobs (
  id                INTEGER PRIMARY KEY,
  kind              TEXT    NOT NULL CHECK (length(kind) > 0),
  state             TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'leased', 'done', 'failed', 'cancelled')),
  attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts      INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
  payload_json      TEXT    NOT NULL CHECK (json_valid(payload_json)),
  experiment_id     INTEGER REFERENCES experiments(id) ON DELETE CASCADE,
  run_id            INTEGER REFERENCES runs(id) ON DELETE CASCADE,
  lease_owner       TEXT,
  lease_expires_at  TEXT,
  not_before        TEXT,
  error             TEXT,
  created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK (state <> 'leased' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
  CHECK (attempts <= max_attempts)
);
CREATE INDEX jobs_ready ON jobs(state, not_before, id);
CREATE INDEX jobs_by_lease ON jobs(state, lease_expires_at);
CREATE INDEX jobs_by_experiment ON jobs(experiment_id);
CREATE INDEX jobs_by_run ON jobs(run_id);
