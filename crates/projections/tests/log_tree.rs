//! The log's Merkle tree against the real PostgreSQL: the projector's tree is the RFC 9162 tree of
//! every event in the global order (checked against the domain's tree over the events read back),
//! its proofs verify, signed heads are consistent with each other, and an insider who rewrites a
//! stream with a recomputed hash chain - which the chains alone cannot see - is caught by the
//! rebuilt tree: the replay check names the first differing leaf, and no head is signed over it.

use std::time::Duration;

use domain::merkle::{self, verify_consistency, verify_inclusion, Hash};
use domain::tree_head::NoteSigner;
use domain::{Actor, Channel, EventMetadata, RecordedEvent, StreamId, StreamVersion};
use event_store::{EventStore, NewEvent};
use projections::log_tree::heads::{self, Signed};
use projections::log_tree::{read, Path, UpperNodes};
use projections::{Progress, ReadModel, Through};
use serde_json::json;
use testkit::TestDb;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn metadata() -> EventMetadata {
    EventMetadata {
        actor: Actor::parse("system:test").expect("valid actor"),
        channel: Channel::System,
        correlation_id: Uuid::new_v4(),
        causation_id: None,
    }
}

/// `streams` streams of `each` events, appended a stream at a time.
async fn append(store: &EventStore, streams: usize, each: u64) -> Vec<StreamId> {
    let mut ids = Vec::new();
    for _ in 0..streams {
        let stream = StreamId::from_uuid(Uuid::new_v4());
        let events: Vec<NewEvent> = (1..=each)
            .map(|n| NewEvent::new(Uuid::new_v4(), "Tested", 1, json!({ "n": n })).expect("event"))
            .collect();
        store
            .append(stream, StreamVersion::EMPTY, &events, &metadata())
            .await
            .expect("append");
        ids.push(stream);
    }
    ids
}

/// Every event of the log, in the global order, once `count` are readable (the gap-free read
/// trails the oldest transaction open on the server, which other tests share).
async fn log(store: &EventStore, count: usize) -> Vec<RecordedEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut all = Vec::new();
    let mut cursor = domain::Cursor::START;
    while all.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} events became readable",
            all.len()
        );
        let page = store.read_all(cursor, 1_000).await.expect("read the log");
        if page.events.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cursor = page.next;
        all.extend(page.events);
    }
    all
}

