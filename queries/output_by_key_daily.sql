-- output_by_key.sql over the runs' daily totals instead of their output files: the
-- relation `daily_output` holds one row per run, trading date, ICP and side of the dates
-- resolved to that run (read_date, icp_id, buyer_seller, matched_amount as an exact
-- DECIMAL(38, 4) sum, intervals, run_id), so sums of sums and counts give the same
-- totals. {keys} and {after} as in output_by_key.sql.
SELECT
    {keys},
    CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS matched_amount,
    CAST(sum(intervals) AS BIGINT) AS intervals,
    list(run_id ORDER BY run_id) AS runs
FROM (
    SELECT {keys}, run_id, sum(matched_amount) AS matched_amount, sum(intervals) AS intervals
    FROM daily_output
    WHERE ($buyer_seller IS NULL OR buyer_seller = $buyer_seller)
      AND {after}
    GROUP BY {keys}, run_id
)
GROUP BY {keys}
ORDER BY {keys}
LIMIT $limit
