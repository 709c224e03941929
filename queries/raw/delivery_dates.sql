-- The trading dates a delivery holds, in order.
SELECT DISTINCT read_date FROM delivery ORDER BY 1
