-- A batch typed in Arrow (relation typed, in the columns of table valid), added to the valid rows.
INSERT INTO valid SELECT * FROM typed
