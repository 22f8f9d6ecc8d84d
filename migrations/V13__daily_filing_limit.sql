-- A request number per filer and day is limited (docs/security.md, finding 7): the day's numbers
-- (999,999) are shared by everyone, and without a limit one principal filing in a loop could spend
-- them all and stop filing for the whole country until midnight. Each principal (the actor recorded
-- on the request) may draw at most p_daily_limit numbers a day; the next draw raises EGQ01, which
-- the service answers with 429 and the seconds until the next day. A retried submission (same
-- stream) gets its number again without counting twice.
CREATE TABLE request_filings_per_day (
    day       date    NOT NULL,
    principal text    NOT NULL CHECK (length(principal) <= 300),
    filed     integer NOT NULL CHECK (filed > 0),
    PRIMARY KEY (day, principal)
);
REVOKE ALL ON request_filings_per_day FROM PUBLIC;

DROP FUNCTION public.allocate_request_number(uuid, date);

CREATE FUNCTION public.allocate_request_number(
    p_stream_id   uuid,
    p_day         date,
    p_principal   text,
    p_daily_limit integer
) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_number text;
    seq          integer;
BEGIN
    SELECT r.number INTO found_number FROM public.request_numbers r
     WHERE r.stream_id OPERATOR(pg_catalog.=) p_stream_id;
    IF FOUND THEN
        RETURN found_number;
    END IF;
    INSERT INTO public.request_filings_per_day AS f (day, principal, filed)
    VALUES (p_day, p_principal, 1)
        ON CONFLICT (day, principal) DO UPDATE SET filed = f.filed OPERATOR(pg_catalog.+) 1
        WHERE f.filed OPERATOR(pg_catalog.<) p_daily_limit;
    IF NOT FOUND OR p_daily_limit OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION '% has filed % requests on %', p_principal, p_daily_limit, p_day
            USING ERRCODE = 'EGQ01';
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
        SELECT r.number INTO found_number FROM public.request_numbers r
         WHERE r.stream_id OPERATOR(pg_catalog.=) p_stream_id;
    END IF;
    RETURN found_number;
END
$$;

REVOKE ALL ON FUNCTION public.allocate_request_number(uuid, date, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.allocate_request_number(uuid, date, text, integer) TO egov_app;
