-- Raw reads as the lake stood after `as_of`: an ingest id (e.g. 'ing-00000003') or an
-- RFC 3339 time (e.g. '2018-06-20T09:00:00+12:00', the last ingest committed at or before
-- it; see macro as_of_ingest). The latest revision among ingests up to and including it,
-- chosen as in view raw_reads. Reproduces what a run that read that snapshot saw.
CREATE OR REPLACE MACRO raw_reads_as_of(as_of) AS TABLE
WITH pinned AS (
    SELECT as_of_ingest(as_of) AS ingest_id
),
overlay AS (
    SELECT icp_id, read_date, read_timestamp, energy_flow_direction, max(f.ingest_id) AS latest_ingest
    FROM read_parquet(getvariable('raw_overlay_files'), hive_partitioning = true, hive_types = {'read_date': DATE}) AS f
    WHERE f.ingest_id <= (SELECT ingest_id FROM pinned)
    GROUP BY ALL
)
SELECT r.*  -- the columns of raw_reads_all_revisions
FROM raw_reads_all_revisions AS r
LEFT JOIN overlay AS o USING (icp_id, read_date, read_timestamp, energy_flow_direction)
WHERE r.ingest_id <= (SELECT ingest_id FROM pinned) AND (o.latest_ingest IS NULL OR r.ingest_id = o.latest_ingest)
