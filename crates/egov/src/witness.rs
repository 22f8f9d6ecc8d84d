//! `egov witness`: a process of its own - meant to run in another organisation, the auditor's
//! office - that follows the log's signed tree heads and keeps its own copy of the leaves. Each new
//! head is accepted only when the leaves the log serves after the last accepted head, added to the
//! witness's copy, make exactly the new head (which proves the new tree extends the old one), and
//! the log's consistency proof checks too; then the witness cosigns it (C2SP tlog-cosignature) and
//! hands the cosignature to the log, which serves it with the head.
//!
//! A head that does not extend the accepted one - a rewritten history, a dropped tail, a database
//! restored from an older backup - raises an alarm: an ERROR line, the evidence kept in the state
//! directory (both heads, the failed proof, and the first leaf where the log's leaves and the
//! witness's copy differ, with its event), `egov_witness_alarm` 1 on the witness's `/metrics`, and
//! the exit code 6. The witness never accepts anything after an alarm: an operator must look.

mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::merkle::{self, Hash};
use domain::tree_head::cosignature::WitnessSigner;
use domain::tree_head::{NoteVerifier, TreeHead};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use store::Store;

/// The exit code of a witness that raised an alarm.
pub const ALARM: u8 = 6;
/// Leaves asked for at a time.
const PAGE: u64 = 10_000;

/// The witness's settings (`egov witness --help`).
pub struct Options {
    pub log: String,
    pub state: PathBuf,
    pub log_key: String,
    pub token_file: PathBuf,
    pub name: String,
    pub every: Duration,
    pub metrics_addr: Option<SocketAddr>,
    pub once: bool,
}

/// What the witness's `/metrics` shows.
#[derive(Default)]
struct Figures {
    accepted: AtomicI64,
    size: AtomicI64,
    alarm: AtomicI64,
    errors: AtomicI64,
}

/// Follows the log until `stop` (or one round with `--once`); exit 6 after an alarm.
pub async fn run(options: Options, stop: CancellationToken) -> anyhow::Result<ExitCode> {
    let key = read_key(&options.log_key)?;
    let token = std::fs::read_to_string(&options.token_file)
        .with_context(|| format!("cannot read {}", options.token_file.display()))?;
    let store = Store::open(&options.state)?;
    let signer = store.key(&options.name)?;
    tracing::info!(witness = signer.name(), key = %signer.verifier(), log = %options.log, "witness started");
    let figures = Arc::new(Figures::default());
    if let Some(addr) = options.metrics_addr {
        serve_metrics(addr, figures.clone())?;
    }
    let mut witness = Witness {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        base: options.log.trim_end_matches('/').to_owned(),
        token: token.trim().to_owned(),
        accepted: store.accepted(&key)?,
        key,
        signer,
        store,
        figures,
    };
    witness.publish_figures();
    loop {
        if !witness.store.alarmed() {
            if let Err(error) = witness.round().await {
                witness.figures.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %format!("{error:#}"), "cannot reach or read the log; trying again");
            }
        }
        if witness.store.alarmed() {
            witness.figures.alarm.store(1, Ordering::Relaxed);
        }
        if options.once || stop.is_cancelled() {
            break;
        }
        // Cancel safe: both branches only wait (a round runs whole, outside the select).
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(options.every) => {}
        }
    }
    Ok(if witness.store.alarmed() {
        ExitCode::from(ALARM)
    } else {
        ExitCode::SUCCESS
    })
}

fn read_key(text: &str) -> anyhow::Result<NoteVerifier> {
    if let Ok(key) = NoteVerifier::parse(text) {
        return Ok(key);
    }
    let file = std::fs::read_to_string(text)
        .with_context(|| format!("{text} is neither a log key nor a file holding one"))?;
    NoteVerifier::parse(&file).with_context(|| format!("{text} holds no log key"))
}

struct Witness {
    http: reqwest::Client,
    base: String,
    token: String,
    key: NoteVerifier,
    signer: WitnessSigner,
    store: Store,
    accepted: store::Accepted,
    figures: Arc<Figures>,
}

