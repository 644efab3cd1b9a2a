//! The `warroom` command line: one subcommand per job, each a thin shell around the use cases.

mod portable;
mod remote;
mod show;

use crate::app::reading::Reader;
use crate::app::replay::{self, ReplaySummary};
use crate::app::Warroom;
use crate::config::Settings;
use crate::domain::postmortem;
use crate::domain::types::IncidentNumber;
use crate::progress::{Progress, Unit};
use crate::store::Ledger;
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

/// The transcript of the seed scenario's application outage, replayed by `warroom demo`.
pub use crate::demo::OUTAGE as DEMO_OUTAGE;

/// warroom: an event-sourced ChatOps incident bot with a tamper-evident incident ledger.
#[derive(Debug, Parser)]
#[command(
    name = "warroom",
    version,
    about,
    after_help = "--db, --config and --log-format go with the commands that use them \
                  (`warroom postmortem INC-1 --db URL`); `warroom --db URL postmortem INC-1` is \
                  read the same way. `warroom COMMAND --help` lists what a command takes."
)]
pub struct Cli {
    // Before the command, as scripts written for earlier versions put them: moved onto the
    // command by `settle`, or refused for a command that does not use them.
    #[arg(long = "db", value_name = "URL", hide = true)]
    db_before: Option<String>,
    #[arg(long = "config", value_name = "FILE", hide = true)]
    config_before: Option<PathBuf>,
    #[arg(long = "log-format", value_enum, hide = true)]
    log_format_before: Option<crate::logging::LogFormat>,
    #[command(subcommand)]
    pub command: Command,
    /// The store the command uses, once settled: its --db, else WARROOM_DB, else
    /// `sqlite://warroom.db`.
    #[arg(skip)]
    pub db: String,
    /// The configuration file the command uses, once settled (`None`: ./warroom.toml when it
    /// exists, else the defaults).
    #[arg(skip)]
    pub config: Option<PathBuf>,
    /// How logs are written, once settled (`None`: log.format of the configuration).
    #[arg(skip)]
    pub log_format: Option<crate::logging::LogFormat>,
}

/// `--db`, on the commands that read or write the ledger.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArg {
    /// The store: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://warroom.db]
    #[arg(long, value_name = "URL", env = "WARROOM_DB")]
    db: Option<String>,
}

/// `--config`, on the commands that read warroom.toml.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArg {
    /// The configuration file [default: ./warroom.toml when it exists, else the defaults]
    #[arg(long, value_name = "FILE", env = "WARROOM_CONFIG")]
    config: Option<PathBuf>,
}

/// `--log-format`, on the commands that log as they work.
#[derive(Debug, Clone, Default, Args)]
pub struct LogArg {
    /// How logs are written to standard error: text or json [default: log.format of the
    /// configuration, else text]. RUST_LOG filters them.
    #[arg(long, value_enum, env = "WARROOM_LOG_FORMAT")]
    log_format: Option<crate::logging::LogFormat>,
}

/// warroom.toml's `--config`, as `SharedArgs` holds it.
fn toml(c: &mut ConfigArg) -> Option<(&mut Option<PathBuf>, Option<&'static str>)> {
    Some((&mut c.config, Some("WARROOM_CONFIG")))
}

