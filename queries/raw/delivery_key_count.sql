-- How many distinct keys a delivery holds.
SELECT count(*) FROM delivery
