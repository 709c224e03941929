-- The latest revision of every raw read in the brief's CSV shape: read_timestamp in New
-- Zealand local time with its +12/+13 offset, interval_read with 3 decimals.
SELECT
    strftime(timezone('Pacific/Auckland', read_timestamp), '%Y-%m-%d %H:%M:%S')
        || printf('%+03d', CAST((epoch(timezone('Pacific/Auckland', read_timestamp)) - epoch(read_timestamp)) // 3600 AS INTEGER))
        AS read_timestamp,
    interval_read,
    energy_flow_direction,
    icp_id
FROM read_parquet($files)
QUALIFY row_number() OVER (PARTITION BY icp_id, read_timestamp, energy_flow_direction ORDER BY ingest_id DESC) = 1
