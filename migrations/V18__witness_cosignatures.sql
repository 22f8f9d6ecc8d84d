-- Witnesses' cosignatures of the signed tree heads (docs/architecture.md, "The verifiable log"):
-- a witness in another organisation checks that each head extends the last one it accepted and
-- cosigns it (C2SP tlog-cosignature v1); the log serves the latest head with these lines added.
-- Only cosignatures that verify with a key of EGOV_WITNESS_KEYS are stored, one per witness and
-- head, and none is ever changed or removed.
CREATE TABLE tree_head_cosignatures (
    size         bigint      NOT NULL REFERENCES tree_heads (size),
    witness      text        NOT NULL CHECK (witness <> '' AND length(witness) <= 200),
    line         text        NOT NULL CHECK (length(line) <= 400),
    cosigned_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (size, witness)
);
REVOKE ALL ON tree_head_cosignatures FROM PUBLIC;
GRANT SELECT, INSERT ON tree_head_cosignatures TO egov_app;

CREATE TRIGGER tree_head_cosignatures_append_only
    BEFORE UPDATE OR DELETE ON tree_head_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION tree_heads_refuse_change();

CREATE TRIGGER tree_head_cosignatures_no_truncate
    BEFORE TRUNCATE ON tree_head_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION tree_heads_refuse_change();
