-- Every stored revision of every raw read, over the committed raw files only (the file list
-- comes from the commit records, never a glob). read_date is the trading date (Hive key).
CREATE OR REPLACE VIEW raw_reads_all_revisions AS
SELECT
    icp_id,
    read_date,
    trading_period,
    read_timestamp,
    energy_flow_direction,
    interval_read,
    ingest_id
FROM read_parquet(getvariable('raw_files'), hive_partitioning = true, hive_types = {'read_date': DATE})
