-- The delivery's keys and values from a delivery typed in Arrow (relation delivery_rows).
CREATE VIEW delivery AS
SELECT icp_id, read_timestamp, energy_flow_direction, read_date, trading_period, interval_read FROM delivery_rows