/// Runs the tree's projector until it holds `count` leaves.
async fn project(store: &EventStore, count: u64) {
    let stop = CancellationToken::new();
    let progress = tokio::sync::watch::channel(Progress::default()).0;
    let task = ReadModel::LogTree.spawn(store, progress, None, &stop);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let pool = store.database().pool().clone();
    loop {
        let client = pool.get().await.expect("connection");
        if read::size(&client).await.expect("size") >= count {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tree never reached {count}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.expect("projector task");
}

/// `streams` streams of `each` events appended, the log read back in order, and the tree's
/// projector caught up with it.
async fn projected(
    store: &EventStore,
    streams: usize,
    each: u64,
) -> (Vec<StreamId>, Vec<RecordedEvent>) {
    let ids = append(store, streams, each).await;
    let count = streams as u64 * each;
    let events = log(store, count as usize).await;
    project(store, count).await;
    (ids, events)
}

/// Asserts that the tree finds each of `events` (the log in order) as its leaf, at its place in
/// the global order and with its hash in `leaves`.
async fn each_event_is_its_leaf(
    client: &deadpool_postgres::Client,
    events: &[RecordedEvent],
    leaves: &[Hash],
) {
    for (index, event) in events.iter().enumerate() {
        let leaf = read::leaf(client, event.event_id)
            .await
            .expect("leaf")
            .expect("every event is a leaf");
        assert_eq!(
            (leaf.index, leaf.hash),
            (index as u64, leaves[index]),
            "leaves follow the global order"
        );
    }
}

fn signer() -> NoteSigner {
    NoteSigner::from_seed("egov-events.test/log", [3; 32]).expect("signer")
}

#[tokio::test]
async fn the_stored_tree_is_rfc_9162s_tree_of_the_log_and_every_proof_verifies() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    append(&store, 9, 3).await;
    let events = log(&store, 27).await;
    let count = events.len() as u64;
    project(&store, count).await;

    let leaves: Vec<Hash> = events.iter().map(merkle::event_leaf).collect();
    let client = store.database().pool().get().await.expect("connection");
    assert_eq!(read::size(&client).await.expect("size"), count);
    for size in 1..=count {
        let root = read::root(&client, None, size).await.expect("root");
        assert_eq!(
            root,
            merkle::root(&leaves[..size as usize]),
            "head at {size}"
        );
    }
    let root = merkle::root(&leaves);
    each_event_is_its_leaf(&client, &events, &leaves).await;
    for (index, leaf) in leaves.iter().enumerate() {
        let index = index as u64;
        let inclusion = read::inclusion(&client, None, index, count)
            .await
            .expect("proof");
        assert_eq!(&inclusion.leaf, leaf, "the proof's leaf {index}");
        assert!(verify_inclusion(
            index,
            count,
            leaf,
            &inclusion.proof,
            &root
        ));
    }
    for first in 1..=count {
        let proof = read::consistency(&client, None, first, count)
            .await
            .expect("proof");
        let old = merkle::root(&leaves[..first as usize]);
        assert!(verify_consistency(first, count, &proof, &old, &root));
    }
    // Beyond the tree there is nothing to prove.
    assert!(read::root(&client, None, count + 1).await.is_err());
    assert!(read::inclusion(&client, None, count, count).await.is_err());
}

#[tokio::test]
async fn heads_are_signed_as_the_tree_grows_and_each_is_consistent_with_the_last() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let client = store.database().pool().get().await.expect("connection");
    let signer = signer();
    let verifier = signer.verifier();
    assert!(
        matches!(
            heads::sign_if_grown(&client, &signer, chrono::Utc::now()).await,
            Ok(Signed::Unchanged)
        ),
        "an empty tree gets no head"
    );

    append(&store, 3, 2).await;
    project(&store, 6).await;
    let Ok(Signed::New(first)) = heads::sign_if_grown(&client, &signer, chrono::Utc::now()).await
    else {
        panic!("a head for the first events")
    };
    assert_eq!(first.head.size, 6);
    assert_eq!(verifier.verify(&first.note).expect("signed"), first.head);
    assert!(matches!(
        heads::sign_if_grown(&client, &signer, chrono::Utc::now()).await,
        Ok(Signed::Unchanged)
    ));

    append(&store, 2, 2).await;
    project(&store, 10).await;
    let Ok(Signed::New(second)) = heads::sign_if_grown(&client, &signer, chrono::Utc::now()).await
    else {
        panic!("a head for the grown tree")
    };
    assert_eq!(second.head.size, 10);
    let proof = read::consistency(&client, None, 6, 10)
        .await
        .expect("proof");
    assert!(verify_consistency(
        6,
        10,
        &proof,
        &first.head.root,
        &second.head.root
    ));
    assert_eq!(
        heads::latest(&client).await.expect("latest"),
        Some(second.clone())
    );
    assert_eq!(
        heads::covering(&client, 4).await.expect("covering"),
        Some(first)
    );

    // The application's role cannot take a head back.
    let runtime = db.runtime_login().await;
    for statement in [
        "UPDATE tree_heads SET size = size + 1",
        "DELETE FROM tree_heads",
        "TRUNCATE tree_heads",
    ] {
        assert!(
            runtime.batch_execute(statement).await.is_err(),
            "{statement}"
        );
    }
    let admin = db.superuser().await;
    let error = admin
        .batch_execute("DELETE FROM tree_heads")
        .await
        .expect_err("not even the owner deletes a head");
    assert!(
        error.to_string().contains("append-only") || format!("{error:?}").contains("append-only")
    );
}

/// Rewrites the event at `version` of `stream` with `payload` and recomputes the chain from there
/// on, behind the append-only trigger: the chains verify, the history is another.
async fn rewrite(db: &TestDb, store: &EventStore, stream: StreamId, version: u64) {
    let events = store
        .read_stream(stream, StreamVersion::EMPTY, 100)
        .await
        .expect("stream");
    let admin = db.superuser().await;
    admin
        .batch_execute("BEGIN; ALTER TABLE events DISABLE TRIGGER events_append_only")
        .await
        .expect("begin");
    let mut previous = domain::GENESIS_HASH;
    for mut event in events {
        if event.stream_version.get() == version {
            event.payload = json!({ "n": 999 });
        }
        let hash = domain::hash_chain::chain_hash(
            &previous,
            &domain::hash_chain::canonical_bytes((&event).into()),
        );
        admin
            .execute(
                "UPDATE events SET payload = $1, hash = $2 WHERE event_id = $3",
                &[&event.payload, &hash.as_bytes().as_slice(), &event.event_id],
            )
            .await
            .expect("rewrite");
        previous = hash;
    }
    admin
        .batch_execute("ALTER TABLE events ENABLE TRIGGER events_append_only; COMMIT")
        .await
        .expect("commit");
}

