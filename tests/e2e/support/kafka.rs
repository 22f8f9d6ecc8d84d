//! A Kafka broker of a test's own: tansu with in-memory storage on a port of its own, killed when
//! dropped; the settings that make `egov` publish to it; a topic read back and held against the log.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use domain::RecordedEvent;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// How long a consumer group waits for a silent member before its partitions move on.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// A tansu broker of the test's own (in-memory storage), killed when dropped.
pub struct Broker {
    child: Child,
    pub addr: String,
}

fn tansu() -> PathBuf {
    if let Some(bin) = std::env::var_os("TANSU_BIN") {
        return bin.into();
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    let bin = home.join(".cargo/bin/tansu");
    assert!(
        bin.exists(),
        "no Kafka broker binary: run `bash scripts/kafka.sh install` (or set TANSU_BIN)"
    );
    bin
}

impl Broker {
    /// Starts a broker on a port below the ephemeral range (see `testkit::port`); another
    /// port is tried when that one turns out to be taken meanwhile.
    pub fn start() -> Broker {
        for _ in 0..5 {
            if let Some(broker) = Self::start_on(testkit::port::free()) {
                return broker;
            }
        }
        panic!("tansu did not start on any of five ports");
    }

    fn start_on(port: u16) -> Option<Broker> {
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let mut child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            // A broker that could not bind ends; one that is slow gets its ten seconds.
            if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Broker { child, addr })
    }

    /// Stops the broker's process where it is (SIGSTOP): connections hang, nothing is answered.
    pub fn pause(&self) {
        signal("-STOP", self.child.id());
    }

    /// Lets it run again (SIGCONT).
    pub fn resume(&self) {
        signal("-CONT", self.child.id());
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        signal("-CONT", self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `which` (`-TERM`, `-STOP`, ...) to `pid`.
pub fn signal(which: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([which, &pid.to_string()])
        .status();
}

/// A topic name of the test's own.
pub fn topic() -> String {
    format!("egov.test-{}", uuid::Uuid::new_v4().simple())
}

/// The settings that make `egov` publish to `broker`'s `topic`.
pub fn kafka_env(broker: &Broker, topic: &str) -> Vec<(String, String)> {
    vec![
        ("EGOV_KAFKA_BROKERS".into(), broker.addr.clone()),
        ("EGOV_KAFKA_TOPIC".into(), topic.to_owned()),
        ("EGOV_KAFKA_PARTITIONS".into(), "3".into()),
        // The test broker speaks plaintext on loopback; production must say so.
        ("EGOV_KAFKA_SECURITY_PROTOCOL".into(), "plaintext".into()),
        (
            "EGOV_KAFKA_SESSION_TIMEOUT".into(),
            format!("{}s", SESSION_TIMEOUT.as_secs()),
        ),
    ]
}

/// One message read back from the topic.
#[derive(Debug)]
pub struct Published {
    pub partition: i32,
    pub key: String,
    pub headers: HashMap<String, String>,
    pub event: RecordedEvent,
}

/// Reads every partition of `topic` from the beginning until `at_least` messages came and no more
/// come for a second (so that duplicates show too).
pub async fn read_topic(brokers: &str, topic: &str, at_least: usize) -> Vec<Published> {
    read_messages(brokers, topic, at_least)
        .await
        .into_iter()
        .map(|raw| Published {
            event: serde_json::from_slice(&raw.payload).expect("an event envelope"),
            partition: raw.partition,
            key: raw.key,
            headers: raw.headers,
        })
        .collect()
}

/// One message read back as it came.
#[derive(Debug)]
pub struct Raw {
    pub partition: i32,
    pub key: String,
    pub headers: HashMap<String, String>,
    pub payload: Vec<u8>,
}

/// As [`read_topic`], each message's payload as it came.
pub async fn read_messages(brokers: &str, topic: &str, at_least: usize) -> Vec<Raw> {
    let brokers = brokers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("metadata");
        let partitions = metadata.topics()[0].partitions().len();
        assert!(partitions > 0, "the topic has no partitions");
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(
                    &topic,
                    i32::try_from(p).expect("partition"),
                    Offset::Beginning,
                )
                .expect("assign");
        }
        consumer.assign(&assignment).expect("assign");
        let mut read = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet_since = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    quiet_since = Instant::now();
                    let headers = message
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|header| {
                                    (
                                        header.key.to_owned(),
                                        String::from_utf8_lossy(header.value.unwrap_or_default())
                                            .into_owned(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    read.push(Raw {
                        partition: message.partition(),
                        key: String::from_utf8_lossy(message.key().unwrap_or_default())
                            .into_owned(),
                        headers,
                        payload: message.payload().unwrap_or_default().to_vec(),
                    });
                }
                Some(Err(error)) => panic!("reading the topic: {error}"),
                None => {}
            }
            if read.len() >= at_least && quiet_since.elapsed() > Duration::from_secs(1) {
                return read;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of at least {at_least} messages on {topic}",
                read.len()
            );
        }
    })
    .await
    .expect("reader")
}

/// What a consumer saw of the log ([`delivery`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Events of the log that never reached the topic.
    pub missing: usize,
    /// Messages holding an event the log does not.
    pub unknown: usize,
    /// Messages keyed by something other than their stream, or a stream's in a second partition.
    pub misplaced: usize,
    /// Places where a stream's versions skip one (repeats dropped, as the projectors drop them).
    pub skips: usize,
    /// Messages repeating what was already read for the stream.
    pub repeats: usize,
}

/// Counts what a consumer sees of `log` (event id, stream id, version): every event of it at
/// least once, one key's events in one partition, and per key the versions in order once repeats
/// of what was already seen are dropped.
pub fn delivery(log: &[(uuid::Uuid, uuid::Uuid, i64)], read: &[Published]) -> Delivery {
    let expected: HashSet<uuid::Uuid> = log.iter().map(|(id, _, _)| *id).collect();
    let seen: HashSet<uuid::Uuid> = read.iter().map(|p| p.event.event_id).collect();
    let mut delivery = Delivery {
        missing: expected.difference(&seen).count(),
        unknown: seen.difference(&expected).count(),
        ..Delivery::default()
    };
    let mut partition_of: HashMap<&str, i32> = HashMap::new();
    let mut newest: HashMap<&str, u64> = HashMap::new();
    for published in read {
        let partition = *partition_of
            .entry(published.key.as_str())
            .or_insert(published.partition);
        if published.key != published.event.stream_id.to_string()
            || partition != published.partition
        {
            delivery.misplaced += 1;
        }
        let version = published.event.stream_version.get();
        let newest = newest.entry(published.key.as_str()).or_insert(0);
        if version <= *newest {
            delivery.repeats += 1;
        } else {
            if version != *newest + 1 {
                delivery.skips += 1;
            }
            *newest = version;
        }
    }
    delivery
}

/// The high watermark (the offset the next message will take) of every partition of `topic`.
pub async fn high_watermarks(brokers: &str, topic: &str) -> Vec<i64> {
    let brokers = brokers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .expect("consumer");
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("metadata");
        metadata.topics()[0]
            .partitions()
            .iter()
            .map(|partition| {
                consumer
                    .fetch_watermarks(&topic, partition.id(), Duration::from_secs(10))
                    .expect("watermarks")
                    .1
            })
            .collect()
    })
    .await
    .expect("watermarks")
}
