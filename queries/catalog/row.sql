-- The snapshot a views database file shows: the lake, its head ingest, its raw file count, its runs, and when.
INSERT INTO meterlake_catalog VALUES ($lake, $head, $files, $runs, $at)
