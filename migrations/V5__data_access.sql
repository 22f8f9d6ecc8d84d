-- "Who looked at my data": every read of a citizen's data by someone else (DataAccessed events,
-- and the social-status checks of medical users), by citizen, newest first.
CREATE TABLE projections.data_access (
    event_id     uuid        NOT NULL,
    seq          integer     NOT NULL,  -- the read's place in its event
    subject_iin  text        NOT NULL,
    at           timestamptz NOT NULL,
    reader       text        NOT NULL,
    role         text        NOT NULL,
    organisation text,
    what         text        NOT NULL,
    purpose      text,
    PRIMARY KEY (event_id, seq)
);
CREATE INDEX data_access_by_subject ON projections.data_access (subject_iin, at DESC, event_id DESC);
ALTER TABLE projections.data_access OWNER TO egov_app;
