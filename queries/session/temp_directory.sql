-- Where this connection's queries spill to disk.
SET temp_directory = $dir
