-- Raw reads of one ICP over the given raw files (already limited to the date range and the
-- as_of snapshot), latest revision of each key, in time order.
SELECT
    read_timestamp,
    read_date,
    trading_period,
    interval_read,
    energy_flow_direction,
    ingest_id
FROM read_parquet($files, hive_partitioning = true, hive_types = {'read_date': DATE})
WHERE icp_id = $icp_id
  AND ($direction IS NULL OR energy_flow_direction = $direction)
  AND ingest_id <= $as_of
QUALIFY row_number() OVER (PARTITION BY read_timestamp, energy_flow_direction ORDER BY ingest_id DESC) = 1
ORDER BY read_timestamp, energy_flow_direction
