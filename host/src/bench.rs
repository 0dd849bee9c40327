//! `cgaf bench`: the numbers the issues ask for, each printed with its ratio against the
//! baseline measured on this machine for the original (Python) stack. Printed, never asserted.

use crate::cli::BenchArgs;
use anyhow::{Context, Result};
use cgaf_collect::{AnySource, MarketSource, SourceSettings};
use cgaf_kernels::{GafMethod, GafParams, SizeParam};
use cgaf_store::{GafRow, Snapshot};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Line {
    name: &'static str,
    value: String,
    baseline: String,
    ratio: f64,
    target: f64,
}

fn print_table(lines: &[Line]) {
    println!("\n{:<48} {:>16} {:>16} {:>9} {:>7}", "benchmark", "crypto-gaf", "baseline", "ratio", "target");
    for l in lines {
        let mark = if l.ratio >= l.target { "ok" } else { "below" };
        println!("{:<48} {:>16} {:>16} {:>8.1}x {:>6.0}x {mark}", l.name, l.value, l.baseline, l.ratio, l.target);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// A realistic 600-sample snapshot from the simulator, with the original's 5-row centred
/// moving average of buys and sells.
async fn sim_snapshot(n: usize) -> Result<Snapshot> {
    let settings = SourceSettings { seed: 7, ..SourceSettings::default() };
    let mut src = AnySource::new(&settings)?;
    let mut cursor = None;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let f = src.fetch("BTC-USD", cursor.as_ref()).await?;
        cursor = f.cursor;
        samples.push(f.sample);
    }
    samples.reverse(); // newest first
    let f = |d: rust_decimal::Decimal| d.to_string().parse::<f64>().unwrap_or(0.0);
    let window = |i: usize, get: &dyn Fn(usize) -> f64| {
        let lo = i.saturating_sub(2);
        let hi = (i + 2).min(n - 1);
        (lo..=hi).map(get).sum::<f64>() / (hi - lo + 1) as f64
    };
    let mut s = Snapshot::default();
    for (i, x) in samples.iter().enumerate() {
        s.sample_ids.push((n - i) as i64);
        s.midpoints.push(f(x.midpoint));
        s.ask_sizes.push(x.asks.iter().map(|l| Some(l.size)).collect());
        s.bid_sizes.push(x.bids.iter().map(|l| Some(l.size)).collect());
        let b = |k: usize| window(i, &|j| f(samples[j].buys.to_triple()[k]));
        let sl = |k: usize| window(i, &|j| f(samples[j].sells.to_triple()[k]));
        s.buys.push([Some(b(0)), Some(b(1)), Some(b(2))]);
        s.sells.push([Some(sl(0)), Some(sl(1)), Some(sl(2))]);
    }
    s.newest_midpoint = samples.first().map(|x| x.midpoint.to_string());
    Ok(s)
}

fn bench_calculate(
    snapshot: &Snapshot,
    t: &dyn cgaf_calculate::Transforms,
    reps: usize,
) -> Result<(Duration, cgaf_store::GafImages)> {
    let config = cgaf_calculate::ImageTransforms::default();
    let images = cgaf_calculate::compute_images(snapshot, t, &config)?;
    let times = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            let _ = cgaf_calculate::compute_images(snapshot, t, &config);
            t0.elapsed()
        })
        .collect();
    Ok((median(times), images))
}

fn random_series(rng: &mut impl Rng, count: usize, len: usize) -> Vec<Vec<f64>> {
    (0..count)
        .map(|_| {
            // Box-Muller normals, like numpy's randn.
            (0..len)
                .map(|_| {
                    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
                    let u2: f64 = rng.gen();
                    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
                })
                .collect()
        })
        .collect()
}

/// GASF 256 of every series of `batch` on a rayon pool of `threads` threads; a panicking worker
/// is an error.
fn gasf_batch(batch: &[Vec<f64>], threads: usize) -> Result<Duration> {
    use rayon::prelude::*;
    let p = GafParams { image_size: SizeParam::Int(256), sample_range: Some((-1.0, 1.0)), overlapping: false };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().context("GASF thread pool")?;
    let t = Instant::now();
    let chunk = batch.len().div_ceil(threads.max(1)).max(1);
    let run = || {
        batch.par_chunks(chunk).try_for_each(|part| -> Result<(), cgaf_kernels::Error> {
            let mut out = Vec::new();
            for x in part {
                cgaf_kernels::gaf_into(x, GafMethod::Summation, &p, &mut out)?;
                std::hint::black_box(&out);
            }
            Ok(())
        })
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.install(run)))
        .map_err(|_| anyhow::anyhow!("a GASF bench worker panicked"))??;
    Ok(t.elapsed())
}

