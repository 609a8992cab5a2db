//! Reads what the kernel says about the machine: `/proc/cpuinfo`, `/proc/meminfo` (through
//! `procfs`) and the device tree. The only module that reads those files.

use crate::board::revision::{self, Board};
use procfs::FromRead;
use std::path::{Path, PathBuf};

/// Where to read from; fixtures replace the real files in tests and `piauth board`.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// A cpuinfo file instead of `/proc/cpuinfo`.
    pub cpuinfo: Option<PathBuf>,
    /// A meminfo file instead of `/proc/meminfo`.
    pub meminfo: Option<PathBuf>,
}

/// What the machine is.
#[derive(Debug, Clone)]
pub struct Host {
    /// The board.
    pub board: Board,
    /// MemTotal in bytes.
    pub mem_total_bytes: u64,
}

/// A file about the machine could not be read.
#[derive(Debug)]
pub struct HostError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for HostError {}

fn read_text(path: &Path) -> Result<String, HostError> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| HostError {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
}

/// The kernel's host name, if it has one.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
}

/// Reads the host. The device tree is consulted only when the real `/proc/cpuinfo` is used,
/// so that a fixture is never mixed with the facts of the machine running the command.
pub fn read_host(src: &Sources) -> Result<Host, HostError> {
    let cpuinfo_path = src
        .cpuinfo
        .clone()
        .unwrap_or_else(|| "/proc/cpuinfo".into());
    let mut facts = revision::parse_cpuinfo(&read_text(&cpuinfo_path)?);
    let mut dt_model = None;
    if src.cpuinfo.is_none() {
        dt_model = std::fs::read("/proc/device-tree/model")
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        if facts.revision.is_none() {
            // Mainline kernels print no Revision line; the firmware's code is in the
            // device tree as a big-endian u32.
            if let Ok(bytes) = std::fs::read("/proc/device-tree/system/linux,revision") {
                if let Ok(b4) = <[u8; 4]>::try_from(bytes.as_slice()) {
                    facts.revision = Some(format!("{:x}", u32::from_be_bytes(b4)));
                }
            }
        }
    }
    let meminfo_path = src
        .meminfo
        .clone()
        .unwrap_or_else(|| "/proc/meminfo".into());
    let meminfo = procfs::Meminfo::from_file(&meminfo_path).map_err(|e| HostError {
        path: meminfo_path.clone(),
        source: Box::new(e),
    })?;
    Ok(Host {
        board: revision::detect(&facts, dt_model.as_deref()),
        mem_total_bytes: meminfo.mem_total,
    })
}

/// Turns transparent huge pages off for the whole process (prctl PR_SET_THP_DISABLE).
///
/// mimalloc (the Pi builds' allocator) advises huge pages on its 128 MiB arena when the
/// kernel happens to map it 32 KiB-aligned, about one start in eight under ASLR. Then its
/// one write at the head of each page it hands out, such as the 41 histograms sled
/// allocates and never uses, made a whole 2 MiB page resident: 26 MiB idle instead of
/// 9 (docs/memory.md). The kernel checks the flag when a page is first touched, so
/// setting it first thing in `main` also covers the arena mapped before. A server of a few
/// MiB gains nothing from huge pages. Best effort: an old kernel keeps its own setting.
pub fn no_transparent_huge_pages() {
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        log::debug!("prctl(PR_SET_THP_DISABLE): {e}");
    }
}

/// `mi_option_purge_delay` of mimalloc.h (v2 and v3 alike), which libmimalloc-sys does not
/// name: the option just before `mi_option_use_numa_nodes`, which it does.
#[cfg(target_env = "musl")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t =
    libmimalloc_sys::mi_option_use_numa_nodes - 1;

/// Makes mimalloc (the Pi builds' allocator) give freed memory back to the kernel at once.
///
/// By default it keeps freed pages for a second, and only purges them when it next
/// allocates: an idle server never does, so the Argon2 block of the last password hashed
/// (4 MiB on a Pi 1) stayed resident: 9.6 MiB idle instead of 5.6 (docs/memory.md). Under
/// token load the difference in throughput was not measurable (docs/performance.md).
/// Password checks keep their blocks between checks anyway (jose/secret.rs).
#[cfg(target_env = "musl")]
#[allow(unsafe_code)]
pub fn allocator_returns_freed_memory_at_once() {
    // SAFETY: mi_option_set stores an integer in mimalloc's option table, for an index it
    // declares (above) and any value; it takes no pointer. Its stores are not atomic, so it
    // is called first thing in main, before any thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// Gives the calling thread the lowest CPU priority (nice 19): on Linux the nice value is
/// per thread (setpriority(2), "BUGS"), so only this thread yields to the request path.
/// Best effort: a failure leaves it at normal priority, which costs speed, not safety.
pub fn lowest_priority_for_this_thread() {
    if let Err(e) = rustix::process::setpriority_process(None, 19) {
        log::warn!("setpriority: {e}: a background thread competes with requests");
    }
}

/// Whether the kernel considers the clock synchronised (`timedatectl`'s "System clock
/// synchronized"): `adjtimex` in read-only mode, status without `STA_UNSYNC`. `None` when
/// the kernel cannot be asked.
#[allow(unsafe_code)]
pub fn kernel_clock_synchronized() -> Option<bool> {
    // SAFETY: `timex` is a plain C struct of integers, for which all zeroes is a valid
    // value; `modes == 0` makes adjtimex only read the kernel's state into the struct we
    // own, which lives for the whole call. Nothing else is touched.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return None;
    }
    Some(state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0)
}

/// Who owns a data directory, so that files an admin command run as root makes in it (sled
/// writes as it opens) stay the service user's: otherwise the service could no longer open
/// its own store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilesOwner {
    uid: u32,
    gid: u32,
    /// Only root can give files away, and only root would leave files another user cannot
    /// open.
    acting_as_root: bool,
}

impl FilesOwner {
    /// The owner of `dir`.
    pub fn of(dir: &Path) -> std::io::Result<FilesOwner> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(dir)?;
        Ok(FilesOwner {
            uid: m.uid(),
            gid: m.gid(),
            acting_as_root: rustix::process::geteuid().is_root(),
        })
    }

    /// Gives every file under `dir` that is not the owner's back to it (root only; a
    /// no-op otherwise). Symbolic links are changed themselves, never followed.
    pub fn give_back(&self, dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        if !self.acting_as_root || self.uid == 0 {
            return Ok(());
        }
        // The store is a few files and one directory level (sled's blobs/): bounded.
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for entry in std::fs::read_dir(&d)? {
                let entry = entry?;
                let m = entry.metadata()?;
                if m.uid() != self.uid || m.gid() != self.gid {
                    std::os::unix::fs::lchown(entry.path(), Some(self.uid), Some(self.gid))?;
                }
                if m.is_dir() {
                    todo.push(entry.path());
                }
            }
        }
        Ok(())
    }
}
