-- The three SECURITY DEFINER functions again, with the same arguments and answers, each with its
-- search_path pinned to pg_catalog (then pg_temp, which is searched for tables only) and every name
-- in its body qualified.
--
-- Why: they run as the schema's owner, and the application's role owns schemas (projections,
-- workflow) in which it can create functions and operators. V1 and V10 qualified most names but
-- not every operator: `e.stream_id = p_stream_id` in append_events is resolved through the
-- caller's search_path, so the application's role could create `projections.=` for uuid, put
-- projections first in its path, and have its function run as the owner (a superuser in many
-- setups) on the next append - tried against V1 and seen to run as `postgres`. Qualifying every
-- name by hand is what missed it; a pinned path leaves nothing to miss. The multi-array
-- `unnest(a, b)` always meant pg_catalog's (PostgreSQL rewrites it so), but is spelled here as
-- ROWS FROM of qualified single-array unnests (the same rows) so that no name is left unqualified.
--
-- V1 chose qualified names over a SET clause because saving and restoring the setting costs each
-- call; that cost is now paid (docs/security.md). The guarantee test definer_functions tries each
-- hijack as the application's role.

CREATE OR REPLACE FUNCTION public.append_events(
    p_stream_id       uuid,
    p_expected        bigint,
    p_event_ids       uuid[],
    p_event_types     text[],
    p_schema_versions integer[],
    p_payloads        jsonb[],
    p_canonical       bytea[],
    p_actor           text,
    p_channel         text,
    p_correlation_id  uuid,
    p_causation_id    uuid,
    p_recorded_at     timestamptz
) RETURNS TABLE (out_version bigint, out_position bigint, out_tx_id bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head_version bigint;
    chain        bytea;
    hashes       bytea[];
    n            integer := pg_catalog.cardinality(p_event_ids);
BEGIN
    SELECT e.stream_version, e.hash INTO head_version, chain
      FROM public.events e
     WHERE e.stream_id OPERATOR(pg_catalog.=) p_stream_id
     ORDER BY e.stream_version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        head_version := 0::bigint;
        chain := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    END IF;
    IF head_version OPERATOR(pg_catalog.<>) p_expected THEN
        RAISE EXCEPTION 'stream % is at version %, not %', p_stream_id, head_version, p_expected
            USING ERRCODE = 'EGV01', DETAIL = head_version::pg_catalog.text;
    END IF;
    FOR i IN 1..n LOOP
        chain := pg_catalog.sha256(chain OPERATOR(pg_catalog.||) p_canonical[i]);
        hashes[i] := chain;
    END LOOP;
    RETURN QUERY
    INSERT INTO public.events AS e (stream_id, stream_version, event_id, event_type, schema_version, payload,
                             actor, channel, correlation_id, causation_id, recorded_at, hash)
    SELECT p_stream_id, p_expected OPERATOR(pg_catalog.+) u.ord, u.event_id, u.event_type, u.schema_version, u.payload,
           p_actor, p_channel, p_correlation_id, p_causation_id, p_recorded_at, u.hash
      FROM ROWS FROM (pg_catalog.unnest(p_event_ids), pg_catalog.unnest(p_event_types),
                      pg_catalog.unnest(p_schema_versions), pg_catalog.unnest(p_payloads),
                      pg_catalog.unnest(hashes))
           WITH ORDINALITY AS u(event_id, event_type, schema_version, payload, hash, ord)
     ORDER BY u.ord
    RETURNING e.stream_version, e.position, e.tx_id;
END
$$;

CREATE OR REPLACE FUNCTION public.append_batch(
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
SET search_path = pg_catalog, pg_temp
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
              FROM ROWS FROM (pg_catalog.unnest(ins_event), pg_catalog.unnest(ins_append),
                              pg_catalog.unnest(ins_version), pg_catalog.unnest(ins_hash))
                   WITH ORDINALITY AS u(i, a, v, h, ord)
              JOIN ROWS FROM (pg_catalog.unnest(p_event_ids), pg_catalog.unnest(p_event_types),
                              pg_catalog.unnest(p_schema_versions), pg_catalog.unnest(p_payloads))
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

CREATE OR REPLACE FUNCTION public.allocate_request_number(p_stream_id uuid, p_day date) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_number text;
    seq          integer;
BEGIN
    SELECT r.number INTO found_number FROM public.request_numbers r WHERE r.stream_id OPERATOR(pg_catalog.=) p_stream_id;
    IF FOUND THEN
        RETURN found_number;
    END IF;
    INSERT INTO public.request_number_counters AS c (day, last_seq) VALUES (p_day, 1)
        ON CONFLICT (day) DO UPDATE SET last_seq = c.last_seq OPERATOR(pg_catalog.+) 1
        RETURNING c.last_seq INTO seq;
    found_number := pg_catalog.to_char(p_day, 'YYYYMMDD') OPERATOR(pg_catalog.||)
                    pg_catalog.lpad(seq::pg_catalog.text, 6, '0');
    INSERT INTO public.request_numbers (number, stream_id) VALUES (found_number, p_stream_id)
        ON CONFLICT (stream_id) DO NOTHING;
    IF NOT FOUND THEN
        -- A concurrent call for the same stream won; its number stands.
        SELECT r.number INTO found_number FROM public.request_numbers r WHERE r.stream_id OPERATOR(pg_catalog.=) p_stream_id;
    END IF;
    RETURN found_number;
END
$$;

REVOKE ALL ON FUNCTION public.append_events FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.append_events TO egov_app;
REVOKE ALL ON FUNCTION public.append_batch FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.append_batch TO egov_app;
REVOKE ALL ON FUNCTION public.allocate_request_number FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.allocate_request_number TO egov_app;
