-- An ingest's rows in the stored column order, sorted by trading date and then by
-- (icp_id, time), the order that makes one-ICP lookups cheap; split into one file per date.
SELECT
    icp_id,
    read_timestamp,
    trading_period,
    interval_read,
    energy_flow_direction,
    $ingest_id AS ingest_id,
    read_date
FROM changes
ORDER BY read_date, icp_id, read_timestamp, energy_flow_direction
