//! The `banc` binary: the command line (`src/cli/`) over the library. Nothing else lives here.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
