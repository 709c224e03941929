-- The latest output: for each trading date, the rows of the run output_runs_by_date
-- names. What the service answers for run=latest.
CREATE OR REPLACE VIEW output_latest AS
SELECT o.*
FROM output_all AS o
JOIN output_runs_by_date AS r USING (read_date, run_id)
