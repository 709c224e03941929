-- How many keys of the delivery repeat (table dup_keys).
SELECT count(*) FROM dup_keys
