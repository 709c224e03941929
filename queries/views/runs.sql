-- One row per algorithm run known to the snapshot: from the newest run checkpoint
-- (_meta/checkpoints/runs-*.jsonl, whose lines carry "_version") for the runs whose record
-- has not changed since it was written, and from its record (_meta/runs/<run_id>.json) for
-- the others, which are read when the view is queried.
-- "start"/"end" of the record are window_start/window_end here (END is an SQL keyword).
-- stage is candidate (readable by run id, never latest) or latest; records published before
-- stages existed have none and are latest.
CREATE OR REPLACE VIEW runs AS
SELECT
    run_id,
    status,
    "start" AS window_start,
    "end" AS window_end,
    algorithm,
    version,
    params,
    raw_as_of,
    created_at,
    created_by,
    published_at,
    published_by,
    publish_seq,
    coalesce(stage, CASE WHEN status IN ('published', 'retracted') THEN 'latest' END) AS stage,
    promoted_at,
    promoted_by,
    retracted_at,
    retracted_by,
    aborted_at,
    aborted_by,
    rows,
    rows_by_buyer_seller,
    totals,
    icps,
    missing_icps,
    missing_icps_sample,
    dates,
    files
FROM read_json(getvariable('run_records'), format = 'auto', columns = {
    'run_id': 'VARCHAR',
    'status': 'VARCHAR',
    'start': 'DATE',
    'end': 'DATE',
    'algorithm': 'VARCHAR',
    'version': 'VARCHAR',
    'params': 'JSON',
    'raw_as_of': 'VARCHAR',
    'created_at': 'TIMESTAMPTZ',
    'created_by': 'VARCHAR',
    'published_at': 'TIMESTAMPTZ',
    'published_by': 'VARCHAR',
    'publish_seq': 'BIGINT',
    'stage': 'VARCHAR',
    'promoted_at': 'TIMESTAMPTZ',
    'promoted_by': 'VARCHAR',
    'retracted_at': 'TIMESTAMPTZ',
    'retracted_by': 'VARCHAR',
    'aborted_at': 'TIMESTAMPTZ',
    'aborted_by': 'VARCHAR',
    'rows': 'BIGINT',
    'rows_by_buyer_seller': 'STRUCT(buyer BIGINT, seller BIGINT)',
    'totals': 'STRUCT(buyer DECIMAL(18, 4), seller DECIMAL(18, 4))',
    'icps': 'BIGINT',
    'missing_icps': 'BIGINT',
    'missing_icps_sample': 'VARCHAR[]',
    'dates': 'DATE[]',
    'files': 'STRUCT(read_date DATE, path VARCHAR, rows BIGINT, bytes BIGINT)[]',
    '_version': 'JSON'
})
WHERE _version IS NULL OR list_contains(getvariable('run_checkpoint_ids'), run_id)
