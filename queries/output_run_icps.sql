-- The sorted distinct icp_ids of a run's output files (its ICP index).
SELECT DISTINCT icp_id FROM read_parquet($files) ORDER BY icp_id
