-- The bad rows of the batch just validated (table checked), added to the rejects.
INSERT INTO rejects SELECT _row, error_field, error_value, error_reason FROM checked WHERE error_field IS NOT NULL
