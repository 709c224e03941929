-- Validate and type one batch of an uploaded run part.
-- Input: relation `batch` (_row BIGINT, icp_id, matched_amount, read_date, read_time,
-- publish_datetime, buyer_seller, trading_period all VARCHAR; trading_period '' when the
-- upload has no such column). Parameters: $start, $end (DATE), the run's window.
-- Output: one row per non-blank input row, typed, with the first field at fault and why.
-- Session time zone must be UTC.
WITH cleaned AS (
    SELECT
        _row,
        trim(trim(icp_id), '"') AS icp,
        trim(trim(matched_amount), '"') AS amount_text,
        trim(trim(read_date), '"') AS date_text,
        trim(trim(read_time), '"') AS time_text,
        trim(trim(publish_datetime), '"') AS published_text,
        trim(trim(buyer_seller), '"') AS side,
        trim(trim(trading_period), '"') AS period_text
    FROM batch
    WHERE NOT (icp_id = '' AND matched_amount = '' AND read_date = '' AND read_time = ''
               AND publish_datetime = '' AND buyer_seller = '' AND trading_period = '')
),
parsed AS (
    SELECT
        *,
        CASE WHEN regexp_full_match(amount_text, '[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')
             THEN TRY_CAST(amount_text AS DECIMAL(38, 18)) END AS amount,
        CASE WHEN regexp_full_match(period_text, '[0-9]{1,3}') THEN TRY_CAST(period_text AS SMALLINT) END AS period_given
    FROM cleaned
),
-- Time-zone work is slow per row and the values repeat (a run has a few hundred distinct
-- dates x times and usually one publish_datetime), so it is done once per distinct value.
slots AS (
    SELECT DISTINCT date_text, time_text, period_given FROM parsed
),
slot_days AS (
    SELECT
        *,
        CASE WHEN regexp_full_match(date_text, '[0-9]{4}-[0-9]{2}-[0-9]{2}')
             THEN TRY_CAST(date_text AS DATE) END AS day,
        CASE WHEN regexp_full_match(time_text, '[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.0+)?)?')
             THEN TRY_CAST(time_text AS TIME) END AS local_time
    FROM slots
),
located AS (
    -- The instant the local wall-clock time names. DuckDB resolves an ambiguous local time
    -- to one of its two instants and shifts a nonexistent one; both cases are caught below
    -- by mapping the instant (and the instant an hour either side) back to wall-clock time.
    SELECT
        *,
        timezone('Pacific/Auckland', CAST(day AS TIMESTAMP)) AS midnight,
        timezone('Pacific/Auckland', CAST(day + INTERVAL 1 DAY AS TIMESTAMP)) AS next_midnight,
        day + local_time AS wall_clock,
        timezone('Pacific/Auckland', day + local_time) AS guess
    FROM slot_days
),
slot_periods AS (
    SELECT
        *,
        CAST((epoch_us(next_midnight) - epoch_us(midnight)) // 1800000000 AS SMALLINT) AS periods_in_day,
        timezone('Pacific/Auckland', guess) <> wall_clock AS time_missing,
        timezone('Pacific/Auckland', guess - INTERVAL 1 HOUR) = wall_clock
            OR timezone('Pacific/Auckland', guess + INTERVAL 1 HOUR) = wall_clock AS time_ambiguous,
        CAST(1 + (epoch_us(guess) - epoch_us(midnight)) // 1800000000 AS SMALLINT) AS period_from_time,
        timezone('Pacific/Auckland', midnight + (period_given - 1) * INTERVAL 30 MINUTE) AS period_wall_clock
    FROM located
),
stamps AS (
    SELECT
        published_text,
        regexp_full_match(published_text,
            '[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)')
            AS published_ok,
        regexp_full_match(published_text, '.*[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-].*)') AS published_has_offset,
        TRY_CAST(published_text AS TIMESTAMPTZ) AS published_value
    FROM (SELECT DISTINCT published_text FROM parsed)
),
periods AS (
    SELECT p.*, s.* EXCLUDE (date_text, time_text, period_given), t.* EXCLUDE (published_text)
    FROM parsed p
    JOIN slot_periods s ON s.date_text = p.date_text AND s.time_text = p.time_text
                        AND s.period_given IS NOT DISTINCT FROM p.period_given
    JOIN stamps t ON t.published_text = p.published_text
),
checked AS (
    SELECT
        *,
        CASE
            WHEN icp = '' THEN ['icp_id', 'empty icp_id']
            WHEN length(icp) > 32 THEN ['icp_id', 'longer than 32 characters']
            WHEN NOT regexp_full_match(icp, '[A-Za-z0-9]+') THEN ['icp_id', 'must be letters and digits only']
            WHEN amount IS NULL THEN ['matched_amount', 'not a finite decimal number']
            WHEN amount < 0 THEN ['matched_amount', 'negative amount']
            WHEN amount >= 100000000000000 THEN ['matched_amount', 'amount too large']
            WHEN amount <> round(amount, 4) THEN ['matched_amount', 'more than 4 decimal places']
            WHEN day IS NULL THEN ['read_date', 'not a date YYYY-MM-DD']
            WHEN day < $start OR day > $end
                THEN ['read_date', 'outside the run window ' || CAST($start AS VARCHAR) || '..' || CAST($end AS VARCHAR)]
            WHEN local_time IS NULL THEN ['read_time', 'not a time HH:MM:SS']
            WHEN minute(local_time) NOT IN (0, 30) OR second(local_time) <> 0
                THEN ['read_time', 'not on a half hour (the local start of the interval, e.g. 00:00:00 or 00:30:00)']
            WHEN period_text <> '' AND (period_given IS NULL OR period_given < 1 OR period_given > periods_in_day)
                THEN ['trading_period', 'not a trading period 1..' || CAST(periods_in_day AS VARCHAR) || ' of ' || CAST(day AS VARCHAR)]
            WHEN period_text <> ''
                 AND period_wall_clock <> wall_clock
                THEN ['trading_period', 'does not start at read_time ' || CAST(local_time AS VARCHAR) || ' local time']
            WHEN period_text = '' AND time_missing
                THEN ['read_time', 'does not exist on this date (daylight saving starts)']
            WHEN period_text = '' AND time_ambiguous
                THEN ['read_time', 'occurs twice on this date (daylight saving ends): the row needs trading_period']
            WHEN published_text = '' THEN ['publish_datetime', 'empty publish_datetime']
            WHEN NOT published_has_offset THEN ['publish_datetime', 'timestamp has no UTC offset (expected e.g. 2018-06-27 16:39:36.057601+12)']
            WHEN NOT published_ok OR published_value IS NULL THEN ['publish_datetime', 'not a valid timestamp with offset']
            WHEN side NOT IN ('buyer', 'seller') THEN ['buyer_seller', 'must be buyer or seller']
        END AS fault
    FROM periods
)
SELECT
    _row,
    icp AS icp_id,
    day AS read_date,
    CAST(local_time AS VARCHAR) AS read_time,
    CASE WHEN period_text <> '' THEN period_given ELSE period_from_time END AS trading_period,
    TRY_CAST(amount AS DECIMAL(18, 4)) AS matched_amount,
    published_value AS publish_datetime,
    side AS buyer_seller,
    fault[1] AS error_field,
    CASE fault[1]
        WHEN 'icp_id' THEN icp
        WHEN 'matched_amount' THEN amount_text
        WHEN 'read_date' THEN date_text
        WHEN 'read_time' THEN time_text
        WHEN 'trading_period' THEN period_text
        WHEN 'publish_datetime' THEN published_text
        WHEN 'buyer_seller' THEN side
    END AS error_value,
    fault[2] AS error_reason
FROM checked
