-- How many rows were rejected.
SELECT count(*) FROM rejects
