-- The rows of each ingest in the files $files.
SELECT ingest_id, count(*) FROM read_parquet($files) GROUP BY 1
