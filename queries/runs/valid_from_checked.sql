-- The good rows of the batch just validated (table checked), added to the valid rows of part $part.
INSERT INTO valid
SELECT icp_id, read_date, read_time, trading_period, matched_amount, publish_datetime, buyer_seller, $part, _row
FROM checked WHERE error_field IS NULL
