-- Raw reads at their latest revision: for each (icp_id, read_timestamp, energy_flow_direction)
-- the row of the highest ingest_id, as the engine's read path chooses it. read_date is a
-- function of read_timestamp; it is in the key so that date filters prune partitions.
CREATE OR REPLACE VIEW raw_reads AS
SELECT
    icp_id,
    read_date,
    trading_period,
    read_timestamp,
    energy_flow_direction,
    interval_read,
    ingest_id
FROM raw_reads_all_revisions
QUALIFY row_number() OVER (
    PARTITION BY icp_id, read_date, read_timestamp, energy_flow_direction
    ORDER BY ingest_id DESC) = 1
