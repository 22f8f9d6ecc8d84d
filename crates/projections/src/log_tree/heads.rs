//! Signed tree heads: every few seconds, when the tree has grown, its head is signed with the log's
//! key (a checkpoint note, `domain::tree_head`) and kept in `tree_heads` (append-only,
//! migrations/V17). A head is signed only when the tree still agrees with the last one signed: a
//! tree rebuilt from a rewritten log has another head at that size, and the signer then stops and
//! says so at ERROR, naming the size, rather than sign a history that contradicts the published one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use deadpool_postgres::GenericClient;
use domain::merkle::Hash;
use domain::tree_head::{NoteSigner, TreeHead};
use event_store::Database;
use tokio_util::sync::CancellationToken;

use super::read;
use crate::leader::Leadership;
use crate::retry::sleep_unless;
use crate::ProjectionError;

/// A signed head as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHead {
    pub head: TreeHead,
    /// The checkpoint note: the head's text and the log's signature.
    pub note: String,
}

/// What signing a head found.
#[derive(Debug)]
pub enum Signed {
    /// A new head.
    New(SignedHead),
    /// The tree has not grown since the last head.
    Unchanged,
    /// The tree no longer agrees with the last head signed: its head at that size is another.
    Contradicts { size: u64, signed: Hash, now: Hash },
}

/// The latest signed head, if any.
///
/// # Errors
/// The database failing.
pub async fn latest(client: &impl GenericClient) -> Result<Option<SignedHead>, ProjectionError> {
    first_head(
        client,
        "SELECT size, root, signed_at, note FROM tree_heads ORDER BY size DESC LIMIT 1",
        &[],
    )
    .await
}

/// The signed head of exactly `size` leaves, if one was signed.
///
/// # Errors
/// The database failing.
pub async fn at(
    client: &impl GenericClient,
    size: u64,
) -> Result<Option<SignedHead>, ProjectionError> {
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    first_head(
        client,
        "SELECT size, root, signed_at, note FROM tree_heads WHERE size = $1",
        &[&size],
    )
    .await
}

/// `signed` with the cosignature lines the witnesses gave it, after the log's own.
///
/// # Errors
/// The database failing.
pub async fn with_cosignatures(
    client: &impl GenericClient,
    mut signed: SignedHead,
) -> Result<SignedHead, ProjectionError> {
    let size = i64::try_from(signed.head.size).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT line FROM tree_head_cosignatures WHERE size = $1 ORDER BY witness",
            &[&size],
        )
        .await
        .map_err(ProjectionError::database(
            "reading the witnesses' cosignatures",
        ))?;
    for row in rows {
        signed.note.push_str(row.get::<_, &str>(0));
    }
    Ok(signed)
}

/// Keeps `witness`'s cosignature `line` (already verified) of the head of `size` leaves, made at
/// `time`; false when the witness had cosigned that head already.
///
/// # Errors
/// The database failing.
pub async fn add_cosignature(
    client: &impl GenericClient,
    size: u64,
    witness: &str,
    line: &str,
    time: DateTime<Utc>,
) -> Result<bool, ProjectionError> {
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    let added = client
        .execute(
            "INSERT INTO tree_head_cosignatures (size, witness, line, cosigned_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (size, witness) DO NOTHING",
            &[&size, &witness, &line, &time],
        )
        .await
        .map_err(ProjectionError::database("storing a witness's cosignature"))?;
    Ok(added == 1)
}

/// The first signed head that covers `size` leaves (a receipt's), if any.
///
/// # Errors
/// The database failing.
pub async fn covering(
    client: &impl GenericClient,
    size: u64,
) -> Result<Option<SignedHead>, ProjectionError> {
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    first_head(
        client,
        "SELECT size, root, signed_at, note FROM tree_heads WHERE size >= $1 ORDER BY size LIMIT 1",
        &[&size],
    )
    .await
}

