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
    if let Err(error) = install_data(&settings) {
        eprintln!("{name}: {error}");
        return ExitCode::from(2);
    }
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

/// Loads the data that changes without a rebuild - the working-day calendar (`EGOV_CALENDAR`) and
/// the message texts (`EGOV_MESSAGES`) - checked as strictly as the compiled-in files, and makes
/// them the process's own before anything uses them. Unset, the compiled-in files are used.
fn install_data(settings: &Settings) -> Result<(), String> {
    let read = |name: &str, path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| format!("{name} ({}): {e}", path.display()))
    };
    if let Some(path) = &settings.calendar {
        let calendar = domain::calendar::WorkingCalendar::from_json(&read("EGOV_CALENDAR", path)?)
            .map_err(|e| format!("EGOV_CALENDAR ({}): {e}", path.display()))?;
        calendar
            .install()
            .map_err(|_| "EGOV_CALENDAR: the calendar was already in use".to_owned())?;
    }
    if let Some(path) = &settings.messages {
        let messages = domain::Messages::from_json(&read("EGOV_MESSAGES", path)?)
            .map_err(|e| format!("EGOV_MESSAGES ({}): {e}", path.display()))?;
        messages
            .install()
            .map_err(|_| "EGOV_MESSAGES: the messages were already in use".to_owned())?;
    }
    Ok(())
}