#[tokio::test]
async fn a_stream_rewritten_with_a_recomputed_chain_is_caught_by_the_rebuilt_tree() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let (streams, events) = projected(&store, 4, 3).await;
    let client = store.database().pool().get().await.expect("connection");
    let Ok(Signed::New(signed)) =
        heads::sign_if_grown(&client, &signer(), chrono::Utc::now()).await
    else {
        panic!("a head")
    };

    rewrite(&db, &store, streams[2], 2).await;
    let chains = store.verify_all().await.expect("verify");
    assert!(
        chains.breaks.is_empty(),
        "the chains alone see nothing: {chains:?}"
    );

    // The stored tree still says what was signed; the replay from the log names the first leaf
    // that differs: the rewritten event's place in the global order.
    let victim = events
        .iter()
        .position(|e| e.stream_id == streams[2] && e.stream_version.get() == 2)
        .expect("victim");
    let report = ReadModel::LogTree
        .check(&store, Through::Checkpoint)
        .await
        .expect("check");
    assert!(!report.is_consistent(), "{report:?}");
    let first_leaf = report
        .differences
        .iter()
        .filter_map(|d| d.key.strip_prefix("log_tree_leaves:"))
        .map(|idx| idx.parse::<u64>().expect("an index"))
        .min();
    assert_eq!(first_leaf, Some(victim as u64), "{report:?}");

    // Rebuilt from the rewritten log, the tree contradicts the signed head, and no head is signed.
    ReadModel::LogTree.rebuild(&store).await.expect("rebuild");
    append(&store, 1, 1).await;
    project(&store, 13).await;
    match heads::sign_if_grown(&client, &signer(), chrono::Utc::now()).await {
        Ok(Signed::Contradicts {
            size,
            signed: root,
            now,
        }) => {
            assert_eq!(size, signed.head.size);
            assert_eq!(root, signed.head.root);
            assert_ne!(now, root);
        }
        other => panic!("a rewritten history must not be signed: {other:?}"),
    }
}

#[tokio::test]
async fn the_live_tree_takes_the_stored_leaves_and_a_false_one_is_caught_by_the_replay() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    append(&store, 6, 2).await;
    let events = log(&store, 12).await;
    // The first five as appended before the appends stored leaves (migrations/V19): none; the
    // ninth with a leaf an insider wrote that is not its event's.
    let old: Vec<Uuid> = events[..5].iter().map(|e| e.event_id).collect();
    let forged = [7u8; 32];
    let admin = db.superuser().await;
    admin
        .batch_execute("BEGIN; ALTER TABLE events DISABLE TRIGGER events_append_only")
        .await
        .expect("begin");
    admin
        .execute(
            "UPDATE events SET leaf = NULL WHERE event_id = ANY($1)",
            &[&old],
        )
        .await
        .expect("unset leaves");
    admin
        .execute(
            "UPDATE events SET leaf = $1 WHERE event_id = $2",
            &[&forged.as_slice(), &events[8].event_id],
        )
        .await
        .expect("forge a leaf");
    admin
        .batch_execute("ALTER TABLE events ENABLE TRIGGER events_append_only; COMMIT")
        .await
        .expect("commit");

    project(&store, 12).await;
    let client = store.database().pool().get().await.expect("connection");
    for (index, event) in events.iter().enumerate() {
        let leaf = read::leaf(&client, event.event_id)
            .await
            .expect("leaf")
            .expect("every event is a leaf");
        let expected = if index == 8 {
            forged
        } else {
            merkle::event_leaf(event)
        };
        assert_eq!(leaf.hash, expected, "leaf {index}");
    }
    // The replay recomputes every leaf from its event, and names the false one alone.
    let report = ReadModel::LogTree
        .check(&store, Through::Checkpoint)
        .await
        .expect("check");
    let differing: Vec<u64> = report
        .differences
        .iter()
        .filter_map(|d| d.key.strip_prefix("log_tree_leaves:"))
        .map(|idx| idx.parse().expect("an index"))
        .collect();
    assert_eq!(differing, vec![8], "{report:?}");
}

