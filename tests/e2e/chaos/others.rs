//! The other users in the load: a medical organisation's user checking a patient's social status
//! (an audited read), and an auditor paging the log's global feed from its start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::stand::Bases;
use super::{call, send, Seen};
use crate::support::citizens::AIDA;
use crate::support::portal::Keys;

/// The medical user whose checks are audited.
pub const MEDIC: &str = "doctor-chaos";

/// The medical user's token.
pub fn medic_token(keys: &Keys) -> String {
    let mut claims = Keys::claims("medical", MEDIC);
    claims["org"] = json!("Поликлиника хаоса");
    keys.es256(&claims)
}

/// The auditor's token.
pub fn auditor_token(keys: &Keys) -> String {
    keys.es256(&Keys::claims("auditor", "auditor-chaos"))
}

/// What the other users need to reach the service.
pub struct Others {
    pub bases: Arc<Bases>,
    pub seen: Arc<Mutex<Seen>>,
    pub away: Arc<AtomicBool>,
    pub stop: Arc<AtomicBool>,
}

impl Others {
    /// Checks the citizen's social status twice a second.
    pub async fn medic(self: Arc<Self>, token: String) {
        let http = reqwest::Client::new();
        while !self.stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let check = http
                .post(format!("{}/api/v1/social-status", self.bases.get(0)))
                .bearer_auth(&token)
                .json(&json!({"iin": AIDA, "purpose": "приём пациента"}));
            if let Some((200, _)) = call(&self.seen, &self.away, "medical", check).await {
                self.seen.lock().expect("seen").medical_checks += 1;
            }
        }
    }

    /// Pages the global feed, 200 events a page, resuming after each page. A page cut short
    /// (the body broken off, or its last cursor not the page's `X-Next-Cursor`) is read again.
    pub async fn auditor(self: Arc<Self>, token: String) {
        let http = reqwest::Client::new();
        let mut after = String::new();
        while !self.stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let page = http
                .get(format!(
                    "{}/api/v1/audit/events?limit=200{}",
                    self.bases.get(1),
                    if after.is_empty() {
                        String::new()
                    } else {
                        format!("&after={after}")
                    }
                ))
                .bearer_auth(&token);
            let Some(answer) = send(&self.seen, &self.away, "feed", page).await else {
                continue;
            };
            if answer.status() != 200 {
                continue;
            }
            let Some(next) = answer
                .headers()
                .get("x-next-cursor")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
            else {
                self.seen
                    .lock()
                    .expect("seen")
                    .count("feed no-cursor".into());
                continue;
            };
            match answer.text().await.ok().and_then(|body| events(&body)) {
                Some(events) if events.last().is_none_or(|(_, c)| Some(*c) == cursor(&next)) => {
                    self.seen.lock().expect("seen").feed.extend(events);
                    after = next;
                }
                _ => self.seen.lock().expect("seen").count("feed cut".into()),
            }
        }
    }
}

/// The events of a feed page (one JSON object a line), or `None` when a line is not one.
fn events(body: &str) -> Option<Vec<(String, (i64, i64))>> {
    body.lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).ok()?;
            let id = event["event_id"].as_str()?.to_owned();
            Some((id, cursor(event["cursor"].as_str()?)?))
        })
        .collect()
}

/// A cursor `T-P`: the transaction and the position.
fn cursor(text: &str) -> Option<(i64, i64)> {
    let (t, p) = text.split_once('-')?;
    Some((t.parse().ok()?, p.parse().ok()?))
}
