//! Command-line interface: every flag has a `CGAF_*` environment twin.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
    /// Largest number of pooled database connections.
    #[arg(long, env = "CGAF_DB_POOL_SIZE", global = true, default_value_t = 16)]
    pub db_pool_size: usize,
    /// Folder for the private PostgreSQL and the generated API token.
    #[arg(long, env = "CGAF_DATA_DIR", global = true, default_value = "./.cgaf")]
    pub data_dir: PathBuf,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `cgaf=debug,warn`.
    #[arg(long, env = "CGAF_LOG", global = true, default_value = "info,tokio_postgres=warn")]
    pub log: String,
    /// Log format.
    #[arg(long, env = "CGAF_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
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
}

/// Options of `cgaf metrics`.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Periods per year used to annualise (365 for daily crypto bars, 252 for trading days,
    /// 8760 for hourly bars); overrides a `periods_per_year` field of the input.
    #[arg(long)]
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
        #[arg(long)]
        activate: bool,
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
        /// Version to activate.
        version: String,
    },
    /// Reactivate the previously active version.
    Rollback {
        /// Plugin name.
        name: String,
    },
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
}

/// Options of `cgaf serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Which parts to run (comma-separated).
    #[arg(long, env = "CGAF_ROLES", value_enum, value_delimiter = ',', default_value = "api,collect,calculate")]
    pub roles: Vec<Role>,
    /// Address the API listens on.
    #[arg(long, env = "CGAF_LISTEN", default_value = "127.0.0.1:4202")]
    pub listen: String,
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
    #[arg(long, env = "CGAF_SOURCE", default_value = "sim")]
    pub source: String,
    /// Base URL of the source (coinbase-local: http://coinbase-local:4201; coinbase: https://api.exchange.coinbase.com).
    #[arg(long, env = "CGAF_SOURCE_URL")]
    pub source_url: Option<String>,
    /// Price bucket of the aggregated book levels (quote currency).
    #[arg(long, env = "CGAF_AGGREGATION", default_value = "10")]
    pub aggregation: String,
    /// Book levels per side.
    #[arg(long, env = "CGAF_DEPTH", default_value_t = 3)]
    pub depth: usize,
    /// Timeout of one source request, e.g. `10s`.
    #[arg(long, env = "CGAF_HTTP_TIMEOUT", default_value = "10s")]
    pub http_timeout: String,
    /// Seed of the market simulator.
    #[arg(long, env = "CGAF_SIM_SEED", default_value_t = 42)]
    pub sim_seed: u64,
    /// Collect schedule: an interval (`250ms`, `1s`) or a cron expression with seconds (`*/2 * * * * *`).
    #[arg(long, env = "CGAF_COLLECT_SCHEDULE", default_value = "250ms")]
    pub collect_schedule: String,
    /// Calculate schedule: an interval or a cron expression.
    #[arg(long, env = "CGAF_CALCULATE_SCHEDULE", default_value = "500ms")]
    pub calculate_schedule: String,
    /// How long a worker's claim on a product lasts without renewal; after a worker dies, its
    /// products pass to the other replicas within this time.
    #[arg(long, env = "CGAF_LEASE_TTL", default_value = "5s")]
    pub lease_ttl: String,
    /// Which transform plugin makes each image, e.g. `orderbook=mtf,buy=gasf` (defaults:
    /// midpoint-gasf=gasf, midpoint-gadf=gadf, orderbook=gasf, buy=gasf, sell=gasf).
    #[arg(long, env = "CGAF_IMAGE_TRANSFORMS", value_delimiter = ',')]
    pub image_transforms: Vec<String>,
    /// Largest plugin upload, bytes.
    #[arg(long, env = "CGAF_MAX_PLUGIN_BYTES", default_value_t = 32 << 20)]
    pub max_plugin_bytes: u64,
    /// Bearer token for API writes; when unset, one is generated and kept in --data-dir/api-token.
    #[arg(long, env = "CGAF_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
}

/// Options of `cgaf migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Wait up to this long for the database to accept connections, e.g. `60s`.
    #[arg(long, env = "CGAF_MIGRATE_WAIT", default_value = "30s")]
    pub wait: String,
}

/// Options of `cgaf transform`.
#[derive(Debug, Clone, Args)]
pub struct TransformArgs {
    /// The transform: gasf, gadf, mtf, recurrence-plot.
    pub name: String,
    /// A parameter as pyts names it, `name=value` with the value written as Python would (`8`, `0.5`, `none`, `-1,1`).
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

/// Options of `cgaf bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Fewer repetitions (for a smoke run).
    #[arg(long)]
    pub quick: bool,
    /// Skip the HTTP load test.
    #[arg(long)]
    pub no_http: bool,
    /// Seconds each HTTP load run lasts.
    #[arg(long, default_value_t = 10)]
    pub http_seconds: u64,
}
