-- Every ICP of the given raw files with its row count (all revisions), in icp_id order.
SELECT icp_id, count(*) AS n_rows
FROM read_parquet($files)
GROUP BY icp_id
ORDER BY icp_id
