-- One row per detail record of every EIEP delivery (after identical repeats collapse): the
-- raw key it adds to, its own stream's or register's value, and what the file says of it.
-- The raw read is the sum of its rows of one ingest: join on the key and ingest_id to
-- raw_reads for the attributes of the delivery that set a read's value.
CREATE OR REPLACE VIEW raw_read_attributes AS
SELECT
    icp_id,
    read_date,
    trading_period,
    read_timestamp,
    energy_flow_direction,
    stream_id,
    register_content_code,
    reading_type,
    interval_read,
    reactive_read,
    apparent_read,
    offset_inferred,
    file_type,
    file_identifier,
    file_status,
    line,
    ingest_id
FROM read_parquet(getvariable('attribute_files'), hive_partitioning = true)
WHERE list_contains(getvariable('ingest_ids'), ingest_id)
