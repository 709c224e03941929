-- Every output row of one run's ICPs from $lo to $hi, in the run index's order.
SELECT icp_id, read_date, trading_period, buyer_seller, matched_amount
FROM read_parquet($files, hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE})
WHERE icp_id BETWEEN $lo AND $hi
ORDER BY icp_id, read_date, trading_period, buyer_seller