impl Witness {
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {body}");
        Ok(body)
    }

    /// One look at the log: accept and cosign a new head, or raise the alarm.
    async fn round(&mut self) -> anyhow::Result<()> {
        let from = self.accepted.frontier.size();
        let offered = self.get("/api/v1/log/head").await?;
        let note = offered["note"].as_str().context("a head without a note")?;
        let head = match self.key.verify(note) {
            Ok(head) => head,
            Err(error) => {
                return self
                    .alarm(
                        "the head is not signed by the log's key",
                        &offered,
                        json!({ "error": error.to_string() }),
                    )
                    .await;
            }
        };
        if head.size < from {
            let reason =
                "the log's head went back: its tail was dropped or an older backup restored";
            return self.alarm(reason, &offered, json!({})).await;
        }
        if head.size == from {
            if Some(head.root) != self.accepted.head.as_ref().map(|(h, _)| h.root) {
                return self
                    .alarm("two heads of the same size", &offered, json!({}))
                    .await;
            }
            return Ok(());
        }
        let leaves = self.new_leaves(from, head.size).await?;
        let mut grown = self.accepted.frontier.clone();
        for leaf in &leaves {
            grown.push(*leaf);
        }
        // Neither the leaves nor the proof is signed; the head is. Leaves that make the signed
        // head prove that it extends the accepted one (the kept leaves are its first ones), so
        // they decide, and a wrong proof beside them is only reported. Leaves that do not make it
        // raise the alarm only when the proof fails too: with a proof that checks, the leaves
        // served are wrong (a fault to retry), not the history.
        if grown.root() == head.root {
            if from > 0 && !self.consistent(&head).await.unwrap_or(false) {
                tracing::warn!(
                    size = head.size,
                    "the log's consistency proof does not check, though its leaves make the head"
                );
            }
        } else if from == 0 {
            anyhow::bail!("the leaves the log serves do not make its first head; trying again");
        } else if self.consistent(&head).await? {
            anyhow::bail!(
                "the leaves the log serves do not make its head of {}, though its consistency \
                 proof checks; trying again",
                head.size
            );
        } else {
            let reason =
                "the log's new head does not extend the accepted one: the log was rewritten";
            return self.alarm(reason, &offered, json!({})).await;
        }
        self.store.accept(from, &leaves, note)?;
        self.accepted = store::Accepted {
            head: Some((head.clone(), note.to_owned())),
            frontier: grown,
        };
        self.figures.accepted.fetch_add(1, Ordering::Relaxed);
        self.publish_figures();
        tracing::info!(size = head.size, "accepted a tree head");
        self.cosign(&head).await;
        Ok(())
    }

    /// The leaves `from..to` as the log serves them, in order.
    async fn new_leaves(&self, from: u64, to: u64) -> anyhow::Result<Vec<Hash>> {
        let mut leaves = Vec::new();
        let mut next = from;
        while next < to {
            let limit = PAGE.min(to - next);
            let page = self.leaf_page(next, limit).await?;
            anyhow::ensure!(!page.is_empty(), "the log serves no leaf {next}");
            for (index, _, hash) in page {
                anyhow::ensure!(index == next, "the log skipped leaf {next}");
                leaves.push(hash);
                next += 1;
            }
        }
        leaves.truncate(usize::try_from(to - from)?);
        Ok(leaves)
    }

    async fn leaf_page(&self, start: u64, limit: u64) -> anyhow::Result<Vec<(u64, String, Hash)>> {
        let page = self
            .get(&format!("/api/v1/log/leaves?start={start}&limit={limit}"))
            .await?;
        page["leaves"]
            .as_array()
            .context("no leaves")?
            .iter()
            .map(|leaf| {
                let hash = STANDARD.decode(leaf["hash"].as_str().unwrap_or_default())?;
                Ok((
                    leaf["index"].as_u64().context("a leaf without an index")?,
                    leaf["event_id"].as_str().unwrap_or_default().to_owned(),
                    Hash::try_from(hash).map_err(|_| anyhow::anyhow!("a leaf is not 32 bytes"))?,
                ))
            })
            .collect()
    }

    /// Whether the log's consistency proof from the accepted head to `head` checks.
    async fn consistent(&self, head: &TreeHead) -> anyhow::Result<bool> {
        let Some((accepted, _)) = &self.accepted.head else {
            return Ok(true);
        };
        let path = format!(
            "/api/v1/log/proof/consistency?from={}&to={}",
            accepted.size, head.size
        );
        let answer = self.get(&path).await?;
        let proof: Option<Vec<Hash>> = answer["proof"].as_array().and_then(|p| {
            p.iter()
                .map(|h| {
                    let bytes = STANDARD.decode(h.as_str()?).ok()?;
                    Hash::try_from(bytes).ok()
                })
                .collect()
        });
        Ok(proof.is_some_and(|proof| {
            merkle::verify_consistency(accepted.size, head.size, &proof, &accepted.root, &head.root)
        }))
    }

    /// The first leaf below the accepted size where the log's leaves differ from the kept ones.
    async fn first_difference(&self) -> anyhow::Result<Option<Value>> {
        let size = self.accepted.frontier.size();
        let mut start = 0;
        while start < size {
            let limit = PAGE.min(size - start);
            let page = self.leaf_page(start, limit).await?;
            let ours = self.store.leaves(start, page.len())?;
            for ((index, event, theirs), ours) in page.iter().zip(&ours) {
                if theirs != ours {
                    return Ok(Some(json!({
                        "index": index, "event_id": event,
                        "kept": STANDARD.encode(ours), "served": STANDARD.encode(theirs),
                    })));
                }
            }
            if (page.len() as u64) < limit {
                return Ok(Some(
                    json!({ "index": start + page.len() as u64, "served": null }),
                ));
            }
            start += limit;
        }
        Ok(None)
    }

    async fn alarm(&mut self, reason: &str, offered: &Value, detail: Value) -> anyhow::Result<()> {
        // Raised at once; the first differing leaf, which takes reading the whole log, follows.
        let mut evidence = json!({
            "reason": reason,
            "accepted": self.accepted.head.as_ref().map(|(_, note)| note),
            "offered": offered,
            "first_differing_leaf": null,
            "detail": detail,
        });
        let name = self.store.evidence(&evidence)?;
        self.figures.alarm.store(1, Ordering::Relaxed);
        let first = self.first_difference().await.unwrap_or_else(|error| {
            tracing::warn!(error = %error, "cannot compare the leaves");
            None
        });
        evidence["first_differing_leaf"] = first.clone().unwrap_or(Value::Null);
        let path = self.store.amend(&name, &evidence)?;
        tracing::error!(
            reason,
            first_differing_leaf = %first.as_ref().map_or("none".to_owned(), |f| f["index"].to_string()),
            evidence = %path.display(),
            "ALARM: the log's new head does not extend the head this witness accepted"
        );
        Ok(())
    }

    async fn cosign(&self, head: &TreeHead) {
        let time = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let line = self.signer.cosign(head, time);
        let answer = self
            .http
            .post(format!("{}/api/v1/log/cosignatures", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "size": head.size, "line": line }))
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status().is_success() => {}
            Ok(answer) => {
                tracing::warn!(status = %answer.status(), "the log did not take the cosignature")
            }
            Err(error) => tracing::warn!(error = %error, "cannot hand the cosignature to the log"),
        }
    }

    fn publish_figures(&self) {
        let size = i64::try_from(self.accepted.frontier.size()).unwrap_or(i64::MAX);
        self.figures.size.store(size, Ordering::Relaxed);
    }
}