struct LoadResult {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
    tool: &'static str,
}

fn parse_wrk_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mul) = if let Some(v) = s.strip_suffix("us") {
        (v, 1e-6)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60.0)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| Duration::from_secs_f64(v * mul))
}

fn run_wrk(url: &str, seconds: u64, header: Option<&str>) -> Option<LoadResult> {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency", "--timeout", "5s"]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut r = LoadResult { rps: 0.0, p50: Duration::ZERO, p99: Duration::ZERO, errors: 0, tool: "wrk" };
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            r.p50 = parse_wrk_duration(v).unwrap_or_default();
        } else if let Some(v) = t.strip_prefix("99%") {
            r.p99 = parse_wrk_duration(v).unwrap_or_default();
        } else if t.starts_with("Socket errors:") || t.starts_with("Non-2xx or 3xx responses:") {
            r.errors += t.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u64>().ok()).sum::<u64>();
        }
    }
    Some(r)
}

/// A small closed-loop load generator (32 connections), used when wrk is not installed.
async fn run_builtin(url: &str, seconds: u64, etag: Option<&str>) -> Result<LoadResult> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (client, url, etag) = (client.clone(), url.to_string(), etag.map(str::to_string));
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut req = client.get(&url);
                if let Some(e) = &etag {
                    req = req.header("if-none-match", e);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() || r.status() == 304 => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r?;
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pick = |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied();
    Ok(LoadResult {
        rps: all.len() as f64 / seconds as f64,
        p50: pick(0.5).unwrap_or_default(),
        p99: pick(0.99).unwrap_or_default(),
        errors,
        tool: "built-in",
    })
}

async fn bench_http(images: &cgaf_store::GafImages, seconds: u64) -> Result<(LoadResult, LoadResult, usize)> {
    let store = cgaf_store::Store::new(&cgaf_store::DbSettings::new("postgres://bench@127.0.0.1:1/none"))?;
    let state = Arc::new(cgaf_api::ApiState::new(
        store,
        cgaf_api::Metrics::new(),
        &cgaf_api::ApiSettings { token: "bench".into(), max_json_body: 1024, max_plugin_bytes: 0 },
    ));
    state.cache.replace_all(&[GafRow {
        product: "BTC-USD".into(),
        max_size: 600,
        midpoint: Some(images.midpoint.clone()),
        midpoint_gasf: Some(images.midpoint_gasf.clone()),
        midpoint_gadf: Some(images.midpoint_gadf.clone()),
        orderbook: Some(images.orderbook.clone()),
        buy: Some(images.buy.clone()),
        sell: Some(images.sell.clone()),
        size: Some(images.size),
        computed_at: None,
    }]);
    let entry = state.cache.get("BTC-USD").context("cache entry")?;
    let cached = entry.images.clone().context("cached images")?;
    let body_len = cached.json_prefix.len() + 27;
    let etag = cached.etag.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cgaf_api::serve_routes(state, listener, async move {
        let _ = rx.await;
    }));
    let url = format!("http://{addr}/api/gaf/image?product=BTC-USD");
    let header = format!("If-None-Match: {etag}");
    let have_wrk = std::process::Command::new("wrk").arg("--version").output().is_ok();
    let (full, revalidate) = if have_wrk {
        let u = url.clone();
        let full = tokio::task::spawn_blocking(move || run_wrk(&u, seconds, None)).await?;
        let u = url.clone();
        let h = header.clone();
        let reval = tokio::task::spawn_blocking(move || run_wrk(&u, seconds, Some(&h))).await?;
        match (full, reval) {
            (Some(a), Some(b)) => (a, b),
            _ => (run_builtin(&url, seconds, None).await?, run_builtin(&url, seconds, Some(&etag)).await?),
        }
    } else {
        eprintln!("wrk not found (apt-get install wrk); using the built-in load generator");
        (run_builtin(&url, seconds, None).await?, run_builtin(&url, seconds, Some(&etag)).await?)
    };
    let _ = tx.send(());
    let _ = server.await;
    Ok((full, revalidate, body_len))
}

/// Runs every benchmark and prints the table.
/// Deterministic 1-minute bars of a random walk (each open = the previous close), written so
/// that Python reads back exactly the same doubles (shortest round-trip text).
fn walk_bars(n: usize, seed: u64) -> Vec<cgaf_trade::domain::Bar> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut gauss = move || {
        // Box-Muller.
        let (u, v): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut price = 100.0f64;
    (0..n)
        .map(|i| {
            let open = price;
            let close = open * (gauss() * 0.001).exp();
            let high = open.max(close) * (1.0 + (gauss() * 0.0005).abs());
            let low = open.min(close) * (1.0 - (gauss() * 0.0005).abs());
            price = close;
            cgaf_trade::domain::Bar {
                time_ms: 1_700_000_000_000 + (i as i64 + 1) * 60_000,
                open,
                high,
                low,
                close,
                volume: 10.0,
                buy_volume: 5.0,
                sell_volume: 5.0,
                book: Default::default(),
            }
        })
        .collect()
}

