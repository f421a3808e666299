//! The `hub` command line: `serve` (default), `migrate`, `user create`,
//! `audit verify`, `config`.

use std::{io::Read, path::PathBuf, process::ExitCode};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::{
    accounts, audit,
    auth::tokens::opaque_token,
    config::Config,
    domain::{DisplayName, EmailAddress, OrgName, Password, Role},
    server::{self, Server},
    telemetry,
};

#[derive(Debug, Parser)]
#[command(
    name = "hub",
    version,
    about = "HealthBridge real-time hub for healthcare"
)]
pub struct Cli {
    /// TOML configuration file; `HUB_*` environment variables override it.
    #[arg(long, global = true, env = "HUB_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the effective configuration, secrets masked.
    Config,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (or grant a role to an existing one). Use it to bootstrap
    /// the first admin: `hub user create --email you@example.org --role admin`.
    Create(CreateUser),
}

#[derive(Debug, Args)]
pub struct CreateUser {
    #[arg(long)]
    pub email: String,
    /// admin, clinician, patient, analyst or guest. `admin` without `--org` makes
    /// a platform admin, who can create organizations.
    #[arg(long)]
    pub role: String,
    /// The organization to hold the role in; created if it does not exist.
    #[arg(long)]
    pub org: Option<String>,
    /// Display name (defaults to the email's local part).
    #[arg(long)]
    pub name: Option<String>,
    /// Read the password from standard input instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the keyed chain against the newest signed checkpoint; exits 1 and
    /// names the first bad row and what was done (altered, deleted, inserted,
    /// forged, truncated, wiped, replaced, unsealed, unguarded).
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Checkpoint files to compare against (repeatable: one per cluster node);
    /// defaults to this node's `audit.checkpoint_path`.
    #[arg(long = "checkpoints")]
    pub checkpoints: Vec<PathBuf>,
}

/// Parses arguments and runs the command on a fresh Tokio runtime.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            telemetry::init(&config.log);
            match crate::fd_limit::raise_to_hard_limit() {
                Ok(n) => tracing::info!(open_files = n, "open-file limit"),
                Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
            }
            let server = Server::build(config).await?;
            server.run_until(server::shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            telemetry::init(&config.log);
            server::open_store(&config).await?.close().await;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config => {
            print!("{}", config.to_masked_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify(args)) => verify_audit(&config, args).await,
        Command::User(UserCommand::Create(args)) => create_user(&config, args).await,
    }
}

async fn verify_audit(config: &Config, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = audit::ChainKey::new(&crate::secrets::audit_key(config, false)?);
    let paths = if args.checkpoints.is_empty() {
        vec![config.audit.effective_checkpoint_path(&config.data_dir)]
    } else {
        args.checkpoints
    };
    let mut files = Vec::new();
    for path in &paths {
        files.push(
            audit::read_checkpoints(path, &key)
                .with_context(|| format!("reading checkpoints {}", path.display()))?,
        );
    }
    let newest = files
        .iter()
        .filter_map(|f| f.newest.as_ref())
        .max_by_key(|c| c.seq);
    let store = server::open_store(config).await?;
    let mut conn = store.conn().await?;
    let report = audit::verify(&mut conn, store.dialect(), &key, newest).await;
    drop(conn);
    store.close().await;
    let report = report?;
    let mut ok = true;
    for file in files.iter().filter(|f| !f.bad_lines.is_empty()) {
        ok = false;
        println!(
            "audit checkpoints TAMPERED: {} lines {:?} are not checkpoints signed with this audit key",
            file.path.display(),
            file.bad_lines
        );
    }
    match &report.problem {
        None => {
            println!(
                "audit log intact: {} rows verified (keyed after row {}), head {} at row {}",
                report.rows_checked, report.legacy_seq, report.head_hash, report.head_seq
            );
            match newest {
                Some(c) => println!(
                    "consistent with the newest checkpoint: row {} at {} ({} checkpoints read)",
                    c.seq,
                    crate::clock::rfc3339(c.at),
                    files.iter().map(|f| f.count).sum::<u64>()
                ),
                None => println!(
                    "warning: no checkpoint in {}: rows removed from the end could not be detected",
                    paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        Some(problem) => {
            ok = false;
            println!(
                "audit log TAMPERED: row {} {}: {} ({} rows verified before it)",
                problem.seq,
                serde_json::to_value(problem.kind)?
                    .as_str()
                    .unwrap_or("bad"),
                problem.detail,
                report.rows_checked
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn create_user(config: &Config, args: CreateUser) -> anyhow::Result<ExitCode> {
    let email = EmailAddress::parse(&args.email)?;
    let role: Role = args.role.parse()?;
    if role != Role::Admin && args.org.is_none() {
        bail!("--org is required for role {role}");
    }
    let org_name = args.org.as_deref().map(OrgName::parse).transpose()?;
    let name = DisplayName::parse(args.name.as_deref().unwrap_or(email.local_part()))?;
    let (password, generated) = if args.password_stdin {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .context("reading password from stdin")?;
        let input = input.trim_end_matches(['\n', '\r']).to_owned();
        (Password::parse_new(&input, Some(&email))?, false)
    } else {
        (Password::parse_new(&opaque_token(), Some(&email))?, true)
    };

    let store = server::open_store(config).await?;
    let audit_key = crate::secrets::audit_key(config, true)?;
    // The grant is audited: the row must be keyed like the server's.
    server::open_audit(config, &store, &audit_key, &crate::clock::SystemClock).await?;
    let result =
        accounts::grant_role(&store, &email, &name, &password, role, org_name.as_ref()).await;
    store.close().await;
    let (_, created) = result?;
    match (created, generated) {
        (true, true) => println!(
            "created {email} ({role}{}); password (shown once): {}",
            org_name
                .as_ref()
                .map(|o| format!(" in {}", o.as_str()))
                .unwrap_or_default(),
            password.expose()
        ),
        (true, false) => println!("created {email} ({role})"),
        (false, _) => println!("{email} already exists; role {role} granted, password unchanged"),
    }
    Ok(ExitCode::SUCCESS)
}
