//! The `veil` binary: parses the command line and hands it to [`veil_cli::run`].

fn main() -> std::process::ExitCode {
    veil_cli::run(std::env::args_os())
}
