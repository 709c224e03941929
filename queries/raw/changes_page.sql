-- One page of the change feed: the first $limit rows, in (ingest_id, icp_id, read_timestamp,
-- energy_flow_direction) order after the key ($after_ingest, $after_icp, $after_ts,
-- $after_direction), that an ingest in ($since, $until] delivered, first or as a revision,
-- each with the value it had before (the latest revision of an earlier ingest).
-- $delivered_files hold the rows of the range; $history_files every row of the trading
-- dates it touched (compacted files hold many ingests, each row with its own ingest_id).
-- The page is chosen first, then only its keys' history is read.
WITH page AS (
    SELECT icp_id, read_date, trading_period, read_timestamp, energy_flow_direction, interval_read, ingest_id
    FROM read_parquet($delivered_files, hive_partitioning = true, hive_types = {'read_date': DATE})
    WHERE ingest_id > $since AND ingest_id <= $until
        AND (ingest_id, icp_id, read_timestamp, energy_flow_direction)
            > ($after_ingest, $after_icp, $after_ts, $after_direction)
    ORDER BY ingest_id, icp_id, read_timestamp, energy_flow_direction
    LIMIT $limit
),
history AS (
    SELECT
        h.icp_id, h.read_timestamp, h.energy_flow_direction, h.ingest_id,
        lag(h.interval_read) OVER w AS previous_interval_read,
        lag(h.ingest_id) OVER w AS previous_ingest_id
    FROM read_parquet($history_files, hive_partitioning = true, hive_types = {'read_date': DATE}) AS h
    SEMI JOIN page AS p USING (icp_id, read_timestamp, energy_flow_direction)
    WHERE h.ingest_id <= $until
    WINDOW w AS (PARTITION BY h.icp_id, h.read_timestamp, h.energy_flow_direction ORDER BY h.ingest_id)
)
SELECT
    p.icp_id,
    p.read_date,
    p.trading_period,
    p.read_timestamp,
    p.energy_flow_direction,
    p.interval_read,
    p.ingest_id,
    h.previous_interval_read,
    h.previous_ingest_id,
    CASE WHEN h.previous_ingest_id IS NULL THEN 'new' ELSE 'revised' END AS change
FROM page AS p
JOIN history AS h USING (icp_id, read_timestamp, energy_flow_direction, ingest_id)
ORDER BY p.ingest_id, p.icp_id, p.read_timestamp, p.energy_flow_direction
