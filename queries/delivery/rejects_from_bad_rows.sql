-- Rows the reader could not split into fields (relation bad_rows), added to the rejects.
INSERT INTO rejects SELECT row, field, value, reason FROM bad_rows
