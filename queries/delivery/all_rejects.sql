-- Every reject in row order, for the rejects file.
SELECT row, field, value, reason FROM rejects ORDER BY row
