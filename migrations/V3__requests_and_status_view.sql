-- Request numbers (write side) and the first read model, the status view (read side).

-- A request number is the date of receipt and a six-digit number within that day (RequestNumber in
-- the domain). The command side draws it here, once per request stream: a retried submission (same
-- stream id, from its Idempotency-Key) gets the number it got the first time.
CREATE TABLE request_number_counters (
    day      date    PRIMARY KEY,
    last_seq integer NOT NULL CHECK (last_seq BETWEEN 1 AND 999999)
);

CREATE TABLE request_numbers (
    number       text        PRIMARY KEY CHECK (number ~ '^[0-9]{14}$'),
    stream_id    uuid        NOT NULL UNIQUE,
    allocated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION allocate_request_number(p_stream_id uuid, p_day date) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    found_number text;
    seq          integer;
BEGIN
    SELECT r.number INTO found_number FROM public.request_numbers r WHERE r.stream_id = p_stream_id;
    IF FOUND THEN
        RETURN found_number;
    END IF;
    INSERT INTO public.request_number_counters AS c (day, last_seq) VALUES (p_day, 1)
        ON CONFLICT (day) DO UPDATE SET last_seq = c.last_seq + 1
        RETURNING c.last_seq INTO seq;
    found_number := to_char(p_day, 'YYYYMMDD') || lpad(seq::text, 6, '0');
    INSERT INTO public.request_numbers (number, stream_id) VALUES (found_number, p_stream_id)
        ON CONFLICT (stream_id) DO NOTHING;
    IF NOT FOUND THEN
        -- A concurrent call for the same stream won; its number stands.
        SELECT r.number INTO found_number FROM public.request_numbers r WHERE r.stream_id = p_stream_id;
    END IF;
    RETURN found_number;
END
$$;

REVOKE ALL ON request_number_counters, request_numbers FROM PUBLIC;
GRANT SELECT ON request_numbers TO egov_app;
REVOKE ALL ON FUNCTION allocate_request_number FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocate_request_number TO egov_app;

-- Read models live in their own schema, owned by the application's role: a projector may rebuild
-- a read model into a shadow table and swap it in. The event table stays out of its reach.
CREATE SCHEMA projections AUTHORIZATION egov_app;

-- Where each projector stands in the gap-free order; moved in the same transaction as its rows.
CREATE TABLE projections.checkpoints (
    name           text        PRIMARY KEY,
    tx_id          bigint      NOT NULL,
    position       bigint      NOT NULL,
    events_applied bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE projections.checkpoints OWNER TO egov_app;

-- The status view: what the portal's "refresh status" reads (step 3).
CREATE TABLE projections.request_status (
    stream_id          uuid        PRIMARY KEY,
    number             text        NOT NULL UNIQUE,
    service            text        NOT NULL,
    iin                text        NOT NULL,
    subject_iin        text,
    channel            text        NOT NULL,
    status             text        NOT NULL,
    status_ru          text        NOT NULL,
    status_kk          text        NOT NULL,
    status_en          text        NOT NULL,
    refusal_reason     text,
    deadline           timestamptz,
    result_ready       boolean     NOT NULL DEFAULT false,
    received_at        timestamptz NOT NULL,
    last_change        timestamptz NOT NULL,
    version            bigint      NOT NULL
);
-- A citizen's history, newest first, and the requests about them as a subject.
CREATE INDEX request_status_by_iin ON projections.request_status (iin, received_at DESC, stream_id DESC);
CREATE INDEX request_status_by_subject ON projections.request_status (subject_iin, received_at DESC, stream_id DESC)
    WHERE subject_iin IS NOT NULL;
ALTER TABLE projections.request_status OWNER TO egov_app;
