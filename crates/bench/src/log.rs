//! `egov-bench log`: the verifiable log's costs (issue figures of docs/architecture.md, "The
//! verifiable log"), in a scratch database:
//!
//! 1. appends without and with the tree's projector running, in `--rounds` (3) alternating rounds
//!    (one event per append, then ten), each run started from a checkpoint, and the ratio of the
//!    rates over all rounds;
//! 2. the log topped up to `--events` (1,000,000) events, the tree rebuilt from the first event:
//!    its rate, and the tree's storage per event (nodes and tiles with their indexes);
//! 3. inclusion proofs read from PostgreSQL by `--workers` tasks for `--seconds` (random leaves,
//!    against the whole tree), by index and by event: proofs per second, p50/p99. As the API
//!    serves them, through a cache of the tree's upper nodes, an event's leaf read with the nodes
//!    its proof likely names (`--uncached`: every node read from PostgreSQL, the leaf first);
//! 4. a synthetic tree of `--leaves` (10,000,000) leaves filled by SQL, level by level
//!    (leaf i = SHA-256(0x00 || i as 8 bytes), node = SHA-256(0x01 || left || right)), its head
//!    checked against the domain's tree of the same leaves, then consistency proofs from random
//!    sizes to the whole tree, each checked: p50/p99/max.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::merkle::{self, frontier::Frontier};
use event_store::EventStore;
use projections::log_tree::{self, read, Path, UpperNodes};
use projections::{Progress, ReadModel};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::append::{appends, per_second, ratio};
use crate::scratch::{self, BenchError};
use crate::stats::percentile_ms;

/// What the benchmark is asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct LogBenchOptions {
    /// Seconds for each measured run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent writers (and proof readers).
    #[arg(long, default_value_t = 16)]
    pub writers: usize,
    /// Events in the log when the tree is rebuilt and its storage measured.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Leaves of the synthetic tree the consistency proofs are taken over.
    #[arg(long, default_value_t = 10_000_000)]
    pub leaves: u64,
    /// Alternating rounds of appends without and with the tree (part 1).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Measure only the append rates without and with the tree (part 1).
    #[arg(long)]
    pub appends_only: bool,
    /// Read every node of a proof from PostgreSQL, without the cache of upper nodes the API
    /// serves proofs through (parts 3 and 4).
    #[arg(long)]
    pub uncached: bool,
}

/// The figures; serialised as the last line.
#[derive(Debug, Serialize, Default)]
pub struct LogBenchReport {
    pub single_without_tree: f64,
    pub single_with_tree: f64,
    pub single_ratio: f64,
    pub batch_without_tree: f64,
    pub batch_with_tree: f64,
    pub batch_ratio: f64,
    pub rebuild_events: u64,
    pub rebuild_events_per_s: f64,
    pub storage_bytes_per_event: f64,
    pub inclusion_proofs_per_s: f64,
    pub inclusion_p50_ms: f64,
    pub inclusion_p99_ms: f64,
    /// The same by event id (the leaf looked up first).
    pub inclusion_by_event_per_s: f64,
    pub inclusion_by_event_p50_ms: f64,
    pub inclusion_by_event_p99_ms: f64,
    pub consistency_leaves: u64,
    pub fill_seconds: f64,
    pub consistency_p50_ms: f64,
    pub consistency_p99_ms: f64,
    pub consistency_max_ms: f64,
}

