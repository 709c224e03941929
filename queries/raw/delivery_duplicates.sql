-- Keys that occur more than once in a validated delivery (table `valid`), with how many
-- distinct values each carries (more than one is a conflict). A cheap pass over a hash of the
-- key finds the candidates; only those are grouped exactly.
CREATE TABLE dup_keys AS
WITH candidates AS (
    SELECT hash(icp_id, read_timestamp, energy_flow_direction) AS h
    FROM valid
    GROUP BY h
    HAVING count(*) > 1
)
SELECT
    icp_id,
    read_timestamp,
    energy_flow_direction,
    count(DISTINCT interval_read) AS n_values,
    count(*) AS copies,
    min(_row) AS first_row,
    max(_row) AS last_row
FROM valid
WHERE hash(icp_id, read_timestamp, energy_flow_direction) IN (SELECT h FROM candidates)
GROUP BY icp_id, read_timestamp, energy_flow_direction
HAVING count(*) > 1
