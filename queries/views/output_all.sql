-- Every row of every run that was published when the views were defined (retracted runs
-- included: they stay readable by run id; join runs for their status). Files come from
-- the run records, never a glob, so a run being published is never half visible.
-- read_date is the trading date, read_time the local start of the interval (ambiguous on
-- the day daylight saving ends; trading_period is not).
CREATE OR REPLACE VIEW output_all AS
SELECT
    run_id,
    read_date,
    icp_id,
    trading_period,
    read_time,
    buyer_seller,
    matched_amount,
    publish_datetime
FROM read_parquet(getvariable('output_files'), hive_partitioning = true,
                  hive_types = {'run_id': VARCHAR, 'read_date': DATE})
