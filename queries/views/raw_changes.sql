-- Every stored revision as a change: the value an ingest delivered for a read, first or as
-- a revision, with the value before it. The rows of GET /v1/reads/changes?since=A&until=B
-- are those WHERE ingest_id > A AND ingest_id <= B. Compaction keeps every revision, so the
-- view answers the same after compaction and vacuum.
CREATE OR REPLACE VIEW raw_changes AS
SELECT
    *,  -- the columns of raw_reads_all_revisions
    lag(interval_read) OVER w AS previous_interval_read,
    lag(ingest_id) OVER w AS previous_ingest_id,
    CASE WHEN lag(ingest_id) OVER w IS NULL THEN 'new' ELSE 'revised' END AS change
FROM raw_reads_all_revisions
WINDOW w AS (PARTITION BY icp_id, read_timestamp, energy_flow_direction ORDER BY ingest_id)
