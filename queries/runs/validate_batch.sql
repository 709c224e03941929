-- Validate and type one batch of an uploaded run part.
-- Input: relation `batch` (_row BIGINT, icp_id, matched_amount, read_date, read_time,
-- publish_datetime, buyer_seller, trading_period all VARCHAR, already stripped of padding
-- and quotes as in `101, "0.0000"`; trading_period is '' when the upload has none).
-- Parameters: $start, $end (DATE), the run's window. Session time zone must be UTC.
-- Output: one row per non-blank input row, typed, with the first field at fault and why.
--
-- Time-zone work is slow per row and its inputs repeat (a run has a few hundred distinct
-- date x time x period slots, and usually one publish_datetime), so it is done once per
-- distinct value and joined back. Row-level checks produce a small fault code; the text
-- of a fault is only built for the rows that have one.
WITH slots AS (
    SELECT DISTINCT read_date AS date_text, read_time AS time_text, trading_period AS period_text FROM batch
),
slot_values AS (
    SELECT
        *,
        CASE WHEN regexp_full_match(date_text, '[0-9]{4}-[0-9]{2}-[0-9]{2}')
             THEN TRY_CAST(date_text AS DATE) END AS day,
        CASE WHEN regexp_full_match(time_text, '[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.0+)?)?')
             THEN TRY_CAST(time_text AS TIME) END AS local_time,
        CASE WHEN regexp_full_match(period_text, '[0-9]{1,3}') THEN TRY_CAST(period_text AS SMALLINT) END AS period_given
    FROM slots
),
slot_instants AS (
    -- The instant a local wall-clock time names. DuckDB resolves an ambiguous local time
    -- to one of its two instants and shifts a nonexistent one; both are caught below by
    -- mapping the instant (and the instants an hour either side) back to wall-clock time.
    SELECT
        *,
        timezone('Pacific/Auckland', CAST(day AS TIMESTAMP)) AS midnight,
        timezone('Pacific/Auckland', CAST(day + INTERVAL 1 DAY AS TIMESTAMP)) AS next_midnight,
        day + local_time AS wall_clock,
        timezone('Pacific/Auckland', day + local_time) AS guess
    FROM slot_values
),
slot_checked AS (
    SELECT
        date_text, time_text, period_text, day, local_time, period_given,
        CAST((epoch_us(next_midnight) - epoch_us(midnight)) // 1800000000 AS SMALLINT) AS periods_in_day,
        CASE
            WHEN day IS NULL THEN 21
            WHEN day < $start OR day > $end THEN 22
            WHEN local_time IS NULL THEN 31
            WHEN minute(local_time) NOT IN (0, 30) OR second(local_time) <> 0 THEN 32
            WHEN period_text <> '' AND (period_given IS NULL OR period_given < 1
                 OR period_given > (epoch_us(next_midnight) - epoch_us(midnight)) // 1800000000) THEN 41
            WHEN period_text <> ''
                 AND timezone('Pacific/Auckland', midnight + (period_given - 1) * INTERVAL 30 MINUTE) <> wall_clock
                THEN 42
            WHEN period_text = '' AND timezone('Pacific/Auckland', guess) <> wall_clock THEN 33
            WHEN period_text = '' AND (timezone('Pacific/Auckland', guess - INTERVAL 1 HOUR) = wall_clock
                                       OR timezone('Pacific/Auckland', guess + INTERVAL 1 HOUR) = wall_clock) THEN 34
        END AS slot_fault,
        CASE WHEN period_text <> '' THEN period_given
             ELSE CAST(1 + (epoch_us(guess) - epoch_us(midnight)) // 1800000000 AS SMALLINT) END AS trading_period
    FROM slot_instants
),
stamps AS (
    SELECT
        published_text,
        CASE
            WHEN published_text = '' THEN 51
            WHEN NOT regexp_full_match(published_text, '.*[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-].*)') THEN 52
            WHEN NOT regexp_full_match(published_text,
                '[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)')
                OR TRY_CAST(published_text AS TIMESTAMPTZ) IS NULL THEN 53
        END AS stamp_fault,
        TRY_CAST(published_text AS TIMESTAMPTZ) AS publish_datetime
    FROM (SELECT DISTINCT publish_datetime AS published_text FROM batch)
),
joined AS (
    SELECT
        b._row, b.icp_id, b.matched_amount AS amount_text, b.buyer_seller,
        s.*, t.*,
        -- Plain decimals with at most 4 significant decimals are the norm; anything else
        -- (exponents, more digits) takes the slow exact path.
        regexp_full_match(b.matched_amount, '\+?[0-9]{1,14}(\.[0-9]{0,4}0*)?') AS amount_plain
    FROM batch b
    JOIN slot_checked s ON s.date_text = b.read_date AND s.time_text = b.read_time
                        AND s.period_text = b.trading_period
    JOIN stamps t ON t.published_text = b.publish_datetime
    WHERE NOT (b.icp_id = '' AND b.matched_amount = '' AND b.read_date = '' AND b.read_time = ''
               AND b.publish_datetime = '' AND b.buyer_seller = '' AND b.trading_period = '')
),
amounts AS (
    SELECT
        *,
        CASE WHEN NOT amount_plain AND regexp_full_match(amount_text, '[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')
             THEN TRY_CAST(amount_text AS DECIMAL(38, 18)) END AS amount_exact
    FROM joined
),
checked AS (
    SELECT
        *,
        CASE
            WHEN icp_id = '' THEN 1
            WHEN length(icp_id) > 32 THEN 2
            WHEN NOT regexp_full_match(icp_id, '[A-Za-z0-9]+') THEN 3
            WHEN amount_plain THEN NULL
            WHEN amount_exact IS NULL THEN 11
            WHEN amount_exact < 0 THEN 12
            WHEN amount_exact >= 100000000000000 THEN 13
            WHEN amount_exact <> round(amount_exact, 4) THEN 14
        END AS row_fault
    FROM amounts
),
faults AS (
    SELECT
        *,
        coalesce(row_fault, slot_fault, stamp_fault,
                 CASE WHEN buyer_seller NOT IN ('buyer', 'seller') THEN 61 END) AS fault
    FROM checked
)
SELECT
    _row,
    icp_id,
    day AS read_date,
    CAST(local_time AS VARCHAR) AS read_time,
    trading_period,
    CASE WHEN amount_plain THEN TRY_CAST(amount_text AS DECIMAL(18, 4))
         ELSE TRY_CAST(amount_exact AS DECIMAL(18, 4)) END AS matched_amount,
    publish_datetime,
    buyer_seller,
    CASE WHEN fault IS NOT NULL THEN
        CASE fault // 10 WHEN 0 THEN 'icp_id' WHEN 1 THEN 'matched_amount' WHEN 2 THEN 'read_date'
             WHEN 3 THEN 'read_time' WHEN 4 THEN 'trading_period' WHEN 5 THEN 'publish_datetime'
             ELSE 'buyer_seller' END
    END AS error_field,
    CASE WHEN fault IS NOT NULL THEN
        CASE fault // 10 WHEN 0 THEN icp_id WHEN 1 THEN amount_text WHEN 2 THEN date_text
             WHEN 3 THEN time_text WHEN 4 THEN period_text WHEN 5 THEN published_text ELSE buyer_seller END
    END AS error_value,
    CASE fault
        WHEN 1 THEN 'empty icp_id'
        WHEN 2 THEN 'longer than 32 characters'
        WHEN 3 THEN 'must be letters and digits only'
        WHEN 11 THEN 'not a finite decimal number'
        WHEN 12 THEN 'negative amount'
        WHEN 13 THEN 'amount too large'
        WHEN 14 THEN 'more than 4 decimal places'
        WHEN 21 THEN 'not a date YYYY-MM-DD'
        WHEN 22 THEN 'outside the run window ' || CAST($start AS VARCHAR) || '..' || CAST($end AS VARCHAR)
        WHEN 31 THEN 'not a time HH:MM:SS'
        WHEN 32 THEN 'not on a half hour (the local start of the interval, e.g. 00:00:00 or 00:30:00)'
        WHEN 33 THEN 'does not exist on this date (daylight saving starts)'
        WHEN 34 THEN 'occurs twice on this date (daylight saving ends): the row needs trading_period'
        WHEN 41 THEN 'not a trading period 1..' || CAST(periods_in_day AS VARCHAR) || ' of ' || CAST(day AS VARCHAR)
        WHEN 42 THEN 'does not start at read_time ' || CAST(local_time AS VARCHAR) || ' local time'
        WHEN 51 THEN 'empty publish_datetime'
        WHEN 52 THEN 'timestamp has no UTC offset (expected e.g. 2018-06-27 16:39:36.057601+12)'
        WHEN 53 THEN 'not a valid timestamp with offset'
        WHEN 61 THEN 'must be buyer or seller'
    END AS error_reason
FROM faults
