//! `cgaf`: the crypto-gaf binary. Parses the command line, sets up logging, and runs a command;
//! on failure prints the error chain once and exits non-zero.

mod backtest;
mod bench;
mod bench_products;
mod bench_python;
mod bench_scale;
mod bench_service;
mod bench_swap;
mod cli;
mod database;
mod history;
mod history_download;
mod history_keeper;
mod migrate;
mod plugin;
mod plugin_build;
mod plugin_canary;
mod plugin_host;
mod plugin_new;
mod plugin_replay;
mod plugin_test;
mod plugin_test_bars;
mod replay;
mod schedule;
mod serve;
mod settings;
mod strategy_target;
mod sweep;
mod telemetry;
mod token;
mod traces;
mod transform;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

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

/// The error and its causes on one line, each said once: a cause whose text its parent's message
/// already includes (many libraries print their source in their own message) is not repeated.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !previous.is_empty() && previous.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        previous = text;
    }
    out
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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Logging (and the trace exporter, which sends on this runtime) before anything else.
    let telemetry = {
        let _entered = runtime.enter();
        traces::TraceSettings::resolve(&cli.global, |k| std::env::var(k).ok())
            .and_then(|settings| traces::init(&cli.global, settings.as_ref()))
    };
    let telemetry = match telemetry {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
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
            Command::Bench(args) if args.scale => bench_scale::run(&args).await,
            Command::Bench(args) => bench::run(&args).await,
            Command::Plugin(args) => plugin::run(&cli.global, &args).await,
            Command::Backtest(args) => backtest::run(&cli.global, &args).await,
            Command::Sweep(args) => sweep::run(&cli.global, &args).await,
            Command::History(args) => history::run(&cli.global, &args).await,
            Command::Replay(args) => replay::run(&cli.global, &args).await,
            Command::Matrices(args) => replay::inspect(&cli.global, &args).await,
            Command::Transform(_) | Command::Metrics(_) => unreachable!("handled above"),
        }
    });
    // The spans still queued go out while the runtime that sends them still runs.
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("connection refused")
        }
    }
    impl std::error::Error for Inner {}

    /// Prints its source in its own message, as deadpool and tokio-postgres do.
    #[derive(Debug)]
    struct Wrapper(Inner);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "database pool: {}", self.0)
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let e = anyhow::Error::new(Wrapper(Inner)).context("waiting for the database");
        assert_eq!(format!("{e:#}"), "waiting for the database: database pool: connection refused: connection refused");
        assert_eq!(error_chain(&e), "waiting for the database: database pool: connection refused");
        let plain = anyhow::anyhow!("bad").context("outer");
        assert_eq!(error_chain(&plain), "outer: bad");
    }
}