fn database(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> BenchError {
    move |e| BenchError::Database(doing, e)
}

/// Runs the benchmark in the scratch database of `config`.
///
/// # Errors
/// [`BenchError`] naming what failed.
pub async fn run(
    config: &tokio_postgres::Config,
    options: &LogBenchOptions,
) -> Result<LogBenchReport, BenchError> {
    let store = EventStore::new(scratch::migrated(config, options.writers + 4).await?);
    let mut report = LogBenchReport::default();
    appends_with_and_without(config, &store, options, &mut report).await?;
    if options.appends_only {
        return Ok(report);
    }
    rebuild_and_storage(&store, options, &mut report).await?;
    inclusion_proofs(&store, options, &mut report).await?;
    consistency_proofs(&store, options, &mut report).await?;
    Ok(report)
}

/// (1): the append rate without the tree's projector, then with it, for 1 and 10 events per
/// append, in `options.rounds` alternating rounds: the log grows (and the server checkpoints and
/// vacuums) as it runs, which would count against whichever kind ran later.
async fn appends_with_and_without(
    config: &tokio_postgres::Config,
    store: &EventStore,
    options: &LogBenchOptions,
    report: &mut LogBenchReport,
) -> Result<(), BenchError> {
    let seconds = Duration::from_secs(options.seconds);
    for per_append in [1, 10] {
        let (mut without, mut with) = ((0, Duration::ZERO), (0, Duration::ZERO));
        for round in 1..=options.rounds {
            eprintln!(
                "(1) {per_append} event(s) per append, round {round}: {} s without the tree, \
                 {} s with it ...",
                options.seconds, options.seconds
            );
            checkpoint(config).await?;
            let alone = appends(store, options.writers, per_append, seconds).await?;
            let stop = CancellationToken::new();
            let progress = tokio::sync::watch::channel(Progress::default()).0;
            let tree = ReadModel::LogTree.spawn(store, progress, None, &stop);
            // Measured from a tree that has caught up: the projector's own backlog is not the cost.
            caught_up(store).await?;
            checkpoint(config).await?;
            let beside = appends(store, options.writers, per_append, seconds).await?;
            caught_up(store).await?;
            stop.cancel();
            tree.await.map_err(scratch::failed)?;
            eprintln!(
                "    ratio {:.2}",
                ratio(
                    per_second(beside.events, beside.elapsed),
                    per_second(alone.events, alone.elapsed)
                )
            );
            without = (without.0 + alone.events, without.1 + alone.elapsed);
            with = (with.0 + beside.events, with.1 + beside.elapsed);
        }
        let (a, b) = (per_second(without.0, without.1), per_second(with.0, with.1));
        if per_append == 1 {
            (report.single_without_tree, report.single_with_tree) = (a, b);
            report.single_ratio = ratio(b, a);
        } else {
            (report.batch_without_tree, report.batch_with_tree) = (a, b);
            report.batch_ratio = ratio(b, a);
        }
    }
    Ok(())
}

/// Flushes what the server has written so far: each measured run starts from a checkpoint, so
/// the one the run before (or the tree's catching up between runs) made due does not fall into
/// it. The checkpoints a run's own writes make due still do.
async fn checkpoint(config: &tokio_postgres::Config) -> Result<(), BenchError> {
    // As the server's superuser: the service's own role may not checkpoint.
    let client = scratch::connect(config).await?;
    client
        .batch_execute("CHECKPOINT")
        .await
        .map_err(database("checkpointing"))
}

/// Waits until the tree holds every event of the log.
async fn caught_up(store: &EventStore) -> Result<(), BenchError> {
    let client = store
        .database()
        .pool()
        .get()
        .await
        .map_err(scratch::failed)?;
    loop {
        let events: i64 = client
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .map_err(database("counting events"))?
            .get(0);
        let size = read::size(&client).await.map_err(scratch::failed)?;
        if u64::try_from(events).unwrap_or(0) <= size {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (2): the log topped up to `options.events`, the tree rebuilt, its storage measured.
async fn rebuild_and_storage(
    store: &EventStore,
    options: &LogBenchOptions,
    report: &mut LogBenchReport,
) -> Result<(), BenchError> {
    let client = store
        .database()
        .pool()
        .get()
        .await
        .map_err(scratch::failed)?;
    loop {
        let events: i64 = client
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .map_err(database("counting events"))?
            .get(0);
        let events = u64::try_from(events).unwrap_or(0);
        if events >= options.events {
            break;
        }
        eprintln!(
            "(2) topping the log up from {events} to {} events ...",
            options.events
        );
        appends(store, options.writers, 10, Duration::from_secs(10)).await?;
    }
    eprintln!("(2) rebuilding the tree from the first event ...");
    let started = Instant::now();
    let rebuilt = ReadModel::LogTree
        .rebuild(store)
        .await
        .map_err(scratch::failed)?;
    report.rebuild_events = rebuilt.events;
    report.rebuild_events_per_s = per_second(rebuilt.events, started.elapsed());
    client
        .batch_execute("VACUUM ANALYZE projections.log_tree, projections.log_tree_tiles")
        .await
        .map_err(database("vacuuming the tree"))?;
    let bytes: i64 = client
        .query_one(
            "SELECT pg_total_relation_size('projections.log_tree')
                  + pg_total_relation_size('projections.log_tree_tiles')",
            &[],
        )
        .await
        .map_err(database("measuring the tree"))?
        .get(0);
    #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
    let per_event = bytes as f64 / rebuilt.events.max(1) as f64;
    report.storage_bytes_per_event = per_event;
    Ok(())
}

/// (3): inclusion proofs of random leaves against the whole tree, by `options.writers` tasks:
/// by the leaf's index, then by its event (as the API's `?event=` serves them: the event's leaf
/// found through its tile's anchor, then the proof).
async fn inclusion_proofs(
    store: &EventStore,
    options: &LogBenchOptions,
    report: &mut LogBenchReport,
) -> Result<(), BenchError> {
    let pool = store.database().pool().clone();
    let size = read::size(&pool.get().await.map_err(scratch::failed)?)
        .await
        .map_err(scratch::failed)?;
    if size == 0 {
        return Ok(());
    }
    // As the API serves them: through one cache of upper nodes, shared by every task.
    let upper = (!options.uncached).then(|| Arc::new(UpperNodes::for_serving()));
    for by_event in [false, true] {
        eprintln!(
            "(3) inclusion proofs by {} in a tree of {size}, {} tasks, {} s ...",
            if by_event { "event" } else { "index" },
            options.writers,
            options.seconds
        );
        let deadline = Instant::now() + Duration::from_secs(options.seconds);
        let started = Instant::now();
        let tasks: Vec<_> = (0..options.writers)
            .map(|task| {
                let upper = upper.clone();
                tokio::spawn(proving(pool.clone(), upper, task, size, by_event, deadline))
            })
            .collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.map_err(scratch::failed)??);
        }
        let rate = per_second(latencies.len() as u64, started.elapsed());
        let (p50, p99) = (
            percentile_ms(&latencies, 0.50),
            percentile_ms(&latencies, 0.99),
        );
        if by_event {
            report.inclusion_by_event_per_s = rate;
            (
                report.inclusion_by_event_p50_ms,
                report.inclusion_by_event_p99_ms,
            ) = (p50, p99);
        } else {
            report.inclusion_proofs_per_s = rate;
            (report.inclusion_p50_ms, report.inclusion_p99_ms) = (p50, p99);
        }
    }
    Ok(())
}

/// One task's inclusion proofs until `deadline`, of leaves picked at random, each proof's
/// latency (by event: of events read from 20 random places of the tree first).
async fn proving(
    pool: deadpool_postgres::Pool,
    upper: Option<Arc<UpperNodes>>,
    task: usize,
    size: u64,
    by_event: bool,
    deadline: Instant,
) -> Result<Vec<Duration>, BenchError> {
    let client = pool.get().await.map_err(scratch::failed)?;
    let mut index = (task as u64).wrapping_mul(7_919) % size.max(1);
    let mut next = move || {
        index = (index
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1))
            % size;
        index
    };
    let mut events = Vec::new();
    if by_event {
        for _ in 0..20 {
            let page = read::leaves(&client, next(), 50).await;
            events.extend(
                page.map_err(scratch::failed)?
                    .into_iter()
                    .map(|(_, id, _)| id),
            );
        }
    }
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let began = Instant::now();
        let event = events.get(latencies.len() % events.len().max(1));
        let no_leaf = || scratch::failed("an event of the tree has no leaf");
        match (event, upper.as_deref()) {
            // As the API serves them: the leaf read with the nodes its proof likely names.
            (Some(&event), Some(upper)) if by_event => {
                let path = Path::read(&client, upper, event).await;
                let path = path.map_err(scratch::failed)?.ok_or_else(no_leaf)?;
                path.inclusion(&client, upper, size)
                    .await
                    .map_err(scratch::failed)?;
            }
            (event, upper) => {
                let leaf = match event {
                    Some(&event) if by_event => read::leaf_index(&client, event)
                        .await
                        .map_err(scratch::failed)?
                        .ok_or_else(no_leaf)?,
                    _ => next(),
                };
                read::inclusion(&client, upper, leaf, size)
                    .await
                    .map_err(scratch::failed)?;
            }
        }
        latencies.push(began.elapsed());
    }
    Ok(latencies)
}

