-- Write the database file's contents to disk.
CHECKPOINT
