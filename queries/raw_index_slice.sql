-- Every stored row (every revision) of the ICPs from $lo to $hi, in the serving index's
-- order: icp_id, time, direction, then ingest (so the last row of a key is its latest).
SELECT
    icp_id,
    read_timestamp,
    read_date,
    trading_period,
    interval_read,
    energy_flow_direction,
    CAST(substr(ingest_id, 5) AS INTEGER) AS ingest_seq
FROM read_parquet($files, hive_partitioning = true, hive_types = {'read_date': DATE})
WHERE icp_id BETWEEN $lo AND $hi
ORDER BY icp_id, read_timestamp, energy_flow_direction, ingest_id
