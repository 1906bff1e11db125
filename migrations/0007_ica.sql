-- 0007_ica.sql: ICA networks (issue 14). An ICA network is a networks row
-- (method 'ica', run_id the decomposed run, component its index within
-- its hook point's decomposition, threshold_method 'zscore' and threshold
-- the |z| cut-off); its units' z values are in network_units.t. What a
-- component has beyond a GLM network lives here.
CREATE TABLE ica_components (
  network_id          INTEGER PRIMARY KEY REFERENCES networks(id) ON DELETE CASCADE,
  -- The hook point whose units were decomposed (Liu et al.: one layer).
  hook                TEXT    NOT NULL CHECK (length(hook) > 0),
  -- The component's time course (mixing column): time_points
  -- little-endian float32 values, one per time point of the run.
  time_points         INTEGER NOT NULL CHECK (time_points > 0),
  time_course         BLOB    NOT NULL,
  -- ICASSO stability index Iq in [0, 1]; NULL without restarts.
  stability           REAL    CHECK (stability IS NULL OR (stability >= 0 AND stability <= 1)),
  explained_variance  REAL    NOT NULL
);
CREATE INDEX ica_components_by_hook ON ica_components(hook);
