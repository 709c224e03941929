-- New, revised and all changed rows of a delivery (the `changes` table of raw_delivery_changes.sql).
SELECT count(*) FILTER (NOT is_revision), count(*) FILTER (is_revision), count(*) FROM changes
