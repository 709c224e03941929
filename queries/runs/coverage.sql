-- How a run's output covers the raw snapshot it read (raw files of its window, up to
-- ingest $as_of): the output's ICP count; the raw ICPs of the window without output (a
-- count and the first few ids); the output ICPs without raw reads (likewise).
WITH output_icps AS (
    SELECT DISTINCT icp_id FROM read_parquet($files)
),
raw_icps AS (
    SELECT DISTINCT icp_id
    FROM read_parquet($raw_files, hive_partitioning = true, hive_types = {'read_date': DATE})
    WHERE ingest_id <= $as_of
),
missing AS (
    SELECT icp_id FROM raw_icps ANTI JOIN output_icps USING (icp_id)
),
without_raw AS (
    SELECT icp_id FROM output_icps ANTI JOIN raw_icps USING (icp_id)
)
SELECT
    (SELECT count(*) FROM output_icps) AS icps,
    (SELECT count(*) FROM raw_icps) AS raw_icps,
    (SELECT count(*) FROM missing) AS missing_icps,
    coalesce((SELECT list(icp_id ORDER BY icp_id)[1:$sample] FROM missing), []) AS missing_icps_sample,
    (SELECT count(*) FROM without_raw) AS icps_without_raw,
    coalesce((SELECT list(icp_id ORDER BY icp_id)[1:$sample] FROM without_raw), []) AS icps_without_raw_sample
