//! Command-line interface: every flag has a `CGAF_*` environment twin.
// The flags' doc comments are their `--help` text, written for a terminal (`<data-dir>`, URLs,
// `[:LAMBDA]`), not for rustdoc.
#![allow(rustdoc::invalid_html_tags, rustdoc::bare_urls, rustdoc::broken_intra_doc_links)]

use crate::schedule::{parse_duration, Schedule};
use cgaf_trade::domain::history::TimeIs;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// crypto-gaf: live crypto order books → Gramian Angular Field images, served over HTTP.
#[derive(Debug, Parser)]
#[command(name = "cgaf", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// PostgreSQL URL (also read from DATABASE_URL). Without it (and without --db-host), `serve`
    /// runs a private PostgreSQL in --data-dir.
    #[arg(long, env = "CGAF_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// The conventional `DATABASE_URL` variable, used when --database-url is not given.
    #[arg(long = "database-url-fallback", env = "DATABASE_URL", global = true, hide = true, hide_env_values = true)]
    pub database_url_fallback: Option<String>,
    /// PostgreSQL host, when the URL is given in parts.
    #[arg(long, env = "CGAF_DB_HOST", global = true)]
    pub db_host: Option<String>,
    /// PostgreSQL port.
    #[arg(long, env = "CGAF_DB_PORT", global = true, default_value_t = 5432)]
    pub db_port: u16,
    /// PostgreSQL user.
    #[arg(long, env = "CGAF_DB_USER", global = true, default_value = "postgres")]
    pub db_user: String,
    /// PostgreSQL password.
    #[arg(long, env = "CGAF_DB_PASSWORD", global = true, hide_env_values = true)]
    pub db_password: Option<String>,
    /// PostgreSQL database name.
    #[arg(long, env = "CGAF_DB_NAME", global = true, default_value = "postgres")]
    pub db_name: String,
    /// Largest number of pooled database connections (an import into new partitions also opens
    /// two of its own while it runs).
    #[arg(long, env = "CGAF_DB_POOL_SIZE", global = true, default_value_t = 16)]
    pub db_pool_size: usize,
    /// Folder for the private PostgreSQL and the generated API token.
    #[arg(long, env = "CGAF_DATA_DIR", global = true, default_value = "./.cgaf")]
    pub data_dir: PathBuf,
    /// System user that runs the private PostgreSQL when cgaf runs as root (PostgreSQL refuses root).
    #[arg(long, env = "CGAF_PG_USER", global = true, default_value = "postgres")]
    pub pg_user: String,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `cgaf=debug,warn`. warp's own
    /// per-request lines (`warp::filters::trace`) are off unless the filter names `warp`.
    #[arg(long, env = "CGAF_LOG", global = true, default_value = "info,tokio_postgres=warn")]
    pub log: String,
    /// Log format.
    #[arg(long, env = "CGAF_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// OpenTelemetry collector to export traces to over OTLP/HTTP (protobuf), e.g.
    /// `http://otel-collector:4318` (`/v1/traces` is appended). Without it, and without the
    /// standard OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, traces are off.
    #[arg(long, env = "CGAF_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported traces (default: OTEL_SERVICE_NAME, else `cgaf`).
    #[arg(long, env = "CGAF_OTLP_SERVICE_NAME", global = true)]
    pub otlp_service_name: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Run the service: collect, calculate and the HTTP API (or the roles chosen by --roles).
    Serve(ServeArgs),
    /// Apply the database schema and exit (for deploy hooks).
    Migrate(MigrateArgs),
    /// Run an image transform on a JSON array read from stdin; print the matrix as JSON rows.
    Transform(TransformArgs),
    /// Measure calculate, GASF, plugin and API throughput; print the ratios against the baselines.
    Bench(BenchArgs),
    /// Manage plugins on a running service: upload, list, activate, roll back.
    Plugin(PluginArgs),
    /// Performance metrics of `{"returns": [...]}` or `{"equity": [...]}` read from stdin, as JSON.
    Metrics(MetricsArgs),
    /// Backtest a strategy: on a running service over the market history, or offline on a bars CSV.
    Backtest(BacktestArgs),
    /// Sweep a strategy's parameters over a grid (optionally walk-forward): results, best
    /// parameters out of sample and a heatmap.
    Sweep(SweepArgs),
    /// The market history: import a CSV, download candles, export bars, list what is stored.
    History(HistoryArgs),
    /// Recompute the matrix pipeline (transitions, blends, forecasts, scores) over a stored range
    /// of live rollups into a separate, named replay; prints its report and row hash.
    Replay(ReplayArgs),
    /// Inspect the matrix pipeline: rolling scores, or the newest rows of one kind.
    Matrices(MatricesArgs),
}

/// Settings of the matrix pipeline (calculate worker; `cgaf replay` reuses them).
#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    /// Run the matrix pipeline in the calculate worker.
    #[arg(long = "matrix", env = "CGAF_MATRIX", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub matrix: bool,
    /// Rollup granularities (wall-clock buckets of sampled_at), comma-separated.
    #[arg(long, env = "CGAF_MATRIX_GRANULARITIES", value_delimiter = ',', default_value = "5s,15s", value_parser = parse_duration)]
    pub matrix_granularities: Vec<Duration>,
    /// Features of w in axis order: book-imbalance, midpoint-return, taker-flow.
    #[arg(
        long,
        env = "CGAF_MATRIX_FEATURES",
        value_delimiter = ',',
        default_value = "book-imbalance,midpoint-return,taker-flow"
    )]
    pub matrix_features: Vec<String>,
    /// Book levels of the book-imbalance feature.
    #[arg(long, env = "CGAF_MATRIX_DEPTH", default_value_t = 3)]
    pub matrix_depth: usize,
    /// Log return that maps to tanh(1) in the midpoint-return feature.
    #[arg(long, env = "CGAF_MATRIX_RETURN_SCALE", default_value_t = 1e-4)]
    pub matrix_return_scale: f64,
    /// Rollup aggregation: `mean` or `ewma:ALPHA`.
    #[arg(long, env = "CGAF_MATRIX_ROLLUP", default_value = "mean")]
    pub matrix_rollup: String,
    /// Solver per granularity: `MODE` for all or `GRAN=MODE`, MODE one of min-norm, stochastic, ridge,
    /// stochastic:LAMBDA, ridge:LAMBDA (e.g. `5s=min-norm,15s=stochastic:0.5`).
    #[arg(long, env = "CGAF_MATRIX_SOLVER", value_delimiter = ',', default_value = "stochastic")]
    pub matrix_solver: Vec<String>,
    /// Blender plugin per granularity: `NAME` for all or `GRAN=NAME`, parameters after colons
    /// (e.g. `5s=blend-ewma:alpha=0.3,15s=blend-mean`).
    #[arg(long, env = "CGAF_MATRIX_BLENDER", value_delimiter = ',', default_value = "blend-mean")]
    pub matrix_blender: Vec<String>,
    /// Transition matrices blended (the last k).
    #[arg(long, env = "CGAF_MATRIX_K", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub matrix_k: u32,
}

