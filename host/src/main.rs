//! `cgaf`: the crypto-gaf binary. Parses the command line, sets up logging, and runs a command;
//! on failure prints the error chain once and exits non-zero.

mod backtest;
mod bench;
mod cli;
mod database;
mod migrate;
mod plugin;
mod plugin_host;
mod schedule;
mod serve;
mod settings;
mod strategy_target;
mod sweep;
mod token;
mod transform;

use clap::Parser;
use cli::{Cli, Command, LogFormat};
use std::process::ExitCode;

fn init_logging(global: &cli::GlobalArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&global.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match global.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// `cgaf metrics`: stdin JSON → metrics JSON on stdout.
fn metrics(args: &cli::MetricsArgs) -> ExitCode {
    let mut text = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
        eprintln!("error: reading stdin: {e}");
        return ExitCode::FAILURE;
    }
    let result = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| format!("stdin is not JSON: {e}"))
        .and_then(|v| cgaf_trade::domain::metrics_from_json(&v, args.periods_per_year).map_err(|e| e.to_string()))
        .and_then(|m| serde_json::to_string_pretty(&m).map_err(|e| e.to_string()));
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Metrics(args) = &cli.command {
        return metrics(args);
    }
    if let Command::Transform(args) = &cli.command {
        // Offline, synchronous and quiet: prints only the matrix or a pyts-style error.
        return transform::run(args, &cli.global);
    }
    init_logging(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => match settings::ServeSettings::from_args(&cli.global, &args) {
                Ok(s) => serve::run(s).await,
                Err(e) => Err(e),
            },
            Command::Migrate(args) => migrate::run(&cli.global, &args).await,
            Command::Bench(args) => bench::run(&args).await,
            Command::Plugin(args) => plugin::run(&cli.global, &args).await,
            Command::Backtest(args) => backtest::run(&cli.global, &args).await,
            Command::Sweep(args) => sweep::run(&cli.global, &args).await,
            Command::Transform(_) | Command::Metrics(_) => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
