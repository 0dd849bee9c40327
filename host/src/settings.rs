//! Typed settings, built from the parsed command line and validated before anything starts:
//! a bad flag fails here, before the database is touched, migrations run or plugins load.
//! Libraries never read flags or environment variables; they take these typed values.

use crate::cli::{GlobalArgs, MatrixArgs, Role, ServeArgs};
use crate::schedule::Schedule;
use anyhow::{Context, Result};
use cgaf_calculate::matrix::pipeline::{LaneSettings, PipelineSettings};
use cgaf_calculate::matrix::rollup::Aggregation;
use cgaf_calculate::matrix::solver::SolverMode;
use cgaf_calculate::ImageTransforms;
use cgaf_collect::SourceSettings;
use cgaf_runtime::RuntimeSettings;
use cgaf_store::Product;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A configured server (URL or libpq key=value string).
    Configured(String),
    /// The private PostgreSQL in `data_dir`, run as `pg_user` when cgaf runs as root.
    Embedded {
        /// Folder holding the cluster (`<data_dir>/postgres`).
        data_dir: PathBuf,
        /// System user that runs the server when the caller is root.
        pg_user: String,
    },
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Which server.
    pub target: DatabaseTarget,
    /// Largest number of pooled connections.
    pub pool_size: usize,
}

impl DatabaseSettings {
    /// From the global flags: --database-url, then `DATABASE_URL`, then --db-host and friends,
    /// else the private server.
    pub fn from_args(g: &GlobalArgs) -> Self {
        Self { target: database_target(g), pool_size: g.db_pool_size }
    }
}

fn database_target(g: &GlobalArgs) -> DatabaseTarget {
    let nonempty = |u: &Option<String>| u.clone().filter(|u| !u.is_empty());
    if let Some(u) = nonempty(&g.database_url).or_else(|| nonempty(&g.database_url_fallback)) {
        return DatabaseTarget::Configured(u);
    }
    let Some(host) = nonempty(&g.db_host) else {
        return DatabaseTarget::Embedded { data_dir: g.data_dir.clone(), pg_user: g.pg_user.clone() };
    };
    // key=value form: no URL escaping problems with passwords containing ':' or '/'.
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut s =
        format!("host={} port={} user={} dbname={}", quote(&host), g.db_port, quote(&g.db_user), quote(&g.db_name));
    if let Some(pw) = &g.db_password {
        s.push_str(&format!(" password={}", quote(pw)));
    }
    DatabaseTarget::Configured(s)
}

/// The plugin sandbox and its accounting.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    /// wasmtime limits, compile cache and allowed imports.
    pub runtime: RuntimeSettings,
    /// Faults in a row after which a version is quarantined.
    pub quarantine_after: u32,
    /// Failed calls kept per plugin version (the newest).
    pub failures_kept: i64,
    /// Largest inputs kept with a failed call, bytes (larger inputs are not kept).
    pub failure_max_bytes: u64,
}

/// Failed calls kept per plugin version, when not configured.
pub const DEFAULT_FAILURES_KEPT: i64 = 20;
/// Largest inputs kept with a failed call, when not configured.
pub const DEFAULT_FAILURE_MAX_BYTES: u64 = 1 << 20;

/// Faults in a row after which a plugin version is quarantined, when not configured.
pub const DEFAULT_QUARANTINE_AFTER: u32 = 5;

impl PluginSettings {
    /// Today's defaults, with the compile cache in `data_dir`.
    pub fn defaults(data_dir: &Path) -> Self {
        Self {
            runtime: runtime_with_cache(RuntimeSettings::default(), data_dir),
            quarantine_after: DEFAULT_QUARANTINE_AFTER,
            failures_kept: DEFAULT_FAILURES_KEPT,
            failure_max_bytes: DEFAULT_FAILURE_MAX_BYTES,
        }
    }
}

