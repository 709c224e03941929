-- The most memory this connection's queries may use ($limit, e.g. '2GB'); beyond it they spill.
SET memory_limit = $limit
