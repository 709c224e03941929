-- Row count and exact sum of matched_amount per buyer_seller over a run's output files.
SELECT
    buyer_seller,
    count(*) AS rows,
    sum(matched_amount) AS matched_amount
FROM read_parquet($files)
GROUP BY buyer_seller
ORDER BY buyer_seller
