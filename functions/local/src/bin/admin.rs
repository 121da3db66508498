//! `hookline-admin`: identity links, runs and dead letters in the store a deployment uses. Everything but `main`
//! is in [`hookline_local::admin`]; `hookline-admin --help` lists the commands.

use std::process::ExitCode;

use clap::Parser;
use hookline_local::admin::{self, Cli};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match admin::run(&cli, &admin::process_env).await {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
