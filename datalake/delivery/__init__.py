"""Reading deliveries before they are committed: the brief's CSV, Parquet and Arrow files and
EIEP market files, read into typed, validated batches whose errors name the line and field."""
