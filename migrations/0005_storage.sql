-- 0005_storage.sql: what each run's activation file takes on disk, and
-- experiments whose raw activations were deleted (fnprobe delete
-- --activations-only), for usage, quotas and refusing re-analysis.

-- Bytes of the run's activation file when it was stored (0 before this
-- migration: usage counts those runs by their rows x units x dtype).
ALTER TABLE runs ADD COLUMN activation_bytes INTEGER NOT NULL DEFAULT 0
  CHECK (activation_bytes >= 0);

-- 1 once the experiment's activation files were deleted; its results stay.
ALTER TABLE experiments ADD COLUMN activations_deleted INTEGER NOT NULL
  DEFAULT 0 CHECK (activations_deleted IN (0, 1));
