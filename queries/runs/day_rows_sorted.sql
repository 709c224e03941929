-- One trading date's output rows (relation day_rows) in the order of the output files, then upload order.
SELECT * FROM day_rows ORDER BY icp_id, trading_period, buyer_seller, _part, _row
