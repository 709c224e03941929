-- The rows of a delivery that are new or that revise the latest stored value of their key;
-- rows equal to what is stored are dropped. $files: committed raw files of the touched dates.
CREATE TABLE changes AS
WITH stored AS (
    SELECT icp_id, read_timestamp, energy_flow_direction,
           arg_max(interval_read, ingest_id) AS interval_read
    FROM read_parquet($files)
    GROUP BY icp_id, read_timestamp, energy_flow_direction
)
SELECT d.*, s.interval_read IS NOT NULL AS is_revision
FROM delivery AS d
LEFT JOIN stored AS s USING (icp_id, read_timestamp, energy_flow_direction)
WHERE s.interval_read IS DISTINCT FROM d.interval_read