/// Options of `cgaf replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Product to replay.
    #[arg(long, env = "CGAF_PRODUCT", default_value = "BTC-USD")]
    pub product: String,
    /// Start of the range (bucket starts): ms since the epoch or RFC 3339.
    #[arg(long, env = "CGAF_FROM")]
    pub from: String,
    /// End of the range, exclusive.
    #[arg(long, env = "CGAF_TO")]
    pub to: String,
    /// Name of the replay (its rows' pipeline); default `replay-<product>-<from>-<to>-<settings hash>`.
    #[arg(long, env = "CGAF_REPLAY_NAME")]
    pub name: Option<String>,
    /// Blender for every granularity (overrides --matrix-blender), `NAME[:param=value...]`.
    #[arg(long, env = "CGAF_REPLAY_BLENDER")]
    pub blender: Option<String>,
    /// k (overrides --matrix-k).
    #[arg(long, env = "CGAF_REPLAY_K", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub k: Option<u32>,
    /// Solver for every granularity (overrides --matrix-solver).
    #[arg(long, env = "CGAF_REPLAY_SOLVER")]
    pub solver: Option<String>,
    /// The pipeline settings.
    #[command(flatten)]
    pub matrix: MatrixArgs,
}

/// What `cgaf matrices` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatricesShow {
    /// Rolling scores per product, granularity and blender.
    Scores,
    /// The newest blends.
    Blends,
    /// The newest transition matrices.
    Transitions,
    /// The newest forecasts.
    Forecasts,
}

/// Options of `cgaf matrices`.
#[derive(Debug, Clone, Args)]
pub struct MatricesArgs {
    /// What to show.
    #[arg(long, env = "CGAF_MATRICES_SHOW", value_enum, default_value_t = MatricesShow::Scores)]
    pub show: MatricesShow,
    /// Pipeline: `live` or a replay's name.
    #[arg(long, env = "CGAF_PIPELINE", default_value = "live")]
    pub pipeline: String,
    /// Product (rows).
    #[arg(long, env = "CGAF_PRODUCT", default_value = "BTC-USD")]
    pub product: String,
    /// Granularity (rows).
    #[arg(long, env = "CGAF_GRANULARITY", default_value = "5s", value_parser = parse_duration)]
    pub granularity: Duration,
    /// Rows shown (newest first).
    #[arg(long, env = "CGAF_LIMIT", default_value_t = 5)]
    pub limit: i64,
}

