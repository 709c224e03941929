-- The rows of one trading date across all staged parts of a run, in the order the
-- published file keeps them (by icp_id), with where each came from so that duplicate keys
-- can be reported by part and row.
SELECT
    icp_id,
    read_time,
    trading_period,
    matched_amount,
    publish_datetime,
    buyer_seller,
    _part,
    _row
FROM read_parquet($parts)
WHERE read_date = $read_date
ORDER BY icp_id, trading_period, buyer_seller, _part, _row