/// Serves the witness's own `/metrics` at `addr`.
fn serve_metrics(addr: SocketAddr, figures: Arc<Figures>) -> anyhow::Result<()> {
    let server = actix_web::HttpServer::new(move || {
        let figures = figures.clone();
        actix_web::App::new().route(
            "/metrics",
            actix_web::web::get().to(move || {
                let figures = figures.clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4")
                        .body(metrics_text(&figures))
                }
            }),
        )
    })
    .workers(1)
    .bind(addr)
    .with_context(|| format!("cannot listen on {addr}"))?
    .run();
    tokio::spawn(server);
    Ok(())
}

/// Four figures in the Prometheus text format, written out: a metrics registry would be more code
/// than the format itself.
fn metrics_text(figures: &Figures) -> String {
    let value = |a: &AtomicI64| a.load(Ordering::Relaxed);
    format!(
        "# HELP egov_witness_alarm Whether a head did not extend the accepted one (then 1)\n\
         # TYPE egov_witness_alarm gauge\negov_witness_alarm {}\n\
         # HELP egov_witness_heads_accepted_total Heads checked, accepted and cosigned\n\
         # TYPE egov_witness_heads_accepted_total counter\negov_witness_heads_accepted_total {}\n\
         # HELP egov_witness_tree_size Leaves of the last accepted head\n\
         # TYPE egov_witness_tree_size gauge\negov_witness_tree_size {}\n\
         # HELP egov_witness_errors_total Rounds that could not reach or read the log\n\
         # TYPE egov_witness_errors_total counter\negov_witness_errors_total {}\n",
        value(&figures.alarm),
        value(&figures.accepted),
        value(&figures.size),
        value(&figures.errors),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_are_prometheus_text() {
        let figures = Figures::default();
        figures.alarm.store(1, Ordering::Relaxed);
        figures.size.store(42, Ordering::Relaxed);
        let text = metrics_text(&figures);
        assert!(text.contains("egov_witness_alarm 1\n"), "{text}");
        assert!(text.contains("egov_witness_tree_size 42\n"), "{text}");
    }
}