/// Where a strategy command runs and on what.
#[derive(Debug, Clone, Args)]
pub struct StrategyTarget {
    /// Strategy plugin: `name` (its active version) or `name@version`.
    #[arg(long, env = "CGAF_STRATEGY", default_value = "sma-cross")]
    pub strategy: String,
    /// Product whose market history makes the bars (service mode).
    #[arg(long, env = "CGAF_PRODUCT", default_value = "BTC-USD")]
    pub product: String,
    /// Start of the range: ms since the epoch or RFC 3339 (default: the first stored bar).
    #[arg(long, env = "CGAF_FROM")]
    pub from: Option<String>,
    /// End of the range, exclusive (default: the newest stored bar).
    #[arg(long, env = "CGAF_TO")]
    pub to: Option<String>,
    /// Bar length, e.g. `1s`, `1m`.
    #[arg(long, env = "CGAF_BAR_INTERVAL", default_value = "1s")]
    pub bar_interval: String,
    /// Fee per fill in basis points of notional.
    #[arg(long, env = "CGAF_FEE_BPS", default_value_t = 0.0)]
    pub fee_bps: f64,
    /// Slippage per fill in basis points.
    #[arg(long, env = "CGAF_SLIPPAGE_BPS", default_value_t = 0.0)]
    pub slippage_bps: f64,
    /// Starting cash.
    #[arg(long, env = "CGAF_CASH", default_value_t = 10_000.0)]
    pub cash: f64,
    /// Largest absolute target position, a fraction of equity in [0, 1].
    #[arg(long, env = "CGAF_MAX_POSITION")]
    pub max_position: Option<f64>,
    /// Flatten and stop when equity falls this fraction below its peak (e.g. 0.2).
    #[arg(long, env = "CGAF_MAX_DRAWDOWN")]
    pub max_drawdown: Option<f64>,
    /// Run even when the market history covers the range only in part (the gaps are recorded
    /// with the run); without it such a run is refused, naming what is covered.
    #[arg(long, env = "CGAF_ALLOW_GAPS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_gaps: bool,
    /// Periods per year for annualised metrics (default: follows the bar interval).
    #[arg(long, env = "CGAF_PERIODS_PER_YEAR")]
    pub periods_per_year: Option<f64>,
    /// Run offline on this CSV of bars (`time_ms,open,high,low,close,volume[,buy_volume,sell_volume]`)
    /// instead of on the service.
    #[arg(long, env = "CGAF_BARS", value_name = "FILE")]
    pub bars: Option<PathBuf>,
    /// Offline: the strategy component to run (default: the built-in of that name).
    #[arg(long, env = "CGAF_PLUGIN", value_name = "FILE.wasm")]
    pub plugin: Option<PathBuf>,
    /// Base URL of the service's API (service mode).
    #[arg(long, env = "CGAF_URL", default_value = "http://127.0.0.1:4202")]
    pub url: String,
    /// API token; default: CGAF_API_TOKEN, then <data-dir>/api-token.
    #[arg(long, env = "CGAF_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Options of `cgaf backtest`.
#[derive(Debug, Clone, Args)]
pub struct BacktestArgs {
    /// Where and on what.
    #[command(flatten)]
    pub target: StrategyTarget,
    /// A strategy parameter, `name=value` (repeatable), e.g. `-p fast=5 -p slow=20`.
    #[arg(long = "param", short = 'p', env = "CGAF_PARAMS", value_delimiter = ';', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Offline: write the decision log to this CSV file.
    #[arg(long, env = "CGAF_DECISIONS", value_name = "FILE")]
    pub decisions: Option<PathBuf>,
}

/// Options of `cgaf sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Where and on what.
    #[command(flatten)]
    pub target: StrategyTarget,
    /// A grid axis, `name=FROM..TO:STEP` or `name=V1,V2,...` (repeatable), e.g.
    /// `-g fast=5..50:5 -g slow=20..200:20`.
    #[arg(
        long = "grid",
        short = 'g',
        env = "CGAF_GRID",
        value_delimiter = ';',
        value_name = "NAME=VALUES",
        required_unless_present = "matrices"
    )]
    pub grid: Vec<String>,
    /// A fixed strategy parameter, `name=value` (repeatable).
    #[arg(long = "param", short = 'p', env = "CGAF_PARAMS", value_delimiter = ';', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Walk-forward splits (0 = none: every point runs over the whole range, best is in sample).
    #[arg(long, env = "CGAF_SPLITS", default_value_t = 0)]
    pub splits: usize,
    /// Metric to optimise: sharpe, sortino, total_return, cagr, calmar, max_drawdown, win_rate,
    /// exposure, volatility (lower is better).
    #[arg(long, env = "CGAF_METRIC", default_value = "sharpe")]
    pub metric: String,
    /// Offline, and a matrix sweep: threads (0 = every core; a matrix sweep runs that many combinations at once).
    #[arg(long, env = "CGAF_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Folder for sweep.json, sweep.csv and heatmap.png.
    #[arg(long, env = "CGAF_OUT", default_value = "sweep-results")]
    pub out: PathBuf,
    /// Sweep the matrix pipeline instead of a strategy: every combination of --k, --solver and
    /// --blender replayed over the stored range of --product, --from, --to (on the database).
    #[arg(long, env = "CGAF_SWEEP_MATRICES", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub matrices: bool,
    /// Matrix sweep: values of k, comma-separated.
    #[arg(long = "k", env = "CGAF_SWEEP_K", value_delimiter = ',', default_value = "4", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub k: Vec<u32>,
    /// Matrix sweep: solvers, comma-separated (min-norm, stochastic[:LAMBDA], ridge[:LAMBDA]).
    #[arg(long = "solver", env = "CGAF_SWEEP_SOLVER", value_delimiter = ',', default_value = "stochastic")]
    pub solver: Vec<String>,
    /// Matrix sweep: blenders, comma-separated, each `NAME[:param=value...]`.
    #[arg(long = "blender", env = "CGAF_SWEEP_BLENDER", value_delimiter = ',', default_value = "blend-mean")]
    pub blender: Vec<String>,
    /// Matrix sweep: its name (its replays are `NAME/k=K/solver=S/blender=B`); default
    /// `sweep-<product>-<now ms>`.
    #[arg(long, env = "CGAF_SWEEP_NAME")]
    pub name: Option<String>,
    /// Matrix sweep: the pipeline's other settings (features, granularities, rollup).
    #[command(flatten)]
    pub matrix: MatrixArgs,
}

/// Options of `cgaf metrics`.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Periods per year used to annualise (365 for daily crypto bars, 252 for trading days,
    /// 8760 for hourly bars); overrides a `periods_per_year` field of the input.
    #[arg(long, env = "CGAF_PERIODS_PER_YEAR")]
    pub periods_per_year: Option<f64>,
}

/// Options of `cgaf plugin`.
#[derive(Debug, Clone, Args)]
pub struct PluginArgs {
    /// Base URL of the service's API.
    #[arg(long, env = "CGAF_URL", default_value = "http://127.0.0.1:4202", global = true)]
    pub url: String,
    /// API token for writes; default: CGAF_API_TOKEN, then <data-dir>/api-token.
    #[arg(long, env = "CGAF_API_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// The action.
    #[command(subcommand)]
    pub action: PluginAction,
}

