-- No file outside the allowed directories, and no extension.
SET enable_external_access = false
