//! Prometheus metrics: request rates and latencies per route, events appended, projector lag, the
//! Kafka relay's lag, the registries' calls and circuits, the workflow's lease takeovers. The
//! middleware [`track`] counts every request; `GET /metrics` (`crate::routes::health`) sets the
//! lags and encodes them; [`Operations`] is read at each scrape.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::drain::InFlight;

mod operations;

pub use operations::Operations;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectorLabels {
    projector: String,
}

/// The process's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RouteLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    /// Events appended by this process's command handlers.
    pub events_appended: Counter,
    /// Reads of the status table by held long polls (each woken poll reads once).
    pub status_poll_reads: Counter,
    long_polls: Gauge,
    kafka_parked: Gauge,
    lag_seconds: Family<ProjectorLabels, Gauge<f64, AtomicU64>>,
    relay_lag_events: Gauge,
    relay_lag_seconds: Gauge<f64, AtomicU64>,
    database_up: Gauge,
    database_away: Counter,
    read_audit_queued: Gauge,
    tree_head_size: Gauge,
    tree_head_age: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Metrics {
    /// The process's metrics; with `operations`, also the figures each scrape reads from the
    /// registries' adapters and the workflow.
    pub fn new(operations: Option<Operations>) -> Self {
        let mut registry = Registry::with_prefix("egov");
        if let Some(operations) = operations {
            registry.register_collector(Box::new(operations));
        }
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        let events_appended = Counter::default();
        registry.register(
            "events_appended",
            "Events appended by this process",
            events_appended.clone(),
        );
        let status_poll_reads = Counter::default();
        registry.register(
            "status_poll_reads",
            "Reads of the status view by held long polls",
            status_poll_reads.clone(),
        );
        let long_polls = gauge(&mut registry, "long_polls", "Long polls held now");
        let kafka_parked = gauge(
            &mut registry,
            "kafka_parked_messages",
            "Messages on the topic that Kafka-sourced projectors parked as not events",
        );
        let read_audit_queued = gauge(
            &mut registry,
            "read_audit_queued",
            "Audited reads waiting for the committer (each is answered once its record commits)",
        );
        let lag_seconds = Family::<ProjectorLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "projector_lag_seconds",
            "How long a read model has been behind: the age of the oldest event it has not applied \
             from the log, or, fed from the topic, how long published events waited for it",
            lag_seconds.clone(),
        );
        let (relay_lag_events, relay_lag_seconds) = register_relay(&mut registry);
        let (database_up, database_away) = register_database(&mut registry);
        let tree_head_size = gauge(
            &mut registry,
            "tree_head_size",
            "Events in the log's latest signed tree head",
        );
        let tree_head_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "tree_head_age_seconds",
            "How long ago the latest tree head was signed",
            tree_head_age.clone(),
        );
        Self {
            tree_head_size,
            tree_head_age,
            read_audit_queued,
            database_up,
            database_away,
            relay_lag_events,
            relay_lag_seconds,
            registry: Arc::new(registry),
            requests,
            latency,
            events_appended,
            status_poll_reads,
            long_polls,
            kafka_parked,
            lag_seconds,
        }
    }
}

/// A method as a label: the standard ones by name, any other as `OTHER`, so that made-up methods
/// cannot grow the label set.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("OTHER", |(_, label)| label)
}

/// Middleware: counts and times every request by its route pattern (never by the raw path, so
/// request numbers do not become labels) and its method (standard ones only).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    // Counted in flight until answered, so that a stopping server lets it finish (`crate::drain`).
    let _handling = req.app_data::<web::Data<InFlight>>().map(|f| f.enter());
    let recorder = req.app_data::<web::Data<Metrics>>().cloned();
    let database = crate::db_watch::watch_for(&req);
    let response =
        crate::db_watch::guarded(database, crate::limits::within_body_deadline(req, next)).await?;
    if let Some(recorder) = recorder {
        let status = response.status().as_u16();
        recorder
            .requests
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
                status,
            })
            .inc();
        recorder
            .latency
            .get_or_create(&LatencyLabels { method, route })
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// A gauge registered as `name`.
fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::default();
    registry.register(name, help, gauge.clone());
    gauge
}

/// The Kafka relay's lag, in events and seconds.
fn register_relay(registry: &mut Registry) -> (Gauge, Gauge<f64, AtomicU64>) {
    let relay_lag_events = gauge(
        registry,
        "relay_lag_events",
        "Events committed that the Kafka relay has not had acknowledged by the broker",
    );
    let relay_lag_seconds = Gauge::<f64, AtomicU64>::default();
    registry.register(
        "relay_lag_seconds",
        "Age of the oldest event the Kafka relay has not had acknowledged",
        relay_lag_seconds.clone(),
    );
    (relay_lag_events, relay_lag_seconds)
}

/// The database watch's metrics (`crate::db_watch`).
fn register_database(registry: &mut Registry) -> (Gauge, Counter) {
    let up = Gauge::default();
    registry.register(
        "database_up",
        "1 while the database answers the probe, 0 while it is away (requests needing it get 503)",
        up.clone(),
    );
    let away = Counter::default();
    registry.register(
        "database_away",
        "Times the database was seen away",
        away.clone(),
    );
    (up, away)
}

impl Metrics {
    /// Sets whether the database answers; a change to away is counted.
    pub fn set_database_up(&self, up: bool) {
        let was = self.database_up.set(i64::from(up));
        if was == 1 && !up {
            self.database_away.inc();
        }
    }

    /// Sets the lag of the read model `projector`.
    pub fn set_projector_lag(&self, projector: &str, seconds_behind: f64) {
        let labels = ProjectorLabels {
            projector: projector.to_owned(),
        };
        self.lag_seconds.get_or_create(&labels).set(seconds_behind);
    }

    /// Sets how many long polls are held now.
    pub fn set_kafka_parked(&self, parked: i64) {
        self.kafka_parked.set(parked);
    }

    /// Sets how many audited reads wait for the committer.
    pub fn set_read_audit_queued(&self, queued: usize) {
        self.read_audit_queued
            .set(i64::try_from(queued).unwrap_or(i64::MAX));
    }

    pub fn set_long_polls(&self, held: usize) {
        self.long_polls.set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    /// Sets the size of the latest signed tree head and its age.
    pub fn set_tree_head(&self, size: u64, age_seconds: f64) {
        self.tree_head_size
            .set(i64::try_from(size).unwrap_or(i64::MAX));
        self.tree_head_age.set(age_seconds);
    }

    /// Sets the Kafka relay's lag.
    pub fn set_relay_lag(&self, lag: &projections::Lag) {
        self.relay_lag_events.set(lag.events_behind);
        self.relay_lag_seconds.set(lag.seconds_behind);
    }

    /// Every metric in the OpenMetrics text format.
    ///
    /// # Errors
    /// When writing to the text fails (it does not: the text is a `String`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut body = String::new();
        encode(&mut body, &self.registry)?;
        Ok(body)
    }
}
