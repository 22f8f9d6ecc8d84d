//! Health, readiness and metrics of an app served in-process.

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_readiness_and_metrics_answer_when_the_database_is_migrated() {
    let app = spawn_app().await;
    let healthz = reqwest::get(format!("{}/healthz", app.base))
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);
    let readyz = reqwest::get(format!("{}/readyz", app.base))
        .await
        .expect("readyz");
    assert_eq!(readyz.status(), 200);
    let body: serde_json::Value = readyz.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for model in projections::ReadModel::ALL {
        assert!(
            metrics.contains(&format!(
                "egov_projector_lag_seconds{{projector=\"{model}\"}}"
            )),
            "the lag of {model} is reported:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn an_unknown_path_and_a_wrong_method_get_problem_answers_with_texts_from_the_catalogue() {
    let app = spawn_app().await;
    let missing = reqwest::get(format!("{}/api/v1/nothing-here", app.base))
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = missing.json().await.expect("json");
    let texts = &domain::Messages::shared()
        .error(domain::ErrorMessage::NotFound)
        .texts;
    assert_eq!(body["code"], "not-found");
    assert_eq!(body["texts"]["ru"], texts.ru.as_str());
    assert_eq!(body["texts"]["kk"], texts.kk.as_str());
    let wrong = app
        .http
        .delete(format!("{}/api/v1/requests", app.base))
        .send()
        .await
        .expect("delete");
    assert_eq!(wrong.status(), 405);
}
