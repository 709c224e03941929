-- Output for a set of dates grouped by key (some of icp_id, read_date, buyer_seller):
-- exact sum of matched_amount, interval count and contributing runs, in key order, one
-- page at a time. Grouping first by key and run, then by key, costs far less than a
-- DISTINCT list per row. {keys} is a fixed list of column names and {after} a fixed
-- keyset predicate over them with $after_N parameters, both built from an enum in
-- datalake/output.py, never from request text.
SELECT
    {keys},
    CAST(sum(matched_amount) AS DECIMAL(18, 4)) AS matched_amount,
    CAST(sum(intervals) AS BIGINT) AS intervals,
    list(run_id ORDER BY run_id) AS runs
FROM (
    SELECT {keys}, run_id, sum(matched_amount) AS matched_amount, count(*) AS intervals
    FROM read_parquet($files, hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE})
    WHERE ($buyer_seller IS NULL OR buyer_seller = $buyer_seller)
      AND {after}
    GROUP BY {keys}, run_id
)
GROUP BY {keys}
ORDER BY {keys}
LIMIT $limit
