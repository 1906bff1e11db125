-- 0006_model_checksum.sql: which weights an experiment ran on: the
-- inference server's checkpoint_sha256 (SHA-256 of config.json and the
-- *.safetensors files) when the experiment was submitted; NULL when no
-- server could be asked, and for experiments stored before this migration.
ALTER TABLE experiments ADD COLUMN model_checksum TEXT;
