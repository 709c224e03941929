-- The good rows of the batch just validated (table checked), added to the valid rows.
INSERT INTO valid
SELECT _row, icp_id, read_timestamp, read_date, trading_period, interval_read, energy_flow_direction
FROM checked WHERE error_field IS NULL
