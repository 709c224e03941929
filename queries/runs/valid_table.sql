-- The valid rows of an uploaded run part, typed, with their part and row number.
CREATE TABLE valid (icp_id VARCHAR, read_date DATE, read_time VARCHAR, trading_period SMALLINT,
                    matched_amount DECIMAL(18, 4), publish_datetime TIMESTAMPTZ, buyer_seller VARCHAR,
                    _part INTEGER, _row BIGINT)
