-- Keys (icp_id, trading_period, buyer_seller) that occur more than once in the output
-- files of one trading date: how many rows repeat a key.
SELECT coalesce(sum(n - 1), 0) AS duplicates
FROM (
    SELECT count(*) AS n
    FROM read_parquet($files)
    GROUP BY icp_id, trading_period, buyer_seller
    HAVING count(*) > 1
)
