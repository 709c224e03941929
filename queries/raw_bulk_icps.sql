-- The ICPs present in the given raw files (already limited to the date range and the as_of
-- snapshot), with a row count each, in icp_id order, keeping only shard $shard_k of
-- $shard_n. The shard is the first 8 hex digits of md5(icp_id) as an integer, mod $shard_n:
-- defined by the text of the id alone, so any client or engine version computes the same.
WITH ids AS MATERIALIZED (
    SELECT icp_id, count(*) AS n_rows
    FROM read_parquet($files)
    WHERE ingest_id <= $as_of
      AND ($direction IS NULL OR energy_flow_direction = $direction)
    GROUP BY icp_id
)
SELECT icp_id, n_rows
FROM ids
WHERE CAST('0x' || left(md5(icp_id), 8) AS UBIGINT) % $shard_n = $shard_k
ORDER BY icp_id
