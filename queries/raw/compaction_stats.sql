-- What a compacted file must hold: the rows of the given raw files, the range of their
-- ingest ids, how many distinct keys, and the rows delivered by each ingest.
SELECT
    count(*) AS n_rows,
    min(ingest_id) AS min_ingest_id,
    max(ingest_id) AS max_ingest_id,
    count(DISTINCT (icp_id, read_timestamp, energy_flow_direction)) AS n_keys,
    (SELECT map(list(ingest_id ORDER BY ingest_id), list(n ORDER BY ingest_id))
     FROM (SELECT ingest_id, count(*) AS n FROM read_parquet($files) GROUP BY ingest_id)) AS rows_by_ingest
FROM read_parquet($files)
