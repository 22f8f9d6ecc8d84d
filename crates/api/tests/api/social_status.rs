//! The social-status check of a medical organisation in-process, over the fake registries: found,
//! not found, no answer; and a role that may not ask.

use api::token::Role;
use commands::adapters::registries::fake::FakeRegistries;
use domain::catalog::Lookup;
use domain::Iin;
use serde_json::json;

use crate::helpers::{spawn_app, ALICE};

#[tokio::test]
async fn a_medical_user_gets_the_status_line_or_a_problem_when_the_registry_has_none_or_is_down() {
    let app = spawn_app().await;
    let medical = app.token(Role::Medical, "doctor-1", Some("clinic-7"));
    let alice = Iin::parse(ALICE).expect("iin");
    app.registries.found(
        Lookup::SocialStatus,
        &alice,
        json!({"iin": ALICE, "status": "Многодетная мать"}),
    );
    let body = json!({"iin": ALICE, "purpose": "приём пациента"});
    let (status, answer) = app.post("/api/v1/social-status", &medical, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["line"],
        format!("Статус ИИН {ALICE} : Многодетная мать!")
    );

    let unknown = json!({"iin": "850715400109"});
    let (status, problem) = app.post("/api/v1/social-status", &medical, &unknown).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("not-found-in-registry"))
    );

    app.registries.script(
        Lookup::SocialStatus,
        &alice,
        vec![FakeRegistries::unavailable(Lookup::SocialStatus)],
    );
    let (status, problem) = app.post("/api/v1/social-status", &medical, &body).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("registry-unavailable"))
    );

    let (status, problem) = app
        .post("/api/v1/social-status", &app.citizen(ALICE), &body)
        .await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")));
}