/// (4): a synthetic tree of `options.leaves` leaves filled by SQL, then consistency proofs.
async fn consistency_proofs(
    store: &EventStore,
    options: &LogBenchOptions,
    report: &mut LogBenchReport,
) -> Result<(), BenchError> {
    let n = options.leaves;
    let client = store.database().pool().get().await;
    let client = client.map_err(scratch::failed)?;
    eprintln!("(4) filling a tree of {n} leaves by SQL ...");
    let started = Instant::now();
    fill(&client, n).await?;
    report.fill_seconds = started.elapsed().as_secs_f64();
    report.consistency_leaves = n;
    let upper = (!options.uncached).then(UpperNodes::for_serving);
    // The SQL's tree is RFC 9162's: its head is the domain's over the same leaves.
    let mut frontier = Frontier::default();
    for i in 0..n {
        frontier.push(merkle::leaf_hash(&i.to_be_bytes()));
    }
    let root = read::root(&client, None, n)
        .await
        .map_err(scratch::failed)?;
    if root != frontier.root() {
        return Err(scratch::failed("the filled tree's head is not the RFC's"));
    }
    eprintln!("(4) consistency proofs to {n} leaves ...");
    let mut latencies = Vec::new();
    let mut first = 12_345u64;
    for _ in 0..500 {
        first = (first
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1))
            % n
            + 1;
        let began = Instant::now();
        let proof = read::consistency(&client, upper.as_ref(), first, n).await;
        latencies.push(began.elapsed());
        let old = read::root(&client, None, first)
            .await
            .map_err(scratch::failed)?;
        if !merkle::verify_consistency(first, n, &proof.map_err(scratch::failed)?, &old, &root) {
            return Err(scratch::failed("a consistency proof does not check"));
        }
    }
    report.consistency_p50_ms = percentile_ms(&latencies, 0.50);
    report.consistency_p99_ms = percentile_ms(&latencies, 0.99);
    report.consistency_max_ms = percentile_ms(&latencies, 1.0);
    Ok(())
}

