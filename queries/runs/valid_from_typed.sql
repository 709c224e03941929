-- A batch typed in Arrow (relation typed), added to the valid rows of part $part.
INSERT INTO valid SELECT * EXCLUDE (_row), $part, _row FROM typed
