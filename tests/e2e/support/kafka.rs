//! A Kafka broker of a test's own: tansu with in-memory storage on a port of its own, killed when
//! dropped, and the settings that make `egov` publish to it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