/// The tree's leaves as releases before migrations V20 and V21 kept them, one row per leaf, move
/// into tiles whole: after the upgrade every leaf is at its index with its event and hash, each
/// tile is anchored at its first event's place, and the code's lookups find every leaf by its
/// event.
#[tokio::test]
async fn leaves_kept_one_per_row_are_all_found_in_their_tiles_after_the_upgrade() {
    let db = TestDb::empty().await;
    event_store::migrate_through(db.config(), 19)
        .await
        .expect("migrate as far as V19");
    let store = EventStore::new(db.database());
    // A full tile of 256 and a short one.
    append(&store, 30, 10).await;
    let events = log(&store, 300).await;
    // As the tree's projector of those releases wrote them: the leaves in the global order, with
    // the leaf hash each append stored (V19).
    let admin = db.superuser().await;
    admin
        .execute(
            "INSERT INTO projections.log_tree_leaves (idx, event_id, hash)
             SELECT row_number() OVER (ORDER BY tx_id, position) - 1, event_id, leaf FROM events",
            &[],
        )
        .await
        .expect("the leaves as V19 kept them");
    event_store::migrate(db.config())
        .await
        .expect("migrate to the newest");

    let rows = admin
        .query(
            "SELECT idx, event_id, hash FROM projections.log_tree_leaves() ORDER BY idx",
            &[],
        )
        .await
        .expect("the leaves from the tiles");
    let moved: Vec<(i64, Uuid, Vec<u8>)> = rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let expected: Vec<(i64, Uuid, Vec<u8>)> = (0i64..)
        .zip(&events)
        .map(|(index, event)| (index, event.event_id, merkle::event_leaf(event).to_vec()))
        .collect();
    assert_eq!(moved, expected);
    // Each tile is anchored at the place of its first event in the global order.
    let anchors: Vec<(i64, domain::Cursor)> = admin
        .query(
            "SELECT tile, first_tx, first_position FROM projections.log_tree_tiles ORDER BY tile",
            &[],
        )
        .await
        .expect("the tiles")
        .iter()
        .map(|row| (row.get(0), domain::Cursor::new(row.get(1), row.get(2))))
        .collect();
    assert_eq!(
        anchors,
        vec![(0, events[0].cursor), (1, events[256].cursor)]
    );
    let client = store.database().pool().get().await.expect("connection");
    for (index, event) in (0u64..).zip(&events) {
        let leaf = read::leaf(&client, event.event_id)
            .await
            .expect("leaf")
            .expect("every event is a leaf");
        assert_eq!((leaf.index, leaf.hash), (index, merkle::event_leaf(event)));
    }
}

