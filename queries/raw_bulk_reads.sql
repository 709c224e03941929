-- Raw reads of the ICPs from $lo to $hi (a slice of the snapshot's ICPs in id order; the
-- range lets the scan skip row groups), only those in $icp_ids when it is not NULL (a
-- shard), latest revision of each key, ordered by icp_id then time.
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
QUALIFY row_number() OVER (PARTITION BY icp_id, read_timestamp, energy_flow_direction ORDER BY ingest_id DESC) = 1
ORDER BY icp_id, read_timestamp, energy_flow_direction
