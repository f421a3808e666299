//! `loadtest`: thin binary; everything lives in the library so the integration
//! tests drive the same code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = loadtest::cli::Cli::parse();
    match loadtest::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
