//! The command line: every command and flag, with its help. Parsing only, no I/O.

pub mod admin;

use crate::protocol::manage::spec::{ClientSpec, JwksArgs, PersonArgs};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// piauth: the OAuth 2.0 authorization server of a home network.
#[derive(Debug, Parser)]
#[command(name = "piauth", version, about, propagate_version = true)]
pub struct Cli {
    /// TOML config file; flags override it, it overrides the built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Flags every command takes (`--data-dir`).
    #[command(flatten)]
    pub global: crate::config::GlobalFlags,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage clients (works whether the server runs or not).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage the people who sign in: through piauth's pages to apps and devices, or by the
    /// password grant.
    #[command(subcommand)]
    User(UserCommand),
    /// The groups people are in (set with `user add/edit --group`).
    #[command(subcommand)]
    Group(GroupCommand),
    /// The live sessions (refresh-token families) of people and devices.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Manage the issuers whose assertions the JWT bearer grant takes.
    #[command(subcommand)]
    Issuer(IssuerCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Show the detected board and the tuning profile chosen for it.
    Board(BoardArgs),
    /// The HTTPS certificate.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Show the running server's recent audit records (issuances, refusals, admin changes).
    Audit {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `piauth tls …`.
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Print the SHA-256 fingerprint of the certificate served, for devices to pin (the
    /// certificate piauth makes is made now if it has not been yet).
    Fingerprint,
    /// Print the certificate served, as PEM and without its key: the file to give a device
    /// to trust.
    Cert,
}

/// Where board detection reads from.
#[derive(Debug, Args, Default, Clone)]
pub struct HostArgs {
    /// Read this file instead of /proc/cpuinfo (a fixture, or another board's dump).
    #[arg(long, value_name = "FILE")]
    pub cpuinfo: Option<PathBuf>,
    /// Read this file instead of /proc/meminfo.
    #[arg(long, value_name = "FILE")]
    pub meminfo: Option<PathBuf>,
}

/// Flags of `board`.
#[derive(Debug, Args, Default)]
pub struct BoardArgs {
    /// Where to read from.
    #[command(flatten)]
    pub host: HostArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `serve`: one for every config key, each overriding the config file.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Config keys.
    #[command(flatten)]
    pub flags: crate::config::ServeFlags,
    /// Board detection sources (size the server as if it ran on that board).
    #[command(flatten)]
    pub host: HostArgs,
}

/// `piauth client ...`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A secret, when it has one (not --public, not with keys), is printed
    /// this once only.
    Add {
        /// What the client is and may do.
        #[command(flatten)]
        spec: Box<ClientSpec>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// Client id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a client; its refresh tokens stop working.
    Remove {
        /// Client id.
        id: String,
    },
    /// Give a client a new secret; the old one stops working at once.
    RotateSecret {
        /// Client id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Disable a client: it gets invalid_client until enabled.
    Disable {
        /// Client id.
        id: String,
    },
    /// Enable a disabled client.
    Enable {
        /// Client id.
        id: String,
    },
    /// Change who may sign in to a client, where it may send people back, or whether it
    /// needs a second factor; its tokens and consents stay.
    Edit {
        /// Client id.
        id: String,
        /// Only members of this group may sign in to it (repeatable; replaces the groups).
        #[arg(long = "allowed-group", value_name = "GROUP")]
        allowed_groups: Vec<String>,
        /// Everyone may sign in to it again.
        #[arg(long, conflicts_with = "allowed_groups")]
        no_groups: bool,
        /// Its redirect URIs (repeatable; replaces them).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Every sign-in to it needs a second factor: `true` or `false`.
        #[arg(long, value_name = "BOOL")]
        require_second_factor: Option<bool>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `piauth issuer ...`
#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Trust an issuer's signed assertions (RFC 7523 §2.1) for the subjects and scopes named.
    Add {
        /// Its `iss`.
        name: String,
        /// Its public key, a JWK file (repeatable).
        #[arg(long = "jwk", value_name = "FILE")]
        jwk_files: Vec<PathBuf>,
        /// Its public key, a PEM `PUBLIC KEY` file (repeatable).
        #[arg(long = "pem", value_name = "FILE")]
        pem_files: Vec<PathBuf>,
        /// Where it publishes its keys instead.
        #[command(flatten)]
        jwks: JwksArgs,
        /// A subject it may assert: a name, `prefix*`, or `*` for any (repeatable).
        #[arg(long = "subject", value_name = "PATTERN", required = true)]
        subjects: Vec<String>,
        /// A scope its assertions may bring (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List trusted issuers.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting an issuer.
    Remove {
        /// Its `iss`.
        name: String,
    },
}

/// `piauth user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a person; the password is read from standard input.
    Add {
        /// User name.
        name: String,
        /// Allowed scope (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Name, email and groups.
        #[command(flatten)]
        person: PersonArgs,
        /// May open the operator's page.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (passwords never go in argv).
        #[arg(long, required_unless_present = "enroll", conflicts_with = "enroll")]
        password_stdin: bool,
        /// No password: print a link, good once for a day, with which the person sets their
        /// own (then, where required, their second factor). The operator never knows it.
        #[arg(long)]
        enroll: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A new one-time link for a person to set their own password (the last one ends; the
    /// password stays until they use it).
    Enroll {
        /// User name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a person's name, email, groups or operator flag; their sessions go on.
    /// A change of groups applies at their next token or refresh.
    Edit {
        /// User name.
        name: String,
        /// What changes (what is not given stays).
        #[command(flatten)]
        person: PersonArgs,
        /// The address is theirs again: `email_verified` true.
        #[arg(long, conflicts_with = "email_unverified")]
        email_verified: bool,
        /// Leave every group.
        #[arg(long, conflicts_with = "groups")]
        no_groups: bool,
        /// May open the operator's page.
        #[arg(long, conflicts_with = "no_admin")]
        admin: bool,
        /// May no longer open the operator's page.
        #[arg(long)]
        no_admin: bool,
        /// Every sign-in needs a second factor (one-time codes): one without is led to set
        /// them up at their next sign-in, and the password grant refuses them.
        #[arg(long, conflicts_with = "no_require_second_factor")]
        require_second_factor: bool,
        /// A second factor is the person's choice again.
        #[arg(long)]
        no_require_second_factor: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one person.
    Show {
        /// User name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List people.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a person; their refresh tokens stop working.
    Remove {
        /// User name.
        name: String,
    },
    /// Set a person's password, read from standard input.
    Passwd {
        /// User name.
        name: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Keep the person's sessions (refresh tokens): by default a new password ends them,
        /// as after a lost phone.
        #[arg(long)]
        keep_sessions: bool,
    },
    /// Remove a person's second factors (one-time and recovery codes), after a lost phone,
    /// and sign them out of every browser; their apps stay signed in.
    ResetFactors {
        /// User name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a person out everywhere: every refresh token of theirs ends, and every browser
    /// session (a lost phone, a person leaving the house).
    SignOut {
        /// User name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take back what a person allowed an app: their consent (the app asks again) and the
    /// refresh tokens it got from them.
    Revoke {
        /// User name.
        name: String,
        /// The client.
        client: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `piauth session ...`
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List the live sessions (refresh-token families): person, client, last use.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End one session: the device's next refresh fails and it must sign in again.
    Revoke {
        /// The session's id, as `session list` prints it.
        id: String,
    },
}

/// `piauth group ...`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List the groups, with their members and the apps that allow them.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `piauth key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List signing keys.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish a new key now; it signs once verifiers' cached JWKS hold it (`jwks_max_age`),
    /// and the old key stays published until its tokens expire.
    Rotate {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The keys in place are compromised: the new key signs at once and the others leave
        /// the JWKS now, so their tokens fail verification and introspection.
        #[arg(long)]
        now: bool,
    },
    /// Print the current HS256 secret (base64url) for resource servers that verify HS256.
    Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_client_add_with_repeated_flags() {
        let cli = Cli::try_parse_from([
            "piauth",
            "client",
            "add",
            "dev",
            "--grant",
            "password",
            "--grant",
            "refresh_token",
            "--scope",
            "read",
            "--json",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(cli.global.data_dir, Some(PathBuf::from("/tmp/x")));
        match cli.command {
            Command::Client(ClientCommand::Add { spec, json }) => {
                assert_eq!(spec.id, "dev");
                assert_eq!(spec.grants, ["password", "refresh_token"]);
                assert_eq!(spec.scopes, ["read"]);
                assert!(json);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn user_add_requires_password_stdin() {
        assert!(Cli::try_parse_from(["piauth", "user", "add", "alice"]).is_err());
        assert!(
            Cli::try_parse_from(["piauth", "user", "add", "alice", "--password-stdin"]).is_ok()
        );
    }

    #[test]
    fn board_flags_parse() {
        let cli = Cli::try_parse_from(["piauth", "board", "--cpuinfo", "/x", "--json"]).unwrap();
        match cli.command {
            Command::Board(b) => {
                assert_eq!(b.host.cpuinfo, Some(PathBuf::from("/x")));
                assert!(b.json);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn serve_flags_parse() {
        let cli = Cli::try_parse_from([
            "piauth",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--algorithm",
            "EdDSA",
            "--access-ttl",
            "60",
        ])
        .unwrap();
        match cli.command {
            Command::Serve(a) => {
                assert_eq!(a.flags.listen.as_deref(), Some("127.0.0.1:0"));
                assert_eq!(a.flags.access_ttl, Some(60));
            }
            other => panic!("{other:?}"),
        }
    }
}
