-- One row per raw Parquet file of the snapshot (path relative to the lake root), from the
-- commit records: files of ingests and of compactions, less those a compaction replaced.
-- Rows of a file carry ingest ids min_ingest_id..max_ingest_id (one id unless compacted).
CREATE OR REPLACE VIEW raw_files AS
SELECT
    ingest_id,
    f.read_date,
    f.path,
    f.rows,
    f.bytes,
    f.sha256,
    coalesce(f.min_ingest_id, ingest_id) AS min_ingest_id,
    coalesce(f.max_ingest_id, ingest_id) AS max_ingest_id
FROM (
    SELECT ingest_id, unnest(files) AS f
    FROM read_json(getvariable('commit_records'), format = 'auto', columns = {
        'ingest_id': 'VARCHAR',
        'files': 'STRUCT(read_date DATE, path VARCHAR, rows BIGINT, bytes BIGINT, sha256 VARCHAR, min_ingest_id VARCHAR, max_ingest_id VARCHAR)[]'
    })
)
WHERE list_contains(getvariable('raw_file_paths'), f.path)
