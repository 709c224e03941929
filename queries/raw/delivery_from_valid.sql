-- The delivery's keys and values when no key repeats: the valid rows as they are.
CREATE VIEW delivery AS
SELECT icp_id, read_timestamp, energy_flow_direction, read_date, trading_period, interval_read FROM valid
