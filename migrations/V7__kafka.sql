-- Kafka (issue 8). The relay's place in the log is an ordinary checkpoint in
-- projections.checkpoints (named `kafka-relay:<topic>`), moved only after the broker acknowledged
-- every event up to it. A projector fed from the topic instead of the log keeps, per partition,
-- the offset of the next message it has to apply, moved in the same transaction as its rows: a
-- crash neither applies a message twice nor skips one.
CREATE TABLE projections.kafka_offsets (
    projector        text        NOT NULL,
    topic            text        NOT NULL,
    partition        integer     NOT NULL CHECK (partition >= 0),
    next_offset      bigint      NOT NULL CHECK (next_offset >= 0),
    -- When the newest event applied from this partition was recorded in the log (lag).
    last_recorded_at timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projector, topic, partition)
);
ALTER TABLE projections.kafka_offsets OWNER TO egov_app;
