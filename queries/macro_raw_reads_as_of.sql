-- Raw reads as the lake stood after ingest `as_of` (e.g. 'ing-00000003'): the latest revision
-- among ingests up to and including it, chosen as in view raw_reads. Reproduces what a run
-- that read that snapshot saw.
CREATE OR REPLACE MACRO raw_reads_as_of(as_of) AS TABLE
WITH overlay AS (
    SELECT icp_id, read_date, read_timestamp, energy_flow_direction, max(ingest_id) AS latest_ingest
    FROM read_parquet(getvariable('raw_overlay_files'), hive_partitioning = true, hive_types = {'read_date': DATE})
    WHERE ingest_id <= as_of
    GROUP BY ALL
)
SELECT
    r.icp_id,
    r.read_date,
    r.trading_period,
    r.read_timestamp,
    r.energy_flow_direction,
    r.interval_read,
    r.ingest_id
FROM raw_reads_all_revisions AS r
LEFT JOIN overlay AS o USING (icp_id, read_date, read_timestamp, energy_flow_direction)
WHERE r.ingest_id <= as_of AND (o.latest_ingest IS NULL OR r.ingest_id = o.latest_ingest)
