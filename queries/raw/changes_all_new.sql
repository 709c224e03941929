-- The changes of a delivery for dates the lake holds nothing on: every row is new.
CREATE VIEW changes AS SELECT *, false AS is_revision FROM delivery
