//! The command line: the subcommands of `egov` and their flags (clap). What each does is in
//! [`crate::serve`] (the long-running processes) and [`crate::admin`] (the one-shot commands).

use api::settings::ProjectionSource;
use api::token::Role;
use clap::{Parser, Subcommand};
use projections::ReadModel;
use uuid::Uuid;

use crate::dev_pki;

#[derive(Parser)]
#[command(
    name = "egov",
    version,
    about = "Kazakhstan's social e-government services as an event-sourced system"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Serve the HTTP API (applies the migrations first; starts the embedded PostgreSQL when no
    /// DATABASE_URL is set).
    Serve,
    /// Run only the workflow (signature checks, registry lookups, results, timers) until stopped;
    /// several workers may run beside `egov serve` (with EGOV_WORKFLOW=off there).
    Worker,
    /// Publish every event of the log, in order, to the Kafka topic until stopped (needs
    /// EGOV_KAFKA_BROKERS; `egov serve` runs the relay itself when that is set).
    Relay,
    /// Apply the migrations that are not applied yet, then exit.
    Migrate,
    /// Check the hash chains of the event log and name the first altered event of each stream.
    Verify {
        /// Check only this stream (request id).
        #[arg(long, conflicts_with_all = ["all", "request"])]
        stream: Option<Uuid>,
        /// Check only the request with this number.
        #[arg(long, conflicts_with = "all")]
        request: Option<String>,
        /// Check every stream (the default).
        #[arg(long)]
        all: bool,
    },
    /// Replay every read model from the log and compare it with the stored one; exit 4 and list
    /// the differing rows when they differ.
    Replay {
        /// Compare only (the one mode there is: nothing is written).
        #[arg(long, required = true)]
        check: bool,
        /// Where the stored read models were fed from: `postgres` replays up to each one's
        /// checkpoint, `kafka` the whole log (run it once the projectors have caught up).
        #[arg(long, value_enum, default_value = "postgres")]
        source: ProjectionSource,
        /// Only this read model (request_status, data_access, analytics or log_tree); every one otherwise.
        #[arg(long)]
        only: Option<ReadModel>,
    },
    /// Print a development token signed with the development key (development mode only).
    Token {
        /// The role the token carries.
        #[arg(long, value_enum)]
        role: Role,
        /// The subject: a citizen's IIN, an operator's id, ...
        #[arg(long)]
        sub: String,
        /// How long the token is valid, e.g. 1h, 30m, 90s.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The organisation (service centre, medical organisation).
        #[arg(long)]
        org: Option<String>,
    },
    /// Issue a signing certificate in the national profile from the development CA (development
    /// mode only; the CA lives beside the data directory and `egov serve` trusts it there), as a
    /// PKCS#12 file for `egov sign`; or, with --revoke, revoke the one a file holds.
    DevCert {
        /// The holder's IIN (12 digits with a valid check digit).
        #[arg(long, required_unless_present = "revoke")]
        iin: Option<String>,
        /// The holder's name as the certificate's CN gives it: SURNAME NAME.
        #[arg(long, default_value = "ТЕСТОВ ТЕСТ")]
        name: String,
        /// Where to write the PKCS#12 file (default: IIN.p12 in the current directory); an
        /// existing file is never replaced.
        #[arg(long, conflicts_with = "revoke")]
        out: Option<std::path::PathBuf>,
        /// The PKCS#12 file's password.
        #[arg(long, default_value = dev_pki::DEFAULT_PASSWORD)]
        password: String,
        /// Revoke the certificate this PKCS#12 file holds (OCSP answers "revoked" from now on).
        #[arg(long)]
        revoke: Option<std::path::PathBuf>,
    },
    /// Sign a document with the key of a PKCS#12 file: prints `{"cms": BASE64}`, the body
    /// `POST /api/v1/requests/{number}/signature` takes (an attached CMS SignedData).
    Sign {
        /// The PKCS#12 file (from `egov dev-cert`, or an NCA key file).
        #[arg(long)]
        p12: std::path::PathBuf,
        /// The document: a file of the bytes to sign, or the JSON answer of filing a request
        /// (its `document_to_sign` is signed); `-` reads standard input.
        #[arg(long = "in")]
        input: std::path::PathBuf,
        /// The PKCS#12 file's password.
        #[arg(long, default_value = dev_pki::DEFAULT_PASSWORD)]
        password: String,
    },
    /// Make the key the log's tree heads are signed with (for EGOV_LOG_KEY), and print the public
    /// key that verifies them (receipts, witnesses).
    LogKey {
        /// The log's name: the first line of every signed head, e.g. egov-events.kz/log.
        #[arg(long)]
        name: String,
        /// The file to write (readable by its owner only); an existing file is never replaced.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Receipts of result and refusal documents (`GET /api/v1/requests/{number}/receipt`).
    Receipt {
        #[command(subcommand)]
        what: ReceiptCmd,
    },
    /// Witness the log: follow its signed tree heads with a copy of its leaves, cosign each head
    /// that extends the last one accepted, and raise an alarm (ERROR, evidence in the state
    /// directory, `egov_witness_alarm`, exit 6) on one that does not. Meant to run in another
    /// organisation, with a token of the `witness` role.
    Witness {
        /// The log's base URL, e.g. https://egov-events.example.kz
        #[arg(long)]
        log: String,
        /// Where the witness keeps its key, its copy of the leaves, the accepted head and the
        /// evidence of alarms.
        #[arg(long)]
        state: std::path::PathBuf,
        /// The log's public key (`name+id+key`), or a file holding it.
        #[arg(long)]
        log_key: String,
        /// A file holding the bearer token (role `witness`) the witness reads the log with.
        #[arg(long)]
        token_file: std::path::PathBuf,
        /// The witness's name, given to its key when the key is made.
        #[arg(long, default_value = "witness.localhost")]
        name: String,
        /// How often to look at the log, e.g. 5s, 500ms.
        #[arg(long, default_value = "5s")]
        every: String,
        /// Serve the witness's own /metrics here, e.g. 127.0.0.1:9100.
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
        /// Look once and exit: 0 when nothing is wrong, 6 on an alarm.
        #[arg(long)]
        once: bool,
    },
    /// Read models: rebuild one from the first event, or show where each stands.
    Projections {
        #[command(subcommand)]
        what: ProjectionsCmd,
    },
}

#[derive(Subcommand)]
pub enum ReceiptCmd {
    /// Check a receipt offline, with nothing but the log's public key: the document's event is in
    /// the signed head, and (with --head) a newer signed head extends it. Exit 5 when it does not.
    Verify {
        /// The receipt (JSON, as the API gives it).
        file: std::path::PathBuf,
        /// The log's public key (`name+id+key`, as `GET /api/v1/log/key` and `egov log-key`
        /// print it), or a file holding it.
        #[arg(long)]
        key: String,
        /// A newer signed head with its consistency proof from the receipt's size, as
        /// `GET /api/v1/log/head?from=SIZE` gives it.
        #[arg(long)]
        head: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ProjectionsCmd {
    /// Rebuild a read model from the first event into a shadow table and swap it in.
    Rebuild {
        /// The read model: request_status, data_access, analytics or log_tree.
        model: ReadModel,
    },
    /// Each projector's checkpoint and lag (and the relay's, and the Kafka offsets), as JSON.
    Status,
    /// Run projectors until stopped, beside `egov serve` (with EGOV_PROJECTIONS=off there). With
    /// `--source kafka` several processes share the topic's partitions in a consumer group.
    Run {
        /// Where the events come from.
        #[arg(long, value_enum, default_value = "postgres")]
        source: ProjectionSource,
        /// Only this read model (request_status, data_access, analytics or log_tree).
        #[arg(long)]
        only: Option<ReadModel>,
    },
}
