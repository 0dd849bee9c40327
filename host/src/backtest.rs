//! `cgaf backtest`: on a running service (the run is created through the API and followed with a
//! progress bar), or offline on a CSV of bars.

use crate::cli::{BacktestArgs, GlobalArgs};
use crate::plugin::{answer, resolve_token};
use crate::strategy_target::{http, name_value, offline_plugin, read_bars, risk, time_arg, Progress};
use anyhow::{bail, Context, Result};
use cgaf_trade::domain::request::params_of;
use cgaf_trade::domain::{
    drive, parse_interval, DecisionCsv, DriveOptions, Portfolio, RunMode, RunRequest, RunSettings, Series, StateCapture,
};
use cgaf_trade::PluginStrategy;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// `cgaf backtest`.
pub async fn run(g: &GlobalArgs, args: &BacktestArgs) -> Result<()> {
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
        allow_gaps: t.allow_gaps,
        periods_per_year: t.periods_per_year,
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
        "bars_expected": run["bars_expected"],
        "bars_found": run["bars_found"],
        "gaps": run["gaps"],
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
    let options = match writer {
        Some(_) => DriveOptions { batch: 1, state: StateCapture::EveryBatch },
        None => DriveOptions { batch: 4096, state: StateCapture::Never },
    };
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
    let metrics = series.metrics(settings.periods_per_year(interval))?;
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
