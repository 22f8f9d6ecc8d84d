-- Each event's leaf in the log's tree (docs/architecture.md, "The verifiable log") is computed where
-- its chain hash is, in the append, and kept in its row: SHA-256(0x00 || canonical bytes || chain
-- hash), the same bytes domain::merkle::event_leaf hashes.
--
-- Why: the tree's projector had to read every event's payload and recompute its canonical bytes
-- to find its leaf, and on a busy log that reading competed with the appends themselves
-- (docs/adr/0011). The live projector now reads the stored leaf and no payload. Rebuilds and
-- replay checks still recompute every leaf from the event's content, so a rewritten event (and
-- a leaf written to match it) is still caught there, by the witnesses and by receipts.
--
-- Events appended before this migration have no stored leaf (NULL): their leaf is computed from
-- the event as before. The functions keep their arguments, answers, grants and pinned
-- search_path (V12); only the leaf is new.
ALTER TABLE events ADD COLUMN leaf bytea CHECK (length(leaf) = 32);

CREATE OR REPLACE FUNCTION append_events(
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
    leaves       bytea[];
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
        leaves[i] := pg_catalog.sha256('\x00'::bytea OPERATOR(pg_catalog.||) p_canonical[i]
                                                   OPERATOR(pg_catalog.||) chain);
    END LOOP;
    RETURN QUERY
    INSERT INTO public.events AS e (stream_id, stream_version, event_id, event_type, schema_version, payload,
                             actor, channel, correlation_id, causation_id, recorded_at, hash, leaf)
    SELECT p_stream_id, p_expected OPERATOR(pg_catalog.+) u.ord, u.event_id, u.event_type, u.schema_version, u.payload,
           p_actor, p_channel, p_correlation_id, p_causation_id, p_recorded_at, u.hash, u.leaf
      FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads, hashes, leaves)
           WITH ORDINALITY AS u(event_id, event_type, schema_version, payload, hash, leaf, ord)
     ORDER BY u.ord
    RETURNING e.stream_version, e.position, e.tx_id;
END
$$;

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
    ins_leaf     bytea[] := '{}';
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
                ins_leaf := ins_leaf OPERATOR(pg_catalog.||) pg_catalog.sha256(
                    '\x00'::bytea OPERATOR(pg_catalog.||) p_canonical[i]
                                   OPERATOR(pg_catalog.||) chain);
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
                                            correlation_id, causation_id, recorded_at, hash,
                                            leaf)
            SELECT p_stream_ids[u.a], u.v, ev.event_id, ev.event_type, ev.schema_version,
                   ev.payload, p_actors[u.a], p_channels[u.a], p_correlation_ids[u.a],
                   p_causation_ids[u.a], p_recorded_at[u.a], u.h, u.l
              FROM unnest(ins_event, ins_append, ins_version, ins_hash, ins_leaf)
                   WITH ORDINALITY AS u(i, a, v, h, l, ord)
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

-- The tree's nodes of levels 1 to 3 are no longer stored: each is computed from the (at most 8)
-- leaves below it when a proof or the tree's right edge names it (projections::log_tree), which
-- saves seven of every eight node rows the projector wrote per event. The ones stored so far go,
-- so that the stored tree is the one a rebuild makes.
DELETE FROM projections.log_tree WHERE level < 4;
