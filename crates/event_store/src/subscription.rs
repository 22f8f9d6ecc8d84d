//! Following the log live: a [`Subscription`] reads the gap-free global order from a cursor on,
//! and when it has caught up waits to be woken by `LISTEN/NOTIFY` (with a poll as a safety net).

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use domain::{Cursor, RecordedEvent};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::error::StoreError;
use crate::{EventStore, NOTIFY_CHANNEL};

/// How a subscription reads and waits.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionOptions {
    /// Most events one [`Subscription::next_batch`] returns.
    pub batch_size: u32,
    /// How long a caught-up subscription waits for an announcement before it reads again anyway
    /// (announcements can be lost: a writer crashing after commit, a broken listener connection).
    pub idle_poll: Duration,
    /// The longest pause between reads while committed events are held back by an older open
    /// transaction; the pause starts at 1 ms and doubles up to this. An announcement ends a pause
    /// early (the older transaction was an append, and it committed).
    pub held_back_poll: Duration,
    /// Event types whose payload this subscriber never reads: they come with a null payload.
    pub without_payload: &'static [&'static str],
    /// Whether every event comes with a null payload (`without_payload` then says nothing): a
    /// follower of the log's tree reads the leaves the appends stored instead
    /// ([`crate::stored_leaves`]).
    pub no_payloads: bool,
    /// The shortest time from one batch returned to the next read: a follower nobody waits on
    /// reads fewer, larger batches, and so pays the fixed cost of a batch (its reads, its
    /// transaction, its commit) less often on a busy log. After a full batch the next is read at
    /// once (a follower catching up is not slowed).
    pub pace: Duration,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            batch_size: 1_000,
            idle_poll: Duration::from_secs(1),
            held_back_poll: Duration::from_millis(8),
            without_payload: &[],
            no_payloads: false,
            pace: Duration::ZERO,
        }
    }
}

/// A live reader of the global log. Dropping it closes its listening connection.
pub struct Subscription {
    store: EventStore,
    cursor: Cursor,
    options: SubscriptionOptions,
    /// Counts announcements seen by the listener; a change means "read again".
    wake: watch::Receiver<u64>,
    listener: JoinHandle<()>,
    /// When the last batch was returned, if it was not a full one and the subscription is paced
    /// ([`SubscriptionOptions::pace`]).
    returned: Option<tokio::time::Instant>,
}

impl EventStore {
    /// Follows the log from after `after`: first what is stored, then live.
    ///
    /// Opens one dedicated connection to `LISTEN` (reconnecting by itself), so it must be called
    /// inside a Tokio runtime.
    pub fn subscribe(&self, after: Cursor, options: SubscriptionOptions) -> Subscription {
        let (sender, wake) = watch::channel(0u64);
        let config = self.db.settings().config.clone();
        let listener = tokio::spawn(listen(config, Arc::new(sender)));
        Subscription {
            store: self.clone(),
            cursor: after,
            options,
            wake,
            listener,
            returned: None,
        }
    }
}

impl Subscription {
    /// The cursor after the last event returned: persist it to resume after a restart.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// The next events in the gap-free order, waiting until there is at least one.
    ///
    /// Cancel safe: if the future is dropped before it returns, no event is lost (the cursor moves
    /// only when events are returned).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails; the subscription stays usable and the next call
    /// resumes from the same cursor.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>, StoreError> {
        if let Some(returned) = self.returned {
            // Cancel safe: sleeping keeps no state.
            tokio::time::sleep_until(returned + self.options.pace).await;
        }
        let mut pause = Duration::from_millis(1);
        loop {
            // Marked as seen before reading, so an announcement that arrives during the read
            // makes the wait below return at once instead of being lost.
            self.wake.borrow_and_update();
            let page = self
                .store
                .read_all_sparse(
                    self.cursor,
                    self.options.batch_size,
                    self.options.without_payload,
                    self.options.no_payloads,
                )
                .await?;
            if !page.events.is_empty() {
                self.cursor = page.next;
                // A full batch means more is waiting: the next is read at once. Without a pace
                // there is no wait at all (a timer, even one already due, waits for the timer's
                // next millisecond).
                let full = page.events.len() >= self.options.batch_size as usize;
                let paced = !full && !self.options.pace.is_zero();
                self.returned = paced.then(tokio::time::Instant::now);
                return Ok(page.events);
            }
            if self.store.committed_after(self.cursor).await? {
                // Committed events the read could not see: an older transaction held them back.
                // It announces its commit if it appended; if it did not (a rollback, a projector's
                // or the workflow's bookkeeping, another database's transaction), only reading
                // again tells. Cancel safe as below.
                tokio::select! {
                    _ = self.wake.changed() => {}
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(self.options.held_back_poll);
                continue;
            }
            pause = Duration::from_millis(1);
            // Both branches are cancel safe: `changed` only observes, and sleeping keeps no state.
            tokio::select! {
                _ = self.wake.changed() => {}
                () = tokio::time::sleep(self.options.idle_poll) => {}
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Keeps a connection that `LISTEN`s for announcements and counts them into `wake`; reconnects
/// with a growing pause when the connection breaks, and wakes the subscriber after each reconnect
/// because announcements may have been missed meanwhile.
async fn listen(config: tokio_postgres::Config, wake: Arc<watch::Sender<u64>>) {
    let bump = |wake: &watch::Sender<u64>| wake.send_modify(|n| *n = n.wrapping_add(1));
    let mut pause = Duration::from_millis(100);
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let forward = async {
                    while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => bump(&wake),
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(error.message = %error, "listener connection lost");
                                break;
                            }
                        }
                    }
                };
                let subscribe = async {
                    match client
                        .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
                        .await
                    {
                        Ok(()) => {
                            pause = Duration::from_millis(100);
                            bump(&wake);
                            std::future::pending::<()>().await;
                        }
                        Err(error) => {
                            tracing::warn!(error.message = %error, "LISTEN failed");
                        }
                    }
                };
                // The connection is driven by `forward`; `subscribe` needs it driven to complete.
                tokio::select! {
                    () = forward => {}
                    () = subscribe => {}
                }
            }
            Err(error) => {
                tracing::warn!(error.message = %error, "cannot open the listener connection");
            }
        }
        bump(&wake);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
