-- Validate and type one batch of a raw delivery.
-- Input: relation `batch` (_row BIGINT, read_timestamp, interval_read, energy_flow_direction,
-- icp_id: VARCHAR, already stripped of surrounding spaces and quotes). Output: one row per
-- non-blank input row with typed values and, for a bad row, the first field at fault and why.
-- The session time zone must be UTC.
WITH parsed AS (
    SELECT
        _row,
        read_timestamp AS ts_text,
        interval_read AS read_text,
        energy_flow_direction AS direction,
        icp_id AS icp,
        CASE WHEN regexp_full_match(read_timestamp,
                  '[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)')
             THEN TRY_CAST(read_timestamp AS TIMESTAMPTZ) END AS ts,
        TRY_CAST(interval_read AS DECIMAL(38, 18)) AS reading
    FROM batch
    WHERE NOT (read_timestamp = '' AND interval_read = '' AND energy_flow_direction = '' AND icp_id = '')
),
located AS (
    SELECT *, CAST(timezone('Pacific/Auckland', ts - INTERVAL 30 MINUTE) AS DATE) AS read_date
    FROM parsed
),
midnights AS (
    -- Local midnight of each trading date as an instant: one time-zone lookup per date, not per row.
    SELECT read_date, timezone('Pacific/Auckland', CAST(read_date AS TIMESTAMP)) AS midnight
    FROM (SELECT DISTINCT read_date FROM located WHERE read_date IS NOT NULL)
)
SELECT
    _row,
    icp AS icp_id,
    ts AS read_timestamp,
    l.read_date,
    CAST(1 + (epoch_us(ts) - 1800000000 - epoch_us(m.midnight)) // 1800000000 AS SMALLINT) AS trading_period,
    CAST(round(reading, 3) AS DECIMAL(18, 3)) AS interval_read,
    direction AS energy_flow_direction,
    fault[1] AS error_field,
    CASE fault[1]
        WHEN 'read_timestamp' THEN ts_text
        WHEN 'interval_read' THEN read_text
        WHEN 'energy_flow_direction' THEN direction
        WHEN 'icp_id' THEN icp
    END AS error_value,
    fault[2] AS error_reason
FROM (
    SELECT
        *,
        CASE
            WHEN ts IS NULL AND NOT regexp_matches(ts_text, '[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]*)?)?(Z|[+-].*)$')
                THEN ['read_timestamp', 'timestamp has no UTC offset (expected e.g. 2018-06-14 00:30:00+12)']
            WHEN ts IS NULL THEN ['read_timestamp', 'not a valid timestamp with offset']
            WHEN epoch_us(ts) % 1800000000 <> 0 THEN ['read_timestamp', 'not on a half-hour boundary']
            WHEN reading IS NULL OR NOT regexp_full_match(read_text, '[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')
                THEN ['interval_read', 'not a finite decimal number']
            WHEN reading < 0 THEN ['interval_read', 'negative reading']
            WHEN reading >= 1000000000000000 THEN ['interval_read', 'reading too large']
            WHEN reading <> round(reading, 3) AND abs(reading - round(reading, 3)) > 0.000001
                THEN ['interval_read', 'more than 3 decimal places']
            WHEN direction NOT IN ('I', 'X') THEN ['energy_flow_direction', 'must be I (injection) or X (extraction)']
            WHEN icp = '' THEN ['icp_id', 'empty icp_id']
            WHEN length(icp) > 32 THEN ['icp_id', 'longer than 32 characters']
            WHEN NOT regexp_full_match(icp, '[A-Za-z0-9]+') THEN ['icp_id', 'must be letters and digits only']
        END AS fault
    FROM located
) AS l
LEFT JOIN midnights AS m USING (read_date)