/// What `cgaf plugin` does.
#[derive(Debug, Clone, Subcommand)]
pub enum PluginAction {
    /// Upload a component (.wasm); `--activate` makes it the active version at once.
    Upload {
        /// The component file.
        file: std::path::PathBuf,
        /// Activate after upload.
        #[arg(long, env = "CGAF_ACTIVATE")]
        activate: bool,
        /// This version's memory limit, e.g. `48MiB`, instead of the one the service chooses
        /// from the upload's measurement (refused above the service's --plugin-memory-limit).
        #[arg(long, env = "CGAF_UPLOAD_MEMORY_LIMIT", value_parser = parse_bytes)]
        memory_limit: Option<u64>,
        /// This version's call deadline, e.g. `300ms`, instead of the chosen one (refused above
        /// the service's --plugin-call-deadline).
        #[arg(long, env = "CGAF_UPLOAD_CALL_DEADLINE", value_parser = parse_duration)]
        call_deadline: Option<Duration>,
    },
    /// List plugins, or show one with its versions and statistics.
    List {
        /// Show only this plugin.
        name: Option<String>,
    },
    /// Make a version the active one on every replica.
    Activate {
        /// Plugin name.
        name: String,
        /// Version to activate (named `plugin_version` inside: `version` is the propagated
        /// `--version` flag's id, and clap refuses two arguments of one id).
        #[arg(value_name = "VERSION")]
        plugin_version: String,
    },
    /// Reactivate the previously active version.
    Rollback {
        /// Plugin name.
        name: String,
    },
    /// Write a new plugin project that builds as it is: the code with one function to edit,
    /// a README and a test.
    New {
        /// What the plugin is.
        #[arg(value_enum)]
        kind: PluginKindArg,
        /// Plugin name (`a-z`, `0-9`, `-`, starting with a letter); also the package name.
        name: String,
        /// Language of the project.
        #[arg(long, env = "CGAF_PLUGIN_LANG", value_enum, default_value_t = crate::plugin_new::PluginLang::Rust)]
        lang: crate::plugin_new::PluginLang,
        /// Folder to create (default: ./NAME).
        #[arg(long, env = "CGAF_PLUGIN_DIR")]
        dir: Option<PathBuf>,
        /// Rust: depend on the SDK at this folder (`plugins/sdk` of a crypto-gaf checkout).
        /// Default: the checkout this cgaf was built from, when it is still there, else the
        /// registry version.
        #[arg(long, env = "CGAF_SDK_PATH", conflicts_with = "sdk_git")]
        sdk_path: Option<PathBuf>,
        /// Rust: depend on the SDK from this git repository (a crypto-gaf clone).
        #[arg(long, env = "CGAF_SDK_GIT")]
        sdk_git: Option<String>,
    },
    /// Build a plugin project (cargo for wasm32-wasip2, or componentize-py) and check the
    /// component the way an upload does.
    Build {
        /// The project folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Python: the componentize-py to use (default: on PATH, else ~/.cache/cgaf-python/venv).
        #[arg(long, env = "CGAF_COMPONENTIZE_PY")]
        componentize_py: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long, env = "CGAF_JSON")]
        json: bool,
    },
    /// Run a component in the service's sandbox and limits, without a server, twice: a
    /// strategy over bars, a transform over a series, a blender over matrices. Fails (non-zero
    /// exit) on any difference between the runs, a fault or a refused call.
    Test {
        /// The component file.
        file: PathBuf,
        /// Strategy: a CSV of bars (`time_ms,open,high,low,close,volume[,buy_volume,sell_volume]`);
        /// default: 5000 random-walk 1-minute bars.
        #[arg(long, env = "CGAF_BARS", value_name = "FILE", conflicts_with_all = ["product", "simulator"])]
        bars: Option<PathBuf>,
        /// Strategy: the bars' length (of the CSV, or of the stored or simulated bars to use).
        #[arg(long, env = "CGAF_BAR_INTERVAL", default_value = "1m")]
        bar_interval: String,
        /// Strategy: a product's stored history, read as runs read it from --database-url, else
        /// from the private PostgreSQL of --data-dir (a running `cgaf serve`'s); with
        /// --simulator, the product simulated (default BTC-USD).
        #[arg(long, env = "CGAF_PRODUCT")]
        product: Option<String>,
        /// Stored range start: RFC 3339 or ms since the epoch (default: the first stored bar).
        #[arg(long, env = "CGAF_FROM", requires = "product")]
        from: Option<String>,
        /// Stored range end, exclusive (default: the newest stored bar).
        #[arg(long, env = "CGAF_TO", requires = "product")]
        to: Option<String>,
        /// Strategy: bars made by the market simulator of `serve --source sim` (a sample every 250 ms).
        #[arg(long, env = "CGAF_SIMULATOR")]
        simulator: bool,
        /// Seed of the simulator (as `serve --sim-seed`).
        #[arg(long = "sim-seed", alias = "seed", env = "CGAF_SIM_SEED", default_value_t = 42)]
        sim_seed: u64,
        /// Bars the simulator makes.
        #[arg(long, env = "CGAF_SIM_BARS", default_value_t = 5000)]
        sim_bars: usize,
        /// Transform: a JSON array of numbers; default: random-walk windows of 16 to 128.
        #[arg(long, env = "CGAF_SERIES", value_name = "FILE")]
        series: Option<PathBuf>,
        /// Blender: a JSON array of square matrices (arrays of rows); default: made-up sets.
        #[arg(long, env = "CGAF_MATRICES", value_name = "FILE")]
        matrices: Option<PathBuf>,
        /// A call parameter, `name=value` (repeatable).
        #[arg(long = "param", short = 'p', env = "CGAF_PARAMS", value_delimiter = ';', value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Transform/blender: write the last result as a grayscale PNG.
        #[arg(long, env = "CGAF_PNG", value_name = "FILE")]
        png: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long, env = "CGAF_JSON")]
        json: bool,
    },
    /// Re-run a failed call the service stored (`GET /api/plugins/{name}/failures/{id}`, read
    /// with --url and --token) in the same sandbox and limits: exit 0 when it fails again with
    /// the same typed error ("reproduced"), or, with --wasm, when the fixed build passes ("fixed").
    Replay {
        /// Plugin name.
        name: String,
        /// Failure id (from `GET /api/plugins/{name}/failures`).
        id: i64,
        /// Run this component instead of the stored one (a fixed build).
        #[arg(long, env = "CGAF_WASM", value_name = "FILE")]
        wasm: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long, env = "CGAF_JSON")]
        json: bool,
    },
    /// Canary a stored version against the active one (`POST /api/plugins/{name}/canary`): it
    /// runs in shadow on live inputs and is promoted on every replica when within tolerance.
    /// Waits for the verdict, printing progress; exits non-zero when it is refused.
    Canary {
        /// Plugin name.
        name: String,
        /// The candidate version (uploaded, not active).
        #[arg(value_name = "VERSION", required_unless_present = "cancel")]
        plugin_version: Option<String>,
        /// Decide after this many live calls were compared.
        #[arg(long, env = "CGAF_CANARY_CALLS")]
        calls: Option<u64>,
        /// Without --calls: decide after this long, e.g. `90s`, `5m` (default 60s). With --calls:
        /// the deadline for them (refused when they do not come in; default 1h).
        #[arg(long, env = "CGAF_CANARY_DURATION")]
        duration: Option<String>,
        /// Tolerance as JSON, e.g. `{"max_latency_ratio": 2, "max_abs_diff": 1e-12}` (strict
        /// defaults: identical outputs, no failure, at most 3× the time and 2× the memory).
        #[arg(long, env = "CGAF_CANARY_TOLERANCE", value_name = "JSON")]
        tolerance: Option<String>,
        /// Start it and return at once, without waiting for the verdict.
        #[arg(long, env = "CGAF_CANARY_NO_WAIT")]
        no_wait: bool,
        /// Cancel the running canary of NAME instead.
        #[arg(long, env = "CGAF_CANARY_CANCEL", conflicts_with_all = ["plugin_version", "calls", "duration", "tolerance"])]
        cancel: bool,
        /// Print the report as JSON.
        #[arg(long, env = "CGAF_JSON")]
        json: bool,
    },
}

/// A plugin kind on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PluginKindArg {
    /// World `strategy`.
    Strategy,
    /// World `image-transform`.
    ImageTransform,
    /// World `blender`.
    Blender,
}

