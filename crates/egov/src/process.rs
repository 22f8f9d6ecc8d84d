//! How each of the project's binaries starts: its settings loaded (a bad setting exits with 2),
//! logging set up, a multi-threaded runtime, and a failure logged with its causes and printed.

use std::future::Future;
use std::process::ExitCode;

use api::{telemetry, Settings};

/// Runs `body` with the settings from the environment, as the binary `name`; its exit code.
pub fn run<F, Fut>(name: &str, body: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<ExitCode>>,
{
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{name}: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(body(settings)) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "{name} failed");
            eprintln!("{name}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
