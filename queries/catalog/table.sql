-- The table of a views database file that says which snapshot of the lake its views show.
CREATE TABLE meterlake_catalog (lake VARCHAR, head_ingest VARCHAR, raw_files BIGINT, output_runs VARCHAR[],
                                written_at TIMESTAMPTZ)
