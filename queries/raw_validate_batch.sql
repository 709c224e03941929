-- Validate and type one batch of a raw delivery.
-- Input: relation `batch` (_row BIGINT, read_timestamp, interval_read, energy_flow_direction,
-- icp_id all VARCHAR). Output: one row per input row that is not blank, with typed values and,
-- for a bad row, the first field at fault and why. Session time zone must be UTC.
WITH cleaned AS (
    SELECT
        _row,
        trim(trim(read_timestamp), '"') AS ts_text,
        trim(trim(interval_read), '"') AS read_text,
        trim(trim(energy_flow_direction), '"') AS direction,
        trim(trim(icp_id), '"') AS icp
    FROM batch
    WHERE NOT (read_timestamp = '' AND interval_read = '' AND energy_flow_direction = '' AND icp_id = '')
),
parsed AS (
    SELECT
        *,
        regexp_full_match(ts_text,
            '[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)')
            AS ts_ok,
        regexp_full_match(ts_text, '.*[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-].*)') AS ts_has_offset,
        TRY_CAST(ts_text AS TIMESTAMPTZ) AS ts_value,
        CASE WHEN regexp_full_match(read_text, '[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')
             THEN TRY_CAST(read_text AS DECIMAL(38, 18)) END AS reading
    FROM cleaned
),
typed AS (
    SELECT
        *,
        CASE WHEN ts_ok THEN ts_value END AS ts,
        CASE WHEN ts_ok THEN ts_value - INTERVAL 30 MINUTE END AS period_start
    FROM parsed
),
checked AS (
    SELECT
        *,
        CASE
            WHEN NOT ts_has_offset THEN ['read_timestamp', 'timestamp has no UTC offset (expected e.g. 2018-06-14 00:30:00+12)']
            WHEN ts IS NULL THEN ['read_timestamp', 'not a valid timestamp with offset']
            WHEN epoch_us(ts) % 1800000000 <> 0 THEN ['read_timestamp', 'not on a half-hour boundary']
            WHEN reading IS NULL THEN ['interval_read', 'not a finite decimal number']
            WHEN reading < 0 THEN ['interval_read', 'negative reading']
            WHEN reading >= 1000000000000000 THEN ['interval_read', 'reading too large']
            WHEN abs(reading - round(reading, 3)) > 0.000001 THEN ['interval_read', 'more than 3 decimal places']
            WHEN direction NOT IN ('I', 'X') THEN ['energy_flow_direction', 'must be I (injection) or X (extraction)']
            WHEN icp = '' THEN ['icp_id', 'empty icp_id']
            WHEN length(icp) > 32 THEN ['icp_id', 'longer than 32 characters']
            WHEN NOT regexp_full_match(icp, '[A-Za-z0-9]+') THEN ['icp_id', 'must be letters and digits only']
        END AS fault
    FROM typed
)
SELECT
    _row,
    icp AS icp_id,
    ts AS read_timestamp,
    CAST(timezone('Pacific/Auckland', period_start) AS DATE) AS read_date,
    CAST(1 + (epoch_us(period_start)
              - epoch_us(timezone('Pacific/Auckland', CAST(CAST(timezone('Pacific/Auckland', period_start) AS DATE) AS TIMESTAMP))))
             // 1800000000 AS SMALLINT) AS trading_period,
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
FROM checked
