-- The highest value of the leading key that the next page can reach: the $n-th distinct
-- value from the cursor on (and how many there were, fewer than $n meaning the last).
-- Restricting the page's aggregation to keys up to it lets the scan skip row groups
-- instead of aggregating every key to return one page. Used when no ICP index answers.
-- {lead} and {after} are fixed fragments from an enum (datalake/output.py).
SELECT max(k), count(*)
FROM (
    SELECT DISTINCT {lead} AS k
    FROM read_parquet($files, hive_partitioning = true, hive_types = {'run_id': VARCHAR, 'read_date': DATE})
    WHERE ($buyer_seller IS NULL OR buyer_seller = $buyer_seller)
      AND {after}
    ORDER BY k
    LIMIT $n
)