#[tokio::test]
async fn leaves_over_several_tiles_filled_by_several_batches_are_found_by_event_and_index() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    // Three batches of the projector: the second and third each go on in a tile the one before
    // left short (200, 520, 700 leaves; tiles of 256).
    let mut total = 0;
    for streams in [20, 32, 18] {
        append(&store, streams, 10).await;
        total += streams * 10;
        project(&store, total as u64).await;
    }
    let events = log(&store, total).await;
    let count = events.len() as u64;
    let leaves: Vec<Hash> = events.iter().map(merkle::event_leaf).collect();
    let client = store.database().pool().get().await.expect("connection");
    assert_eq!(read::size(&client).await.expect("size"), count);
    let root = merkle::root(&leaves);
    each_event_is_its_leaf(&client, &events, &leaves).await;
    for index in [0, 199, 200, 255, 256, 257, 511, 512, 519, 520, 699] {
        let inclusion = read::inclusion(&client, None, index, count)
            .await
            .expect("proof");
        assert_eq!(
            inclusion.leaf, leaves[index as usize],
            "the proof's leaf {index}"
        );
        assert!(verify_inclusion(
            index,
            count,
            &inclusion.leaf,
            &inclusion.proof,
            &root
        ));
        let size = index + 1;
        let head = read::root(&client, None, size).await.expect("root");
        assert_eq!(
            head,
            merkle::root(&leaves[..size as usize]),
            "head at {size}"
        );
    }
    // A page of leaves that starts inside one tile and ends inside the next.
    let page = read::leaves(&client, 250, 20).await.expect("leaves");
    let expected: Vec<(u64, Uuid, Hash)> = (250..270)
        .map(|i| (i, events[i as usize].event_id, leaves[i as usize]))
        .collect();
    assert_eq!(page, expected);
    assert_eq!(
        read::leaves(&client, 0, 10_000).await.expect("all").len(),
        total
    );
    assert!(read::leaves(&client, count, 10)
        .await
        .expect("none")
        .is_empty());
    // An event the tree does not have yet is no leaf.
    append(&store, 1, 1).await;
    let newer = log(&store, total + 1).await;
    let last = newer.last().expect("the newer event");
    assert_eq!(
        read::leaf(&client, last.event_id).await.expect("leaf"),
        None
    );
    assert_eq!(
        read::leaf(&client, Uuid::new_v4()).await.expect("leaf"),
        None
    );
    let upper = UpperNodes::for_serving();
    for id in [last.event_id, Uuid::new_v4()] {
        let path = Path::read(&client, &upper, id).await.expect("path");
        assert!(path.is_none(), "no leaf for {id}");
    }

    // The replay makes the same tiles; the rebuild too, and lookups work on the rebuilt ones.
    let report = ReadModel::LogTree
        .check(&store, Through::Checkpoint)
        .await
        .expect("check");
    assert!(report.is_consistent(), "{report:?}");
    // Every leaf compared, and every stored node (levels 4 and up).
    let nodes: u64 = (projections::log_tree::LOWEST_STORED..64)
        .map(|level| count >> level)
        .sum();
    assert_eq!(report.rows, i64::try_from(count + nodes).expect("small"));
    ReadModel::LogTree.rebuild(&store).await.expect("rebuild");
    let leaf = read::leaf(&client, events[300].event_id)
        .await
        .expect("leaf")
        .expect("a leaf");
    assert_eq!((leaf.index, leaf.hash), (300, leaves[300]));

    // An id whose bytes also stand across two others' in its tile (odds of 2^-128, made here by
    // hand) is still found in its own place.
    let admin = db.superuser().await;
    admin
        .execute(
            "UPDATE projections.log_tree_tiles SET event_ids = overlay(event_ids PLACING $1 FROM 9)
              WHERE tile = 2",
            &[&events[517].event_id.as_bytes().as_slice()],
        )
        .await
        .expect("ids across two places");
    let leaf = read::leaf(&client, events[517].event_id)
        .await
        .expect("leaf")
        .expect("a leaf");
    assert_eq!((leaf.index, leaf.hash), (517, leaves[517]));
    let upper = UpperNodes::for_serving();
    let path = Path::read(&client, &upper, events[517].event_id).await;
    assert_eq!(path.expect("path").expect("a leaf").index, 517);
    let path = Path::read(&client, &upper, events[512].event_id).await;
    assert!(
        path.expect("path").is_none(),
        "its id is not whole any more"
    );
    assert_eq!(
        read::leaf(&client, events[512].event_id)
            .await
            .expect("leaf"),
        None
    );
}

#[tokio::test]
async fn upper_nodes_kept_for_proofs_are_dropped_when_a_rebuild_puts_another_tree_in_place() {
    let db = TestDb::migrated().await;
    let store = EventStore::new(db.database());
    let (streams, events) = projected(&store, 40, 10).await;
    let client = store.database().pool().get().await.expect("connection");
    // Levels 4 and up kept (a tree of 400 leaves has 25 + 12 + 6 + 3 + 1 such nodes), and a
    // second cache that may keep three of them.
    let (upper, small) = (UpperNodes::new(4, 1_000), UpperNodes::new(4, 3));
    // A third for proofs by event, which read levels 4 and 5 with the leaf.
    let by_event = UpperNodes::new(6, 1_000);
    let leaves: Vec<Hash> = events.iter().map(merkle::event_leaf).collect();
    proofs_through(&client, &upper, &leaves).await;
    proofs_through(&client, &small, &leaves).await;
    proofs_by_event_through(&store, &by_event, &events, &leaves).await;
    assert!(!by_event.is_empty(), "upper nodes kept");
    assert!(upper.len() > 3, "upper nodes kept: {}", upper.len());
    assert_eq!(small.len(), 3);

    // A superuser rewrites an event and rebuilds the tree: another table with other nodes takes
    // the place of the one the kept nodes were read from.
    rewrite(&db, &store, streams[0], 3).await;
    ReadModel::LogTree.rebuild(&store).await.expect("rebuild");
    let rewritten = log(&store, 400).await;
    let now: Vec<Hash> = rewritten.iter().map(merkle::event_leaf).collect();
    assert_ne!(merkle::root(&now), merkle::root(&leaves));
    // Proofs through both caches are the rebuilt tree's, not a mix with the kept nodes.
    proofs_through(&client, &upper, &now).await;
    proofs_through(&client, &small, &now).await;
    proofs_by_event_through(&store, &by_event, &rewritten, &now).await;
}

