-- One row per committed raw Parquet file (path relative to the lake root), from the ingests.
CREATE OR REPLACE VIEW raw_files AS
SELECT ingest_id, f.read_date, f.path, f.rows, f.bytes, f.sha256
FROM (SELECT ingest_id, unnest(files) AS f FROM ingests)
