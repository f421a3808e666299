//! The `hub` command. Everything lives in the library; see `hub::cli`.

fn main() -> std::process::ExitCode {
    hub::cli::main()
}
