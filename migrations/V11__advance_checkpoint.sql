-- Moving a live projector's checkpoint from where its batch started to where it ended, sent with
-- the batch's lock, writes and COMMIT in one round trip (docs/adr/0008). The projector no longer
-- reads its checkpoint under the lock before writing; instead, when the checkpoint is not where
-- the batch started (a rebuild swapped the read model in meanwhile), this raises, and the COMMIT
-- sent after it rolls the whole batch back.
CREATE FUNCTION projections.advance_checkpoint(
    p_name          text,
    p_from_tx       bigint,
    p_from_position bigint,
    p_to_tx         bigint,
    p_to_position   bigint,
    p_events        bigint
) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
    UPDATE projections.checkpoints c
       SET tx_id = p_to_tx, position = p_to_position,
           events_applied = c.events_applied + p_events, updated_at = now()
     WHERE c.name = p_name AND c.tx_id = p_from_tx AND c.position = p_from_position;
    IF FOUND THEN
        RETURN;
    END IF;
    -- A projector's first batch, from the start of the log: there is no checkpoint yet.
    IF p_from_tx = 0 AND p_from_position = 0 THEN
        INSERT INTO projections.checkpoints (name, tx_id, position, events_applied, updated_at)
        VALUES (p_name, p_to_tx, p_to_position, p_events, now())
        ON CONFLICT (name) DO NOTHING;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION 'the checkpoint of % is no longer at (%, %)', p_name, p_from_tx, p_from_position
        USING ERRCODE = 'EGC01';
END
$$;

ALTER FUNCTION projections.advance_checkpoint(text, bigint, bigint, bigint, bigint, bigint) OWNER TO egov_app;
REVOKE ALL ON FUNCTION projections.advance_checkpoint(text, bigint, bigint, bigint, bigint, bigint) FROM PUBLIC;
