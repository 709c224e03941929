-- Flight SQL GetTables: the analyst views (and any tables), optionally of one catalog,
-- schemas and names matching LIKE patterns, and of the given types (NULL: any).
SELECT table_catalog AS catalog_name, table_schema AS db_schema_name, table_name,
       CASE table_type WHEN 'BASE TABLE' THEN 'TABLE' ELSE table_type END AS table_type
FROM information_schema.tables
WHERE ($catalog IS NULL OR table_catalog = $catalog)
  AND ($schema_pattern IS NULL OR table_schema LIKE $schema_pattern ESCAPE '\')
  AND ($table_pattern IS NULL OR table_name LIKE $table_pattern ESCAPE '\')
  AND ($types IS NULL OR list_contains($types, CASE table_type WHEN 'BASE TABLE' THEN 'TABLE' ELSE table_type END))
  AND table_schema NOT IN ('information_schema', 'pg_catalog')
ORDER BY catalog_name, db_schema_name, table_name
