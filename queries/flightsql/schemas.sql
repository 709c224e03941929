-- Flight SQL GetDbSchemas: the schemas that hold the analyst views, optionally of one
-- catalog and matching a LIKE pattern (NULL: any).
SELECT DISTINCT table_catalog AS catalog_name, table_schema AS db_schema_name
FROM information_schema.tables
WHERE ($catalog IS NULL OR table_catalog = $catalog)
  AND ($schema_pattern IS NULL OR table_schema LIKE $schema_pattern ESCAPE '\')
  AND table_schema NOT IN ('information_schema', 'pg_catalog')
ORDER BY catalog_name, db_schema_name