/// A part of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The HTTP API.
    Api,
    /// The collect worker.
    Collect,
    /// The calculate worker.
    Calculate,
    /// The trade worker: backtests, paper runs and sweeps.
    Trade,
}

/// Which market-data source collect reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// The deterministic market simulator (offline).
    Sim,
    /// A coinbase-local compatible REST service.
    CoinbaseLocal,
    /// The public Coinbase Exchange REST API.
    Coinbase,
}

impl From<SourceArg> for cgaf_collect::SourceKind {
    fn from(s: SourceArg) -> Self {
        match s {
            SourceArg::Sim => Self::Sim,
            SourceArg::CoinbaseLocal => Self::CoinbaseLocal,
            SourceArg::Coinbase => Self::Coinbase,
        }
    }
}

/// A size in bytes: `65536`, `64KiB`, `32MiB`, `1GiB`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("{s:?} is not a size like 64KiB: {e}"))
}

/// Options of `cgaf serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Which parts to run (comma-separated).
    #[arg(long, env = "CGAF_ROLES", value_enum, value_delimiter = ',', default_value = "api,collect,calculate,trade")]
    pub roles: Vec<Role>,
    /// Address the API listens on.
    #[arg(long, env = "CGAF_LISTEN", default_value = "127.0.0.1:4202")]
    pub listen: SocketAddr,
    /// Products to make sure exist at start-up, comma-separated; `NAME:SIZE` sets a product's max size.
    #[arg(long, env = "CGAF_PRODUCTS", value_delimiter = ',', default_value = "BTC-USD,ETH-USD,SOL-USD")]
    pub products: Vec<String>,
    /// Samples kept per product (and the largest image edge) when a product names no size.
    #[arg(long, env = "CGAF_MAX_SIZE", default_value_t = 600)]
    pub max_size: i64,
    /// Make the product table equal to --products at start-up: add, resize, and remove the rest.
    #[arg(long, env = "CGAF_SYNC_PRODUCTS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sync_products: bool,
    /// Market-data source.
    #[arg(long, env = "CGAF_SOURCE", value_enum, default_value_t = SourceArg::Sim)]
    pub source: SourceArg,
    /// Base URL of the source (coinbase-local: http://coinbase-local:4201; coinbase: https://api.exchange.coinbase.com).
    #[arg(long, env = "CGAF_SOURCE_URL")]
    pub source_url: Option<Url>,
    /// Price bucket of the aggregated book levels (quote currency; 0 = raw levels).
    #[arg(long, env = "CGAF_AGGREGATION", default_value = "10")]
    pub aggregation: rust_decimal::Decimal,
    /// Book levels per side.
    #[arg(long, env = "CGAF_DEPTH", default_value_t = 3)]
    pub depth: usize,
    /// Timeout of one source request, e.g. `10s`.
    #[arg(long, env = "CGAF_HTTP_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub http_timeout: Duration,
    /// Seed of the market simulator.
    #[arg(long, env = "CGAF_SIM_SEED", default_value_t = 42)]
    pub sim_seed: u64,
    /// Collect schedule: an interval (`250ms`, `1s`) or a cron expression with seconds (`*/2 * * * * *`).
    #[arg(long, env = "CGAF_COLLECT_SCHEDULE", default_value = "250ms")]
    pub collect_schedule: Schedule,
    /// Calculate schedule: an interval or a cron expression.
    #[arg(long, env = "CGAF_CALCULATE_SCHEDULE", default_value = "500ms")]
    pub calculate_schedule: Schedule,
    /// Trade schedule: how often the trade worker advances paper runs and picks up new runs.
    #[arg(long, env = "CGAF_TRADE_SCHEDULE", default_value = "250ms")]
    pub trade_schedule: Schedule,
    /// Threads a parameter sweep uses (0 = every core).
    #[arg(long, env = "CGAF_SWEEP_THREADS", default_value_t = 0)]
    pub sweep_threads: usize,
    /// Coarser bar intervals the history store keeps up to date from the collected 1-second bars
    /// (each from the largest finer one dividing it).
    #[arg(long, env = "CGAF_ROLLUP_INTERVALS", default_value = "1m,5m,15m,1h,1d", value_parser = parse_rollup_intervals)]
    pub rollup_intervals: RollupIntervals,
    /// How long bars of each interval are kept, e.g. `1s=7d,1m=forever` (intervals not named are
    /// kept forever); whole partitions are dropped.
    #[arg(long, env = "CGAF_RETAIN", default_value = "1s=7d")]
    pub retain: cgaf_trade::domain::history::RetentionSpec,
    /// Keep every raw sample this long in the sample archive (sub-second bars, order-book
    /// replay), e.g. `7d`; off unless set.
    #[arg(long, env = "CGAF_KEEP_SAMPLES", value_parser = parse_duration)]
    pub keep_samples: Option<Duration>,
    /// History maintenance schedule: rollups, partitions ahead, retention.
    #[arg(long, env = "CGAF_HISTORY_SCHEDULE", default_value = "10s")]
    pub history_schedule: Schedule,
    /// How long a worker's claim on a product lasts without renewal; after a worker dies, its
    /// products pass to the other replicas within this time.
    #[arg(long, env = "CGAF_LEASE_TTL", default_value = "5s", value_parser = parse_duration)]
    pub lease_ttl: Duration,
    /// Which transform plugin makes each image, e.g. `orderbook=mtf,buy=gasf` (defaults:
    /// midpoint-gasf=gasf, midpoint-gadf=gadf, orderbook=gasf, buy=gasf, sell=gasf).
    #[arg(long, env = "CGAF_IMAGE_TRANSFORMS", value_delimiter = ',')]
    pub image_transforms: Vec<String>,
    /// How the image PNGs are compressed: `small` (zlib level 2, row filter chosen per image;
    /// smaller than Pillow's output, a calculate cycle about twice as long), `fast` (fdeflate; a
    /// quarter larger than Pillow's output) or `auto` (`small` while a calculate cycle takes
    /// under a quarter of the calculate interval, `fast` while calculate is busier). The pixels
    /// are the same either way.
    #[arg(long, env = "CGAF_PNG_ENCODING", default_value = "auto")]
    pub png_encoding: cgaf_calculate::PngEncoding,
    /// Largest CSV accepted by `POST /api/history/imports`, e.g. `256MiB`.
    #[arg(long, env = "CGAF_MAX_IMPORT_BYTES", default_value = "256MiB", value_parser = parse_bytes)]
    pub max_import_bytes: u64,
    /// Largest plugin upload, e.g. `32MiB`.
    #[arg(long, env = "CGAF_MAX_PLUGIN_BYTES", default_value = "32MiB", value_parser = parse_bytes)]
    pub max_plugin_bytes: u64,
    /// Largest JSON request body, e.g. `64KiB`.
    #[arg(long, env = "CGAF_MAX_JSON_BODY", default_value = "64KiB", value_parser = parse_bytes)]
    pub max_json_body: u64,
    /// Sandbox: deadline of one plugin call.
    #[arg(long, env = "CGAF_PLUGIN_CALL_DEADLINE", default_value = "100ms", value_parser = parse_duration)]
    pub plugin_call_deadline: Duration,
    /// Sandbox: deadline of a plugin's `info()` and of creating a strategy instance.
    #[arg(long, env = "CGAF_PLUGIN_INFO_DEADLINE", default_value = "1s", value_parser = parse_duration)]
    pub plugin_info_deadline: Duration,
    /// Sandbox: linear memory of one plugin instance, e.g. `64MiB`.
    #[arg(long, env = "CGAF_PLUGIN_MEMORY_LIMIT", default_value = "64MiB", value_parser = parse_bytes)]
    pub plugin_memory_limit: u64,
    /// Sandbox: most values one plugin result may hold (matrix elements, decisions).
    #[arg(long, env = "CGAF_PLUGIN_MAX_RESULT_VALUES", default_value_t = 1 << 20)]
    pub plugin_max_result_values: usize,
    /// Faults in a row after which a plugin version is quarantined (its previous version reactivated).
    #[arg(long, env = "CGAF_QUARANTINE_AFTER", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub quarantine_after: u32,
    /// Secret (at least 32 bytes, the same on every replica) that signs compiled plugins stored
    /// for other replicas, which then load a new version without compiling it; unset, every
    /// replica compiles each version itself.
    #[arg(long, env = "CGAF_PLUGIN_ARTIFACT_KEY", hide_env_values = true)]
    pub plugin_artifact_key: Option<String>,
    /// Serve the web page at `/` (images, runs, plugins, health); `--ui=false`: `/` is 404.
    #[arg(long = "ui", env = "CGAF_UI", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub ui: bool,
    /// Failed plugin calls kept (with their inputs, for `cgaf plugin replay`) per plugin version.
    #[arg(long, env = "CGAF_PLUGIN_FAILURES_KEPT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub plugin_failures_kept: u32,
    /// Largest inputs kept with a failed plugin call, e.g. `1MiB` (larger ones are not kept).
    #[arg(long, env = "CGAF_PLUGIN_FAILURE_MAX_BYTES", default_value = "1MiB", value_parser = parse_bytes)]
    pub plugin_failure_max_bytes: u64,
    /// Bearer token for API writes; when unset, one is generated and kept in --data-dir/api-token.
    #[arg(long, env = "CGAF_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// The matrix pipeline.
    #[command(flatten)]
    pub matrix: MatrixArgs,
    /// Test-only failpoint: once this many matrix pipeline steps (that consumed samples) have
    /// committed, the process kills itself with SIGKILL, as a crash right after a step would.
    #[arg(long, env = "CGAF_MATRIX_ABORT_AFTER_STEPS", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub matrix_abort_after_steps: Option<u64>,
}

