-- The ingest id an `as_of` value names, by the rule of datalake/raw/asof.py: an ingest id as it
-- is (it must be one of the snapshot's ingests), or an RFC 3339 time with Z or an offset:
-- the last ingest committed at or before it. Before the first ingest, in the future, or of
-- another form, an error.
CREATE OR REPLACE MACRO as_of_ingest(as_of) AS
CASE
    WHEN regexp_full_match(as_of, 'ing-[0-9]{8}') THEN
        CASE WHEN as_of IN (SELECT ingest_id FROM ingests) THEN as_of
             ELSE error('as_of=' || as_of || ' names no ingest in this snapshot of the lake') END
    WHEN NOT regexp_full_match(as_of, '[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})')
        OR TRY_CAST(as_of AS TIMESTAMPTZ) IS NULL
        THEN error('as_of must be an ingest id like ing-00000001 or an RFC 3339 time like '
                   || '2018-06-20T09:00:00+12:00, got ' || as_of)
    WHEN TRY_CAST(as_of AS TIMESTAMPTZ) > now() THEN error('as_of=' || as_of || ' is in the future')
    ELSE coalesce((SELECT max(ingest_id) FROM ingests WHERE committed_at <= TRY_CAST(as_of AS TIMESTAMPTZ)),
                  error('as_of=' || as_of || ' is before the first ingest of this lake'))
END
