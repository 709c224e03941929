-- Collapse a validated delivery (table `valid`) to one row per key, counting how many
-- distinct values each key carries: more than one is a conflict.
CREATE TABLE delivery AS
SELECT
    icp_id,
    read_timestamp,
    energy_flow_direction,
    any_value(read_date) AS read_date,
    any_value(trading_period) AS trading_period,
    min(interval_read) AS interval_read,
    count(DISTINCT interval_read) AS n_values,
    count(*) AS copies,
    min(_row) AS first_row,
    max(_row) AS last_row
FROM valid
GROUP BY icp_id, read_timestamp, energy_flow_direction
