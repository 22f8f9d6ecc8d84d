-- The workflow (the process manager) and the result documents it issues.

-- The workflow's own state lives in its schema, owned by the application's role. It is a to-do
-- list derived from the log; the log stays the truth, and the list can be rebuilt from it.
CREATE SCHEMA workflow AUTHORIZATION egov_app;

-- Where the feeder stands in the gap-free order of the log: it turns events that start work (a
-- submission, a signature) into tasks, and moves this row in the same transaction.
CREATE TABLE workflow.feed (
    id          boolean     PRIMARY KEY DEFAULT true CHECK (id),
    tx_id       bigint      NOT NULL,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO workflow.feed (id, tx_id, position) VALUES (true, 0, 0);
ALTER TABLE workflow.feed OWNER TO egov_app;

-- One row per request with work pending: due now, or at a timer (a step limit, the promised
-- deadline). A worker claims a row (`claimed_until`, a lease) so that one worker at a time drives
-- a request; a crashed worker's lease runs out and another takes over from the stream. The feeder
-- bumps `generation` when new work arrives, so a worker finishing an older generation leaves the
-- row for another round instead of deleting it.
CREATE TABLE workflow.tasks (
    stream_id     uuid        PRIMARY KEY,
    due_at        timestamptz NOT NULL,
    generation    bigint      NOT NULL DEFAULT 1,
    claimed_by    text,
    claimed_until timestamptz,
    failures      integer     NOT NULL DEFAULT 0,
    last_error    text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_due ON workflow.tasks (due_at);
ALTER TABLE workflow.tasks OWNER TO egov_app;

-- Issued result documents: the canonical JSON the provider signed and the CMS signature, stored
-- before `ResultIssued` is appended (which names the number and the digest). One per request;
-- never changed or removed by the application (only SELECT and INSERT are granted).
CREATE TABLE result_documents (
    stream_id       uuid        PRIMARY KEY,
    document_number text        NOT NULL UNIQUE,
    document        bytea       NOT NULL,
    signature       bytea       NOT NULL,
    sha256          text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at      timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON result_documents FROM PUBLIC;
GRANT SELECT, INSERT ON result_documents TO egov_app;

-- The status view shows missed time limits (DOMAIN.md 3, 2b).
ALTER TABLE projections.request_status
    ADD COLUMN service_deadline_missed boolean NOT NULL DEFAULT false,
    ADD COLUMN late_steps text[] NOT NULL DEFAULT '{}';
