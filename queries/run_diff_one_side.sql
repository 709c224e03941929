-- run_diff_cells.sql when only one of the two runs has output on the shared dates: that
-- run's (icp_id, read_date, buyer_seller) cells with their totals, in that order.
SELECT icp_id, read_date, buyer_seller, CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS amount
FROM read_parquet($files, hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE})
GROUP BY ALL
ORDER BY icp_id, read_date, buyer_seller
