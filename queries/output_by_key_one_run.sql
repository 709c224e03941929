-- output_by_key.sql for dates that all resolve to one run: every group's runs list is
-- that run, so the caller adds it and the scan groups by key alone.
SELECT
    {keys},
    CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS matched_amount,
    count(*) AS intervals
FROM read_parquet($files, hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE})
WHERE ($buyer_seller IS NULL OR buyer_seller = $buyer_seller)
  AND {after}
GROUP BY {keys}
ORDER BY {keys}
LIMIT $limit
