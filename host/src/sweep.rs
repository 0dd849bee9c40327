//! `cgaf sweep`: a parameter grid (optionally walk-forward) on a running service (created through
//! the API and followed with a progress bar), or offline on a CSV of bars; writes the results and
//! the heatmap. With `--matrices`, a tuning sweep of the matrix pipeline (`replay::sweep`).

use crate::cli::{name_value_pairs, GlobalArgs, SweepArgs};
use crate::plugin::{answer, resolve_token};
use crate::strategy_target::{http, name_value, offline_plugin, read_bars, risk, time_arg, Progress};
use anyhow::{bail, Context, Result};
use cgaf_trade::domain::{results_csv, run_sweep, Axis, StrategyError, SweepRequest};
use cgaf_trade::PluginStrategy;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::time::{Duration, Instant};

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
        allow_gaps: t.allow_gaps,
        periods_per_year: t.periods_per_year,
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
pub async fn run(g: &GlobalArgs, args: &SweepArgs) -> Result<()> {
    if args.matrices {
        return crate::replay::sweep(g, args).await;
    }
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
