//! `cgaf backtest` and `cgaf sweep`: on a running service (the run or sweep is created through the
//! API and followed with a progress bar), or offline on a CSV of bars.

use crate::cli::{name_value_pairs, BacktestArgs, GlobalArgs, StrategyTarget, SweepArgs};
use crate::plugin_cli::{answer, resolve_token};
use anyhow::{bail, Context, Result};
use cgaf_runtime::{Plugin, PluginHost};
use cgaf_trade::domain::request::{params_of, split_strategy, RiskArgs, TimeArg};
use cgaf_trade::domain::{
    drive, parse_interval, periods_per_year, results_csv, run_sweep, Axis, Bar, DecisionCsv, DriveOptions, Portfolio,
    RunMode, RunRequest, RunSettings, Series, StrategyError, SweepRequest,
};
use cgaf_trade::PluginStrategy;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A progress bar on a terminal, a progress line every few seconds otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    last_line: Instant,
}

impl Progress {
    fn new(what: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} {bar:40.cyan/blue} {pos}/{len} ({percent}%) {per_sec} eta {eta}")
            {
                b.set_style(style);
            }
            b.set_prefix(what);
            b
        });
        Progress { bar, what, last_line: Instant::now() }
    }

    fn set(&mut self, done: u64, total: u64) {
        match &self.bar {
            Some(b) => {
                b.set_length(total);
                b.set_position(done);
            }
            None if self.last_line.elapsed() >= Duration::from_secs(2) && total > 0 => {
                eprintln!("{}: {done}/{total} ({:.0}%)", self.what, done as f64 * 100.0 / total as f64);
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn name_value(entries: &[String], what: &str) -> Result<Map<String, Value>> {
    let pairs = name_value_pairs(entries).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

fn time_arg(s: &Option<String>) -> Option<TimeArg> {
    s.as_ref().map(|t| TimeArg::Text(t.clone()))
}

fn risk(t: &StrategyTarget) -> RiskArgs {
    RiskArgs { max_position: t.max_position, max_drawdown: t.max_drawdown }
}

/// Reads a CSV of bars: `time_ms,open,high,low,close,volume` and optionally `buy_volume,sell_volume`.
pub fn read_bars(path: &Path) -> Result<Vec<Bar>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let need = |name: &str| col(name).with_context(|| format!("{}: no {name:?} column", path.display()));
    let (t, o, h, l, c, v) =
        (need("time_ms")?, need("open")?, need("high")?, need("low")?, need("close")?, need("volume")?);
    let (bv, sv) = (col("buy_volume"), col("sell_volume"));
    let mut bars = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{} row {}", path.display(), i + 2))?;
        let num = |k: usize| -> Result<f64> {
            let s = rec.get(k).unwrap_or("");
            let x: f64 =
                s.trim().parse().with_context(|| format!("{} row {}: {s:?} is not a number", path.display(), i + 2))?;
            if !x.is_finite() {
                bail!("{} row {}: {s:?} is not finite", path.display(), i + 2);
            }
            Ok(x)
        };
        let time_ms: i64 = rec
            .get(t)
            .unwrap_or("")
            .trim()
            .parse()
            .with_context(|| format!("{} row {}: time_ms is not an integer", path.display(), i + 2))?;
        if bars.last().is_some_and(|b: &Bar| b.time_ms >= time_ms) {
            bail!("{} row {}: time_ms does not increase", path.display(), i + 2);
        }
        let volume = num(v)?;
        for (k, name) in [(o, "open"), (h, "high"), (l, "low"), (c, "close")] {
            if num(k)? <= 0.0 {
                bail!("{} row {}: {name} must be above zero", path.display(), i + 2);
            }
        }
        let buy = bv.map(num).transpose()?.unwrap_or(volume / 2.0);
        let sell = sv.map(num).transpose()?.unwrap_or(volume - buy);
        bars.push(Bar {
            time_ms,
            open: num(o)?,
            high: num(h)?,
            low: num(l)?,
            close: num(c)?,
            volume,
            buy_volume: buy,
            sell_volume: sell,
            book: Default::default(),
        });
    }
    Ok(bars)
}

/// The strategy to run offline: a component file, or the built-in of that name.
fn offline_plugin(g: &GlobalArgs, t: &StrategyTarget) -> Result<(PluginHost, Arc<Plugin>)> {
    let host = crate::plugins::offline_host(&g.data_dir)?;
    let plugin = match &t.plugin {
        Some(file) => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            host.runtime.load(&bytes).with_context(|| format!("loading {}", file.display()))?
        }
        None => {
            let (name, version) = split_strategy(&t.strategy);
            let p = host.registry.get(name).with_context(|| format!("no built-in strategy {name:?}"))?;
            if version.is_some_and(|v| v != p.info.version) {
                bail!("the built-in {name} is version {}; pass --plugin FILE.wasm for another", p.info.version);
            }
            p
        }
    };
    Ok((host, plugin))
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?)
}