/// Options of `cgaf history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: HistoryCommand,
}

/// `cgaf history` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum HistoryCommand {
    /// Import a CSV of bars (pandas / Backtrader / yfinance style) into the history store, in one
    /// transaction (nothing is written when a row is bad, unless --skip-bad).
    Import(HistoryImportArgs),
    /// Download candles from an exchange into the history store: paged, rate-limited, resumable
    /// and incremental (re-running fetches only what is missing).
    Download(HistoryDownloadArgs),
    /// Export stored bars as CSV (re-importable) or JSON.
    Export(HistoryExportArgs),
    /// List what the history store holds per product and interval: first, last, bars, gaps.
    List,
}

/// Options of `cgaf history import`.
#[derive(Debug, Clone, Args)]
pub struct HistoryImportArgs {
    /// The CSV file: a time column (RFC 3339, `YYYY-MM-DD HH:MM:SS` read as UTC, epoch seconds
    /// or milliseconds) and open, high, low, close, volume; optional buy/sell volume.
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Product the bars are of.
    #[arg(long, env = "CGAF_PRODUCT")]
    pub product: String,
    /// Bar interval of the file, e.g. `1m` (a file whose bars are another interval apart is refused).
    #[arg(long, env = "CGAF_INTERVAL", default_value = "1m")]
    pub interval: String,
    /// Whether the time column stamps a bar's open or its close (`auto`: a column named
    /// close_time is the close, any other the open — as pandas, yfinance and Backtrader write).
    #[arg(long, env = "CGAF_TIME_IS", default_value = "auto")]
    pub time_is: TimeIs,
    /// Write the good rows and report the bad ones instead of refusing the whole file.
    #[arg(long, env = "CGAF_SKIP_BAD", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub skip_bad: bool,
    /// Replace imported bars already stored with other values (collected bars are never replaced).
    #[arg(long, env = "CGAF_REPLACE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub replace: bool,
    /// Where the bars came from, stored with them (default `csv:<file name>`).
    #[arg(long, env = "CGAF_IMPORT_SOURCE")]
    pub source: Option<String>,
    /// Coarser intervals rolled up from the imported bars.
    #[arg(long, env = "CGAF_ROLLUP_INTERVALS", default_value = "1m,5m,15m,1h,1d", value_parser = parse_rollup_intervals)]
    pub rollup_intervals: RollupIntervals,
}

/// Where candles are downloaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CandleSource {
    /// The Coinbase Exchange public candles endpoint.
    Coinbase,
}

impl std::fmt::Display for CandleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("coinbase")
    }
}

