-- The verifiable log (docs/architecture.md, "The verifiable log"): a Merkle tree of RFC 9162 over
-- every event in the gap-free global order, and the signed heads of that tree.

-- The tree is a read model, kept by its projector with its checkpoint in the same transaction and
-- rebuilt or replay-checked from the log like the others. Every complete, aligned subtree is
-- stored once, when its last leaf arrives, and never changed: node (level, idx) is the head of
-- leaves idx * 2^level to (idx + 1) * 2^level - 1. A proof names O(log n) of them.
--
-- The leaves: leaf idx is the idx-th event of the global order (from 0), its hash
-- SHA-256(0x00 || the event's canonical bytes || its chain hash).
CREATE TABLE projections.log_tree_leaves (
    idx       bigint PRIMARY KEY CHECK (idx >= 0),
    event_id  uuid   NOT NULL UNIQUE,
    hash      bytea  NOT NULL CHECK (length(hash) = 32)
);
ALTER TABLE projections.log_tree_leaves OWNER TO egov_app;

-- The nodes above the leaves (level 1 and up).
CREATE TABLE projections.log_tree (
    level  smallint NOT NULL CHECK (level BETWEEN 1 AND 63),
    idx    bigint   NOT NULL CHECK (idx >= 0),
    hash   bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);
ALTER TABLE projections.log_tree OWNER TO egov_app;

-- The signed tree heads, as published: each one a checkpoint note (docs/architecture.md) signed
-- with the log's key. Never changed or removed: a head once published is a promise about every
-- event below its size, and the witnesses and receipts that hold it check the log against it.
CREATE TABLE tree_heads (
    size       bigint      PRIMARY KEY CHECK (size >= 0),
    root       bytea       NOT NULL CHECK (length(root) = 32),
    signed_at  timestamptz NOT NULL,
    note       text        NOT NULL
);
REVOKE ALL ON tree_heads FROM PUBLIC;
GRANT SELECT, INSERT ON tree_heads TO egov_app;

CREATE FUNCTION tree_heads_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'signed tree heads are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'EGA01',
              HINT = 'A head once published stays; sign a new one.';
END
$$;

CREATE TRIGGER tree_heads_append_only
    BEFORE UPDATE OR DELETE ON tree_heads
    FOR EACH STATEMENT EXECUTE FUNCTION tree_heads_refuse_change();

CREATE TRIGGER tree_heads_no_truncate
    BEFORE TRUNCATE ON tree_heads
    FOR EACH STATEMENT EXECUTE FUNCTION tree_heads_refuse_change();
