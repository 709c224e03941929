-- The (icp_id, read_date, buyer_seller) cells of two runs' output files over the same
-- dates, each with each run's total (NULL where that run has no row for the cell), in
-- (icp_id, read_date, buyer_seller) order.
WITH run AS (
    SELECT icp_id, read_date, buyer_seller, CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS amount
    FROM read_parquet($run_files, hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE})
    GROUP BY ALL
),
against AS (
    SELECT icp_id, read_date, buyer_seller, CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS amount
    FROM read_parquet($against_files, hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE})
    GROUP BY ALL
)
SELECT icp_id, read_date, buyer_seller, run.amount AS run_amount, against.amount AS against_amount
FROM run FULL OUTER JOIN against USING (icp_id, read_date, buyer_seller)
ORDER BY icp_id, read_date, buyer_seller