/// Options of `cgaf history download`.
#[derive(Debug, Clone, Args)]
pub struct HistoryDownloadArgs {
    /// Product, e.g. `BTC-USD`.
    #[arg(long, env = "CGAF_PRODUCT")]
    pub product: String,
    /// Start: RFC 3339 (`2025-01-01T00:00:00Z`) or ms since the epoch.
    #[arg(long, env = "CGAF_FROM")]
    pub from: String,
    /// End (exclusive): RFC 3339, ms, or `now`.
    #[arg(long, env = "CGAF_TO", default_value = "now")]
    pub to: Option<String>,
    /// Candle interval: 1m, 5m, 15m, 1h, 6h or 1d (what the exchange serves).
    #[arg(long, env = "CGAF_INTERVAL", default_value = "1m")]
    pub interval: String,
    /// The exchange.
    #[arg(long, env = "CGAF_HISTORY_SOURCE", value_enum, default_value_t = CandleSource::Coinbase)]
    pub source: CandleSource,
    /// Base URL of the exchange's REST API (tests point it at a local fake).
    #[arg(long, env = "CGAF_HISTORY_SOURCE_URL", default_value = "https://api.exchange.coinbase.com")]
    pub source_url: String,
    /// Requests per second at most (the public limit is about 10).
    #[arg(long, env = "CGAF_REQUESTS_PER_SECOND", default_value_t = 3.0)]
    pub requests_per_second: f64,
    /// Timeout of one request, e.g. `30s`.
    #[arg(long, env = "CGAF_HTTP_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub http_timeout: Duration,
    /// Coarser intervals rolled up from the downloaded bars.
    #[arg(long, env = "CGAF_ROLLUP_INTERVALS", default_value = "1m,5m,15m,1h,1d", value_parser = parse_rollup_intervals)]
    pub rollup_intervals: RollupIntervals,
}

/// Output format of exported bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BarsFormat {
    /// CSV: `time,open,high,low,close,volume,buy_volume,sell_volume` (re-importable).
    Csv,
    /// A JSON array of bars.
    Json,
}

/// Options of `cgaf history export`.
#[derive(Debug, Clone, Args)]
pub struct HistoryExportArgs {
    /// Product.
    #[arg(long, env = "CGAF_PRODUCT")]
    pub product: String,
    /// Bar interval, e.g. `1m` (a stored interval).
    #[arg(long, env = "CGAF_INTERVAL", default_value = "1m")]
    pub interval: String,
    /// Start (inclusive): ms since the epoch or RFC 3339 (default: the first bar).
    #[arg(long, env = "CGAF_FROM")]
    pub from: Option<String>,
    /// End (exclusive; default: the last bar).
    #[arg(long, env = "CGAF_TO")]
    pub to: Option<String>,
    /// csv or json.
    #[arg(long, env = "CGAF_FORMAT", value_enum, default_value_t = BarsFormat::Csv)]
    pub format: BarsFormat,
    /// Stamp CSV rows at the bar's open (`open`/`auto`, as pandas and Backtrader do) or close.
    #[arg(long, env = "CGAF_TIME_IS", default_value = "auto")]
    pub time_is: TimeIs,
    /// Write to this file (default: standard output).
    #[arg(long, env = "CGAF_OUT", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Options of `cgaf migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Wait up to this long for the database to accept connections, e.g. `60s`.
    #[arg(long, env = "CGAF_MIGRATE_WAIT", default_value = "30s", value_parser = parse_duration)]
    pub wait: Duration,
}

/// Options of `cgaf transform`.
#[derive(Debug, Clone, Args)]
pub struct TransformArgs {
    /// The transform: gasf, gadf, mtf, recurrence-plot.
    pub name: String,
    /// A parameter as pyts names it, `name=value` with the value written as Python would (`8`, `0.5`, `none`, `-1,1`).
    #[arg(
        long = "param",
        short = 'p',
        env = "CGAF_TRANSFORM_PARAMS",
        value_delimiter = ';',
        value_name = "NAME=VALUE"
    )]
    pub params: Vec<String>,
}

/// Options of `cgaf bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Fewer repetitions (for a smoke run).
    #[arg(long, env = "CGAF_BENCH_QUICK")]
    pub quick: bool,
    /// Skip the HTTP load test.
    #[arg(long, env = "CGAF_BENCH_NO_HTTP")]
    pub no_http: bool,
    /// Skip the Backtrader baseline (it installs backtrader into a virtualenv and takes ~2 min on 1M bars).
    #[arg(long, env = "CGAF_BENCH_NO_BACKTRADER")]
    pub no_backtrader: bool,
    /// Skip the vectorbt baseline of the sweep benchmark (it installs vectorbt, numba and pandas into a
    /// virtualenv, ~1 min the first time).
    #[arg(long, env = "CGAF_BENCH_NO_VECTORBT")]
    pub no_vectorbt: bool,
    /// Seconds each HTTP load run lasts.
    #[arg(long, env = "CGAF_BENCH_HTTP_SECONDS", default_value_t = 10)]
    pub http_seconds: u64,
    /// Run only these parts (comma-separated): calculate, plugins, gasf, backtest, sweep, run-path, http
    /// (default: all).
    #[arg(long, env = "CGAF_BENCH_ONLY", value_enum, value_delimiter = ',')]
    pub only: Vec<BenchPart>,
    /// 1-minute bars of the run-path benchmark (CSV import, history read, POST /api/runs and
    /// Backtrader on the same file); default a year (525600), 20000 with --quick.
    #[arg(long, env = "CGAF_BENCH_HISTORY_BARS", value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub history_bars: Option<u64>,
    /// Print only the scale tables: the calculate cycle against the image edge, `/api/gaf/image`
    /// against connections and against the image edge, products served on time and memory per
    /// product, sweep throughput against cores (`--only calculate,http,products,sweep` picks
    /// among them).
    #[arg(long, env = "CGAF_BENCH_SCALE")]
    pub scale: bool,
    /// Product counts of the products-on-time steps of `--scale` (comma-separated).
    #[arg(long, env = "CGAF_BENCH_SCALE_PRODUCTS", value_delimiter = ',', default_value = "10,50,100,300",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub scale_products: Vec<u32>,
    /// Seconds each products-on-time step measures (after a warm-up of at most as long).
    #[arg(long, env = "CGAF_BENCH_SCALE_STEP_SECONDS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub scale_step_seconds: u64,
    /// Samples per product (the image edge) of the products-on-time steps.
    #[arg(long, env = "CGAF_BENCH_SCALE_EDGE", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(21..=1024))]
    pub scale_edge: u64,
}

