//! What can go wrong in the store, for the log, `/health` and the exit code.

use crate::protocol::LookupError;
use std::fmt;
use std::path::PathBuf;

/// A store failure.
#[derive(Debug)]
pub enum StoreError {
    /// Another process holds the store (a running server).
    Locked(PathBuf),
    /// Disk or sled failure.
    Io(sled::Error),
    /// A record that does not decode.
    Corrupt(&'static str),
    /// The store was written by a newer piauth, in a layout this one does not know.
    NewerLayout {
        /// The layout found.
        found: String,
        /// The layout this build reads.
        reads: &'static str,
    },
    /// The data directory's marker names a store that is no longer there: sled found its
    /// files damaged and recovered to an empty store, or they were replaced.
    Emptied(PathBuf),
    /// A write failed on the disk, and none can be made until it takes writes again.
    WritesFail(String),
    /// The store is being opened again after a failed write.
    Reopening,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked(dir) => write!(
                f,
                "{} is in use by another piauth process (a running server whose admin socket does not answer); stop it or choose another --data-dir",
                dir.display()
            ),
            StoreError::Io(e) => write!(f, "store I/O failed: {e}"),
            StoreError::Corrupt(what) => write!(f, "store record is corrupt: {what}"),
            StoreError::NewerLayout { found, reads } => write!(
                f,
                "the store has layout {found}, written by a newer piauth; this one reads layout {reads}"
            ),
            StoreError::Emptied(dir) => write!(
                f,
                "the store in {} is not the one this data directory held (its files are damaged \
                 and read as empty, or were replaced): refusing to start with an empty store; \
                 restore the data directory from a backup",
                dir.display()
            ),
            StoreError::WritesFail(why) => write!(f, "the store cannot write: {why}"),
            StoreError::Reopening => {
                f.write_str("the store is being opened again after a failed write")
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e)
    }
}

impl StoreError {
    /// The disk refused: it may take writes again by itself (space freed).
    pub fn is_disk(&self) -> bool {
        matches!(
            self,
            StoreError::Io(sled::Error::Io(_)) | StoreError::WritesFail(_) | StoreError::Reopening
        )
    }

    pub(super) fn lookup(self, what: &'static str) -> LookupError {
        LookupError {
            what,
            source: Box::new(self),
        }
    }
}
