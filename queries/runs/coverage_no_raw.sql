-- run_coverage.sql for a run whose raw snapshot has no reads in its window: no raw ICP
-- lacks output, and every output ICP is without raw reads.
SELECT
    count(*) AS icps,
    0 AS raw_icps,
    0 AS missing_icps,
    CAST([] AS VARCHAR[]) AS missing_icps_sample,
    count(*) AS icps_without_raw,
    coalesce(list(icp_id ORDER BY icp_id)[1:$sample], []) AS icps_without_raw_sample
FROM (SELECT DISTINCT icp_id FROM read_parquet($files))
