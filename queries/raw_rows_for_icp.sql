-- Every stored row (every revision up to $as_of) of one ICP in the given raw files, in the
-- serving index's order; the caller keeps the last row of each key.
SELECT
    read_timestamp,
    read_date,
    trading_period,
    interval_read,
    energy_flow_direction,
    CAST(substr(ingest_id, 5) AS INTEGER) AS ingest_seq
FROM read_parquet($files, hive_partitioning = true, hive_types = {'read_date': DATE})
WHERE icp_id = $icp_id
  AND ingest_id <= $as_of
ORDER BY read_timestamp, energy_flow_direction, ingest_id
