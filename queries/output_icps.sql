-- How many ICPs a run's output has and the first few ids, for a run whose raw snapshot is
-- empty (every ICP is then missing from it).
SELECT
    count(*) AS icps,
    count(*) AS missing_icps,
    coalesce(list(icp_id ORDER BY icp_id)[1:$sample], []) AS missing_icps_sample
FROM (SELECT DISTINCT icp_id FROM read_parquet($files))
