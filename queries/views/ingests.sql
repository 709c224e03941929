-- One row per committed ingest, read from its commit record: the newest checkpoint
-- (_meta/checkpoints/<ingest_id>.jsonl) and the records after it (_meta/ingests/<ingest_id>.json).
-- The id list is the snapshot the other raw views were built from; it leaves compactions out.
CREATE OR REPLACE VIEW ingests AS
SELECT
    ingest_id,
    committed_at,
    actor,
    source.name AS source_name,
    source.format AS source_format,
    source.bytes AS source_bytes,
    source.sha256 AS source_sha256,
    rows.read AS rows_read,
    rows.new AS rows_new,
    rows.revised AS rows_revised,
    rows.unchanged AS rows_unchanged,
    rows.duplicates_collapsed AS rows_duplicates_collapsed,
    rows.rejected AS rows_rejected,
    rows.stored AS rows_stored,
    dates,
    files,
    rejects_file
FROM read_json(getvariable('commit_records'), format = 'auto', columns = {
    'ingest_id': 'VARCHAR',
    'committed_at': 'TIMESTAMPTZ',
    'actor': 'VARCHAR',
    'source': 'STRUCT(name VARCHAR, format VARCHAR, bytes BIGINT, sha256 VARCHAR)',
    'rows': 'STRUCT(read BIGINT, new BIGINT, revised BIGINT, unchanged BIGINT, duplicates_collapsed BIGINT, rejected BIGINT, stored BIGINT)',
    'dates': 'DATE[]',
    'files': 'STRUCT(read_date DATE, path VARCHAR, rows BIGINT, bytes BIGINT, sha256 VARCHAR)[]',
    'rejects_file': 'VARCHAR'
})
WHERE list_contains(getvariable('ingest_ids'), ingest_id)