/// Replaces the tree with a synthetic one of `n` leaves, level by level in SQL (the leaves' places
/// in the log, which proofs do not read, made up).
async fn fill(client: &deadpool_postgres::Client, n: u64) -> Result<(), BenchError> {
    client
        .batch_execute(&format!(
            "SET statement_timeout = 0;
             TRUNCATE projections.log_tree, projections.log_tree_tiles;
             CREATE TEMP TABLE fill_leaves AS
               SELECT i AS idx, md5(i::text)::uuid AS event_id,
                      sha256('\\x00'::bytea || int8send(i)) AS hash
                 FROM generate_series(0, {last}) i;
             CREATE INDEX ON fill_leaves (idx);
             ANALYZE fill_leaves;
             INSERT INTO projections.log_tree_tiles (tile, first_tx, first_position, event_ids, hashes)
               SELECT idx / {tile}, 0, idx / {tile},
                      string_agg(uuid_send(event_id), ''::bytea ORDER BY idx),
                      string_agg(hash, ''::bytea ORDER BY idx)
                 FROM fill_leaves GROUP BY idx / {tile};",
            last = n - 1,
            tile = log_tree::TILE,
        ))
        .await
        .map_err(database("filling the leaves"))?;
    let mut level = 1;
    while (n >> level) > 0 {
        let below = if level == 1 {
            "fill_leaves".to_owned()
        } else {
            format!(
                "(SELECT idx, hash FROM projections.log_tree WHERE level = {})",
                level - 1
            )
        };
        client
            .batch_execute(&format!(
                "INSERT INTO projections.log_tree (level, idx, hash)
                 SELECT {level}, l.idx / 2, sha256('\\x01'::bytea || l.hash || r.hash)
                   FROM {below} l JOIN {below} r ON r.idx = l.idx + 1
                  WHERE l.idx % 2 = 0"
            ))
            .await
            .map_err(database("filling a level of nodes"))?;
        // The next level joins this one with itself: without fresh statistics the planner takes
        // it for a few rows and joins it by nested loops.
        client
            .batch_execute("ANALYZE projections.log_tree")
            .await
            .map_err(database("analysing a level of nodes"))?;
        level += 1;
    }
    // As the projector keeps it: the lowest levels are computed from the leaves, not stored.
    client
        .batch_execute(&format!(
            "DELETE FROM projections.log_tree WHERE level < {}",
            log_tree::LOWEST_STORED
        ))
        .await
        .map_err(database("dropping the computed levels"))?;
    client
        .batch_execute(
            "DROP TABLE fill_leaves; ANALYZE projections.log_tree, projections.log_tree_tiles",
        )
        .await
        .map_err(database("analysing the tree"))
}

/// The table for people.
pub fn print_table(report: &LogBenchReport) {
    eprintln!("appends/s           without tree   with tree   ratio");
    eprintln!(
        "  1 event/append    {:>12.0} {:>11.0} {:>7.2}",
        report.single_without_tree, report.single_with_tree, report.single_ratio
    );
    eprintln!(
        "  10 events/append  {:>12.0} {:>11.0} {:>7.2}",
        report.batch_without_tree, report.batch_with_tree, report.batch_ratio
    );
    eprintln!(
        "rebuild: {} events at {:.0}/s; storage {:.0} bytes/event",
        report.rebuild_events, report.rebuild_events_per_s, report.storage_bytes_per_event
    );
    eprintln!(
        "inclusion proofs: {:.0}/s (p50 {:.2} ms, p99 {:.2} ms)",
        report.inclusion_proofs_per_s, report.inclusion_p50_ms, report.inclusion_p99_ms
    );
    eprintln!(
        "inclusion proofs by event: {:.0}/s (p50 {:.2} ms, p99 {:.2} ms)",
        report.inclusion_by_event_per_s,
        report.inclusion_by_event_p50_ms,
        report.inclusion_by_event_p99_ms
    );
    eprintln!(
        "consistency proofs over {} leaves (filled in {:.0} s): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        report.consistency_leaves,
        report.fill_seconds,
        report.consistency_p50_ms,
        report.consistency_p99_ms,
        report.consistency_max_ms
    );
}
