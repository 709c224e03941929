-- A delivery with identical duplicates collapsed and conflicting keys left out.
CREATE TABLE delivery AS
SELECT DISTINCT ON (icp_id, read_timestamp, energy_flow_direction)
    icp_id, read_timestamp, energy_flow_direction, read_date, trading_period, interval_read
FROM valid
ANTI JOIN (SELECT * FROM dup_keys WHERE n_values > 1) AS conflicts
    USING (icp_id, read_timestamp, energy_flow_direction)