fn write_bars_csv(path: &std::path::Path, bars: &[cgaf_trade::domain::Bar]) -> Result<()> {
    use std::io::Write;
    let mut w =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    writeln!(w, "time_ms,open,high,low,close,volume")?;
    for b in bars {
        writeln!(w, "{},{},{},{},{},{}", b.time_ms, b.open, b.high, b.low, b.close, b.volume)?;
    }
    w.flush()?;
    Ok(())
}

/// The repository's `bench/` folder (next to the binary's source, or under the working folder).
fn bench_dir() -> Option<std::path::PathBuf> {
    let here = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench");
    [here, std::path::PathBuf::from("bench")].into_iter().find(|p| p.join("backtrader_sma.py").exists())
}

/// Runs the Backtrader baseline (installing it into a private virtualenv first); `None` with the
/// reason when it cannot run here.
fn run_backtrader(csv: &std::path::Path) -> std::result::Result<serde_json::Value, String> {
    let dir = bench_dir().ok_or("bench/backtrader_sma.py not found (run from the repository)")?;
    let setup = std::process::Command::new("bash")
        .arg(dir.join("setup-backtrader.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running setup-backtrader.sh: {e}"))?;
    if !setup.status.success() {
        return Err("setup-backtrader.sh failed (see above)".into());
    }
    let py = String::from_utf8_lossy(&setup.stdout).lines().last().unwrap_or("").trim().to_string();
    let out = std::process::Command::new(&py)
        .arg(dir.join("backtrader_sma.py"))
        .args(["--bars", &csv.to_string_lossy(), "--fast", "10", "--slow", "30", "--cash", "10000", "--fee-bps", "0"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running {py}: {e}"))?;
    if !out.status.success() {
        return Err(format!("backtrader_sma.py exited with {}", out.status));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("backtrader_sma.py printed no JSON: {e}"))
}

/// Backtest throughput of sma-cross (10/30) through the sandbox on `n` bars — the whole engine:
/// decisions, fills, equity, metrics — and the same bars through Backtrader.
async fn bench_backtest(n: usize, backtrader: bool, lines: &mut Vec<Line>) -> Result<()> {
    let bars = Arc::new(walk_bars(n, 42));
    let b = bars.clone();
    let ours = tokio::task::spawn_blocking(move || -> Result<(f64, serde_json::Value)> {
        let host = crate::plugin_host::offline_host(&std::env::temp_dir().join("cgaf-bench"))?;
        let params = vec![("fast".to_string(), "10".to_string()), ("slow".to_string(), "30".to_string())];
        let settings = cgaf_trade::domain::RunSettings::default();
        let mut best = f64::MAX;
        let mut summary = serde_json::Value::Null;
        for _ in 0..3 {
            let mut instance = cgaf_trade::PluginStrategy::new(host.strategy("sma-cross", &params)?);
            let t = Instant::now();
            let (series, portfolio) = cgaf_trade::domain::backtest_series(&mut instance, &b, &settings, 10_000)?;
            let m = series.metrics(cgaf_trade::domain::periods_per_year(60_000))?;
            best = best.min(t.elapsed().as_secs_f64());
            summary =
                serde_json::json!({"trades": m.trades, "final_value": portfolio.equity, "fills": portfolio.fills});
        }
        Ok((b.len() as f64 / best, summary))
    })
    .await??;
    let (ours_rate, ours_summary) = ours;
    println!(
        "backtest sma-cross 10/30 via the sandbox, {n} bars: {:.2} M bars/s ({} trades, final equity {})",
        ours_rate / 1e6,
        ours_summary["trades"],
        ours_summary["final_value"]
    );
    if !backtrader {
        println!("Backtrader baseline skipped (--no-backtrader)");
        return Ok(());
    }
    let dir = tempfile_dir()?;
    let csv = dir.join("bars.csv");
    write_bars_csv(&csv, &bars)?;
    eprintln!("      Backtrader on the same {n} bars (installs backtrader into a private virtualenv once) ...");
    let bt = tokio::task::spawn_blocking(move || run_backtrader(&csv)).await?;
    let _ = std::fs::remove_dir_all(&dir);
    match bt {
        Ok(bt) => {
            let rate = bt["bars_per_second"].as_f64().unwrap_or(f64::NAN);
            println!(
                "Backtrader {} on the same bars: {:.0} bars/s ({} trades, final value {})",
                bt["version"].as_str().unwrap_or("?"),
                rate,
                bt["trades"],
                bt["final_value"]
            );
            lines.push(Line {
                name: "backtest sma-cross, bars/s (sandbox vs Backtrader)",
                value: format!("{:.0}", ours_rate),
                baseline: format!("{rate:.0} (Backtrader)"),
                ratio: ours_rate / rate,
                target: 100.0,
            });
        }
        Err(why) => println!("Backtrader baseline skipped: {why}"),
    }
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("cgaf-bench-bars-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub async fn run(args: &BenchArgs) -> Result<()> {
    let reps = if args.quick { 5 } else { 30 };
    let mut lines = Vec::new();

    eprintln!("[1/6] calculate cycle, 600 samples (5 images, PNG, base64) ...");
    let snapshot = Arc::new(sim_snapshot(600).await?);
    let host = Arc::new(crate::plugin_host::offline_host(&std::env::temp_dir().join("cgaf-bench"))?);
    let (s, h) = (snapshot.clone(), host.clone());
    let (calc, images) = tokio::task::spawn_blocking(move || bench_calculate(&s, h.as_ref(), reps)).await??;
    let s = snapshot.clone();
    let (native, _) =
        tokio::task::spawn_blocking(move || bench_calculate(&s, &cgaf_calculate::NativeKernels, reps)).await??;
    lines.push(Line {
        name: "calculate cycle, 600 samples, via plugins",
        value: ms(calc),
        baseline: "280 ms (Python)".into(),
        ratio: 0.280 / calc.as_secs_f64(),
        target: 20.0,
    });
    lines.push(Line {
        name: "calculate cycle, 600 samples, native kernels",
        value: ms(native),
        baseline: "280 ms (Python)".into(),
        ratio: 0.280 / native.as_secs_f64(),
        target: 20.0,
    });

    eprintln!("[2/6] plugin overhead and GASF 256 via plugin vs native ...");
    let h = host.clone();
    let (trivial, via_plugin, native_one) =
        tokio::task::spawn_blocking(move || -> Result<(Duration, Duration, Duration)> {
            let tiny = [1.0, 2.0];
            let plugin = h.registry.get("gasf")?;
            let x: Vec<f64> = (0..256).map(|i| (i as f64 * 0.1).sin()).collect();
            let p = vec![("image_size".to_string(), "256".to_string())];
            let time = |f: &dyn Fn()| {
                (0..3)
                    .map(|_| {
                        let t = Instant::now();
                        for _ in 0..200 {
                            f();
                        }
                        t.elapsed() / 200
                    })
                    .min()
                    .unwrap_or_default()
            };
            let trivial = time(&|| {
                let _ = h.runtime.transform(&plugin, &tiny, &[]);
            });
            let via = time(&|| {
                let _ = h.runtime.transform(&plugin, &x, &p);
            });
            let gp = GafParams { image_size: SizeParam::Int(256), ..GafParams::default() };
            let native = time(&|| {
                let _ = std::hint::black_box(cgaf_kernels::gaf(&x, GafMethod::Summation, &gp));
            });
            Ok((trivial, via, native))
        })
        .await??;
    lines.push(Line {
        name: "plugin call overhead (GASF of 2 values)",
        value: format!("{:.1} us", trivial.as_secs_f64() * 1e6),
        baseline: "1 ms (pyts call)".into(),
        ratio: 1e-3 / trivial.as_secs_f64(),
        target: 20.0,
    });
    println!(
        "GASF 256 via plugin {:.1} us vs native {:.1} us: {:.2}x (aim <= 1.5x)",
        via_plugin.as_secs_f64() * 1e6,
        native_one.as_secs_f64() * 1e6,
        via_plugin.as_secs_f64() / native_one.as_secs_f64()
    );

    eprintln!("      sma-cross through the sandbox, 1M bars in batches of 10k ...");
    let h = host.clone();
    let n_bars = if args.quick { 200_000 } else { 1_000_000 };
    let bars_per_s = tokio::task::spawn_blocking(move || -> Result<f64> {
        let bars: Vec<cgaf_runtime::Bar> = (0..n_bars)
            .map(|i| {
                let p = 100.0 + (i as f64 * 0.01).sin() * 5.0 + (i as f64 * 0.001).cos();
                cgaf_runtime::Bar {
                    time_ms: i as i64 * 1000,
                    open: p,
                    high: p,
                    low: p,
                    close: p,
                    volume: 1.0,
                    buy_volume: 0.5,
                    sell_volume: 0.5,
                }
            })
            .collect();
        let params = vec![("fast".to_string(), "10".to_string()), ("slow".to_string(), "30".to_string())];
        let mut s = h.strategy("sma-cross", &params)?;
        let t = Instant::now();
        let mut decisions = 0usize;
        for chunk in bars.chunks(10_000) {
            decisions += s.on_bars(chunk)?.len();
        }
        anyhow::ensure!(decisions == bars.len(), "one decision per bar");
        Ok(bars.len() as f64 / t.elapsed().as_secs_f64())
    })
    .await??;
    println!("sma-cross via plugin: {:.2} M bars/s (aim >= 2 M bars/s)", bars_per_s / 1e6);

    eprintln!("[3/6] GASF batch 1000 x 256 ...");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let batch = random_series(&mut rng, if args.quick { 200 } else { 1000 }, 256);
    let scale = 1000.0 / batch.len() as f64;
    let batch = Arc::new(batch);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let b = batch.clone();
    let one = tokio::task::spawn_blocking(move || -> Result<Duration> {
        Ok((0..3).map(|_| gasf_batch(&b, 1)).collect::<Result<Vec<_>>>()?.into_iter().min().unwrap_or_default())
    })
    .await??
    .mul_f64(scale);
    let b = batch.clone();
    let all = tokio::task::spawn_blocking(move || -> Result<Duration> {
        Ok((0..3).map(|_| gasf_batch(&b, threads)).collect::<Result<Vec<_>>>()?.into_iter().min().unwrap_or_default())
    })
    .await??
    .mul_f64(scale);
    lines.push(Line {
        name: "GASF 1000 x 256, 1 thread",
        value: ms(one),
        baseline: "700 ms (pyts)".into(),
        ratio: 0.7 / one.as_secs_f64(),
        target: 20.0,
    });
    lines.push(Line {
        name: "GASF 1000 x 256, all cores",
        value: ms(all),
        baseline: "700 ms (pyts)".into(),
        ratio: 0.7 / all.as_secs_f64(),
        target: 20.0,
    });

    eprintln!("[4/6] single-series GASF 256 latency ...");
    let x = batch[0].clone();
    let single = tokio::task::spawn_blocking(move || -> Result<Duration> {
        let p = GafParams { image_size: SizeParam::Int(256), ..GafParams::default() };
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            for _ in 0..1000 {
                std::hint::black_box(cgaf_kernels::gaf(&x, GafMethod::Summation, &p)?);
            }
            best = best.min(t.elapsed() / 1000);
        }
        Ok(best)
    })
    .await??;
    lines.push(Line {
        name: "GASF 256, one call (mean of 1000)",
        value: format!("{:.1} us", single.as_secs_f64() * 1e6),
        baseline: "1 ms (pyts)".into(),
        ratio: 1e-3 / single.as_secs_f64(),
        target: 20.0,
    });

    let n = if args.quick { 100_000 } else { 1_000_000 };
    eprintln!("[5/6] backtest sma-cross on {n} bars: sandbox vs Backtrader ...");
    bench_backtest(n, !args.no_backtrader, &mut lines).await?;

    if !args.no_http {
        eprintln!("[6/6] /api/gaf/image under load, 32 connections, {} s each ...", args.http_seconds);
        let (full, reval, body) = bench_http(&images, args.http_seconds).await?;
        lines.push(Line {
            name: "/api/gaf/image 600px, 32 conns (req/s)",
            value: format!("{:.0} req/s", full.rps),
            baseline: "16.5 req/s (Express)".into(),
            ratio: full.rps / 16.5,
            target: 100.0,
        });
        lines.push(Line {
            name: "/api/gaf/image If-None-Match (req/s)",
            value: format!("{:.0} req/s", reval.rps),
            baseline: "16.5 req/s (Express)".into(),
            ratio: reval.rps / 16.5,
            target: 100.0,
        });
        print_table(&lines);
        println!(
            "\nHTTP ({}): body {:.2} MB; full p50 {} p99 {} (target p99 < 50 ms), errors {}; revalidation p50 {} p99 {}, errors {}",
            full.tool,
            body as f64 / 1e6,
            ms(full.p50),
            ms(full.p99),
            full.errors,
            ms(reval.p50),
            ms(reval.p99),
            reval.errors
        );
    } else {
        print_table(&lines);
    }
    println!("\nBaselines: the original's Python calculate and pyts timings measured for the original crypto-gaf on this machine class; Express 14-19 req/s, p50 1.4 s.");
    Ok(())
}