/// `runtime` with wasmtime's compile cache in `<data_dir>/wasm-cache` (an absolute path: wasmtime
/// wants one, and `--data-dir` defaults to the relative `./.cgaf`).
pub fn runtime_with_cache(runtime: RuntimeSettings, data_dir: &Path) -> RuntimeSettings {
    let dir = data_dir.join("wasm-cache");
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    RuntimeSettings { cache_dir: Some(dir), ..runtime }
}

/// Limits of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// The configured write token, if any (else one is generated into the data folder).
    pub token: Option<String>,
    /// Largest JSON request body, bytes.
    pub max_json_body: u64,
    /// Largest plugin upload, bytes.
    pub max_plugin_bytes: u64,
    /// Largest CSV import, bytes.
    pub max_import_bytes: u64,
    /// Whether `GET /` serves the web page.
    pub ui: bool,
}

/// Everything `cgaf serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The database.
    pub database: DatabaseSettings,
    /// Data folder (private PostgreSQL, token, compile cache).
    pub data_dir: PathBuf,
    /// Which parts run.
    pub roles: Vec<Role>,
    /// API (or health/metrics) address.
    pub listen: SocketAddr,
    /// Products ensured at start-up.
    pub products: Vec<Product>,
    /// Make the product table equal `products`.
    pub sync_products: bool,
    /// Market source.
    pub source: SourceSettings,
    /// Collect ticks.
    pub collect_schedule: Schedule,
    /// Calculate ticks.
    pub calculate_schedule: Schedule,
    /// Trade worker ticks.
    pub trade_schedule: Schedule,
    /// Threads of a parameter sweep (resolved: never 0).
    pub sweep_threads: usize,
    /// What the history store keeps.
    pub history: cgaf_trade::domain::history::HistorySettings,
    /// History maintenance ticks.
    pub history_schedule: Schedule,
    /// Worker lease time-to-live.
    pub lease_ttl: Duration,
    /// Which transform makes each image.
    pub image_transforms: ImageTransforms,
    /// How the image PNGs are compressed.
    pub png_encoding: cgaf_calculate::PngEncoding,
    /// Plugin sandbox.
    pub plugins: PluginSettings,
    /// API limits and token.
    pub api: ApiLimits,
    /// The matrix pipeline of the calculate worker (none when off).
    pub matrix: Option<PipelineSettings>,
    /// Test-only: kill the process (SIGKILL) right after this many matrix steps committed.
    pub matrix_abort_after_steps: Option<u64>,
}

