-- Of the repeated keys: the rows of keys with conflicting values (rejected), and the extra
-- copies of keys repeated with one value (collapsed).
SELECT coalesce(sum(copies) FILTER (n_values > 1), 0), coalesce(sum(copies - 1) FILTER (n_values = 1), 0)
FROM dup_keys
