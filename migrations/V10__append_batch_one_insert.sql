-- append_batch (V2) again, with the same arguments and answers, writing the accepted events of the
-- whole call with one INSERT instead of one per append: an INSERT's fixed cost (starting the
-- executor, building the CHECK constraints, RETURNING) was paid per append, and in a combined
-- batch of ten-event appends it outweighed the rows.
--
-- An append still sees the appends before it in the same call: the heads of the streams met so
-- far are kept in the loop (met_*), so a second append to a stream is checked against the first
-- one's last version and chains onto its last hash.
CREATE OR REPLACE FUNCTION append_batch(
    p_event_counts    integer[],
    p_stream_ids      uuid[],
    p_expected        bigint[],
    p_actors          text[],
    p_channels        text[],
    p_correlation_ids uuid[],
    p_causation_ids   uuid[],
    p_recorded_at     timestamptz[],
    p_event_ids       uuid[],
    p_event_types     text[],
    p_schema_versions integer[],
    p_payloads        jsonb[],
    p_canonical       bytea[],
    OUT out_tx_id     bigint,
    OUT out_accepted  boolean[],
    OUT out_positions bigint[]
)
LANGUAGE plpgsql
SECURITY DEFINER
AS $$
DECLARE
    first_event  integer := 1;
    last_event   integer;
    head_version bigint;
    chain        bytea;
    seen         integer;
    met_streams  uuid[] := '{}';
    met_versions bigint[] := '{}';
    met_hashes   bytea[] := '{}';
    -- The accepted events: index into the p_event_* arrays, their append, version and hash.
    ins_event    integer[] := '{}';
    ins_append   integer[] := '{}';
    ins_version  bigint[] := '{}';
    ins_hash     bytea[] := '{}';
    positions    bigint[];
BEGIN
    out_positions := pg_catalog.array_fill(NULL::bigint,
                                           ARRAY[pg_catalog.cardinality(p_event_ids)]);
    FOR a IN 1..pg_catalog.cardinality(p_stream_ids) LOOP
        last_event := first_event OPERATOR(pg_catalog.+) p_event_counts[a] OPERATOR(pg_catalog.-) 1;
        seen := pg_catalog.array_position(met_streams, p_stream_ids[a]);
        IF seen IS NOT NULL THEN
            head_version := met_versions[seen];
            chain := met_hashes[seen];
        ELSE
            SELECT e.stream_version, e.hash INTO head_version, chain
              FROM public.events e
             WHERE e.stream_id OPERATOR(pg_catalog.=) p_stream_ids[a]
             ORDER BY e.stream_version DESC
             LIMIT 1;
            IF NOT FOUND THEN
                head_version := 0::bigint;
                chain := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
            END IF;
        END IF;
        out_accepted[a] := head_version OPERATOR(pg_catalog.=) p_expected[a];
        IF out_accepted[a] THEN
            FOR i IN first_event..last_event LOOP
                chain := pg_catalog.sha256(chain OPERATOR(pg_catalog.||) p_canonical[i]);
                head_version := head_version OPERATOR(pg_catalog.+) 1;
                ins_event := ins_event OPERATOR(pg_catalog.||) i;
                ins_append := ins_append OPERATOR(pg_catalog.||) a;
                ins_version := ins_version OPERATOR(pg_catalog.||) head_version;
                ins_hash := ins_hash OPERATOR(pg_catalog.||) chain;
            END LOOP;
        END IF;
        IF seen IS NULL THEN
            met_streams := met_streams OPERATOR(pg_catalog.||) p_stream_ids[a];
            met_versions := met_versions OPERATOR(pg_catalog.||) head_version;
            met_hashes := met_hashes OPERATOR(pg_catalog.||) chain;
        ELSE
            met_versions[seen] := head_version;
            met_hashes[seen] := chain;
        END IF;
        first_event := last_event OPERATOR(pg_catalog.+) 1;
    END LOOP;
    IF pg_catalog.cardinality(ins_event) OPERATOR(pg_catalog.>) 0 THEN
        -- The events' own columns are read by unnesting their arrays once (subscripting an array
        -- of variable-length values walks it from the start), joined to the accepted ones.
        WITH rows AS (
            INSERT INTO public.events AS e (stream_id, stream_version, event_id, event_type,
                                            schema_version, payload, actor, channel,
                                            correlation_id, causation_id, recorded_at, hash)
            SELECT p_stream_ids[u.a], u.v, ev.event_id, ev.event_type, ev.schema_version,
                   ev.payload, p_actors[u.a], p_channels[u.a], p_correlation_ids[u.a],
                   p_causation_ids[u.a], p_recorded_at[u.a], u.h
              FROM unnest(ins_event, ins_append, ins_version, ins_hash)
                   WITH ORDINALITY AS u(i, a, v, h, ord)
              JOIN unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads)
                   WITH ORDINALITY AS ev(event_id, event_type, schema_version, payload, i)
                ON ev.i OPERATOR(pg_catalog.=) u.i
             ORDER BY u.ord
            RETURNING e.position
        )
        SELECT pg_catalog.array_agg(r.position ORDER BY r.position) INTO positions FROM rows r;
        FOR j IN 1..pg_catalog.cardinality(positions) LOOP
            out_positions[ins_event[j]] := positions[j];
        END LOOP;
        out_tx_id := pg_catalog.pg_current_xact_id()::pg_catalog.text::bigint;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION append_batch FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_batch TO egov_app;
