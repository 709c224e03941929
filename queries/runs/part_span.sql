-- An uploaded part's row count and first and last trading date.
SELECT count(*), min(read_date), max(read_date) FROM valid
