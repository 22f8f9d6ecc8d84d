-- Analytics: facts per request and per step without personal data (no IIN, no names), kept by the
-- `analytics` projector, and the documented views of schema `analytics` that the read-only role
-- `egov_analyst` queries from a BI tool. The role sees the views only: not the event table, not
-- the status view, not these base tables.

DO $$
BEGIN
    CREATE ROLE egov_analyst NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- One row per request: what it was, how and when it ended. No IIN.
CREATE TABLE projections.analytics (
    stream_id          uuid        PRIMARY KEY,
    service            text        NOT NULL,
    channel            text        NOT NULL,
    received_at        timestamptz NOT NULL,
    day                date        NOT NULL,  -- the day of receipt in Asia/Almaty
    outcome            text        CHECK (outcome IN ('completed', 'refused')),
    refusal_reason     text,
    ended_at           timestamptz,
    deadline           timestamptz,
    deadline_missed    boolean     NOT NULL DEFAULT false,
    late_steps         text[]      NOT NULL DEFAULT '{}',
    survey_quality     text,
    survey_information text,
    version            bigint      NOT NULL
);
CREATE INDEX analytics_by_day ON projections.analytics (day, service);
ALTER TABLE projections.analytics OWNER TO egov_app;

-- One row per step of a request with its start and, once it ended, its end.
CREATE TABLE projections.analytics_steps (
    stream_id  uuid        NOT NULL,
    step       text        NOT NULL,  -- signature, lookup:<lookup>, result
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,
    PRIMARY KEY (stream_id, step)
);
ALTER TABLE projections.analytics_steps OWNER TO egov_app;

CREATE SCHEMA analytics;
COMMENT ON SCHEMA analytics IS 'Aggregates per service and day (Asia/Almaty), without personal data; for the egov_analyst role.';

-- Requests by outcome and channel. outcome: completed, refused, or open.
CREATE VIEW analytics.requests_daily AS
SELECT service, day, channel, coalesce(outcome, 'open') AS outcome, count(*) AS requests
  FROM projections.analytics
 GROUP BY service, day, channel, coalesce(outcome, 'open');
COMMENT ON VIEW analytics.requests_daily IS 'Requests received per service, day of receipt, channel and outcome.';

-- Refusals by reason (the codes of DOMAIN.md 5).
CREATE VIEW analytics.refusals_daily AS
SELECT service, day, refusal_reason, count(*) AS refusals
  FROM projections.analytics
 WHERE outcome = 'refused'
 GROUP BY service, day, refusal_reason;
COMMENT ON VIEW analytics.refusals_daily IS 'Refused requests per service, day of receipt and refusal reason.';

-- Time per step: p50 and p95 in seconds over the steps that ended.
CREATE VIEW analytics.step_times_daily AS
SELECT a.service, a.day, s.step, count(*) AS steps,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.ended_at - s.started_at)) AS p50_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM s.ended_at - s.started_at)) AS p95_seconds
  FROM projections.analytics_steps s JOIN projections.analytics a USING (stream_id)
 WHERE s.ended_at IS NOT NULL
 GROUP BY a.service, a.day, s.step;
COMMENT ON VIEW analytics.step_times_daily IS 'Median and 95th percentile of each step''s time, per service and day.';

-- The promised deadline: requests that ended, how many within it, and the missed ones.
CREATE VIEW analytics.deadlines_daily AS
SELECT service, day,
       count(*) FILTER (WHERE deadline IS NOT NULL AND ended_at IS NOT NULL) AS ended_with_deadline,
       count(*) FILTER (WHERE outcome = 'completed' AND ended_at <= deadline) AS completed_within,
       CASE WHEN count(*) FILTER (WHERE deadline IS NOT NULL AND ended_at IS NOT NULL) = 0 THEN NULL
            ELSE (count(*) FILTER (WHERE outcome = 'completed' AND ended_at <= deadline))::float8
                 / count(*) FILTER (WHERE deadline IS NOT NULL AND ended_at IS NOT NULL) END AS share_within,
       count(*) FILTER (WHERE deadline_missed) AS deadlines_missed,
       count(*) FILTER (WHERE cardinality(late_steps) > 0) AS with_late_steps
  FROM projections.analytics
 GROUP BY service, day;
COMMENT ON VIEW analytics.deadlines_daily IS 'Share of ended requests completed within the promised deadline, missed deadlines and late steps.';

-- The survey (DOMAIN.md 7) and its quality indicators: quality = share of «удовлетворен» on the
-- process question, accessibility = the same on the information question.
CREATE VIEW analytics.survey_daily AS
SELECT service, day, count(*) AS answers,
       count(*) FILTER (WHERE survey_quality = 'satisfied') AS quality_satisfied,
       count(*) FILTER (WHERE survey_quality = 'partially-satisfied') AS quality_partially,
       count(*) FILTER (WHERE survey_quality = 'not-satisfied') AS quality_not_satisfied,
       count(*) FILTER (WHERE survey_information = 'satisfied') AS information_satisfied,
       count(*) FILTER (WHERE survey_information = 'partially-satisfied') AS information_partially,
       count(*) FILTER (WHERE survey_information = 'not-satisfied') AS information_not_satisfied,
       (count(*) FILTER (WHERE survey_quality = 'satisfied'))::float8 / count(*) AS quality,
       (count(*) FILTER (WHERE survey_information = 'satisfied'))::float8 / count(*) AS accessibility
  FROM projections.analytics
 WHERE survey_quality IS NOT NULL
 GROUP BY service, day;
COMMENT ON VIEW analytics.survey_daily IS 'Survey answers per service and day, with the quality and accessibility indicators.';

GRANT USAGE ON SCHEMA analytics TO egov_analyst, egov_app;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO egov_analyst, egov_app;
