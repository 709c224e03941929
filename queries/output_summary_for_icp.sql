-- One ICP's output aggregated by period: exact sum of matched_amount, interval count and
-- the runs that contributed, in key order (period, buyer_seller), one page at a time.
-- `icp_output` holds the ICP's rows of the runs resolved for each date (read_date,
-- trading_period, buyer_seller, matched_amount, run_id). {period} is replaced by a fixed
-- fragment chosen from an enum (see datalake/output.py), never by request text.
WITH rows AS (
    SELECT
        {period} AS period,
        buyer_seller,
        matched_amount,
        run_id
    FROM icp_output
    WHERE $buyer_seller IS NULL OR buyer_seller = $buyer_seller
)
SELECT
    period,
    buyer_seller,
    CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS matched_amount,
    count(*) AS intervals,
    list(DISTINCT run_id ORDER BY run_id) AS runs
FROM rows
WHERE $after_period IS NULL OR period > $after_period OR (period = $after_period AND buyer_seller > $after_side)
GROUP BY period, buyer_seller
ORDER BY period, buyer_seller
LIMIT $limit