impl ServeSettings {
    /// Builds and checks every setting; nothing is started.
    pub fn from_args(g: &GlobalArgs, a: &ServeArgs) -> Result<Self> {
        let products = parse_products(&a.products, a.max_size).context("--products")?;
        let source = SourceSettings {
            kind: a.source.into(),
            url: a.source_url.as_ref().map(|u| u.as_str().trim_end_matches('/').to_string()),
            aggregation: a.aggregation,
            depth: a.depth,
            http_timeout: a.http_timeout,
            seed: a.sim_seed,
        };
        source.validate().map_err(|e| anyhow::anyhow!("{e}")).context("source settings")?;
        let image_transforms =
            ImageTransforms::parse(&a.image_transforms).map_err(anyhow::Error::msg).context("--image-transforms")?;
        if a.roles.is_empty() {
            anyhow::bail!("--roles: name at least one of api, collect, calculate, trade");
        }
        let sweep_threads = if a.sweep_threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            a.sweep_threads
        };
        let memory_limit = usize::try_from(a.plugin_memory_limit).context("--plugin-memory-limit")?;
        let runtime = RuntimeSettings {
            call_deadline: a.plugin_call_deadline,
            info_deadline: a.plugin_info_deadline,
            memory_limit,
            max_result_values: a.plugin_max_result_values,
            artifact_key: match a.plugin_artifact_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
                Some(k) => Some(cgaf_runtime::ArtifactKey::new(k.as_bytes()).context("--plugin-artifact-key")?),
                None => None,
            },
            ..RuntimeSettings::default()
        };
        Ok(Self {
            database: DatabaseSettings::from_args(g),
            data_dir: g.data_dir.clone(),
            roles: a.roles.clone(),
            listen: a.listen,
            products,
            sync_products: a.sync_products,
            source,
            collect_schedule: a.collect_schedule.clone(),
            calculate_schedule: a.calculate_schedule.clone(),
            trade_schedule: a.trade_schedule.clone(),
            sweep_threads,
            history: cgaf_trade::domain::history::HistorySettings {
                rollup_intervals: a.rollup_intervals.0.clone(),
                retention: a.retain.clone(),
                keep_samples_ms: a.keep_samples.map(|d| d.as_millis().min(i64::MAX as u128) as i64),
            },
            history_schedule: a.history_schedule.clone(),
            lease_ttl: a.lease_ttl,
            image_transforms,
            png_encoding: a.png_encoding,
            plugins: PluginSettings {
                runtime: runtime_with_cache(runtime, &g.data_dir),
                quarantine_after: a.quarantine_after,
                failures_kept: i64::from(a.plugin_failures_kept),
                failure_max_bytes: a.plugin_failure_max_bytes,
            },
            api: ApiLimits {
                token: a.api_token.clone().filter(|t| !t.trim().is_empty()),
                max_json_body: a.max_json_body,
                max_plugin_bytes: a.max_plugin_bytes,
                max_import_bytes: a.max_import_bytes,
                ui: a.ui,
            },
            matrix: if a.matrix.matrix { Some(matrix_settings(&a.matrix)?) } else { None },
            matrix_abort_after_steps: a.matrix_abort_after_steps,
        })
    }

    /// Whether this process runs `role`.
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// `GRAN=VALUE` → (granularity ms, value); `VALUE` → (none, value).
fn per_granularity(entry: &str) -> Result<(Option<i64>, &str)> {
    let entry = entry.trim();
    match entry.split_once('=') {
        // A blender parameter (`name:alpha=0.3`) also holds '=': a granularity has no ':'.
        Some((g, v)) if !g.contains(':') => {
            let d = crate::schedule::parse_duration(g).map_err(anyhow::Error::msg)?;
            Ok((Some(d.as_millis().min(i64::MAX as u128) as i64), v.trim()))
        }
        _ => Ok((None, entry)),
    }
}

/// The value for granularity `g` among `entries` (a `GRAN=` entry wins over a plain one).
fn value_for<'a>(entries: &'a [(Option<i64>, &'a str)], g: i64, default: &'a str) -> &'a str {
    entries
        .iter()
        .find(|(eg, _)| *eg == Some(g))
        .or_else(|| entries.iter().rev().find(|(eg, _)| eg.is_none()))
        .map_or(default, |(_, v)| v)
}

/// `NAME[:param=value...]` → (name, parameters).
pub fn parse_blender_spec(spec: &str) -> Result<(String, Vec<(String, String)>)> {
    let b = cgaf_calculate::matrix::sweep::SweepBlender::parse(spec)?;
    Ok((b.name, b.params))
}

/// Builds and checks the matrix pipeline's settings from its flags.
pub fn matrix_settings(a: &MatrixArgs) -> Result<PipelineSettings> {
    use cgaf_calculate::matrix::features::{Feature, FeatureSet};
    let features = a.matrix_features.iter().map(|f| Feature::parse(f)).collect::<Result<Vec<_>, _>>()?;
    let features = FeatureSet::new(features, a.matrix_depth, a.matrix_return_scale).context("--matrix-features")?;
    let aggregation = Aggregation::parse(&a.matrix_rollup).context("--matrix-rollup")?;
    let solvers =
        a.matrix_solver.iter().map(|e| per_granularity(e)).collect::<Result<Vec<_>>>().context("--matrix-solver")?;
    let blenders =
        a.matrix_blender.iter().map(|e| per_granularity(e)).collect::<Result<Vec<_>>>().context("--matrix-blender")?;
    let mut lanes: Vec<LaneSettings> = Vec::new();
    for d in &a.matrix_granularities {
        let g = i64::try_from(d.as_millis()).context("--matrix-granularities")?;
        if g <= 0 || lanes.iter().any(|l| l.granularity_ms == g) {
            anyhow::bail!("--matrix-granularities: {g} ms is zero or listed twice");
        }
        let solver = SolverMode::parse(value_for(&solvers, g, "stochastic")).context("--matrix-solver")?;
        let (blender, blender_params) =
            parse_blender_spec(value_for(&blenders, g, "blend-mean")).context("--matrix-blender")?;
        lanes.push(LaneSettings { granularity_ms: g, solver, blender, blender_params, k: a.matrix_k as usize });
    }
    for (g, _) in solvers.iter().chain(&blenders) {
        if let Some(g) = g {
            if !lanes.iter().any(|l| l.granularity_ms == *g) {
                anyhow::bail!("--matrix-solver/--matrix-blender name {g} ms, which is not in --matrix-granularities");
            }
        }
    }
    if lanes.is_empty() {
        anyhow::bail!("--matrix-granularities: name at least one");
    }
    Ok(PipelineSettings { features, aggregation, lanes })
}

