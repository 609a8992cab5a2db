//! The piauth binary: parse the command line, run, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = piauth::cli::Cli::parse();
    match piauth::app::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("piauth: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
