//! The `dialogue-server` binary: parse settings, start logging, serve.

use clap::Parser;
use dialogue_server::config::{Cli, Command};
use dialogue_server::startup::{Application, probe_readiness};
use dialogue_server::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(&cli.settings);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(cli.settings).await?.run_until_stopped().await?,
        Command::CheckReady => std::process::exit(if probe_readiness(&cli.settings.bind) { 0 } else { 1 }),
    }
    Ok(())
}
