-- Raw reads at their latest revision: for each (icp_id, read_timestamp, energy_flow_direction)
-- the row of the highest ingest_id, as the engine's read path chooses it.
-- A key lives in one trading date. One file per date, its "base", is set aside: the oldest,
-- when it holds each key once and only rows older than the date's other files (a plain
-- ingest file always holds a key once; a compacted file does unless it kept a revision).
-- Any key stored more than once then has its highest ingest_id among the other files, the
-- "overlay" files: only those are grouped (cheap, revisions are few), and every row is then
-- kept unless the overlay holds a higher revision of its key. A date without a base has all
-- its files in the overlay.
CREATE OR REPLACE VIEW raw_reads AS
WITH overlay AS (
    SELECT icp_id, read_date, read_timestamp, energy_flow_direction, max(ingest_id) AS latest_ingest
    FROM read_parquet(getvariable('raw_overlay_files'), hive_partitioning = true, hive_types = {'read_date': DATE})
    GROUP BY ALL
)
SELECT r.*  -- the columns of raw_reads_all_revisions
FROM raw_reads_all_revisions AS r
LEFT JOIN overlay AS o USING (icp_id, read_date, read_timestamp, energy_flow_direction)
WHERE o.latest_ingest IS NULL OR r.ingest_id = o.latest_ingest
