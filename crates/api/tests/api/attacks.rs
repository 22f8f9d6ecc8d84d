//! Attacks from outside over HTTP, one test per finding of the hostile review (issue 23), each
//! named for the attack and asserting that it is refused.

use crate::helpers::{spawn_app, ALICE};

/// Finding 1: made-up HTTP methods became metric labels that were never freed.
#[tokio::test]
async fn made_up_http_methods_are_counted_as_other_and_do_not_grow_the_metrics() {
    let app = spawn_app().await;
    let metrics = || async {
        reqwest::get(format!("{}/metrics", app.base))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let flood = |from: usize| {
        let app = &app;
        async move {
            for i in from..from + 200 {
                let method =
                    reqwest::Method::from_bytes(format!("JUNK{i}").as_bytes()).expect("method");
                for path in ["/api/v1/requests", "/healthz"] {
                    let answer = app
                        .http
                        .request(method.clone(), format!("{}{path}", app.base))
                        .send()
                        .await
                        .expect("send");
                    assert!(answer.status().is_client_error(), "{}", answer.status());
                }
            }
        }
    };
    flood(0).await;
    // Once so that the metrics route's own series exist, then the figure to compare with.
    metrics().await;
    let before = metrics().await;
    flood(200).await;
    let after = metrics().await;
    assert!(!after.contains("JUNK"), "a made-up method became a label");
    assert!(after.contains("method=\"OTHER\""), "{after}");
    // Only counters moved: 200 more made-up methods added no series.
    let lines = |text: &str| text.lines().count();
    assert_eq!(lines(&after), lines(&before), "{before}\n---\n{after}");
}

/// Finding 1: junk bearer tokens of 16-128 KiB were remembered whole, one per token.
#[tokio::test]
async fn oversized_junk_bearer_tokens_are_refused_unread() {
    let app = spawn_app().await;
    for (i, size) in [16 * 1024, 64 * 1024, 100 * 1024].into_iter().enumerate() {
        let junk = format!("{i}{}", "J".repeat(size));
        let (status, body) = app.get("/api/v1/requests/x", &junk).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("token-too-long"))
        );
    }
    // A good token still passes.
    let (status, _) = app.get("/api/v1/me/data-access", &app.citizen(ALICE)).await;
    assert_eq!(status, 200);
}
