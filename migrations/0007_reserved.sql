-- 0007_reserved.sql: a placeholder that keeps migration numbers without
-- gaps on the masking branch. Version 7 belongs to the concurrent
-- teacher-forced texts work: when both are merged, delete this file and
-- keep theirs (a database that ran this placeholder would skip their 7).
SELECT 1;
