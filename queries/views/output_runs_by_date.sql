-- For each trading date, the run that answers for it: the most recently published
-- (highest publish_seq; of two runs published at once on two hosts with one publish_seq,
-- the higher run_id), not retracted run whose window covers the date, among the runs
-- whose output the snapshot holds. Candidates (stage candidate) answer for no date. A
-- date in a window but without rows still resolves to that run (and has no output), as
-- in the engine.
CREATE OR REPLACE VIEW output_runs_by_date AS
SELECT
    CAST(day AS DATE) AS read_date,
    arg_max(run_id, {'seq': publish_seq, 'run': run_id}) AS run_id,
    max(publish_seq) AS publish_seq
FROM runs, unnest(generate_series(window_start, window_end, INTERVAL 1 DAY)) AS t(day)
WHERE status = 'published' AND stage = 'latest'
  AND list_contains(getvariable('output_runs'), run_id)
GROUP BY ALL