/// The shared options a command takes, each `None` when it does not take that one.
struct SharedArgs<'a> {
    db: Option<&'a mut Option<String>>,
    /// warroom.toml's, or the file of the demo or the agent, with the variable it is read
    /// from when not given.
    config: Option<(&'a mut Option<PathBuf>, Option<&'static str>)>,
    log: Option<&'a mut Option<crate::logging::LogFormat>>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot: the HTTP alert intake and the escalation scheduler, until Ctrl-C or
    /// SIGTERM.
    Serve {
        /// Address to listen on; overrides http.listen and WARROOM_LISTEN.
        #[arg(long)]
        listen: Option<String>,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArg,
    },
    /// Replay the seed's application outage into a fresh SQLite store in a temporary
    /// directory and print its post-mortem.
    Demo {
        /// `outage` (the default): the seed's outage and its post-mortem; `week`: the seed's
        /// whole week — release night, the on-call shift, the deploys, the outage — and its
        /// as-built entry, on-call summary and post-mortem.
        #[arg(value_enum, default_value_t = DemoWhich::Outage)]
        which: DemoWhich,
        /// md: the documents as Markdown; json: one JSON document.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        /// Keep the store in DIR (created if missing; it must not hold a warroom.db yet)
        /// instead of a temporary directory, with the fake hosts and the example
        /// configuration beside it, and print the commands that explore it.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// Replay with this configuration instead of the built-in example (its contacts,
        /// routes and runbooks must fit the seed's transcript).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Replay a transcript (JSON Lines) through the same use cases as chat.
    Replay {
        /// The transcript: one JSON object per line (`at`, `from`, `text`, `channel`, or an
        /// `alert`), as docs/usage.md describes.
        file: PathBuf,
        /// Print only the summary, not each command's reply.
        #[arg(long, short)]
        quiet: bool,
        /// Send the lines to a running `warroom serve` (its HTTP console) instead of the
        /// store; the token comes from WARROOM_CONSOLE_TOKEN.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArg,
    },
    /// List the incidents.
    Incidents {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List recent alerts, inside incidents or not: each with its state, its route and its
    /// incident, newest first.
    Alerts {
        /// Only the alerts firing now (not resolved since).
        #[arg(long)]
        firing: bool,
        /// Only alerts received since this moment: RFC 3339 (2021-03-09T08:00:00Z), or a
        /// duration before now (30m, 6h, 2d).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only alerts of this name (alertname), in any case.
        #[arg(long)]
        name: Option<String>,
        /// How many at most.
        #[arg(long, default_value_t = 50)]
        last: usize,
        /// md: one line per alert; json: an array of objects.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The on-call summary log of a shift (the last one by default) or of a time range.
    OncallSummary {
        /// The shift's number.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        shift: Option<u32>,
        /// Start of a time range (RFC 3339, e.g. 2021-03-09T08:00:00Z), with --to.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// End of the time range (RFC 3339), with --from.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// md: the summary log as Markdown; json: the same as one JSON document.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Who is on call: each schedule's person now (or at --at) and the next hand-off; with
    /// --from and --to, every shift of the period and the hours per person (on-call pay).
    Oncall {
        /// Only this schedule.
        schedule: Option<String>,
        /// A moment: now, 2026-12-07 09:00 (the configuration's zone) or RFC 3339.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        at: Option<String>,
        /// Start of the period, as for --at.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// End of the period, as for --at, or +7d / +4w after --from.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// md: text for people; json: the same as JSON.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        /// Print the iCalendar feed links (each schedule's, each person's) instead; they
        /// hold their tokens, so hand each person only their own.
        #[arg(long, conflicts_with_all = ["at", "from", "to"])]
        links: bool,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Convert another tool's on-call export (schedules, rotations, escalation policies,
    /// users) into warroom TOML for review (docs/import-oncall.md).
    ImportOncall {
        /// The tool the export comes from.
        #[arg(long = "from", value_name = "TOOL", value_parser = ["opsgenie", "grafana-oncall", "pagerduty"])]
        tool: String,
        /// The export: one JSON file holding the tool's API lists.
        file: PathBuf,
        /// Print what would be made and what cannot be mapped, not the TOML.
        #[arg(long)]
        plan: bool,
    },
    /// When was the last deploy? The newest deploys, newest first.
    Deploys {
        /// Only this service's deploys (as the deploy tool names it, e.g. `app`).
        #[arg(long)]
        service: Option<String>,
        /// Only deploys to this environment (e.g. `prod`).
        #[arg(long)]
        env: Option<String>,
        /// How many.
        #[arg(long, default_value_t = crate::app::deploys::DEFAULT_LAST)]
        last: usize,
        /// md: one line per deploy; json: an array of objects.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print an incident's timeline.
    Timeline {
        /// The incident: INC-7 or 7.
        incident: String,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List the follow-up actions of every incident's post-mortem, overdue ones marked.
    Actions {
        /// Only the ones not done yet.
        #[arg(long)]
        open: bool,
        /// Only this person's (handle or alias, with or without `@`).
        #[arg(long)]
        owner: Option<String>,
        /// md: a list for people; json: an array of objects.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print an incident's post-mortem draft.
    Postmortem {
        /// The incident: INC-7 or 7.
        incident: String,
        /// md: the draft as Markdown; json: the same document as JSON.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Every event its own timeline line: each step of each runbook run, each page of
        /// an escalation step.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the as-built document of the published releases (or of one release), or a
    /// release's Kubernetes Deployment.
    AsBuilt {
        /// Only this release (published or not); with --deployment, default the latest
        /// published.
        #[arg(long)]
        release: Option<String>,
        /// md: the document as Markdown; json: the same as JSON.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        /// Print the release's Deployment with the planned replicas and requests, as the
        /// YAML `kubectl apply -f` reads (so not with --format).
        #[arg(long, conflicts_with = "format")]
        deployment: bool,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the event a reference points at — a post-mortem's `[1a2b3c4d]` — whole, and
    /// whether the hash chain verifies from the first event through it: exit 0 when it does,
    /// 1 when it is broken there or before, 2 when the reference matches no event or several.
    Show {
        /// The reference: 4 to 32 hex digits of the event's id, in either case, hyphens
        /// allowed (a whole id works too).
        #[arg(value_name = "REF")]
        reference: String,
        /// md: the event as text; json: one object with the same fields and `verified`.
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Walk the ledger and prove that no event was altered or removed, up to the last
    /// signed checkpoint `warroom serve` wrote outside the database.
    Verify {
        /// The witness file to check against; default the configured one (`witness.file`,
        /// or `DB.witness` beside a SQLite database) when it exists.
        #[arg(long)]
        witness: Option<PathBuf>,
        /// The instance's public key (hex) every checkpoint must be signed by; default the
        /// one of `witness.key_file` when it is readable here.
        #[arg(long)]
        witness_key: Option<String>,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArg,
    },
    /// Create or upgrade the store's schema.
    Migrate {
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        log: LogArg,
    },
    /// Write the ledger to standard output as JSON Lines (every row with its position and
    /// hash), e.g. a backup or a move to PostgreSQL; runs beside `warroom serve`.
    Export {
        /// Only the rows after this position (an earlier export's last position).
        #[arg(long, default_value_t = 0)]
        from: i64,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        log: LogArg,
    },
    /// Load an export into the store given by --db, which must be empty (or hold the start of
    /// the same ledger), checking every row's hash; then verify the whole ledger.
    Import {
        /// The file `warroom export` wrote, or - for standard input.
        file: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        #[command(flatten)]
        log: LogArg,
    },
    /// Print a sign-in link to the web console for a contact, for installs without Discord:
    /// it signs in once, within `[web] link_minutes`, as that person with the role
    /// `[web.access]` gives them.
    WebLink {
        /// The contact's handle, e.g. `@svega`.
        handle: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Check a configuration file and print each mistake with its key.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Measure the store and the post-mortem (docs/benchmarks.md has the figures).
    Bench {
        #[command(flatten)]
        args: crate::bench::BenchArgs,
        #[command(flatten)]
        log: LogArg,
    },
    /// Run runbooks on this host for `warroom serve`: connects out to the server (never
    /// listens), takes one job at a time, until Ctrl-C or SIGTERM.
    Agent {
        /// The agent's configuration file, e.g. /etc/warroom/agent.toml.
        #[arg(long, value_name = "FILE", env = "WARROOM_AGENT_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        log: LogArg,
    },
    /// Ask a running `warroom serve` whether it is up: exit 0 when the URL answers 2xx, 1
    /// otherwise. For container health checks, so the image needs no curl.
    Healthcheck {
        /// The URL to ask.
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
}

impl Command {
    /// The shared options this command takes.
    fn shared_args(&mut self) -> SharedArgs<'_> {
        let (db, config, log) = match self {
            Command::Serve {
                store, config, log, ..
            }
            | Command::Replay {
                store, config, log, ..
            }
            | Command::Verify {
                store, config, log, ..
            } => (Some(store), toml(config), Some(log)),
            Command::Incidents { store, config }
            | Command::Alerts { store, config, .. }
            | Command::OncallSummary { store, config, .. }
            | Command::Oncall { store, config, .. }
            | Command::Deploys { store, config, .. }
            | Command::Timeline { store, config, .. }
            | Command::Actions { store, config, .. }
            | Command::Postmortem { store, config, .. }
            | Command::AsBuilt { store, config, .. } => (Some(store), toml(config), None),
            Command::Show { store, .. } => (Some(store), None, None),
            Command::Migrate { store, log }
            | Command::Export { store, log, .. }
            | Command::Import { store, log, .. } => (Some(store), None, Some(log)),
            Command::Check { config } | Command::WebLink { config, .. } => {
                (None, toml(config), None)
            }
            Command::Bench { log, .. } => (None, None, Some(log)),
            // The demo's and the agent's own files, which their --config names.
            Command::Demo { config, .. } => (None, Some((config, None)), None),
            Command::Agent { config, log } => (
                None,
                Some((config, Some("WARROOM_AGENT_CONFIG"))),
                Some(log),
            ),
            Command::ImportOncall { .. } | Command::Healthcheck { .. } => (None, None, None),
        };
        SharedArgs {
            db: db.map(|s| &mut s.db),
            config,
            log: log.map(|l| &mut l.log_format),
        }
    }

    /// The command's name as typed.
    fn name(&self) -> &'static str {
        match self {
            Command::Serve { .. } => "serve",
            Command::Demo { .. } => "demo",
            Command::Replay { .. } => "replay",
            Command::Incidents { .. } => "incidents",
            Command::Alerts { .. } => "alerts",
            Command::OncallSummary { .. } => "oncall-summary",
            Command::Oncall { .. } => "oncall",
            Command::ImportOncall { .. } => "import-oncall",
            Command::Deploys { .. } => "deploys",
            Command::Timeline { .. } => "timeline",
            Command::Actions { .. } => "actions",
            Command::Postmortem { .. } => "postmortem",
            Command::AsBuilt { .. } => "as-built",
            Command::Show { .. } => "show",
            Command::Verify { .. } => "verify",
            Command::Migrate { .. } => "migrate",
            Command::Export { .. } => "export",
            Command::Import { .. } => "import",
            Command::Check { .. } => "check",
            Command::WebLink { .. } => "web-link",
            Command::Bench { .. } => "bench",
            Command::Agent { .. } => "agent",
            Command::Healthcheck { .. } => "healthcheck",
        }
    }
}

/// Which built-in transcript `warroom demo` replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoWhich {
    Outage,
    Week,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Md,
    Json,
}

impl Cli {
    /// Whether the command runs until stopped (`serve`, `agent`): those log their progress
    /// by default.
    pub fn is_long_running(&self) -> bool {
        matches!(self.command, Command::Serve { .. } | Command::Agent { .. })
    }

    /// The command line, parsed and settled: `Cli::parse` then `settle`, exiting with clap's
    /// message and code 2 on a mistake.
    pub fn from_command_line() -> Cli {
        Cli::parse().settle().unwrap_or_else(|e| e.exit())
    }

    /// Moves --db, --config and --log-format written before the command onto it (given
    /// after it too, the later one wins), fills in each option's default, and refuses one
    /// the command does not use rather than ignore it.
    pub fn settle(mut self) -> Result<Cli, clap::Error> {
        use clap::CommandFactory;
        let name = self.command.name();
        let refuse = |flag: &str| {
            Cli::command().error(
                clap::error::ErrorKind::UnknownArgument,
                format!("`warroom {name}` does not use {flag}; leave it out (`warroom {name} --help` lists what it takes)"),
            )
        };
        let shared = self.command.shared_args();
        let db = settle_one(
            shared.db,
            self.db_before.take(),
            std::env::var("WARROOM_DB").ok(),
        )
        .ok_or_else(|| refuse("--db"))?;
        let (config_slot, config_env) = shared.config.unzip();
        let config_env = config_env
            .flatten()
            .and_then(std::env::var_os)
            .map(PathBuf::from);
        let config = settle_one(config_slot, self.config_before.take(), config_env)
            .ok_or_else(|| refuse("--config"))?;
        let log_env = std::env::var("WARROOM_LOG_FORMAT")
            .ok()
            .and_then(|v| crate::logging::LogFormat::parse(&v));
        let log_format = settle_one(shared.log, self.log_format_before.take(), log_env)
            .ok_or_else(|| refuse("--log-format"))?;
        // A command without a store never reads `db`.
        self.db = db.unwrap_or_else(|| "sqlite://warroom.db".into());
        self.config = config;
        self.log_format = log_format;
        Ok(self)
    }

    /// Runs the chosen command; returns the process exit code.
    pub async fn run(self) -> anyhow::Result<i32> {
        match self.command {
            Command::Demo {
                which,
                format,
                ref keep,
                ..
            } => demo(self.config.as_deref(), which, format, keep.as_deref()).await,
            Command::Replay {
                ref file,
                quiet,
                ref server,
                ..
            } => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read the transcript {}", file.display()))?;
                let identity = transcript_identity(file);
                if let Some(server) = server {
                    return remote::replay_on_server(server, &text, &identity, quiet).await;
                }
                // Every line is checked before the store is opened, so a transcript refused for
                // a bad line leaves no new, empty store behind.
                let lines = crate::app::transcript::parse(&text)
                    .with_context(|| format!("{}", file.display()))?
                    .len();
                let warroom = self.warroom().await?;
                let progress = Progress::start(
                    format!("replaying {}", file.display()),
                    Unit::Items("lines"),
                    Some(lines as u64),
                );
                let summary = replay_text(&warroom, &text, &identity, !quiet, &progress)
                    .await
                    .with_context(|| format!("{}", file.display()))?;
                progress.finish();
                eprintln!("{}", describe_summary(&summary));
                warroom.ledger().clone().close().await;
                Ok(0)
            }
            Command::Incidents { .. } => {
                let warroom = self.projected().await?;
                let incidents = warroom.incidents().await?;
                if incidents.is_empty() {
                    println!("No incidents yet. `/incident open title:\"…\"` starts one.");
                }
                let tz = warroom.settings().timezone;
                for i in incidents {
                    println!(
                        "{:<8} {:<5} {:<9} {}  #{:<12} {}",
                        i.number.to_string(),
                        i.severity.to_string(),
                        i.status.to_string(),
                        i.opened_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                        i.channel,
                        i.title
                    );
                }
                Ok(0)
            }
            Command::Alerts {
                firing,
                ref since,
                ref name,
                last,
                format,
                ..
            } => {
                let reader = self.reader().await?;
                let since = since
                    .as_deref()
                    .map(|text| parse_since(text, reader.settings().timezone))
                    .transpose()?;
                let query = crate::app::alerts::recent::AlertQuery {
                    firing_only: firing,
                    since,
                    name: name.clone(),
                    last,
                };
                let found = reader.recent_alerts(&query).await?;
                match format {
                    Format::Md => println!(
                        "{}",
                        crate::app::alerts::recent::describe_alerts(
                            &found,
                            reader.settings().timezone
                        )
                    ),
                    Format::Json => println!("{}", serde_json::to_string_pretty(&found)?),
                }
                Ok(0)
            }
            Command::OncallSummary {
                shift,
                ref from,
                ref to,
                format,
                ..
            } => {
                let of = match (from, to) {
                    (Some(from), Some(to)) => crate::app::shifts::SummaryOf::Range {
                        from: parse_time("--from", from)?,
                        to: parse_time("--to", to)?,
                    },
                    _ => crate::app::shifts::SummaryOf::Shift(shift),
                };
                let reader = self.reader().await?;
                let summary = reader.oncall_summary(of).await?;
                match format {
                    Format::Md => print!("{}", crate::domain::shift::render_markdown(&summary)),
                    Format::Json => println!("{}", crate::domain::shift::render_json(&summary)),
                }
                Ok(0)
            }
            Command::ImportOncall {
                ref tool,
                ref file,
                plan,
            } => import_oncall(tool, file, plan),
            Command::Oncall { links: true, .. } => {
                let settings = Settings::load(self.config.as_deref())?;
                calendar_links(&settings)
            }
            Command::Oncall {
                ref schedule,
                ref at,
                ref from,
                ref to,
                format,
                ..
            } => {
                let reader = self.reader().await?;
                oncall(
                    &reader,
                    schedule.as_deref(),
                    at.as_deref(),
                    from.as_ref().zip(to.as_ref()),
                    format,
                )
                .await
            }
            Command::Deploys {
                ref service,
                ref env,
                last,
                format,
                ..
            } => {
                let reader = self.reader().await?;
                let query = crate::app::deploys::DeployQuery {
                    service: service.as_ref().map(|s| s.trim().to_ascii_lowercase()),
                    environment: env.as_ref().map(|e| e.trim().to_ascii_lowercase()),
                    last,
                };
                let found = reader.deploys(&query).await?;
                match format {
                    Format::Md => println!(
                        "{}",
                        crate::app::deploys::describe_deploys(&found, reader.settings().timezone)
                    ),
                    Format::Json => {
                        let rows: Vec<serde_json::Value> = found
                            .iter()
                            .map(|d| {
                                serde_json::json!({
                                    "at": d.at,
                                    "recorded_at": d.recorded_at,
                                    "deploy": d.deploy,
                                    "flags": d.flags,
                                })
                            })
                            .collect();
                        println!("{}", serde_json::to_string_pretty(&rows)?);
                    }
                }
                Ok(0)
            }
            Command::Actions {
                open,
                ref owner,
                format,
                ..
            } => {
                let reader = self.reader().await?;
                let filter = crate::domain::command::followups::ActionFilter {
                    open_only: open,
                    owner: owner
                        .as_deref()
                        .map(|o| o.trim_start_matches('@').to_string()),
                };
                let today = chrono::Utc::now()
                    .with_timezone(&reader.settings().timezone)
                    .date_naive();
                let list = reader.follow_ups(&filter, today).await?;
                match format {
                    Format::Md => {
                        print!("{}", crate::domain::followups::render_text(&list, &filter))
                    }
                    Format::Json => println!("{}", serde_json::to_string_pretty(&list)?),
                }
                Ok(0)
            }
            Command::Timeline { ref incident, .. } => {
                let number = parse_incident(incident)?;
                let reader = self.reader().await?;
                print!(
                    "{}",
                    postmortem::render_timeline(&reader.postmortem(number).await?)
                );
                Ok(0)
            }
            Command::Postmortem {
                ref incident,
                format,
                ref out,
                full,
                ..
            } => {
                let number = parse_incident(incident)?;
                let reader = self.reader().await?;
                let detail = if full {
                    postmortem::Detail::Full
                } else {
                    postmortem::Detail::Folded
                };
                let document = reader.postmortem_in(number, detail).await?;
                // Markdown goes out as it is written: a long incident's document is never
                // held whole on top of the model it comes from.
                use std::io::Write as _;
                let write = |sink: &mut dyn std::io::Write| -> std::io::Result<()> {
                    let mut sink = std::io::BufWriter::new(sink);
                    match format {
                        Format::Md => postmortem::write_markdown(&document, &mut sink)?,
                        Format::Json => sink.write_all(render(&document, format).as_bytes())?,
                    }
                    sink.flush()
                };
                match out {
                    Some(path) => std::fs::File::create(path)
                        .and_then(|mut file| write(&mut file))
                        .with_context(|| format!("cannot write {}", path.display()))?,
                    None => write(&mut std::io::stdout().lock())
                        .context("cannot write the post-mortem to standard output")?,
                }
                // The process ends here: the exit gives the document's memory back at once,
                // where freeing a long incident's timeline entry by entry takes a tenth of
                // the command's time.
                std::mem::forget(document);
                Ok(0)
            }
            Command::AsBuilt {
                ref release,
                format,
                deployment,
                ..
            } => {
                let reader = self.reader().await?;
                print!(
                    "{}",
                    as_built(&reader, release.as_deref(), format, deployment).await?
                );
                Ok(0)
            }
            Command::Verify {
                ref witness,
                ref witness_key,
                ..
            } => {
                verify(
                    &self.db,
                    self.config.as_deref(),
                    witness.as_deref(),
                    witness_key.as_deref(),
                )
                .await
            }
            Command::Show {
                ref reference,
                format,
                ..
            } => show::show(&self.db, reference, format).await,
            Command::Migrate { .. } => {
                let ledger = Ledger::open(&self.db).await?;
                println!(
                    "the store at {} is migrated and current",
                    ledger.display_url()
                );
                ledger.close().await;
                Ok(0)
            }
            Command::Check { .. } => check(self.config.as_deref()),
            Command::WebLink { ref handle, .. } => {
                let settings = Settings::load(self.config.as_deref())?;
                println!(
                    "{}",
                    crate::web::sign_in_link(&settings, handle, chrono::Utc::now())?
                );
                Ok(0)
            }
            Command::Export { from, .. } => portable::export(&self.db, from).await,
            Command::Import { ref file, .. } => portable::import(&self.db, file).await,
            Command::Serve { ref listen, .. } => self.serve(listen.clone()).await,
            Command::Bench { ref args, .. } => crate::bench::run(args).await,
            Command::Agent { ref config, .. } => agent(config.as_deref()).await,
            Command::Healthcheck { ref url } => remote::healthcheck(url).await,
        }
    }

    async fn serve(&self, listen: Option<String>) -> anyhow::Result<i32> {
        let mut settings = Settings::load(self.config.as_deref())?;
        settings.witness = settings
            .witness
            .resolved(crate::witness::default_file_for(&self.db));
        for warning in &settings.warnings {
            tracing::warn!("{warning}");
        }
        let addr = listen.unwrap_or_else(|| settings.listen.clone());
        let ledger = Ledger::open(&self.db).await?;
        let warroom = std::sync::Arc::new(Warroom::start(ledger, settings).await?);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}; is another process using it?"))?;
        // Every instance answers over Discord's REST API; the gateway is the leader's.
        let discord = crate::discord::start_without_gateway(warroom.clone()).await?;
        let holder = format!(
            "{} pid {} on {}",
            host_name(),
            std::process::id(),
            listener.local_addr()?
        );
        let lease = crate::store::Lease::start(&self.db, warroom.settings().lease, holder).await?;
        let bot = discord.as_ref().map(|d| d.bot.clone());
        let running = crate::serve::start(
            warroom.clone(),
            listener,
            crate::serve::Options {
                discord: bot.clone(),
                leadership: crate::serve::Leadership {
                    lease,
                    gateway: bot,
                },
                ..Default::default()
            },
        )
        .await?;
        let discord_state = match &discord {
            Some(d) if d.bot.serves_interactions() => {
                "Discord is on (gateway while this instance leads, and interactions at /discord/interactions)"
            }
            Some(_) => "Discord is on (gateway while this instance leads; set discord.public_key to also serve /discord/interactions)",
            None => "Discord is off: no bot token is configured (WARROOM_DISCORD_TOKEN or discord.token_file)",
        };
        tracing::info!(
            listen = %running.addr,
            store = %warroom.ledger().display_url(),
            "warroom serving alerts on http://{}/v1/alerts/{{alertmanager,grafana,generic}}; {discord_state}",
            running.addr,
        );
        shutdown_signal().await;
        let grace = warroom.settings().shutdown_grace;
        tracing::info!(
            grace_seconds = grace.as_secs(),
            "stopping: no new requests; finishing those in flight, closing the gateway, telling agents to reconnect"
        );
        // HTTP and Discord stop together; whatever the grace cuts short, the ledger is still
        // closed below, which commits every append already queued.
        let stopped = tokio::time::timeout(grace, async {
            let discord_stop = async {
                if let Some(discord) = discord {
                    discord.stop().await;
                }
            };
            tokio::join!(running.stop(), discord_stop);
        })
        .await;
        warroom.ledger().clone().close().await;
        match stopped {
            Ok(()) => {
                tracing::info!("stopped cleanly");
                Ok(0)
            }
            Err(_) => {
                tracing::error!(
                    "requests or workers still running after the {} s grace period were cut short (http.shutdown_grace_seconds)",
                    grace.as_secs()
                );
                Ok(1)
            }
        }
    }

    async fn warroom(&self) -> anyhow::Result<Warroom> {
        let settings = Settings::load(self.config.as_deref())?;
        let ledger = Ledger::open(&self.db).await?;
        Warroom::start(ledger, settings).await
    }

    /// A `Warroom` for commands that only read: it takes no SQLite writer lock, so they work
    /// while `warroom serve` runs on the same file.
    /// The ledger read-only, for the commands that read a few streams: no projection.
    async fn reader(&self) -> anyhow::Result<Reader> {
        let settings = Settings::load(self.config.as_deref())?;
        let ledger = Ledger::open_read_only(&self.db).await?;
        Ok(Reader::new(ledger, settings))
    }

    /// The application on the ledger read-only, its projection rebuilt: for the commands
    /// that list what only the whole ledger tells (the incidents).
    async fn projected(&self) -> anyhow::Result<Warroom> {
        let settings = Settings::load(self.config.as_deref())?;
        let ledger = Ledger::open_read_only(&self.db).await?;
        Warroom::start(ledger, settings).await
    }
}

/// One shared option of the command (`slot`, its value after the command, left settled in
/// it) with the one typed `before` the command: the value, or `None` when the command does
/// not take the option but it was typed before it.
fn settle_one<T: PartialEq + Clone>(
    slot: Option<&mut Option<T>>,
    before: Option<T>,
    env: Option<T>,
) -> Option<Option<T>> {
    match slot {
        Some(slot) => {
            *slot = after_before(slot.take(), before, env);
            Some(slot.clone())
        }
        None => before.is_none().then_some(None),
    }
}

/// An option given after the command and before it: the one after wins, except that a value
/// clap filled in from the environment gives way to one typed before the command.
fn after_before<T: PartialEq>(after: Option<T>, before: Option<T>, env: Option<T>) -> Option<T> {
    match (after, before) {
        (Some(after), Some(before)) if env.as_ref() == Some(&after) => Some(before),
        (Some(after), _) => Some(after),
        (None, before) => before,
    }
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// `warroom agent`: checks agent.toml (every mistake, exit 1), then runs the agent until a
/// signal; the report being sent when it comes is sent first.
async fn agent(config: Option<&Path>) -> anyhow::Result<i32> {
    use crate::agent::config::AgentConfig;
    let Some(path) = config else {
        bail!("no agent configuration: pass --config agent.toml or set WARROOM_AGENT_CONFIG");
    };
    let config = match AgentConfig::load(path, |k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(problems) => {
            for p in &problems.problems {
                println!("{}: {p}", problems.origin);
            }
            println!(
                "{} mistake(s); fix them and start `warroom agent` again",
                problems.problems.len()
            );
            return Ok(1);
        }
    };
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    eprintln!(
        "warroom agent {}: polling {} for jobs (it connects out only and listens on no port); runbooks: {}",
        config.name,
        config.server,
        config.runbook_names().join(", ")
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut running = tokio::spawn(crate::agent::client::run_agent(config, stopped));
    tokio::select! {
        ended = &mut running => {
            ended.context("the agent's task failed")??;
            return Ok(0);
        }
        _ = shutdown_signal() => {}
    }
    eprintln!("stopping: sending the report in flight, if any");
    let _ = stop.send(true);
    running.await.context("the agent's task failed")??;
    Ok(0)
}

/// `warroom import-oncall`: the TOML on standard output, what was made and what was not
/// mapped on standard error; with `--plan`, only those lines.
fn import_oncall(tool: &str, file: &Path, plan: bool) -> anyhow::Result<i32> {
    let source: crate::oncall_import::ImportSource =
        tool.parse().map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    // An organisation's export runs to megabytes, never to hundreds of them.
    let export = crate::small_file::read_capped(file, 64 * 1024 * 1024)
        .with_context(|| format!("cannot read the export {}", file.display()))?;
    let imported = crate::oncall_import::import(source, &export)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let report = |out: &mut dyn std::io::Write| -> std::io::Result<()> {
        for line in &imported.made {
            writeln!(out, "made: {line}")?;
        }
        for line in &imported.unmapped {
            writeln!(out, "not mapped: {line}")?;
        }
        Ok(())
    };
    if plan {
        report(&mut std::io::stdout())?;
    } else {
        print!("{}", imported.toml);
        report(&mut std::io::stderr())?;
    }
    Ok(0)
}

/// `warroom oncall --links`: the feed links of every schedule and person.
fn calendar_links(settings: &Settings) -> anyhow::Result<i32> {
    use crate::app::schedules::calendar::Feed;
    let Some(calendars) = &settings.calendars else {
        bail!("the calendar feeds are off; set [calendars] secret_env or secret_file (docs/oncall.md)");
    };
    let base = calendars
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.listen));
    for name in settings.schedules.keys() {
        println!(
            "schedule {name}: {base}{}",
            Feed::Schedule(name.clone()).path(&calendars.secret)
        );
    }
    for c in settings.directory.contacts() {
        println!(
            "@{}: {base}{}",
            c.handle,
            Feed::Person(c.handle.clone()).path(&calendars.secret)
        );
    }
    Ok(0)
}

/// `warroom oncall`: who is on call at a moment, or the shifts of a period.
async fn oncall(
    reader: &Reader,
    only: Option<&str>,
    at: Option<&str>,
    period: Option<(&String, &String)>,
    format: Format,
) -> anyhow::Result<i32> {
    use crate::app::schedules::{describe_now, schedule_views};
    use crate::domain::schedule::{report, when::parse_when};
    let settings = reader.settings();
    let now = chrono::Utc::now();
    let zone = settings.timezone;
    let when = |flag: &str, text: &str, base| {
        parse_when(text, zone, now, base).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
    };
    let views = schedule_views(&reader.schedule_index().await?, settings, now);
    if views.is_empty() {
        bail!("no schedule is configured or recorded; add [[schedules]] to warroom.toml (docs/oncall.md)");
    }
    if let Some(name) = only.filter(|n| !views.contains_key(*n)) {
        bail!(
            "no schedule is called '{name}'; the schedules are {}",
            views.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let chosen = views
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()));
    let display = |h: &str| settings.directory.display(h);
    match period {
        Some((from, to)) => {
            let from = when("--from", from, now)?;
            let to = when("--to", to, from)?;
            if to <= from {
                bail!("--to must come after --from");
            }
            if to - from > chrono::Duration::days(3 * 366) {
                bail!("a period of at most three years, please: --from and --to are too far apart");
            }
            let reports: Vec<_> = chosen
                .map(|(name, v)| {
                    report::report(
                        name,
                        v.zone,
                        &v.roster,
                        from,
                        to,
                        v.unrecorded_configuration,
                    )
                })
                .collect();
            match format {
                Format::Md => print!("{}", report::render_markdown(&reports, &display)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
            }
        }
        None => {
            let at = match at {
                Some(t) => when("--at", t, now)?,
                None => now,
            };
            match format {
                Format::Md => {
                    for (name, view) in chosen {
                        println!("{}", describe_now(name, view, at, &display));
                    }
                }
                Format::Json => {
                    let rows: Vec<serde_json::Value> = chosen
                        .map(|(name, v)| {
                            let spans = v.roster.resolve(at, at + chrono::Duration::days(35));
                            serde_json::json!({
                                "schedule": name,
                                "at": at,
                                "on_call": spans.first().and_then(|s| s.person.clone()),
                                "until": spans.get(1).map(|s| s.start),
                                "next": spans.get(1).and_then(|s| s.person.clone()),
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                }
            }
        }
    }
    Ok(0)
}

/// `warroom check`: every mistake with its key, then the warnings; exit 1 on mistakes.
fn check(config: Option<&Path>) -> anyhow::Result<i32> {
    let path = match config {
        Some(p) => p.to_path_buf(),
        None if Path::new("warroom.toml").exists() => PathBuf::from("warroom.toml"),
        None => bail!("no configuration to check: pass --config FILE or set WARROOM_CONFIG"),
    };
    match Settings::load(Some(&path)) {
        Ok(settings) => {
            for warning in &settings.warnings {
                println!("warning: {warning}");
            }
            println!(
                "{}: OK: {} contacts in {} teams, {} routes and a default, {} escalation policies, {} pagers, {} runbooks ({}), alert sources: {}",
                path.display(),
                settings.directory.contacts().len(),
                settings.directory.teams().len(),
                settings.routes.routes.len(),
                settings.policies.len(),
                settings.pagers.len(),
                settings.runbooks.len(),
                settings
                    .runbooks
                    .iter()
                    .map(|r| r.command_text())
                    .collect::<Vec<_>>()
                    .join(", "),
                if settings.sources.is_empty() {
                    "none".to_string()
                } else {
                    settings.sources.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            );
            for line in crate::app::schedules::configured_gaps(&settings, chrono::Utc::now()) {
                println!("{line}");
            }
            Ok(0)
        }
        Err(e) => match e.downcast_ref::<crate::config::ConfigProblems>() {
            Some(problems) => {
                for p in &problems.problems {
                    println!("{}: {p}", problems.origin);
                }
                println!(
                    "{} mistake(s); fix them and run `warroom check` again",
                    problems.problems.len()
                );
                Ok(1)
            }
            None => Err(e),
        },
    }
}

/// Replays a built-in transcript into a fresh store and prints its documents: the outage's
/// post-mortem; for the week, the as-built entry, the on-call summary and the post-mortem.
/// The store is in a temporary directory, or kept in `keep` with the commands to explore it.
async fn demo(
    config: Option<&Path>,
    which: DemoWhich,
    format: Format,
    keep: Option<&Path>,
) -> anyhow::Result<i32> {
    let settings = match config {
        Some(path) => Settings::load(Some(path))?,
        None => Settings::example()?,
    };
    let temporary;
    let (dir, config_to_read) = match keep {
        Some(dir) => {
            let (dir, example) = crate::demo::keep_in(dir, config.is_none())?;
            let given = config.map(|c| c.canonicalize().unwrap_or_else(|_| c.to_path_buf()));
            (dir, example.or(given))
        }
        None => {
            temporary = tempfile::tempdir()
                .context("cannot create a temporary directory for the demo store")?;
            (temporary.path().to_path_buf(), None)
        }
    };
    let url = format!("sqlite://{}", dir.join(crate::demo::STORE_FILE).display());
    // Runbook runs are jobs for agents in the process, on fake hosts.
    let mut agents = crate::demo::local_agents(&dir.join("hosts"), &settings)?;
    let warroom = Warroom::start(Ledger::open(&url).await?, settings).await?;
    let (text, identity) = match which {
        DemoWhich::Outage => (DEMO_OUTAGE.to_string(), "builtin:outage"),
        DemoWhich::Week => (crate::demo::week(), "builtin:week"),
    };
    let summary =
        replay::replay_with_agents(&warroom, &text, identity, &mut agents, |_, _| {}).await?;
    eprintln!("{} (store: {url})", describe_summary(&summary));
    let Some(number) = summary.incidents.iter().next_back().copied() else {
        bail!("the demo transcript opened no incident");
    };
    let postmortem = warroom.postmortem(number).await?;
    match which {
        DemoWhich::Outage => print!("{}", render(&postmortem, format)),
        DemoWhich::Week => {
            use crate::domain::{release::as_built, shift};
            let as_built = warroom.as_built(None).await?;
            let oncall = warroom
                .oncall_summary(crate::app::shifts::SummaryOf::Shift(None))
                .await?;
            match format {
                Format::Md => print!(
                    "{}\n{}\n{}",
                    as_built::render_markdown(&as_built),
                    shift::render_markdown(&oncall),
                    postmortem::render_markdown(&postmortem)
                ),
                Format::Json => {
                    let value = serde_json::json!({
                        "as_built": serde_json::from_str::<serde_json::Value>(&as_built::render_json(&as_built))?,
                        "oncall_summary": serde_json::from_str::<serde_json::Value>(&shift::render_json(&oncall))?,
                        "postmortem": serde_json::from_str::<serde_json::Value>(&postmortem::render_json(&postmortem))?,
                    });
                    println!("{}", serde_json::to_string_pretty(&value)?);
                }
            }
        }
    }
    warroom.ledger().clone().close().await;
    if keep.is_some() {
        eprintln!(
            "{}",
            explore_kept(&url, config_to_read.as_deref(), number, &postmortem)
        );
    }
    Ok(0)
}

/// How to explore a store `warroom demo --keep` left: the commands, exactly, with a
/// reference the post-mortem printed.
fn explore_kept(
    url: &str,
    config: Option<&Path>,
    number: IncidentNumber,
    document: &postmortem::PostMortem,
) -> String {
    let program = std::env::args_os()
        .next()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "warroom".into());
    let program = shell_word(&program);
    let db = format!("--db {}", shell_word(url));
    let with_config = match config {
        Some(path) => format!("{db} --config {}", shell_word(&path.display().to_string())),
        None => db.clone(),
    };
    let reference = serde_json::from_str::<serde_json::Value>(&postmortem::render_json(document))
        .ok()
        .and_then(|v| v["timeline"][0]["event_id"].as_str().map(str::to_string))
        .and_then(|id| id.get(..8).map(str::to_string))
        .unwrap_or_else(|| "1a2b3c4d".into());
    format!(
        "The demo's store is kept at {url}, the fake hosts beside it in hosts/. Explore it:\n\
         \x20 {program} timeline {number} {with_config}\n\
         \x20 {program} postmortem {number} {with_config}\n\
         \x20 {program} alerts {with_config}\n\
         \x20 {program} show {reference} {db}    # or any other [reference] of the post-mortem\n\
         \x20 {program} verify {with_config}"
    )
}

/// A word as a POSIX shell reads it back: as is when it holds nothing the shell treats
/// specially, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:+=@,%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

async fn replay_text(
    warroom: &Warroom,
    text: &str,
    identity: &str,
    show_replies: bool,
    progress: &Progress,
) -> anyhow::Result<ReplaySummary> {
    let tz = warroom.settings().timezone;
    replay::replay(warroom, text, identity, |line, outcome| {
        if let (true, Some(reply)) = (show_replies, &outcome.reply) {
            progress.println(&format!(
                "{} line {}: {}",
                line.at.with_timezone(&tz).format("%H:%M"),
                line.line,
                reply
            ));
        }
        progress.add(1);
    })
    .await
}

fn describe_summary(s: &ReplaySummary) -> String {
    let incidents: Vec<String> = s.incidents.iter().map(ToString::to_string).collect();
    format!(
        "replayed {} lines: {} events recorded, {} lines already recorded before{}{}",
        s.lines,
        s.events,
        s.already_recorded,
        if s.jobs == 0 {
            String::new()
        } else {
            format!(", {} runbook jobs run by local agents", s.jobs)
        },
        if incidents.is_empty() {
            String::new()
        } else {
            format!("; incidents: {}", incidents.join(", "))
        }
    )
}

fn render(document: &postmortem::PostMortem, format: Format) -> String {
    match format {
        Format::Md => postmortem::render_markdown(document),
        Format::Json => postmortem::render_json(document),
    }
}

/// `warroom as-built`: the document, or with `--deployment` the Deployment of the release
/// named, else of the latest published one.
async fn as_built(
    reader: &Reader,
    release: Option<&str>,
    format: Format,
    deployment: bool,
) -> anyhow::Result<String> {
    use crate::domain::release::{as_built, values::Version};
    let named = release.map(str::parse::<Version>).transpose()?;
    let mut document = reader.as_built(named.as_ref()).await?;
    if !deployment {
        return Ok(match format {
            Format::Md => as_built::render_markdown(&document),
            Format::Json => as_built::render_json(&document),
        });
    }
    let Some(latest) = document.releases.pop() else {
        bail!("no release was published yet; name a draft with --release N");
    };
    Ok(as_built::render_deployment(&latest)?)
}

/// `--since`: a moment as `--at` takes it, or a bare duration (`6h`) before now.
fn parse_since(text: &str, zone: chrono_tz::Tz) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let t = text.trim();
    let duration = t.len() > 1
        && t.ends_with(['m', 'h', 'd', 'w'])
        && t[..t.len() - 1].chars().all(|c| c.is_ascii_digit());
    let text = if duration {
        format!("-{t}")
    } else {
        t.to_string()
    };
    let now = chrono::Utc::now();
    crate::domain::schedule::when::parse_when(&text, zone, now, now)
        .map_err(|e| anyhow::anyhow!("--since: {e}, or 30m / 6h / 2d before now"))
}

fn parse_time(flag: &str, text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    crate::time_range::parse(flag, text).map_err(anyhow::Error::msg)
}

fn parse_incident(text: &str) -> anyhow::Result<IncidentNumber> {
    Ok(text.parse::<IncidentNumber>()?)
}

/// A transcript's identity for idempotent replays: its canonical path, so replaying the same
/// file again adds nothing and a file that grew adds only its new lines.
fn transcript_identity(file: &Path) -> String {
    let path = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    path.display().to_string()
}

/// This machine's name, for the lease holder's name in the followers' logs (the pod name on
/// Kubernetes).
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `warroom verify`: the chain, and the checkpoints of a witness file when there is one.
async fn verify(
    db: &str,
    config: Option<&Path>,
    witness: Option<&Path>,
    witness_key: Option<&str>,
) -> anyhow::Result<i32> {
    // The configured witness, when the configuration can be read; an explicit --witness
    // needs none.
    let configured = Settings::load(config)
        .ok()
        .map(|s| s.witness.resolved(crate::witness::default_file_for(db)));
    let file = match witness {
        Some(path) => Some(path.to_path_buf()),
        None => configured
            .as_ref()
            .and_then(|w| w.file.clone())
            .filter(|f| f.exists()),
    };
    let pinned = match witness_key {
        Some(key) => Some(key.trim().to_string()),
        None => match configured.as_ref().and_then(|w| w.key_file.as_deref()) {
            Some(path) => crate::witness::public_key_in(path)?,
            None => None,
        },
    };
    let checkpoints = match &file {
        Some(path) => crate::witness::read_witness(path, pinned.as_deref())
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Vec::new(),
    };
    let ledger = match Ledger::open_read_only(db).await {
        Ok(ledger) => ledger,
        Err(e @ crate::store::StoreError::Missing { .. }) => return Err(e.into()),
        Err(e) => {
            println!(
                "ledger BROKEN: {} holds no readable warroom ledger (an emptied or damaged file, or another database): {e}; restore it from a backup",
                crate::store::redact(db)
            );
            return Ok(1);
        }
    };
    let witnessed: Vec<(i64, String)> = checkpoints
        .iter()
        .map(|c| (c.position, c.hash.clone()))
        .collect();
    let report = ledger.verify_witnessed(&witnessed).await?;
    ledger.close().await;
    if let Some(problem) = &report.problem {
        println!(
            "ledger BROKEN at position {}: {}",
            problem.position, problem.what
        );
        return Ok(1);
    }
    print!(
        "ledger intact: {} events, head hash {}",
        report.events, report.head_hash
    );
    match (&file, checkpoints.iter().max_by_key(|c| c.position)) {
        (Some(path), Some(last)) => println!(
            "; it matches {} of {} (the furthest: position {} at {})",
            match checkpoints.len() {
                1 => "the one checkpoint".to_string(),
                n => format!("the {n} checkpoints"),
            },
            path.display(),
            last.position,
            last.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        (Some(path), None) => println!("; {} holds no checkpoint yet", path.display()),
        (None, _) => {
            println!();
            eprintln!(
                "note: no witness file was found, so events cut from the end of the ledger would not show; pass --witness FILE (see docs/operations.md)"
            );
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_argument_of_every_command_is_described() {
        let mut cli = Cli::command();
        cli.build();
        let mut undescribed = Vec::new();
        for command in cli.get_subcommands() {
            for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    undescribed.push(format!("warroom {} {}", command.get_name(), arg.get_id()));
                }
            }
        }
        assert!(undescribed.is_empty(), "no description: {undescribed:?}");
    }

    #[test]
    fn each_command_takes_only_the_shared_options_it_uses() {
        let mut cli = Cli::command();
        cli.build();
        let takes = |name: &str, long: &str| {
            cli.find_subcommand(name)
                .unwrap()
                .get_arguments()
                .any(|a| a.get_long() == Some(long))
        };
        for name in [
            "demo",
            "agent",
            "healthcheck",
            "check",
            "bench",
            "import-oncall",
        ] {
            assert!(!takes(name, "db"), "{name} --db");
        }
        for name in [
            "show",
            "migrate",
            "export",
            "import",
            "healthcheck",
            "bench",
        ] {
            assert!(!takes(name, "config"), "{name} --config");
        }
        for name in [
            "postmortem",
            "timeline",
            "incidents",
            "healthcheck",
            "demo",
            "check",
        ] {
            assert!(!takes(name, "log-format"), "{name} --log-format");
        }
        for name in [
            "serve",
            "replay",
            "verify",
            "postmortem",
            "alerts",
            "show",
            "export",
        ] {
            assert!(takes(name, "db"), "{name} --db");
        }
        assert!(takes("serve", "config") && takes("serve", "log-format"));
        assert!(takes("agent", "config"), "the agent's own file");
    }

    fn parsed(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("warroom").chain(args.iter().copied()))
            .and_then(Cli::settle)
    }

    #[test]
    fn shared_options_before_the_command_still_reach_it() {
        let cli = parsed(&[
            "--db",
            "sqlite://a.db",
            "--config",
            "w.toml",
            "timeline",
            "1",
        ])
        .unwrap();
        assert_eq!(cli.db, "sqlite://a.db");
        assert_eq!(cli.config.as_deref(), Some(Path::new("w.toml")));
        let cli = parsed(&[
            "--db",
            "sqlite://a.db",
            "timeline",
            "1",
            "--db",
            "sqlite://b.db",
        ])
        .unwrap();
        assert_eq!(cli.db, "sqlite://b.db", "the one after the command wins");
        let cli = parsed(&["--config", "agent.toml", "agent"]).unwrap();
        assert!(
            matches!(cli.command, Command::Agent { config: Some(ref c), .. } if c == Path::new("agent.toml"))
        );
        let refused = parsed(&["--db", "sqlite://a.db", "demo"]).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("`warroom demo` does not use --db; leave it out"),
            "{refused}"
        );
        let refused = parsed(&["demo", "--db", "sqlite://a.db"]).unwrap_err();
        assert_eq!(refused.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn a_value_from_the_environment_gives_way_to_one_typed_before_the_command() {
        assert_eq!(after_before(Some(1), Some(2), Some(1)), Some(2));
        assert_eq!(after_before(Some(1), Some(2), None), Some(1));
        assert_eq!(after_before(Some(1), Some(2), Some(3)), Some(1));
        assert_eq!(after_before(None, Some(2), None), Some(2));
        assert_eq!(after_before::<i32>(None, None, None), None);
    }
}
