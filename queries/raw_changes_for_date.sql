-- One trading date of an ingest's rows, in the stored column order and sort order
-- (icp_id, then time) that makes one-ICP lookups cheap.
SELECT
    icp_id,
    read_timestamp,
    trading_period,
    interval_read,
    energy_flow_direction,
    $ingest_id AS ingest_id
FROM changes
WHERE read_date = $read_date
ORDER BY icp_id, read_timestamp, energy_flow_direction
