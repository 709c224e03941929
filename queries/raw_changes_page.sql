-- The change feed: one row per read an ingest in ($since, $until] delivered, first or as a
-- revision, with the value it had before (the latest revision of an earlier ingest), in
-- (ingest_id, icp_id, read_timestamp, energy_flow_direction) order after the key
-- ($after_ingest, $after_icp, $after_ts, $after_direction), at most $limit rows.
-- $delivered_files hold the rows of the range; $earlier_files the rows before it of the
-- same trading dates (compacted files hold both, each row with its own ingest_id).
WITH delivered AS (
    SELECT icp_id, read_date, trading_period, read_timestamp, energy_flow_direction, interval_read, ingest_id
    FROM read_parquet($delivered_files, hive_partitioning = true, hive_types = {'read_date': DATE})
    WHERE ingest_id > $since AND ingest_id <= $until
),
earlier AS (
    SELECT e.icp_id, e.read_timestamp, e.energy_flow_direction,
           arg_max(e.interval_read, e.ingest_id) AS interval_read, max(e.ingest_id) AS ingest_id
    FROM read_parquet($earlier_files, hive_partitioning = true, hive_types = {'read_date': DATE}) AS e
    SEMI JOIN delivered AS d USING (icp_id, read_timestamp, energy_flow_direction)
    WHERE e.ingest_id <= $since
    GROUP BY e.icp_id, e.read_timestamp, e.energy_flow_direction
),
chained AS (
    SELECT *, true AS in_range FROM delivered
    UNION ALL BY NAME
    SELECT *, false AS in_range FROM earlier
)
SELECT
    icp_id,
    read_date,
    trading_period,
    read_timestamp,
    energy_flow_direction,
    interval_read,
    ingest_id,
    lag(interval_read) OVER w AS previous_interval_read,
    lag(ingest_id) OVER w AS previous_ingest_id,
    CASE WHEN lag(ingest_id) OVER w IS NULL THEN 'new' ELSE 'revised' END AS change
FROM chained
WINDOW w AS (PARTITION BY icp_id, read_timestamp, energy_flow_direction ORDER BY ingest_id)
QUALIFY in_range
    AND (ingest_id, icp_id, read_timestamp, energy_flow_direction)
        > ($after_ingest, $after_icp, $after_ts, $after_direction)
ORDER BY ingest_id, icp_id, read_timestamp, energy_flow_direction
LIMIT $limit
