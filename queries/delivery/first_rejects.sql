-- The first $n rejects in row order (rows without a number, such as a file-level problem, first).
SELECT row, field, value, reason FROM rejects ORDER BY row NULLS FIRST LIMIT $n