/// Parses `--products` entries (`NAME` or `NAME:SIZE`).
pub fn parse_products(entries: &[String], default_size: i64) -> Result<Vec<Product>> {
    let mut out: Vec<Product> = Vec::new();
    for e in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let (name, size) = match e.split_once(':') {
            Some((n, s)) => (n.trim(), s.trim().parse::<i64>().with_context(|| format!("size of product {n:?}"))?),
            None => (e, default_size),
        };
        cgaf_store::products::validate_product_id(name).map_err(|m| anyhow::anyhow!("product {name:?}: {m}"))?;
        let max_size =
            cgaf_store::products::validate_max_size(size).map_err(|m| anyhow::anyhow!("product {name:?}: {m}"))?;
        if out.iter().any(|p| p.product == name) {
            anyhow::bail!("product {name:?} is listed twice");
        }
        out.push(Product { product: name.to_string(), max_size });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn serve(args: &[&str]) -> Result<ServeSettings> {
        let cli = Cli::try_parse_from(std::iter::once("cgaf").chain(args.iter().copied()))?;
        match &cli.command {
            Command::Serve(a) => ServeSettings::from_args(&cli.global, a),
            _ => unreachable!("serve"),
        }
    }

    #[test]
    fn products_parse_with_sizes() {
        let p = parse_products(&["BTC-USD:300".into(), " ETH-USD".into(), "".into()], 600).unwrap();
        assert_eq!(p[0], Product { product: "BTC-USD".into(), max_size: 300 });
        assert_eq!(p[1], Product { product: "ETH-USD".into(), max_size: 600 });
        assert!(parse_products(&["BTC-USD".into(), "BTC-USD".into()], 600).is_err());
        assert!(parse_products(&["BTC USD".into()], 600).is_err());
        assert!(parse_products(&["BTC-USD:5".into()], 600).is_err());
    }

    #[test]
    fn defaults_are_todays_values() {
        let s = serve(&["serve"]).unwrap();
        assert_eq!(s.lease_ttl, Duration::from_secs(5));
        assert_eq!(s.plugins.quarantine_after, 5);
        assert_eq!(s.plugins.runtime.call_deadline, RuntimeSettings::default().call_deadline);
        assert_eq!(s.plugins.runtime.memory_limit, RuntimeSettings::default().memory_limit);
        assert_eq!(s.plugins.runtime.max_result_values, RuntimeSettings::default().max_result_values);
        assert_eq!(s.api.max_json_body, 64 * 1024);
        assert_eq!(s.api.max_plugin_bytes, 32 << 20);
        assert_eq!(s.roles, [Role::Api, Role::Collect, Role::Calculate, Role::Trade]);
        assert!(s.sweep_threads >= 1);
        assert!(matches!(s.database.target, DatabaseTarget::Embedded { .. }));
    }

    #[test]
    fn matrix_pipeline_settings_per_granularity() {
        let m = serve(&["serve"]).unwrap().matrix.unwrap();
        assert_eq!(m.lanes.iter().map(|l| l.granularity_ms).collect::<Vec<_>>(), [5_000, 15_000]);
        assert!(m.lanes.iter().all(|l| l.blender == "blend-mean" && l.k == 4 && l.solver.name() == "stochastic"));
        assert_eq!(m.features.key(), "book-imbalance@3,midpoint-return@0.0001,taker-flow");
        let m = serve(&[
            "serve",
            "--matrix-granularities",
            "1s,3s",
            "--matrix-solver",
            "min-norm,3s=stochastic:0.5",
            "--matrix-blender",
            "1s=blend-ewma:alpha=0.3,blend-product",
            "--matrix-features",
            "taker-flow,book-imbalance",
            "--matrix-depth",
            "2",
            "--matrix-k",
            "7",
        ])
        .unwrap()
        .matrix
        .unwrap();
        let (a, b) = (&m.lanes[0], &m.lanes[1]);
        assert_eq!((a.solver.to_string().as_str(), b.solver.to_string().as_str()), ("min-norm", "stochastic:0.5"));
        assert_eq!(
            (a.blender.as_str(), a.blender_params.clone()),
            ("blend-ewma", vec![("alpha".into(), "0.3".into())])
        );
        assert_eq!((b.blender.as_str(), b.k), ("blend-product", 7));
        assert_eq!(m.features.key(), "taker-flow,book-imbalance@2");
        assert!(serve(&["serve", "--matrix", "false"]).unwrap().matrix.is_none());
        for bad in [
            ["--matrix-solver", "lasso"],
            ["--matrix-solver", "7s=min-norm"],
            ["--matrix-blender", "Bad Name"],
            ["--matrix-features", "volume"],
            ["--matrix-rollup", "median"],
            ["--matrix-granularities", "5s,5s"],
        ] {
            assert!(serve(&["serve", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sandbox_and_limits_are_settings() {
        let s = serve(&[
            "serve",
            "--plugin-call-deadline",
            "250ms",
            "--plugin-memory-limit",
            "16MiB",
            "--quarantine-after",
            "2",
            "--max-json-body",
            "1KiB",
        ])
        .unwrap();
        assert_eq!(s.plugins.runtime.call_deadline, Duration::from_millis(250));
        assert_eq!(s.plugins.runtime.memory_limit, 16 << 20);
        assert_eq!(s.plugins.quarantine_after, 2);
        assert_eq!(s.api.max_json_body, 1024);
    }

    #[test]
    fn bad_flags_fail_at_parse_time() {
        for bad in [
            &["serve", "--lease-ttl", "soon"][..],
            &["serve", "--lease-ttl", "0s"],
            &["serve", "--collect-schedule", "* * *"],
            &["serve", "--source", "kraken"],
            &["serve", "--source-url", "not a url"],
            &["serve", "--listen", "localhost"],
            &["serve", "--quarantine-after", "0"],
            &["serve", "--max-json-body", "lots"],
        ] {
            assert!(serve(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(serve(&["serve", "--products", "BTC USD"]).is_err());
        assert!(serve(&["serve", "--image-transforms", "nope"]).is_err());
    }

    #[test]
    fn database_target_order() {
        let cli = Cli::try_parse_from(["cgaf", "--database-url-fallback", "postgres://b", "migrate"]).unwrap();
        assert_eq!(database_target(&cli.global), DatabaseTarget::Configured("postgres://b".into()));
        let cli = Cli::try_parse_from([
            "cgaf",
            "--database-url",
            "postgres://a",
            "--database-url-fallback",
            "postgres://b",
            "migrate",
        ])
        .unwrap();
        assert_eq!(database_target(&cli.global), DatabaseTarget::Configured("postgres://a".into()));
        let cli = Cli::try_parse_from(["cgaf", "--db-host", "h", "--db-password", "p'w", "migrate"]).unwrap();
        assert_eq!(
            database_target(&cli.global),
            DatabaseTarget::Configured("host='h' port=5432 user='postgres' dbname='postgres' password='p\\'w'".into())
        );
    }
}
