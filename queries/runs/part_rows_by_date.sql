-- An uploaded part's valid rows (table valid, filled by row-by-row validation), by trading date.
SELECT * FROM valid ORDER BY read_date
