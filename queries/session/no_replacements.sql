-- Table names in SQL mean the database's tables and views, never variables of this program.
SET python_enable_replacements = false
