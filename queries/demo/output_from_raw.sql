-- Synthetic algorithm output for demos and benchmarks: one row per raw extraction read of
-- the ICPs in shard $shard of $shards, in the brief's output columns plus trading_period.
-- An ICP that also injects is a seller, otherwise a buyer; the matched share of each read
-- depends on $seed, so two seeds give two different runs over the same raw data.
WITH reads AS (
    SELECT icp_id, read_timestamp, read_date, trading_period, interval_read, energy_flow_direction
    FROM read_parquet($files, hive_partitioning = true, hive_types = {'read_date': DATE})
    WHERE hash(icp_id) % $shards = $shard
    QUALIFY row_number() OVER (PARTITION BY icp_id, read_timestamp, energy_flow_direction
                               ORDER BY ingest_id DESC) = 1
),
sellers AS (
    SELECT DISTINCT icp_id FROM reads WHERE energy_flow_direction = 'I'
)
SELECT
    r.icp_id,
    CAST(round(r.interval_read * (hash(r.icp_id, $seed, r.trading_period) % 1000) / 1000, 4) AS DECIMAL(18, 4))
        AS matched_amount,
    r.read_date,
    strftime(timezone('Pacific/Auckland', r.read_timestamp - INTERVAL 30 MINUTE), '%H:%M:%S') AS read_time,
    $published AS publish_datetime,
    CASE WHEN s.icp_id IS NULL THEN 'buyer' ELSE 'seller' END AS buyer_seller,
    r.trading_period
FROM reads r
LEFT JOIN sellers s USING (icp_id)
WHERE r.energy_flow_direction = 'X'