async fn first_head(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<SignedHead>, ProjectionError> {
    let row = client
        .query_opt(sql, params)
        .await
        .map_err(ProjectionError::database("reading the signed tree heads"))?;
    let Some(row) = row else { return Ok(None) };
    let note: String = row.get(3);
    let root: &[u8] = row.get(1);
    let head = TreeHead {
        origin: note.lines().next().unwrap_or_default().to_owned(),
        size: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
        root: Hash::try_from(root)
            .map_err(|_| ProjectionError::Tree("a signed head's root is not 32 bytes".into()))?,
        time: row.get(2),
    };
    Ok(Some(SignedHead { head, note }))
}

/// Signs the tree's head at `now` when it has grown since the last signed head and still agrees
/// with it.
///
/// # Errors
/// The database failing.
pub async fn sign_if_grown(
    client: &impl GenericClient,
    signer: &NoteSigner,
    now: DateTime<Utc>,
) -> Result<Signed, ProjectionError> {
    let size = read::size(client).await?;
    let last = latest(client).await?;
    if let Some(last) = &last {
        if size <= last.head.size {
            return Ok(Signed::Unchanged);
        }
        // From the table itself, never a cache: this is what catches a rebuilt, rewritten tree.
        let again = read::root(client, None, last.head.size).await?;
        if again != last.head.root {
            return Ok(Signed::Contradicts {
                size: last.head.size,
                signed: last.head.root,
                now: again,
            });
        }
    } else if size == 0 {
        return Ok(Signed::Unchanged);
    }
    let head = TreeHead {
        origin: signer.name().to_owned(),
        size,
        root: read::root(client, None, size).await?,
        time: now.trunc_subsecs(0),
    };
    let note = signer.sign(&head);
    let stored = i64::try_from(size).unwrap_or(i64::MAX);
    let stored = client
        .execute(
            "INSERT INTO tree_heads (size, root, signed_at, note) VALUES ($1, $2, $3, $4)
             ON CONFLICT (size) DO NOTHING",
            &[&stored, &head.root.as_slice(), &head.time, &note],
        )
        .await
        .map_err(ProjectionError::database("storing a signed tree head"))?;
    // Another signer stored a head of this size first: that one is the head.
    if stored == 0 {
        return Ok(Signed::Unchanged);
    }
    Ok(Signed::New(SignedHead { head, note }))
}

/// Signs a head every `every` while the tree grows, until `stop`, and publishes each to Kafka
/// with `publisher`; one process at a time (the others stand by). A tree that contradicts the last
/// head is reported at ERROR (once for each contradiction) and never signed.
pub async fn run<P: Publish>(
    db: Database,
    signer: Arc<NoteSigner>,
    every: Duration,
    publisher: Option<P>,
    stop: CancellationToken,
) {
    let config = db.settings().config.clone();
    let mut heads = Heads {
        signer,
        publisher,
        reported: None,
        unpublished: None,
    };
    while !stop.is_cancelled() {
        let Some(mut leadership) = Leadership::take(&config, "log_tree_heads", &stop).await else {
            break;
        };
        // A new leader publishes the latest head again: its predecessor may have stopped first.
        heads.unpublished = match db.pool().get().await {
            Ok(client) => latest(&client).await.ok().flatten(),
            Err(_) => None,
        };
        loop {
            heads.tick(db.pool()).await;
            // Cancel safe: both branches only wait (a tick runs whole, outside the select).
            tokio::select! {
                () = leadership.lost() => break,
                stopped = sleep_unless(&stop, every) => if stopped { return },
            }
        }
    }
}

/// Where signed heads are published besides the database (the Kafka topic,
/// `crate::kafka::heads`).
pub trait Publish: Send {
    /// Publishes `head`.
    ///
    /// # Errors
    /// When it was not taken; it is offered again on the next tick.
    fn publish<'a>(
        &'a mut self,
        head: &'a SignedHead,
    ) -> impl std::future::Future<Output = Result<(), ProjectionError>> + Send + 'a;
}

/// The signer's state between ticks.
struct Heads<P> {
    signer: Arc<NoteSigner>,
    publisher: Option<P>,
    /// The contradiction last reported: reported again only when it changes.
    reported: Option<(u64, Hash)>,
    /// The newest head the broker has not taken yet.
    unpublished: Option<SignedHead>,
}

impl<P: Publish> Heads<P> {
    /// Signs the head when the tree grew, and publishes what is unpublished.
    async fn tick(&mut self, pool: &deadpool_postgres::Pool) {
        let outcome = async {
            let client = pool.get().await?;
            sign_if_grown(&client, &self.signer, Utc::now()).await
        };
        match outcome.await {
            Ok(Signed::New(signed)) => {
                self.reported = None;
                tracing::debug!(size = signed.head.size, "signed a tree head");
                self.unpublished = Some(signed);
            }
            Ok(Signed::Unchanged) => {}
            Ok(Signed::Contradicts { size, signed, now }) => {
                if self.reported.replace((size, now)) != Some((size, now)) {
                    tracing::error!(
                        size,
                        signed = %hex(&signed),
                        now = %hex(&now),
                        "the log's tree contradicts the head signed at this size: the log was \
                         rewritten or the tree rebuilt from other events; no head is signed \
                         until this is resolved"
                    );
                }
            }
            Err(error) => tracing::warn!(error = %error, "cannot sign a tree head; retrying"),
        }
        if let (Some(publisher), Some(head)) = (self.publisher.as_mut(), &self.unpublished) {
            match publisher.publish(head).await {
                Ok(()) => self.unpublished = None,
                Err(error) => tracing::warn!(
                    size = head.head.size,
                    error = %error,
                    "cannot publish the tree head to Kafka; trying again"
                ),
            }
        }
    }
}

fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
