-- Messages on the topic that a Kafka-sourced projector cannot read as an event (docs/security.md,
-- finding 11). Before, one such message stopped the projector for good: it failed on it, rejoined
-- its group, got it again, and so on. Now it is parked here with where it was and why, the
-- partition's offset moves past it in the same transaction, and the projector goes on; /readyz and
-- /metrics show how many are parked, for an operator to look at. The relay publishes only events
-- from the log, so a parked message came from somewhere else (a misconfigured producer, a hand).
CREATE TABLE projections.kafka_parked (
    projector  text        NOT NULL,
    topic      text        NOT NULL,
    partition  integer     NOT NULL CHECK (partition >= 0),
    "offset"   bigint      NOT NULL CHECK ("offset" >= 0),
    reason     text        NOT NULL,
    -- The message's first bytes (at most 64 KiB), and its whole size.
    head       bytea       NOT NULL CHECK (length(head) <= 65536),
    size       bigint      NOT NULL CHECK (size >= 0),
    parked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projector, topic, partition, "offset")
);
ALTER TABLE projections.kafka_parked OWNER TO egov_app;
