-- The raw reads of $files as EIEP3 detail records (ICPHH), one line each, in file order of
-- (icp_id, read_timestamp, energy_flow_direction): DET, ICP, stream identifier, reading type,
-- trading date dd/mm/yyyy, trading period, active energy kWh, reactive, apparent, direction,
-- stream type.
SELECT
    'DET,' || icp_id || ',' || CASE energy_flow_direction WHEN 'X' THEN '1' ELSE '2' END || ',F,'
        || strftime(read_date, '%d/%m/%Y') || ',' || trading_period || ',' || CAST(interval_read AS VARCHAR)
        || ',,,' || energy_flow_direction || ',' AS line
FROM read_parquet($files, hive_partitioning = true, hive_types = {'read_date': DATE})
ORDER BY read_date, icp_id, read_timestamp, energy_flow_direction
