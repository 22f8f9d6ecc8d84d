//! Starting the `egov` binary and waiting for it: `egov serve` is started on a port it picks
//! itself (`EGOV_HTTP_ADDR=127.0.0.1:0`) and tells on its first line of stdout, so that no two
//! tests can race for a port; waits poll a condition with a deadline, never sleep a fixed time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn egov() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_egov"));
    // Tests decide about the database themselves.
    command
        .env_remove("DATABASE_URL")
        .env_remove("EGOV_DATA_DIR")
        .env_remove("EGOV_HTTP_ADDR");
    if std::env::var_os("TEST_LOG").is_none() {
        command.env("RUST_LOG", "warn");
    }
    command
}

/// The `/metrics` text of the `egov serve` at `base`.
pub async fn metrics_at(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// Polls `condition` every 50 ms until it holds, failing the test with `what` after `limit`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !condition().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `egov serve`, stopped with SIGTERM when dropped.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Served {
    /// Starts `egov serve` with `envs` on a port it picks, and returns once it listens (after
    /// applying the migrations).
    pub fn start(envs: &[(&str, &str)]) -> Served {
        let mut command = egov();
        command.arg("serve").env("EGOV_HTTP_ADDR", "127.0.0.1:0");
        // Development keys go beside the data directory: keep them out of the source tree.
        if !envs.iter().any(|(key, _)| *key == "EGOV_DATA_DIR") {
            let scratch = std::env::temp_dir().join(format!("egov-e2e-{}", std::process::id()));
            command.env("EGOV_DATA_DIR", scratch.join("pg"));
        }
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start egov serve");
        let addr = listening_on(&mut child, "egov serve");
        Served {
            child,
            base: format!("http://{addr}"),
        }
    }

    /// Polls `/readyz` until it answers 200, failing the test after `limit`.
    pub async fn wait_ready(&mut self, limit: Duration) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("egov serve exited before it was ready: {status}");
            }
            let answer = client
                .get(format!("{}/readyz", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answer.is_ok_and(|a| a.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "egov serve was not ready within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM and waits for the process to end; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        signal_term(self.child.id());
        wait_exit(&mut self.child, Duration::from_secs(60))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_term(self.child.id());
            let _ = wait_exit(&mut self.child, Duration::from_secs(30));
        }
    }
}

/// The address a child announces as `listening on <address>`, its first line of stdout; the
/// rest of its stdout is passed on to the test's. Fails the test when the child ends first.
fn listening_on(child: &mut Child, what: &str) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tell, told) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok);
        let _ = tell.send(first);
        for line in lines.map_while(Result::ok) {
            println!("{line}");
        }
    });
    let line = match told.recv_timeout(Duration::from_secs(120)) {
        Ok(Some(line)) => line,
        Ok(None) => panic!("{what} ended before it listened: {:?}", child.wait()),
        Err(_) => panic!("{what} did not listen within 120 s"),
    };
    line.strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{what} said {line:?}, not where it listens"))
        .to_owned()
}

fn signal_term(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("egov did not stop within {limit:?} of SIGTERM");
}

/// A running `egov` subcommand that runs until stopped (`worker`, `relay`, `projections run`),
/// stopped with SIGTERM when dropped.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    /// `egov worker`.
    pub fn worker(envs: &[(String, String)]) -> Daemon {
        Daemon::start(envs, &["worker"])
    }

    /// `egov ARGS...` with `envs`.
    pub fn start(envs: &[(String, String)], args: &[&str]) -> Daemon {
        let mut command = egov();
        command.args(args);
        for (key, value) in envs {
            command.env(key, value);
        }
        Daemon {
            child: command
                .stdin(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("start egov {args:?}: {error}")),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_term(self.child.id());
            let _ = wait_exit(&mut self.child, Duration::from_secs(30));
        }
    }
}

/// The postmaster's pid and port from a data directory's postmaster.pid, if the file exists.
pub fn postmaster(data_dir: &Path) -> Option<(u32, u16)> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2)?.trim().parse().ok()?;
    Some((pid, port))
}

/// Whether a process with this pid is running. A zombie (ended, not yet reaped by its parent; in a
/// container the daemonised postmaster's parent may be an init that never reaps) is not running.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) STATE ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The processes of the cluster whose postmaster is `pid` (the postmaster and its children),
/// stopped with SIGSTOP, and continued again when dropped (a failed test leaves no frozen
/// cluster behind).
pub struct Paused(Vec<u32>);

impl Paused {
    pub fn cluster(pid: u32) -> Paused {
        // The postmaster first, so that it forks no new backend; then its children, until a
        // look at /proc finds none left running.
        super::kafka::signal("-STOP", pid);
        let mut pids = vec![pid];
        loop {
            let new: Vec<u32> = children(pid)
                .into_iter()
                .filter(|child| !pids.contains(child))
                .collect();
            if new.is_empty() {
                break;
            }
            for child in &new {
                super::kafka::signal("-STOP", *child);
            }
            pids.extend(new);
        }
        Paused(pids)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        for pid in &self.0 {
            super::kafka::signal("-CONT", *pid);
        }
    }
}

/// The pids whose parent is `parent`, from /proc.
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // "pid (comm) state ppid ...": the parent follows the state after the last ')'.
                    let rest = stat.rsplit_once(')')?.1.to_owned();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}
