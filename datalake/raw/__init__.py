"""Raw interval reads: committing deliveries (ingest), reading them back (query 1, the bulk
stream, as_of, history, the change feed, completeness) and compacting their files."""
