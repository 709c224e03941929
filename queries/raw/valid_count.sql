-- How many valid rows the delivery has, before duplicates are collapsed.
SELECT count(*) FROM valid