/// `cgaf backtest`.
pub async fn backtest(g: &GlobalArgs, args: &BacktestArgs) -> Result<()> {
    let t = &args.target;
    let params = name_value(&args.params, "--param")?;
    let req = RunRequest {
        strategy: t.strategy.clone(),
        params: params.clone(),
        product: t.product.clone(),
        mode: RunMode::Backtest,
        from: time_arg(&t.from),
        to: time_arg(&t.to),
        bar_interval: t.bar_interval.clone(),
        fee_bps: t.fee_bps,
        slippage_bps: t.slippage_bps,
        starting_cash: t.cash,
        risk: risk(t),
    };
    let settings = req.settings()?;
    if let Some(file) = &t.bars {
        return tokio::task::block_in_place(|| offline_backtest(g, args, file, &settings, &params));
    }
    let base = t.url.trim_end_matches('/');
    let http = http()?;
    let token = resolve_token(t.token.as_deref(), g)?;
    let run = answer(http.post(format!("{base}/api/runs")).bearer_auth(&token).json(&req).send().await?).await?;
    let id = run["run_id"].as_i64().context("the service answered without a run_id")?;
    eprintln!(
        "run {id}: {}@{} on {} ...",
        run["strategy"].as_str().unwrap_or("?"),
        run["strategy_version"].as_str().unwrap_or("?"),
        t.product
    );
    let mut progress = Progress::new("backtest");
    let run = loop {
        let r = answer(http.get(format!("{base}/api/runs/{id}")).send().await?).await?;
        progress.set(r["bars_done"].as_u64().unwrap_or(0), r["bars_total"].as_u64().unwrap_or(0));
        if !matches!(r["status"].as_str(), Some("pending" | "running")) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    progress.finish();
    let out = json!({
        "run_id": id,
        "status": run["status"],
        "status_reason": run["status_reason"],
        "bars": run["bars_done"],
        "metrics": run["metrics"],
        "decision_log_sha256": run["decision_log_sha256"],
        "decisions": format!("{base}/api/runs/{id}/decisions"),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    if run["status"] == "failed" {
        bail!("run {id} failed: {}", run["status_reason"].as_str().unwrap_or("no reason"));
    }
    Ok(())
}

fn offline_backtest(
    g: &GlobalArgs,
    args: &BacktestArgs,
    file: &Path,
    settings: &RunSettings,
    params: &Map<String, Value>,
) -> Result<()> {
    let t = &args.target;
    let bars = read_bars(file)?;
    let interval = parse_interval(&t.bar_interval).map_err(anyhow::Error::msg)?;
    let (host, plugin) = offline_plugin(g, t)?;
    let call: Vec<(String, String)> = params_of(&Value::Object(params.clone()));
    let mut strategy = PluginStrategy::new(host.runtime.strategy(&plugin, &call)?);
    let mut writer = match &args.decisions {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            Some(DecisionCsv::new(std::io::BufWriter::new(file))?)
        }
        None => None,
    };
    let mut portfolio = Portfolio::new(settings.starting_cash);
    let mut series = Series::starting_at(settings.starting_cash);
    let mut progress = Progress::new("backtest");
    let started = Instant::now();
    let total = bars.len() as u64;
    let options = DriveOptions { batch: if writer.is_some() { 1 } else { 4096 }, capture_state: writer.is_some() };
    let mut write_error: Option<anyhow::Error> = None;
    drive(
        &mut strategy,
        &bars,
        settings,
        &mut portfolio,
        options,
        None,
        &mut |r| {
            series.push(&r);
            if let Some(w) = &mut writer {
                if let Err(e) = w.write(&r) {
                    write_error.get_or_insert(e.into());
                }
            }
            Ok(())
        },
        &mut |done| {
            progress.set(done as u64, total);
            true
        },
    )?;
    progress.finish();
    if let Some(e) = write_error {
        return Err(e.context("writing the decision log"));
    }
    if let Some(w) = writer {
        use std::io::Write;
        w.finish()?.flush()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let metrics = series.metrics(periods_per_year(interval))?;
    let out = json!({
        "strategy": format!("{}@{}", plugin.info.name, plugin.info.version),
        "params": params,
        "bars": portfolio.bars,
        "fills": portfolio.fills,
        "final_equity": portfolio.equity,
        "stopped": portfolio.halt,
        "seconds": elapsed,
        "bars_per_second": portfolio.bars as f64 / elapsed.max(1e-9),
        "metrics": metrics,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn sweep_request(args: &SweepArgs) -> Result<SweepRequest> {
    let t = &args.target;
    let mut grid = Map::new();
    for (k, v) in name_value_pairs(&args.grid).map_err(|e| anyhow::anyhow!("--grid: {e}"))? {
        let axis = Axis::parse(&v).map_err(|m| anyhow::anyhow!("--grid {k}: {m}"))?;
        grid.insert(k.clone(), json!(axis.values().map_err(|m| anyhow::anyhow!("--grid {k}: {m}"))?));
    }
    Ok(SweepRequest {
        strategy: t.strategy.clone(),
        product: t.product.clone(),
        from: time_arg(&t.from),
        to: time_arg(&t.to),
        bar_interval: t.bar_interval.clone(),
        grid,
        params: name_value(&args.params, "--param")?,
        splits: args.splits,
        metric: args.metric.clone(),
        fee_bps: t.fee_bps,
        slippage_bps: t.slippage_bps,
        starting_cash: t.cash,
        risk: risk(t),
    })
}

fn print_best(result: &Value, out: &Path, heatmap: bool) {
    let metric = result["metric"].as_str().unwrap_or("metric");
    match result.get("best").filter(|b| !b.is_null()) {
        Some(b) => {
            let judged =
                if result["best_out_of_sample"].as_bool() == Some(true) { "out of sample" } else { "in sample" };
            println!("best parameters ({judged}): {} {metric} = {}", b["params"], b["value"]);
        }
        None => println!("no grid point produced a {metric}"),
    }
    if let Some(wf) = result["walk_forward"].as_f64() {
        println!("walk-forward {metric} (mean out of sample of each fold's in-sample pick): {wf}");
    }
    println!("results: {}, {}", out.join("sweep.json").display(), out.join("sweep.csv").display());
    if heatmap {
        println!("heatmap: {}", out.join("heatmap.png").display());
    }
}

fn write_outputs(out: &Path, result: &Value, csv: &[u8], png: Option<&[u8]>) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("sweep.json"), serde_json::to_vec_pretty(result)?)?;
    std::fs::write(out.join("sweep.csv"), csv)?;
    if let Some(png) = png {
        std::fs::write(out.join("heatmap.png"), png)?;
    }
    Ok(())
}

/// `cgaf sweep`.
pub async fn sweep(g: &GlobalArgs, args: &SweepArgs) -> Result<()> {
    let req = sweep_request(args)?;
    let spec = req.spec()?;
    let t = &args.target;
    if let Some(file) = &t.bars {
        return tokio::task::block_in_place(|| {
            let bars = read_bars(file)?;
            let (host, plugin) = offline_plugin(g, t)?;
            let threads = if args.threads == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                args.threads
            };
            let progress = std::sync::Mutex::new(Progress::new("sweep"));
            let started = Instant::now();
            let new_strategy = |params: &[(String, String)]| {
                host.runtime.strategy(&plugin, params).map(PluginStrategy::new).map_err(StrategyError::new)
            };
            let result = run_sweep(&new_strategy, &spec, &bars, threads, &|d, n| {
                if let Ok(mut p) = progress.lock() {
                    p.set(d as u64, n as u64);
                }
                true
            })?;
            if let Ok(p) = progress.lock() {
                p.finish();
            }
            eprintln!(
                "{} backtests on {threads} threads in {:.2} s",
                result.rows.len() * (spec.splits + 1),
                started.elapsed().as_secs_f64()
            );
            let png = result.heatmap_png();
            let mut value = serde_json::to_value(&result)?;
            value["strategy"] = json!(format!("{}@{}", plugin.info.name, plugin.info.version));
            write_outputs(&args.out, &value, &result.csv()?, png.as_deref())?;
            print_best(&value, &args.out, png.is_some());
            Ok(())
        });
    }
    let base = t.url.trim_end_matches('/');
    let http = http()?;
    let token = resolve_token(t.token.as_deref(), g)?;
    let sweep = answer(http.post(format!("{base}/api/sweeps")).bearer_auth(&token).json(&req).send().await?).await?;
    let id = sweep["sweep_id"].as_i64().context("the service answered without a sweep_id")?;
    eprintln!("sweep {id} ...");
    let mut progress = Progress::new("sweep");
    let row = loop {
        let r = answer(http.get(format!("{base}/api/sweeps/{id}")).send().await?).await?;
        progress.set(r["jobs_done"].as_u64().unwrap_or(0), r["jobs_total"].as_u64().unwrap_or(0));
        if !matches!(r["status"].as_str(), Some("pending" | "running")) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    progress.finish();
    if row["status"] != "finished" {
        bail!("sweep {id} {}: {}", row["status"], row["status_reason"].as_str().unwrap_or("no reason"));
    }
    let result = row["result"].clone();
    let csv = results_csv(&result)?;
    let r = http.get(format!("{base}/api/sweeps/{id}/heatmap.png")).send().await?;
    let png = if r.status().is_success() { Some(r.bytes().await?.to_vec()) } else { None };
    write_outputs(&args.out, &result, &csv, png.as_deref())?;
    print_best(&result, &args.out, png.is_some());
    Ok(())
}
