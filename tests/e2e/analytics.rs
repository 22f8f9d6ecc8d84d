//! Analytics over a workload driven through the real workflow: the views equal what the events
//! say, the API serves them to analysts only, and the `egov_analyst` role reads the views and
//! nothing that holds personal data.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::pki::Algorithm;

use crate::support::citizens::AIDA;
use crate::support::flow::{healthy, Flow};
use crate::support::portal::Keys;

const ERLAN: &str = "620412300009";
const DANA: &str = "900101400003";

fn total(rows: &Value, key: &str, filter: impl Fn(&Value) -> bool) -> i64 {
    rows.as_array()
        .into_iter()
        .flatten()
        .filter(|r| filter(r))
        .filter_map(|r| r[key].as_i64())
        .sum()
}

#[tokio::test]
async fn analytics_figures_equal_the_events_and_the_analyst_role_sees_no_personal_data() {
    let mut flow = Flow::start(healthy(), &[]).await;
    let aida = flow.pki.signer(AIDA);
    let erlan = flow
        .pki
        .citizen(ERLAN, Algorithm::Rsa, (-10, 300), false, true);
    let dana = flow.pki.signer(DANA);
    flow.start_responder();
    let mut numbers = Vec::new();
    for (service, iin, signer) in [
        ("pension-fund-statement", AIDA, &aida),
        ("pension-fund-statement", AIDA, &aida),
        ("pension-fund-statement", DANA, &dana),
        ("gcvp-pension-info", ERLAN, &erlan),
        ("disability-benefit-info", AIDA, &aida),
    ] {
        let number = flow.file_signed_by(service, iin, json!({}), signer).await;
        numbers.push((number, iin));
    }
    for (number, iin) in &numbers {
        flow.outcome(number, iin, Duration::from_secs(60)).await;
    }
    let survey = flow
        .http
        .post(flow.url(&format!("/api/v1/requests/{}/survey", numbers[0].0)))
        .bearer_auth(flow.keys.citizen(AIDA))
        .json(&json!({"quality": "satisfied", "information": "not-satisfied"}))
        .send()
        .await
        .expect("survey");
    assert_eq!(survey.status(), 201);

    // What the events say.
    let client = flow.db.superuser().await;
    let submitted: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'RequestSubmitted'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    let completed: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'ResultIssued'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    let refusals: Vec<(String, i64)> = client
        .query(
            "SELECT payload->>'reason', count(*) FROM events WHERE event_type = 'RequestRefused'
              GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .expect("refusals")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!((submitted, completed), (5, 3));

    // The API, once the projector has caught up with the survey.
    let analyst = flow.keys.es256(&Keys::claims("analyst", "analyst-1"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let survey_rows = loop {
        let (code, rows) = flow.get("/api/v1/analytics/survey", &analyst).await;
        assert_eq!(code, 200, "{rows}");
        if total(&rows, "answers", |_| true) == 1 {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "analytics did not catch up: {rows}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(survey_rows[0]["quality"], 1.0);
    assert_eq!(survey_rows[0]["accessibility"], 0.0);
    let (_, requests) = flow.get("/api/v1/analytics/requests", &analyst).await;
    assert_eq!(total(&requests, "requests", |_| true), submitted);
    assert_eq!(
        total(&requests, "requests", |r| r["outcome"] == "completed"),
        completed
    );
    let (_, by_service) = flow
        .get(
            "/api/v1/analytics/requests?service=pension-fund-statement",
            &analyst,
        )
        .await;
    assert_eq!(total(&by_service, "requests", |_| true), 3);
    let (_, refused) = flow.get("/api/v1/analytics/refusals", &analyst).await;
    for (reason, count) in &refusals {
        assert_eq!(
            total(&refused, "refusals", |r| r["refusal_reason"]
                == reason.as_str()),
            *count,
            "{reason}: {refused}"
        );
    }
    let (_, steps) = flow.get("/api/v1/analytics/step-times", &analyst).await;
    assert!(
        steps.as_array().is_some_and(|rows| rows
            .iter()
            .any(|r| r["step"] == "signature" && r["p95_seconds"].is_number())),
        "{steps}"
    );
    let (code, deadlines) = flow.get("/api/v1/analytics/deadlines", &analyst).await;
    assert_eq!(code, 200, "{deadlines}");
    let (code, _) = flow
        .get("/api/v1/analytics/requests", &flow.keys.citizen(AIDA))
        .await;
    assert_eq!(code, 403);
    let (code, _) = flow.get("/api/v1/analytics/nothing", &analyst).await;
    assert_eq!(code, 404);

    // The analyst role: the views, and nothing holding personal data.
    client
        .batch_execute("SET ROLE egov_analyst")
        .await
        .expect("set role");
    for table in [
        "events",
        "projections.request_status",
        "projections.analytics",
        "request_numbers",
        "result_documents",
    ] {
        let denied = client
            .query(&format!("SELECT * FROM {table} LIMIT 1"), &[])
            .await;
        assert!(denied.is_err(), "egov_analyst can read {table}");
    }
    let rows = client
        .query(
            "SELECT to_jsonb(v)::text FROM analytics.requests_daily v
             UNION ALL SELECT to_jsonb(v)::text FROM analytics.refusals_daily v
             UNION ALL SELECT to_jsonb(v)::text FROM analytics.step_times_daily v
             UNION ALL SELECT to_jsonb(v)::text FROM analytics.deadlines_daily v
             UNION ALL SELECT to_jsonb(v)::text FROM analytics.survey_daily v",
            &[],
        )
        .await
        .expect("the analyst reads the views");
    assert!(!rows.is_empty());
    for row in &rows {
        let text: String = row.get(0);
        assert!(
            !text.contains(AIDA) && !text.contains(ERLAN) && !text.contains(DANA),
            "an IIN in {text}"
        );
    }
    client.batch_execute("RESET ROLE").await.expect("reset");
    let iin_columns: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.columns
              WHERE table_schema = 'analytics' AND column_name ~* '(iin|name|patient|applicant)'",
            &[],
        )
        .await
        .expect("columns")
        .get(0);
    assert_eq!(iin_columns, 0);
}
