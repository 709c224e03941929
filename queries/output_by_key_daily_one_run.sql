-- output_by_key_daily.sql for dates that all resolve to one run: the caller adds the
-- runs column (see output_by_key_one_run.sql).
SELECT
    {keys},
    CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS matched_amount,
    CAST(sum(intervals) AS BIGINT) AS intervals
FROM daily_output
WHERE ($buyer_seller IS NULL OR buyer_seller = $buyer_seller)
  AND {after}
GROUP BY {keys}
ORDER BY {keys}
LIMIT $limit
