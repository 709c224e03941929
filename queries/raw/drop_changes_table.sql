-- The changes table of an attempt that lost a commit race.
DROP TABLE IF EXISTS changes
