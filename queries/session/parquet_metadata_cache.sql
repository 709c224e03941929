-- Keep Parquet footers in memory: the lake's files never change once committed.
SET parquet_metadata_cache = true
