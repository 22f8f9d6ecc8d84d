-- Scans of the paper documents an operator takes at a service centre (issue 9). Each scan is
-- stored once, by the SHA-256 of its bytes; the `DocumentsScanned` event names the digest, never
-- the bytes. The application may only add and read them.
CREATE TABLE scans (
    sha256     text        PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    media_type text        NOT NULL CHECK (media_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size       bigint      NOT NULL CHECK (size > 0),
    bytes      bytea       NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON scans FROM PUBLIC;
GRANT SELECT, INSERT ON scans TO egov_app;

-- The status view shows the service centre and the operator who filed a request there, and the
-- representative who may see it while their power of attorney holds (its end as ENIS gave it).
ALTER TABLE projections.request_status
    ADD COLUMN operator_id text,
    ADD COLUMN representative_iin text,
    ADD COLUMN representative_until date;