/// Splits repeated `NAME=VALUE` options (`--param`, `--grid`) into trimmed pairs; the error names
/// the first entry without `=`.
pub fn name_value_pairs(entries: &[String]) -> Result<Vec<(String, String)>, String> {
    entries
        .iter()
        .map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("parameter {e:?} must be written name=value"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every flag of every command (what `cgaf <command> --help` lists), with the command path.
    pub(super) fn flags(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !arg.is_positional() && !builtin {
                out.push((path.to_string(), arg.clone()));
            }
        }
        for sub in cmd.get_subcommands() {
            flags(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_of_every_command_has_a_cgaf_env_twin() {
        let mut all = Vec::new();
        flags(&Cli::command(), "cgaf", &mut all);
        assert!(all.len() > 60, "walked only {} flags", all.len());
        let missing: Vec<String> = all
            .iter()
            // The conventional DATABASE_URL is a hidden fallback of --database-url, not a flag.
            .filter(|(_, a)| !a.is_hide_set())
            .filter(|(_, a)| !a.get_env().and_then(|e| e.to_str()).is_some_and(|e| e.starts_with("CGAF_")))
            .map(|(cmd, a)| format!("{cmd} --{}", a.get_long().unwrap_or("?")))
            .collect();
        assert!(missing.is_empty(), "flags without a CGAF_* twin: {missing:?}");
    }

    #[test]
    fn a_matrix_sweep_takes_lists_and_needs_no_grid() {
        let cli = Cli::try_parse_from([
            "cgaf",
            "sweep",
            "--matrices",
            "--product",
            "ETH-USD",
            "--k",
            "2,4,8",
            "--solver",
            "min-norm,stochastic",
            "--blender",
            "blend-mean,blend-ewma:alpha=0.3",
        ])
        .unwrap();
        let Command::Sweep(a) = cli.command else { panic!("not a sweep") };
        assert!(a.matrices);
        assert_eq!(a.k, [2, 4, 8]);
        assert_eq!(a.solver, ["min-norm", "stochastic"]);
        assert_eq!(a.blender, ["blend-mean", "blend-ewma:alpha=0.3"]);
        assert_eq!(a.target.product, "ETH-USD");
        // A strategy sweep still needs its grid, and k is at least 1.
        assert!(Cli::try_parse_from(["cgaf", "sweep"]).is_err());
        assert!(Cli::try_parse_from(["cgaf", "sweep", "--matrices", "--k", "0"]).is_err());
    }

    #[test]
    fn help_shows_the_env_twins() {
        for sub in ["serve", "backtest", "sweep", "bench", "metrics", "transform", "migrate"] {
            let mut cmd = Cli::command();
            let help = cmd.find_subcommand_mut(sub).expect(sub).render_long_help().to_string();
            assert!(help.contains("[env: CGAF_"), "{sub} --help lists no env twin");
        }
    }

    #[test]
    fn env_twins_are_read() {
        // clap reads the twin when the flag is absent: check one typed flag end to end.
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").unwrap();
        let ttl = serve.get_arguments().find(|a| a.get_id() == "lease_ttl").unwrap();
        assert_eq!(ttl.get_env().unwrap(), "CGAF_LEASE_TTL");
        Cli::command().debug_assert();
    }
}

#[cfg(test)]
mod readme_tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_readme_documents_every_flag_and_its_env_twin() {
        let readme = include_str!("../../README.md");
        let mut all = Vec::new();
        super::tests::flags(&Cli::command(), "cgaf", &mut all);
        let mut missing = Vec::new();
        for (cmd, arg) in all.iter().filter(|(_, a)| !a.is_hide_set()) {
            let long = format!("--{}", arg.get_long().unwrap_or_default());
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default().to_string();
            if !readme.contains(&format!("`{long}")) && !readme.contains(&format!(" {long}`")) {
                missing.push(format!("{cmd} {long}"));
            }
            let family = env.trim_end_matches(|c: char| c != '_').to_string() + "*";
            if !readme.contains(&env) && !readme.contains(&family) {
                missing.push(format!("{cmd} {long}: {env}"));
            }
        }
        assert!(missing.is_empty(), "README's Configuration lacks: {missing:#?}");
    }
}

/// Rollup intervals in milliseconds, sorted (a newtype so clap does not read it as a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupIntervals(pub Vec<i64>);

fn parse_rollup_intervals(s: &str) -> Result<RollupIntervals, String> {
    let v = cgaf_trade::domain::history::settings::parse_intervals(s)?;
    let settings = cgaf_trade::domain::history::HistorySettings { rollup_intervals: v.clone(), ..Default::default() };
    settings.validate()?;
    Ok(RollupIntervals(v))
}

/// A part of `cgaf bench` (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchPart {
    /// The calculate cycle, via plugins and native.
    Calculate,
    /// Plugin call overhead, GASF via plugin vs native, sma-cross through the sandbox.
    Plugins,
    /// GASF batches and single-call latency.
    Gasf,
    /// The in-process backtest (sandbox) vs Backtrader.
    Backtest,
    /// The SMA-cross sweep (10 x 10 grid, strategy in the sandbox) vs vectorbt on the same bars;
    /// with `--scale`, its throughput on 1, 2, … threads.
    Sweep,
    /// The run path: CSV import, history read, `POST /api/runs` and a sweep on a service vs
    /// Backtrader's `GenericCSVData` on the same file.
    RunPath,
    /// `/api/gaf/image` under load.
    Http,
    /// The matrix pipeline per sample (features, rollups, solve, blend through the sandbox,
    /// forecast, score), in memory over a simulated day of one product.
    Matrix,
    /// A hot swap on two replicas: upload with `activate=true` to one, time until the other
    /// serves the new version — compiled code shared vs each replica compiling.
    HotSwap,
    /// With `--scale`: products served on time at 4 samples/s each, CPU, RSS and memory per
    /// product (a `cgaf serve` per product count on a private PostgreSQL).
    Products,
    /// A Python plugin (built with componentize-py): cold and warm upload-to-ready times, and a
    /// strategy call of 10,000 bars in Python vs Rust. Runs only when named.
    PythonPlugin,
}
