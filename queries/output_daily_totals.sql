-- One trading date of a run's output totalled by ICP and side (exact sum, interval
-- count), in the order the run's daily summary keeps them. The sum stays DECIMAL(38, 4):
-- a day of one ICP may exceed DECIMAL(18, 4), and the queries cast only their own totals.
SELECT
    read_date,
    icp_id,
    buyer_seller,
    sum(matched_amount) AS matched_amount,
    count(*) AS intervals
FROM read_parquet($files, hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE})
GROUP BY read_date, icp_id, buyer_seller
ORDER BY icp_id, buyer_seller
