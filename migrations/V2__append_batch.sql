-- Several appends in one call and one transaction (see commands::event_store::combiner).
--
-- Each append is checked against its own expected version and stored whole (out_accepted[a] true,
-- its events' positions in out_positions) or skipped whole (false, NULL positions); an append sees
-- the appends before it in the same call. An event id already stored, or a concurrent writer taking
-- a version first, raises 23505 and fails the call as a whole: the caller then writes the appends
-- one by one with append_events. Like append_events it chains sha256(previous hash || canonical
-- bytes), and the application role can only EXECUTE it.
CREATE FUNCTION append_batch(
    p_event_counts    integer[],     -- per append: how many of the events below are its own
    p_stream_ids      uuid[],
    p_expected        bigint[],
    p_actors          text[],
    p_channels        text[],
    p_correlation_ids uuid[],
    p_causation_ids   uuid[],
    p_recorded_at     timestamptz[],
    p_event_ids       uuid[],        -- per event: the first append's events, then the second's, ...
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
    hashes       bytea[];
    inserted     bigint;
    positions    bigint[];
BEGIN
    FOR a IN 1..pg_catalog.cardinality(p_stream_ids) LOOP
        last_event := first_event OPERATOR(pg_catalog.+) p_event_counts[a] OPERATOR(pg_catalog.-) 1;
        SELECT e.stream_version, e.hash INTO head_version, chain
          FROM public.events e
         WHERE e.stream_id OPERATOR(pg_catalog.=) p_stream_ids[a]
         ORDER BY e.stream_version DESC
         LIMIT 1;
        IF NOT FOUND THEN
            head_version := 0::bigint;
            chain := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
        END IF;
        out_accepted[a] := head_version OPERATOR(pg_catalog.=) p_expected[a];
        IF NOT out_accepted[a] THEN
            FOR i IN first_event..last_event LOOP
                out_positions[i] := NULL;
            END LOOP;
        ELSIF first_event OPERATOR(pg_catalog.=) last_event THEN
            -- One event, the common case: a plain VALUES insert.
            chain := pg_catalog.sha256(chain OPERATOR(pg_catalog.||) p_canonical[first_event]);
            INSERT INTO public.events AS e (stream_id, stream_version, event_id, event_type,
                                            schema_version, payload, actor, channel,
                                            correlation_id, causation_id, recorded_at, hash)
            VALUES (p_stream_ids[a], p_expected[a] OPERATOR(pg_catalog.+) 1,
                    p_event_ids[first_event], p_event_types[first_event],
                    p_schema_versions[first_event], p_payloads[first_event], p_actors[a],
                    p_channels[a], p_correlation_ids[a], p_causation_ids[a], p_recorded_at[a],
                    chain)
            RETURNING e.position INTO inserted;
            out_positions[first_event] := inserted;
        ELSE
            hashes := '{}';
            FOR i IN first_event..last_event LOOP
                chain := pg_catalog.sha256(chain OPERATOR(pg_catalog.||) p_canonical[i]);
                hashes := hashes OPERATOR(pg_catalog.||) chain;
            END LOOP;
            WITH rows AS (
                INSERT INTO public.events AS e (stream_id, stream_version, event_id, event_type,
                                                schema_version, payload, actor, channel,
                                                correlation_id, causation_id, recorded_at, hash)
                SELECT p_stream_ids[a], p_expected[a] OPERATOR(pg_catalog.+) u.ord, u.event_id,
                       u.event_type, u.schema_version, u.payload, p_actors[a], p_channels[a],
                       p_correlation_ids[a], p_causation_ids[a], p_recorded_at[a], u.hash
                  FROM unnest(p_event_ids[first_event:last_event],
                              p_event_types[first_event:last_event],
                              p_schema_versions[first_event:last_event],
                              p_payloads[first_event:last_event], hashes)
                       WITH ORDINALITY AS u(event_id, event_type, schema_version, payload, hash, ord)
                 ORDER BY u.ord
                RETURNING e.position
            )
            SELECT pg_catalog.array_agg(r.position ORDER BY r.position) INTO positions FROM rows r;
            FOR j IN 1..pg_catalog.cardinality(positions) LOOP
                out_positions[first_event OPERATOR(pg_catalog.+) j OPERATOR(pg_catalog.-) 1] := positions[j];
            END LOOP;
        END IF;
        first_event := last_event OPERATOR(pg_catalog.+) 1;
    END LOOP;
    IF true OPERATOR(pg_catalog.=) ANY (out_accepted) THEN
        out_tx_id := pg_catalog.pg_current_xact_id()::pg_catalog.text::bigint;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION append_batch FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_batch TO egov_app;
