//! `egov`: the binary. It parses the subcommand, sets up tracing, loads [`Settings`], finds the
//! database (starting the embedded PostgreSQL when no `DATABASE_URL` is set) and calls into the
//! libraries; the work itself lives there.

mod admin;
mod cli;
mod dev_pki;
mod receipt;
mod serve;
mod witness;

use std::ops::ControlFlow;
use std::process::ExitCode;

use api::Settings;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use cli::{Cli, Cmd};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs the one-shot commands that need neither the database nor the stop signal; hands the
/// others back.
fn at_once(command: Cmd, settings: &Settings) -> ControlFlow<anyhow::Result<ExitCode>, Cmd> {
    ControlFlow::Break(match command {
        Cmd::Token {
            role,
            sub,
            ttl,
            org,
        } => admin::token(settings, role, &sub, &ttl, org),
        Cmd::DevCert {
            revoke: Some(file),
            password,
            ..
        } => dev_pki::revoke(settings, &file, &password),
        Cmd::DevCert {
            iin,
            name,
            out,
            password,
            revoke: None,
        } => dev_pki::issue(settings, iin.as_deref(), &name, out.as_deref(), &password),
        Cmd::Sign {
            p12,
            input,
            password,
        } => dev_pki::sign(&p12, &input, &password),
        Cmd::LogKey { name, out } => admin::log_key(&name, &out),
        Cmd::Receipt {
            what: cli::ReceiptCmd::Verify { file, key, head },
        } => receipt::verify(&file, &key, head.as_deref()),
        other => return ControlFlow::Continue(other),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    egov::process::run("egov", |settings| dispatch(cli.command, settings))
}

async fn dispatch(command: Cmd, settings: Settings) -> anyhow::Result<ExitCode> {
    let command = match at_once(command, &settings) {
        ControlFlow::Break(done) => return done,
        ControlFlow::Continue(command) => command,
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(serve::stop_on_signal(shutdown.clone()));
    if let Cmd::Witness {
        log,
        state,
        log_key,
        token_file,
        name,
        every,
        metrics_addr,
        once,
    } = command
    {
        let every = api::settings::parse_duration(&every)
            .ok_or_else(|| anyhow::anyhow!("--every {every}: a duration such as 5s or 500ms"))?;
        let options = witness::Options {
            log,
            state,
            log_key,
            token_file,
            name,
            every,
            metrics_addr,
            once,
        };
        return witness::run(options, shutdown).await;
    }
    // The embedded cluster (when used) lives until the subcommand is done; dropping it stops it.
    let Some((settings, _embedded)) = egov::database::resolve(settings, &shutdown).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        Cmd::Serve => serve::serve(&settings, &shutdown).await,
        Cmd::Worker => serve::worker(&settings, &shutdown).await,
        Cmd::Relay => serve::relay(&settings, &shutdown).await,
        Cmd::Migrate => admin::migrate(&settings).await,
        Cmd::Verify {
            stream,
            request,
            all: _,
        } => admin::verify(&settings, stream, request).await,
        Cmd::Projections { what } => admin::projections(&settings, what, &shutdown).await,
        Cmd::Replay {
            check: _,
            source,
            only,
        } => admin::replay_check(&settings, source, only).await,
        Cmd::Token { .. }
        | Cmd::DevCert { .. }
        | Cmd::Sign { .. }
        | Cmd::LogKey { .. }
        | Cmd::Receipt { .. }
        | Cmd::Witness { .. } => Ok(ExitCode::SUCCESS),
    }
}
