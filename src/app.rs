//! Wiring: turns a parsed command line into a running server or an admin action.

use crate::adapters::admin::{self, AdminContext, AdminError, AdminRequest};
use crate::adapters::host::sys::{self};
use crate::adapters::store::Store;
use crate::cli::{Cli, Command, HostArgs, TlsCommand};
use crate::config::{self, Config};
use crate::error::AppError;
use crate::server::tune;
use serde_json::Value;
use std::io::Write;

fn init_logging(level: log::LevelFilter) {
    // A second init (tests calling run twice) is harmless.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(level)
        .with_utc_timestamps()
        .init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), AppError> {
    let serve_flags = match &cli.command {
        Command::Serve(args) => args.flags.clone(),
        _ => config::ServeFlags::default(),
    };
    // `serve` reads what it is told (the unit names both); other commands may find the
    // packaged install's config (adapters/admin/locate.rs).
    let choice = match &cli.command {
        Command::Serve(_) | Command::Board(_) => match &cli.config {
            Some(p) => admin::locate::ConfigChoice::Given(p.clone()),
            None => admin::locate::ConfigChoice::Defaults,
        },
        _ => admin::locate::config_for_admin(
            cli.config.as_deref(),
            cli.global.data_dir.is_some(),
            std::path::Path::new(admin::locate::SYSTEM_CONFIG).is_file(),
        ),
    };
    let mut cfg = config::load(choice.path().as_deref(), &cli.global, &serve_flags)?;
    cfg.data_dir = admin::locate::data_dir_for_admin(
        &choice,
        &cfg.data_dir,
        cfg.data_dir == std::path::Path::new(config::DEFAULT_DATA_DIR),
    );
    let out = match &cli.command {
        Command::Serve(args) => {
            init_logging(cfg.log_level);
            return crate::server::serve(cfg, &args.host);
        }
        Command::Tls(command) => {
            let identity = crate::adapters::tls::Identity::load_existing(&cfg.tls_source)?;
            match command {
                TlsCommand::Fingerprint => format!("{}\n", identity.fingerprint()),
                TlsCommand::Cert => identity.chain_pem(),
            }
        }
        Command::Board(args) => {
            let (host, profile) = tune(&cfg, &args.host)?;
            if args.json {
                format!(
                    "{}\n",
                    crate::adapters::host::board_report::json(&host, &profile)
                )
            } else {
                crate::adapters::host::board_report::text(&host, &profile)
            }
        }
        command => {
            init_logging(log::LevelFilter::Warn);
            let Some((req, json)) = crate::cli::admin::request_for(command)? else {
                return Ok(());
            };
            let value = admin_call(&cfg, &choice, req.clone())?;
            admin::format::render(&req, &value, json)
        }
    };
    // A closed pipe (`piauth client list | head`) is not an error.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}

/// Sends the request to the running server, or carries it out on the store directly when
/// no server answers. Never makes a store; run as root on a store another user owns (the
/// service's), it leaves every file that user's.
fn admin_call(
    cfg: &Config,
    choice: &admin::locate::ConfigChoice,
    req: AdminRequest,
) -> Result<Value, AppError> {
    let socket = admin::socket_path(&cfg.data_dir);
    if let Some(result) = admin::call_socket(&socket, &req) {
        return Ok(result?);
    }
    if !Store::exists(&cfg.data_dir) {
        return Err(
            AdminError::NotFound(admin::locate::no_store_message(&cfg.data_dir, choice)).into(),
        );
    }
    let owner = sys::FilesOwner::of(&cfg.data_dir)
        .map_err(AppError::io(format!("read {}", cfg.data_dir.display())))?;
    let result = admin_offline(cfg, req);
    // Whatever happened, sled may have written files: they stay the store owner's.
    owner
        .give_back(&cfg.data_dir)
        .map_err(AppError::io(format!(
            "give {} back to its owner",
            cfg.data_dir.display()
        )))?;
    result
}

/// Carries out a request on the store itself, the server being stopped.
fn admin_offline(cfg: &Config, req: AdminRequest) -> Result<Value, AppError> {
    let (_, profile) = tune(cfg, &HostArgs::default())?;
    let store = Store::open(&cfg.data_dir, profile.sled_cache_bytes)?;
    // Offline there is no bound port: the issuer only matters for tokens, not for admin.
    let policy = cfg.policy(cfg.issuer.clone().unwrap_or_default(), &profile);
    let pepper = store.pepper()?;
    let ctx = AdminContext {
        store: &store,
        pepper: &pepper,
        policy: &policy,
        algorithm: cfg.algorithm,
    };
    let (value, _) = admin::execute(req, &ctx)?;
    store.flush()?;
    Ok(value)
}
