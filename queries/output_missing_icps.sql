-- How many ICPs a run's output has, and which of them have no raw read in the raw
-- snapshot the run read (raw files of its window, up to ingest $as_of): a count and the
-- first few ids.
WITH output_icps AS (
    SELECT DISTINCT icp_id FROM read_parquet($files)
),
raw_icps AS (
    SELECT DISTINCT icp_id
    FROM read_parquet($raw_files, hive_partitioning = true, hive_types = {'read_date': DATE})
    WHERE ingest_id <= $as_of
),
missing AS (
    SELECT icp_id FROM output_icps ANTI JOIN raw_icps USING (icp_id)
)
SELECT
    (SELECT count(*) FROM output_icps) AS icps,
    (SELECT count(*) FROM missing) AS missing_icps,
    coalesce((SELECT list(icp_id ORDER BY icp_id)[1:$sample] FROM missing), []) AS missing_icps_sample
