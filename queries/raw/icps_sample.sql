-- How many distinct ICPs the raw files hold up to ingest $as_of, and the first few ids.
SELECT count(*) AS raw_icps, coalesce(list(icp_id ORDER BY icp_id)[1:$sample], []) AS sample
FROM (
    SELECT DISTINCT icp_id
    FROM read_parquet($raw_files, hive_partitioning = true, hive_types = {'read_date': DATE})
    WHERE ingest_id <= $as_of
)
