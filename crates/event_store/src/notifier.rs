//! Announcing commits to subscribers.
//!
//! Appends do not `NOTIFY` inside their own transaction: PostgreSQL serialises the commits of
//! notifying transactions on one global lock held through the WAL flush, which would defeat group
//! commit and cap the append rate at one commit per disk flush. Instead each process pokes this
//! notifier after its appends commit; one task sends a single `NOTIFY` for every burst of pokes
//! (pokes that arrive while a notify is on its way, or within [`SPACING`] after it, coalesce into
//! the next one), in a transaction that does not wait for its commit record to reach disk: an
//! announcement needs no durability, and waiting would put it in line with the appends' flushes. A
//! crash between commit and notify delays subscribers until their next poll; it loses nothing.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::mpsc;

use crate::NOTIFY_CHANNEL;

/// The least time between two announcements: bounds their cost under heavy write load (at most a
/// few hundred small transactions a second) at the price of waking subscribers up to this late.
const SPACING: Duration = Duration::from_millis(2);

pub(crate) struct Notifier {
    pokes: mpsc::Sender<()>,
}

impl Notifier {
    /// Starts the announcing task; it ends when the notifier is dropped.
    pub(crate) fn start(pool: Pool) -> Self {
        // Capacity 1: a poke while one is pending is dropped, which is the coalescing.
        let (pokes, mut pending) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while pending.recv().await.is_some() {
                let result = match pool.get().await {
                    Ok(client) => client
                        .batch_execute(&format!(
                            "BEGIN; SET LOCAL synchronous_commit = off; NOTIFY {NOTIFY_CHANNEL}; COMMIT;"
                        ))
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(error) = result {
                    tracing::warn!(error.message = %error, "could not announce a commit; subscribers will poll");
                }
                tokio::time::sleep(SPACING).await;
            }
        });
        Self { pokes }
    }

    /// Asks for an announcement; never waits.
    pub(crate) fn poke(&self) {
        let _ = self.pokes.try_send(());
    }
}
