-- Every row of the given raw files of one trading date (every revision, each with the
-- ingest_id that delivered it), in the stored column order, sorted for one-ICP lookups.
SELECT
    icp_id,
    read_timestamp,
    trading_period,
    interval_read,
    energy_flow_direction,
    ingest_id
FROM read_parquet($files)
ORDER BY icp_id, read_timestamp, energy_flow_direction, ingest_id
