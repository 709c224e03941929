-- Every output row of one ICP in the given files (of the runs resolved for its dates).
SELECT read_date, trading_period, buyer_seller, matched_amount, run_id
FROM read_parquet($files, hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE})
WHERE icp_id = $icp_id
