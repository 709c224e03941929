-- The valid rows of a raw delivery, typed, with their row number in the source.
CREATE TABLE valid (_row BIGINT, icp_id VARCHAR, read_timestamp TIMESTAMPTZ, read_date DATE, trading_period SMALLINT,
                    interval_read DECIMAL(18, 3), energy_flow_direction VARCHAR)
