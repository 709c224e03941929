-- The tables and views a connection can query, by name.
SELECT table_name, table_type FROM information_schema.tables ORDER BY 1