/// Checks the proofs by event of every seventh leaf, read as the API reads them (the leaf with
/// the nodes it likely needs, then the rest through `upper`), in trees of several sizes.
async fn proofs_by_event_through(
    store: &EventStore,
    upper: &UpperNodes,
    events: &[RecordedEvent],
    leaves: &[Hash],
) {
    let client = &store.database().pool().get().await.expect("connection");
    // Leaf 100 of the first 256, whose proof names only its siblings, first: after a rebuild
    // its upper siblings are in the cache but of the table before.
    let path = Path::read(client, upper, events[100].event_id).await;
    let path = path.expect("path").expect("a leaf");
    let proof = path.inclusion(client, upper, 256).await.expect("proof");
    let direct = read::inclusion(client, None, 100, 256).await;
    assert_eq!(proof, direct.expect("proof"), "leaf 100 of 256");
    // Against the whole tree, leaf 30's proof reads the head of leaves 256-399, the tree's right
    // edge, which every proof of a leaf below 256 names.
    let count = leaves.len() as u64;
    let other = Path::read(client, upper, events[30].event_id).await;
    let other = other.expect("path").expect("a leaf");
    other.inclusion(client, upper, count).await.expect("proof");
    let whole = read::inclusion(client, None, 100, count)
        .await
        .expect("proof");
    // The cache now warm, leaf 100's proofs against both sizes ask the server nothing more: they
    // are served on a connection that can answer nothing.
    let mut other = store.database().pool().get().await.expect("connection");
    let dead = other.transaction().await.expect("transaction");
    assert!(dead.batch_execute("SELECT 1 / 0").await.is_err());
    let served = path.inclusion(&dead, upper, 256).await;
    assert_eq!(served.expect("no query"), proof);
    let served = path.inclusion(&dead, upper, count).await;
    assert_eq!(served.expect("no query"), whole);
    for (index, event) in (0..).zip(events).step_by(7) {
        let path = Path::read(client, upper, event.event_id)
            .await
            .expect("path")
            .expect("every event is a leaf");
        assert_eq!(path.index, index, "the leaf of event {index}");
        // Near the right edge of the smaller trees, proofs name nodes no sibling is.
        for size in [index + 1, (index + 37).min(count), count] {
            let inclusion = path.inclusion(client, upper, size).await.expect("proof");
            let direct = read::inclusion(client, None, index, size).await;
            assert_eq!(inclusion, direct.expect("proof"), "leaf {index} of {size}");
            assert_eq!(inclusion.leaf, leaves[index as usize]);
            let root = merkle::root(&leaves[..size as usize]);
            assert!(verify_inclusion(
                index,
                size,
                &inclusion.leaf,
                &inclusion.proof,
                &root
            ));
        }
    }
}

/// Checks the head and the proofs of every seventh leaf, read through `upper`, against `leaves`.
async fn proofs_through(client: &deadpool_postgres::Client, upper: &UpperNodes, leaves: &[Hash]) {
    let count = leaves.len() as u64;
    let root = merkle::root(leaves);
    for index in (0..count).step_by(7) {
        let inclusion = read::inclusion(client, Some(upper), index, count)
            .await
            .expect("proof");
        assert_eq!(inclusion.leaf, leaves[index as usize], "leaf {index}");
        assert!(verify_inclusion(
            index,
            count,
            &inclusion.leaf,
            &inclusion.proof,
            &root
        ));
    }
    let head = read::root(client, Some(upper), count).await.expect("root");
    assert_eq!(head, root);
}
