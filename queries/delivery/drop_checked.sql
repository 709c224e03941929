-- The previous batch's validated rows, before the next batch is validated.
DROP TABLE IF EXISTS checked
