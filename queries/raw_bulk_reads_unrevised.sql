-- As raw_bulk_reads, for a snapshot with one file per trading date: no key can have more
-- than one stored value, so the revision filter (a window over every row) is skipped.
SELECT
    icp_id,
    read_timestamp,
    read_date,
    trading_period,
    interval_read,
    energy_flow_direction
FROM read_parquet($files, hive_partitioning = true, hive_types = {'read_date': DATE})
WHERE icp_id BETWEEN $lo AND $hi
  AND ($icp_ids IS NULL OR icp_id IN (SELECT unnest($icp_ids)))
  AND ingest_id <= $as_of
  AND ($direction IS NULL OR energy_flow_direction = $direction)
ORDER BY icp_id, read_timestamp, energy_flow_direction
