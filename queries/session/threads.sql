-- How many threads this connection's queries use.
SET threads = $threads
