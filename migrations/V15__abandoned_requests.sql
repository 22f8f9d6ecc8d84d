-- A request nobody signed within its time to sign ends as abandoned (docs/domain.md 3.6): the
-- analytics facts take the outcome 'abandoned' beside 'completed' and 'refused'. The views count
-- it like any other outcome; it never has a deadline (the clock starts at the signature), so the
-- deadline view leaves it out by itself.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
              WHERE conrelid = 'projections.analytics'::regclass AND contype = 'c'
                AND pg_get_constraintdef(oid) LIKE '%outcome%'
    LOOP
        EXECUTE format('ALTER TABLE projections.analytics DROP CONSTRAINT %I', c.conname);
    END LOOP;
END
$$;
ALTER TABLE projections.analytics
    ADD CONSTRAINT analytics_outcome_check CHECK (outcome IN ('completed', 'refused', 'abandoned'));
COMMENT ON VIEW analytics.requests_daily IS 'Requests received per service, day of receipt, channel and outcome (completed, refused, abandoned, or open).';
