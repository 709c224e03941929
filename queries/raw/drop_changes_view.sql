-- The changes view of an attempt that lost a commit race.
DROP VIEW IF EXISTS changes
