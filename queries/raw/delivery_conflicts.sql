-- Every row of a delivery whose key carries more than one value, with the reason, added to the rejects.
INSERT INTO rejects
SELECT
    v._row AS row,
    'interval_read' AS field,
    CAST(v.interval_read AS VARCHAR) AS value,
    printf('conflicting values for the same (icp_id, read_timestamp, energy_flow_direction) (rows %d to %d)',
           d.first_row, d.last_row) AS reason
FROM valid AS v
JOIN dup_keys AS d USING (icp_id, read_timestamp, energy_flow_direction)
WHERE d.n_values > 1
