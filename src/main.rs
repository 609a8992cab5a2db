//! The piauth binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    piauth::adapters::host::sys::no_transparent_huge_pages();
    // An operator's MIMALLOC_PURGE_DELAY (read by mimalloc itself) wins.
    #[cfg(target_env = "musl")]
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        piauth::adapters::host::sys::allocator_returns_freed_memory_at_once();
    }
    fatal_panics();
    let cli = piauth::cli::Cli::parse();
    match piauth::app::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("piauth: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Makes a panic end the process, except on the threads that run requests.
///
/// A request's panic is caught where it ran (`adapters/http/mod.rs`): that request is answered 500
/// and the server goes on. Anywhere else a thread that dies alone could leave the server
/// up but lame (no admin socket, no watchdog), so the process aborts and systemd restarts
/// it.
fn fatal_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        if std::thread::current().name() != Some(piauth::adapters::http::WORKER_THREAD) {
            std::process::abort();
        }
    }));
}
