-- The event store: one append-only table, the single source of truth (DESIGN.md).
--
-- Guarantees enforced here rather than trusted to the application:
--   1. append-only: triggers refuse UPDATE, DELETE and TRUNCATE for everyone, and the application's
--      role holds no right but SELECT (writes go through append_events, below);
--   2. optimistic concurrency: one row per (stream_id, stream_version), one row per event_id;
--   3. gap-free reading: tx_id records the writing transaction, so readers can read only below the
--      oldest transaction still running (see read_all in the event store);
--   4. tamper evidence: append_events chains hash = sha256(previous hash || canonical bytes).

-- The application's role. NOLOGIN: a deployment grants it to the login user the service uses, and
-- the service switches to it (SET ROLE) on every pooled connection. Roles are per cluster, so several
-- databases on one server (tests run in parallel) may race to create it: the loser ignores that.
DO $$
BEGIN
    CREATE ROLE egov_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

CREATE TABLE events (
    -- Global position, drawn from a sequence before commit: unique and increasing in draw order, but
    -- NOT in commit order. Readers order by (tx_id, position) instead.
    position        bigint      GENERATED ALWAYS AS IDENTITY,
    -- The writing transaction's id (64-bit, epoch-extended, so it never wraps).
    tx_id           bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    stream_id       uuid        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL CHECK (event_type <> '' AND length(event_type) <= 100),
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    payload         jsonb       NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    actor           text        NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('portal', 'service-centre', 'system')),
    correlation_id  uuid        NOT NULL,
    causation_id    uuid,
    recorded_at     timestamptz NOT NULL,
    hash            bytea       NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT events_stream_version_key PRIMARY KEY (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

COMMENT ON TABLE events IS 'Append-only event log; never updated, deleted or truncated.';

-- The gap-free global order.
CREATE INDEX events_global_order ON events (tx_id, position);

CREATE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is refused', TG_OP
        USING ERRCODE = 'EGA01',
              HINT = 'Record a correcting event instead.';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Appends events to one stream in one call (one round trip, one transaction when called alone).
--
-- The caller sends the canonical bytes of each event (see domain::hash_chain); the function chains
-- them onto the stream's newest hash, so no caller needs to read the stream first. The version check
-- raises EGV01 with the stream's actual version as DETAIL; a concurrent writer that passes the check
-- at the same moment loses on events_stream_version_key instead. Both reach the caller as a conflict.
--
-- SECURITY DEFINER: the application role may not insert rows itself, so every row goes through this
-- check and this chain. Every name in the body is schema-qualified instead of pinning search_path with
-- a SET clause: a SET clause saves and restores the configuration on every call, which costs the
-- append path measurably, and qualified names leave a caller's search_path nothing to hijack
-- (unnest with several arrays is FROM-clause syntax and cannot be qualified; it resolves to the
-- built-in form).
CREATE FUNCTION append_events(
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
AS $$
DECLARE
    head_version bigint;
    chain        bytea;
    hashes       bytea[];
    n            integer := pg_catalog.cardinality(p_event_ids);
BEGIN
    SELECT e.stream_version, e.hash INTO head_version, chain
      FROM public.events e
     WHERE e.stream_id = p_stream_id
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
      FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads, hashes)
           WITH ORDINALITY AS u(event_id, event_type, schema_version, payload, hash, ord)
     ORDER BY u.ord
    RETURNING e.stream_version, e.position, e.tx_id;
END
$$;

REVOKE ALL ON events FROM PUBLIC;
GRANT SELECT ON events TO egov_app;
REVOKE ALL ON FUNCTION append_events FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_events TO egov_app;
-- Readiness (/readyz) compares the applied migrations with the ones the binary carries.
GRANT SELECT ON refinery_schema_history TO egov_app;
