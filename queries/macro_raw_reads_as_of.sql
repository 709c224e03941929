-- Raw reads as the lake stood after ingest `as_of` (e.g. 'ing-00000003'): the latest revision
-- among ingests up to and including it. Reproduces what a run that read that snapshot saw.
CREATE OR REPLACE MACRO raw_reads_as_of(as_of) AS TABLE
SELECT
    icp_id,
    read_date,
    trading_period,
    read_timestamp,
    energy_flow_direction,
    interval_read,
    ingest_id
FROM raw_reads_all_revisions
WHERE ingest_id <= as_of
QUALIFY row_number() OVER (
    PARTITION BY icp_id, read_date, read_timestamp, energy_flow_direction
    ORDER BY ingest_id DESC) = 1
