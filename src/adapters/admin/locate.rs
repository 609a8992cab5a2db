//! Where an admin command finds the store: the rules, over plain values.
//!
//! The owner of a packaged install types `sudo piauth client add thermostat` in their home
//! directory. With no `--config` and no `--data-dir` that must reach the installed service
//! (`/etc/piauth/piauth.toml`, data in `/var/lib/piauth`), not a new store beside the
//! working directory. And no admin command makes a store: only `serve` does, so a mistyped
//! path is an error that says where it looked, never a second, empty store whose secrets
//! the running server would refuse.

use std::path::{Path, PathBuf};

/// The packaged install's config file (the Debian package and `install.sh`).
pub const SYSTEM_CONFIG: &str = "/etc/piauth/piauth.toml";
/// The packaged install's data directory (the unit's `StateDirectory`).
pub const SYSTEM_DATA_DIR: &str = "/var/lib/piauth";

/// Which config file an admin command reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChoice {
    /// The one `--config` names.
    Given(PathBuf),
    /// The packaged install's: nothing was named and it exists.
    System,
    /// None: the built-in defaults (and `--data-dir` if given).
    Defaults,
}

impl ConfigChoice {
    /// The file to read, if any.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            ConfigChoice::Given(p) => Some(p.clone()),
            ConfigChoice::System => Some(PathBuf::from(SYSTEM_CONFIG)),
            ConfigChoice::Defaults => None,
        }
    }
}

/// The config an admin command uses: `--config`, else the packaged install's when neither
/// `--config` nor `--data-dir` was given and that file exists, else none.
pub fn config_for_admin(
    config_flag: Option<&Path>,
    data_dir_flag: bool,
    system_config_exists: bool,
) -> ConfigChoice {
    match config_flag {
        Some(p) => ConfigChoice::Given(p.to_path_buf()),
        None if !data_dir_flag && system_config_exists => ConfigChoice::System,
        None => ConfigChoice::Defaults,
    }
}

/// The data directory: the config's, except that the packaged config file from before it
/// named one (the unit passed `--data-dir`) means the packaged directory.
pub fn data_dir_for_admin(
    choice: &ConfigChoice,
    resolved: &Path,
    is_builtin_default: bool,
) -> PathBuf {
    match choice {
        ConfigChoice::System if is_builtin_default => PathBuf::from(SYSTEM_DATA_DIR),
        _ => resolved.to_path_buf(),
    }
}

/// What an admin command says when the data directory holds no store.
pub fn no_store_message(dir: &Path, choice: &ConfigChoice) -> String {
    let looked = match choice {
        ConfigChoice::Given(p) => format!("the data directory of --config {}", p.display()),
        ConfigChoice::System => format!("the data directory of {SYSTEM_CONFIG}"),
        ConfigChoice::Defaults => {
            format!("--data-dir or the default, since {SYSTEM_CONFIG} does not exist")
        }
    };
    format!(
        "no piauth store in {} ({looked}). Admin commands never make one: start the server \
         there once (piauth serve), or point at the server's with --config FILE or \
         --data-dir DIR (a packaged install: sudo piauth ..., which reads {SYSTEM_CONFIG})",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_config_is_used_only_when_nothing_else_is_named() {
        let given = Path::new("/home/me/p.toml");
        assert_eq!(
            config_for_admin(Some(given), false, true),
            ConfigChoice::Given(given.into())
        );
        assert_eq!(config_for_admin(None, false, true), ConfigChoice::System);
        assert_eq!(config_for_admin(None, true, true), ConfigChoice::Defaults);
        assert_eq!(config_for_admin(None, false, false), ConfigChoice::Defaults);
    }

    #[test]
    fn an_old_packaged_config_without_data_dir_means_the_packaged_directory() {
        let here = Path::new("./piauth-data");
        assert_eq!(
            data_dir_for_admin(&ConfigChoice::System, here, true),
            PathBuf::from(SYSTEM_DATA_DIR)
        );
        let named = Path::new("/srv/piauth");
        assert_eq!(
            data_dir_for_admin(&ConfigChoice::System, named, false),
            named
        );
        assert_eq!(
            data_dir_for_admin(&ConfigChoice::Defaults, here, true),
            here
        );
    }

    #[test]
    fn the_message_says_where_it_looked_and_how_to_point_it() {
        let m = no_store_message(Path::new("./piauth-data"), &ConfigChoice::Defaults);
        assert!(
            m.contains("./piauth-data") && m.contains(SYSTEM_CONFIG),
            "{m}"
        );
        assert!(m.contains("--data-dir") && m.contains("--config"), "{m}");
    }
}
