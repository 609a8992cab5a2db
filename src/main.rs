//! The piauth binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
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

/// Makes a panic on any thread end the process, as release builds (`panic = "abort"`) do.
///
/// A thread that dies alone can leave the server up but deaf: tiny_http's accept thread
/// unwraps a failed socket clone (EMFILE), and without this a debug build would answer
/// nothing while systemd saw it running. Aborting lets systemd restart it, and makes test
/// builds behave like the binary that ships.
fn fatal_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
}
