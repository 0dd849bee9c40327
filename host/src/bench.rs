//! `cgaf bench`: the numbers the issues ask for, each printed with its ratio against the
//! baseline measured on this machine for the original (Python) stack. Printed, never asserted.

use crate::bench_service::ServiceChild;
use crate::cli::{BenchArgs, BenchPart};
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
        if l.target == 0.0 {
            // A comparison without an aim.
            println!("{:<48} {:>16} {:>16} {:>8.2}x {:>7}", l.name, l.value, l.baseline, l.ratio, "-");
            continue;
        }
        let mark = if l.ratio >= l.target { "ok" } else { "below" };
        println!("{:<48} {:>16} {:>16} {:>8.1}x {:>6.0}x {mark}", l.name, l.value, l.baseline, l.ratio, l.target);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// A realistic 600-sample snapshot from the simulator, with the original's 5-row centred
/// moving average of buys and sells.
pub(crate) async fn sim_snapshot(n: usize) -> Result<Snapshot> {
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

pub(crate) fn bench_calculate(
    snapshot: &Snapshot,
    t: &dyn cgaf_calculate::Transforms,
    reps: usize,
) -> Result<(Duration, cgaf_store::GafImages)> {
    bench_calculate_encoded(snapshot, t, reps, cgaf_calculate::PngEncoding::Fast)
}

/// As [`bench_calculate`], the PNGs compressed as `png` says.
pub(crate) fn bench_calculate_encoded(
    snapshot: &Snapshot,
    t: &dyn cgaf_calculate::Transforms,
    reps: usize,
    png: cgaf_calculate::PngEncoding,
) -> Result<(Duration, cgaf_store::GafImages)> {
    let config = cgaf_calculate::ImageTransforms::default();
    let images = cgaf_calculate::compute_images_encoded(snapshot, t, &config, png)?;
    let times = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            let _ = cgaf_calculate::compute_images_encoded(snapshot, t, &config, png);
            t0.elapsed()
        })
        .collect();
    Ok((median(times), images))
}

/// The five images of `images` as (Pillow mode, edge, decoded pixels), in the JSON's order.
fn image_pixels(images: &cgaf_store::GafImages) -> Result<Vec<(&'static str, u32, Vec<u8>)>> {
    use base64::Engine as _;
    [&images.midpoint_gasf, &images.midpoint_gadf, &images.orderbook, &images.buy, &images.sell]
        .into_iter()
        .map(|b64| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64)?;
            let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info()?;
            let mut buf = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut buf)?;
            buf.truncate(info.buffer_size());
            let mode = if info.color_type == png::ColorType::Rgb { "RGB" } else { "L" };
            Ok((mode, info.width, buf))
        })
        .collect()
}

/// PNG bytes of each of the five images of `images`.
fn png_bytes(images: &cgaf_store::GafImages) -> Result<Vec<usize>> {
    use base64::Engine as _;
    [&images.midpoint_gasf, &images.midpoint_gadf, &images.orderbook, &images.buy, &images.sell]
        .into_iter()
        .map(|b64| Ok(base64::engine::general_purpose::STANDARD.decode(b64)?.len()))
        .collect()
}

/// Pillow's default PNG bytes for the pixels of `images` (`bench/pillow_png.py`, Pillow installed
/// into a private virtualenv first), or the reason it cannot run here.
fn pillow_png_bytes(images: &cgaf_store::GafImages) -> std::result::Result<Vec<usize>, String> {
    let dir = bench_dir().ok_or("bench/ not found (run from the repository)")?;
    let py = venv_python(&dir, "setup-pillow.sh")?;
    let pixels = image_pixels(images).map_err(|e| format!("decoding our PNGs: {e}"))?;
    let tmp = tempfile_dir().map_err(|e| e.to_string())?.join("pillow");
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let mut args = vec![pixels.first().map_or(0, |p| p.1).to_string()];
    for (i, (mode, _, px)) in pixels.iter().enumerate() {
        let path = tmp.join(format!("image{i}.raw"));
        std::fs::write(&path, px).map_err(|e| e.to_string())?;
        args.push(format!("{mode}:{}", path.display()));
    }
    let out = std::process::Command::new(&py)
        .arg(dir.join("pillow_png.py"))
        .args(&args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running {py}: {e}"));
    let _ = std::fs::remove_dir_all(&tmp);
    let out = out?;
    if !out.status.success() {
        return Err(format!("pillow_png.py exited with {}", out.status));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("pillow_png.py printed no JSON: {e}"))?;
    v["bytes"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_u64()).map(|x| x as usize).collect())
        .ok_or_else(|| "pillow_png.py printed no sizes".to_string())
}

/// The calculate cycle with `small` PNGs and the PNG bytes of both encodings against Pillow's
/// for the same pixels (a line per encoding; the aim: no larger than Pillow). Returns the small
/// images.
async fn bench_png_sizes(
    snapshot: Arc<Snapshot>,
    host: Arc<cgaf_runtime::PluginHost>,
    reps: usize,
    fast: cgaf_store::GafImages,
    original: &CalculateBaseline,
    lines: &mut Vec<Line>,
) -> Result<cgaf_store::GafImages> {
    let (small_time, small) = tokio::task::spawn_blocking(move || {
        bench_calculate_encoded(&snapshot, host.as_ref(), reps, cgaf_calculate::PngEncoding::Small)
    })
    .await??;
    anyhow::ensure!(
        image_pixels(&small)?.iter().map(|p| &p.2).eq(image_pixels(&fast)?.iter().map(|p| &p.2)),
        "the small PNGs decode to other pixels than the fast ones"
    );
    println!(
        "calculate cycle, 600 samples, via plugins, --png-encoding small (what the default, auto, uses while a cycle \
         takes under a quarter of the calculate interval; fast once it takes longer): {}",
        ms(small_time)
    );
    lines.push(Line {
        name: "calculate cycle, 600 samples, via plugins, small PNG",
        value: ms(small_time),
        baseline: format!("{} ({})", ms(Duration::from_secs_f64(original.0)), original.1),
        ratio: original.0 / small_time.as_secs_f64(),
        // The same aim as the fast line: at most 10 ms.
        target: original.0 / CALCULATE_AIM_SECONDS,
    });
    let (fast_bytes, small_bytes) = (png_bytes(&fast)?, png_bytes(&small)?);
    let pillow = match tokio::task::spawn_blocking(move || pillow_png_bytes(&fast)).await? {
        Ok(p) if p.len() == 5 => p,
        Ok(p) => anyhow::bail!("pillow_png.py gave {} sizes for 5 images", p.len()),
        Err(why) => {
            println!("PNG bytes vs Pillow skipped: {why}");
            return Ok(small);
        }
    };
    let total = |v: &[usize]| v.iter().sum::<usize>();
    println!(
        "PNG bytes of the five images (midpoint GASF, GADF, order book, buys, sells): fast {fast_bytes:?} = {}, small {small_bytes:?} = {}, Pillow's default for the same pixels {pillow:?} = {}",
        total(&fast_bytes),
        total(&small_bytes),
        total(&pillow)
    );
    for (name, ours) in [
        ("PNG bytes, 5 images, --png-encoding fast", &fast_bytes),
        ("PNG bytes, 5 images, --png-encoding small", &small_bytes),
    ] {
        lines.push(Line {
            name,
            value: format!("{}", total(ours)),
            baseline: format!("{} (Pillow, run)", total(&pillow)),
            ratio: total(&pillow) as f64 / total(ours).max(1) as f64,
            target: 1.0,
        });
    }
    Ok(small)
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

/// Requests per second and latency of one load run.
pub(crate) struct LoadResult {
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub errors: u64,
    pub tool: &'static str,
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

fn run_wrk(url: &str, seconds: u64, connections: u32, header: Option<&str>) -> Option<LoadResult> {
    let mut cmd = std::process::Command::new("wrk");
    let threads = connections.clamp(1, 2);
    cmd.args([
        &format!("-t{threads}"),
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
        "--timeout",
        "5s",
    ]);
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
async fn run_builtin(url: &str, seconds: u64, header: Option<&str>) -> Result<LoadResult> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    // `Name: value`, as wrk takes it.
    let header = header.and_then(|h| h.split_once(':')).map(|(n, v)| (n.trim().to_string(), v.trim().to_string()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (client, url, header) = (client.clone(), url.to_string(), header.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut req = client.get(&url);
                if let Some((name, value)) = &header {
                    req = req.header(name, value);
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

/// What the `/api/gaf/image` load test measured: full answers, revalidations (If-None-Match),
/// gzip answers (Accept-Encoding: gzip), and the plain and gzip body sizes.
struct HttpLoad {
    full: LoadResult,
    revalidate: LoadResult,
    gzip: LoadResult,
    br: LoadResult,
    body: usize,
    gzip_body: usize,
    br_body: usize,
}

/// An API server on 127.0.0.1 serving one product's images from its cache (no database).
pub(crate) struct ImageServer {
    /// `/api/gaf/image?product=BTC-USD` on it.
    pub url: String,
    /// The content ETag of the JSON.
    pub etag: String,
    /// Length of the plain JSON answer.
    pub body_len: usize,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl ImageServer {
    /// Serves `images` as product BTC-USD.
    pub(crate) async fn start(images: &cgaf_store::GafImages) -> Result<Self> {
        let store = cgaf_store::Store::new(&cgaf_store::DbSettings::new("postgres://bench@127.0.0.1:1/none"))?;
        let state = Arc::new(cgaf_api::ApiState::new(
            store,
            cgaf_api::Metrics::new(),
            &cgaf_api::ApiSettings { token: "bench".into(), max_json_body: 1024, max_plugin_bytes: 0 },
        ));
        state.cache.replace_all(&[GafRow {
            product: "BTC-USD".into(),
            max_size: images.size,
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
        Ok(ImageServer { url, etag, body_len, stop: Some(tx), server })
    }

    /// Stops the server.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
    }

    /// Asks for the answer in `coding` (`gzip` or `br`) until it comes (it is made on the first
    /// request asking for it): call before timing such answers. Returns its length.
    pub(crate) async fn warm(&self, coding: &str) -> Result<usize> {
        let client = reqwest::Client::builder().no_gzip().build()?;
        for _ in 0..1000 {
            let r = client.get(&self.url).header("accept-encoding", coding).send().await?;
            if r.headers().get("content-encoding").is_some_and(|v| v == coding) {
                return Ok(r.bytes().await?.len());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        anyhow::bail!("the {coding} answer never came")
    }

    /// Load on the URL for `seconds` with `connections` (wrk when installed, else the built-in
    /// generator at 32 connections) and an optional `Name: value` header.
    pub(crate) async fn load(&self, seconds: u64, connections: u32, header: Option<String>) -> Result<LoadResult> {
        let by_wrk = if have_wrk() {
            let (u, h) = (self.url.clone(), header.clone());
            tokio::task::spawn_blocking(move || run_wrk(&u, seconds, connections, h.as_deref())).await?
        } else {
            None
        };
        match by_wrk {
            Some(r) => Ok(r),
            None => run_builtin(&self.url, seconds, header.as_deref()).await,
        }
    }
}

/// True when `wrk` runs here.
pub(crate) fn have_wrk() -> bool {
    std::process::Command::new("wrk").arg("--version").output().is_ok()
}

async fn bench_http(images: &cgaf_store::GafImages, seconds: u64) -> Result<HttpLoad> {
    let server = ImageServer::start(images).await?;
    let (etag, body_len) = (server.etag.clone(), server.body_len);
    let gzip_body = server.warm("gzip").await?;
    let br_body = server.warm("br").await?;
    let headers = [
        None,
        Some(format!("If-None-Match: {etag}")),
        Some("Accept-Encoding: gzip".to_string()),
        Some("Accept-Encoding: br".to_string()),
    ];
    if !have_wrk() {
        eprintln!("wrk not found (apt-get install wrk); using the built-in load generator");
    }
    let mut results = Vec::with_capacity(headers.len());
    for h in headers {
        results.push(server.load(seconds, 32, h).await?);
    }
    server.stop().await;
    let mut results = results.into_iter();
    let mut next = || results.next().context("a load result");
    Ok(HttpLoad { full: next()?, revalidate: next()?, gzip: next()?, br: next()?, body: body_len, gzip_body, br_body })
}

/// Close of the bar before the first bar of [`walk_bars`]: 2024-01-01T00:00:00Z, on the minute
/// grid (the importer refuses times off the interval's grid).
const WALK_START_MS: i64 = 1_704_067_200_000;

/// Deterministic 1-minute bars of a random walk (each open = the previous close), the first
/// closing a minute after [`WALK_START_MS`], written so that Python reads back exactly the same
/// doubles (shortest round-trip text).
pub(crate) fn walk_bars(n: usize, seed: u64) -> Vec<cgaf_trade::domain::Bar> {
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
                time_ms: WALK_START_MS + (i as i64 + 1) * 60_000,
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

/// Runs `bench/<setup>` (which makes a baseline's private virtualenv once) and returns the path of
/// the venv's python it prints last, or why it cannot run here.
fn venv_python(dir: &std::path::Path, setup: &str) -> std::result::Result<String, String> {
    let out = std::process::Command::new("bash")
        .arg(dir.join(setup))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running {setup}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{setup} failed (see above)"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().to_string())
}

/// Runs the baseline script `bench/<script>` with `args` in the private virtualenv `bench/<setup>`
/// makes (once): its JSON line, or the reason it cannot run here.
fn run_baseline(setup: &str, script: &str, args: &[String]) -> std::result::Result<serde_json::Value, String> {
    let dir = bench_dir().ok_or_else(|| format!("bench/{script} not found (run from the repository)"))?;
    let py = venv_python(&dir, setup)?;
    let out = std::process::Command::new(&py)
        .arg(dir.join(script))
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running {py}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{script} exited with {}", out.status));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{script} printed no JSON: {e}"))
}

/// Runs the Backtrader baseline `bench/backtrader_sma.py` with `args` (installing backtrader into
/// a private virtualenv first): its JSON line, or the reason it cannot run here.
fn run_backtrader(args: &[String]) -> std::result::Result<serde_json::Value, String> {
    run_baseline("setup-backtrader.sh", "backtrader_sma.py", args)
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
    let bt_args: Vec<String> = ["--bars", &csv.to_string_lossy(), "--fast", "10", "--slow", "30", "--cash", "10000"]
        .iter()
        .map(|a| a.to_string())
        .chain(["--fee-bps".to_string(), "0".to_string()])
        .collect();
    let bt = tokio::task::spawn_blocking(move || run_backtrader(&bt_args)).await?;
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

/// The folder of this invocation's scratch files (removed by [`ScratchFolder`] when the
/// benchmarks end).
fn scratch_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("cgaf-bench-bars-{}", std::process::id()))
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = scratch_path();
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Removes a folder when dropped: the benchmarks' scratch folder goes when they end, however
/// they end (each left an empty folder in the temp folder before).
struct ScratchFolder(std::path::PathBuf);

impl Drop for ScratchFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the benchmarks `args` asks for and prints the table.
pub async fn run(args: &BenchArgs) -> Result<()> {
    let _scratch = ScratchFolder(scratch_path());
    let reps = if args.quick { 5 } else { 30 };
    let wants = |p: BenchPart| args.only.is_empty() || args.only.contains(&p);
    let mut lines = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let host = Arc::new(crate::plugin_host::offline_host(&std::env::temp_dir().join("cgaf-bench"))?);

    let images = if wants(BenchPart::Calculate) || wants(BenchPart::Http) {
        eprintln!("[1/7] calculate cycle, 600 samples (5 images, PNG, base64) ...");
        let snapshot = Arc::new(sim_snapshot(600).await?);
        let (s, h) = (snapshot.clone(), host.clone());
        let (calc, images) = tokio::task::spawn_blocking(move || bench_calculate(&s, h.as_ref(), reps)).await??;
        let s = snapshot.clone();
        let (native, _) =
            tokio::task::spawn_blocking(move || bench_calculate(&s, &cgaf_calculate::NativeKernels, reps)).await??;
        // `/api/gaf/image` is loaded with the images the default (`--png-encoding auto`) serves
        // while calculate has time to spare: `small` PNGs.
        let small = if wants(BenchPart::Calculate) {
            let (s, i) = (snapshot.clone(), images.clone());
            let (original, mut failed) = tokio::task::spawn_blocking(move || {
                let mut failed = Vec::new();
                (original_calculate(&s, &i, reps.min(10), &mut failed), failed)
            })
            .await?;
            failures.append(&mut failed);
            calculate_lines(&mut lines, calc, native, &original);
            bench_png_sizes(snapshot.clone(), host.clone(), reps, images, &original, &mut lines).await?
        } else {
            let (s, h) = (snapshot.clone(), host.clone());
            tokio::task::spawn_blocking(move || {
                bench_calculate_encoded(&s, h.as_ref(), 1, cgaf_calculate::PngEncoding::Small)
            })
            .await??
            .1
        };
        Some(small)
    } else {
        None
    };
    if wants(BenchPart::Plugins) {
        bench_plugins(&host, args.quick, &mut lines).await?;
    }
    if wants(BenchPart::Gasf) {
        bench_gasf(args.quick, &mut lines).await?;
    }
    if wants(BenchPart::Backtest) {
        let n = if args.quick { 100_000 } else { 1_000_000 };
        eprintln!("[5/7] backtest sma-cross on {n} bars: sandbox vs Backtrader ...");
        bench_backtest(n, !args.no_backtrader, &mut lines).await?;
    }
    if wants(BenchPart::Sweep) {
        let n = if args.quick { 100_000 } else { 1_000_000 };
        eprintln!("[sweep] sma-cross sweep, 10 x 10 grid, on {n} bars: sandbox vs vectorbt ...");
        bench_sweep(n, !args.no_vectorbt, &mut lines, &mut failures).await?;
    }
    if wants(BenchPart::RunPath) {
        let default_bars = if args.quick { RUN_PATH_QUICK_BARS } else { RUN_PATH_YEAR_BARS };
        let n = args.history_bars.map_or(default_bars, |n| n as usize);
        eprintln!(
            "[6/7] run path: {n} 1-minute bars from one CSV, imported, run through POST /api/runs, vs Backtrader ..."
        );
        bench_run_path(n, !args.no_backtrader, &mut lines, &mut failures).await?;
    }
    if wants(BenchPart::Matrix) {
        let n = if args.quick { 40_000 } else { 345_600 };
        eprintln!(
            "[matrix] matrix pipeline over {n} samples of one product (a day at 4 samples/s with the full run) ..."
        );
        bench_matrix(&host, n, &mut lines).await?;
        eprintln!("[matrix] the stored path and a replay of the stored day, on a private PostgreSQL ...");
        bench_matrix_stored(&host, n, &mut lines).await?;
    }
    let hot_swap = if wants(BenchPart::HotSwap) {
        let rounds = if args.quick { 1 } else { 3 };
        eprintln!(
            "[hot-swap] upload to one of two replicas, time until the other serves it ({rounds} rounds each way) ..."
        );
        Some(crate::bench_swap::bench_hot_swap(rounds).await?)
    } else {
        None
    };
    // Only when named: it needs componentize-py and builds two Python components.
    let python = if args.only.contains(&BenchPart::PythonPlugin) {
        let calls = if args.quick { 5 } else { 20 };
        eprintln!("[python-plugin] a Python component: upload to ready, cold and warm; {calls} strategy calls of 10,000 bars vs Rust ...");
        Some((crate::bench_python::bench_python(calls).await?, calls))
    } else {
        None
    };
    let http = match (&images, wants(BenchPart::Http) && !args.no_http) {
        (Some(images), true) => {
            eprintln!("[7/7] /api/gaf/image under load, 32 connections, {} s each ...", args.http_seconds);
            let load = bench_http(images, args.http_seconds).await?;
            let baseline = "16.5 req/s (Express, quoted)";
            for (name, r) in [
                ("/api/gaf/image 600px, 32 conns (req/s)", &load.full),
                ("/api/gaf/image If-None-Match (req/s)", &load.revalidate),
                ("/api/gaf/image gzip, 32 conns (req/s)", &load.gzip),
                ("/api/gaf/image br, 32 conns (req/s)", &load.br),
            ] {
                lines.push(Line {
                    name,
                    value: format!("{:.0} req/s", r.rps),
                    baseline: baseline.into(),
                    ratio: r.rps / 16.5,
                    target: 100.0,
                });
            }
            Some(load)
        }
        _ => None,
    };
    if !lines.is_empty() {
        print_table(&lines);
    }
    if let Some(load) = http {
        let (full, reval, gzip, br) = (&load.full, &load.revalidate, &load.gzip, &load.br);
        println!(
            "\nHTTP ({}; PNGs encoded small, as --png-encoding auto serves them while calculate has time): body {} B (gzip {} B, br {} B); full p50 {} p99 {} (target p99 < 50 ms), errors {}; gzip p50 {} p99 {}, errors {}; br p50 {} p99 {}, errors {}; revalidation p50 {} p99 {}, errors {}",
            full.tool,
            load.body,
            load.gzip_body,
            load.br_body,
            ms(full.p50),
            ms(full.p99),
            full.errors,
            ms(gzip.p50),
            ms(gzip.p99),
            gzip.errors,
            ms(br.p50),
            ms(br.p99),
            br.errors,
            ms(reval.p50),
            ms(reval.p99),
            reval.errors
        );
    }
    if let Some(swap) = hot_swap {
        use crate::bench_swap::{median_of, AIM};
        let shared = median_of(&swap.shared, |s| s.other_after_answer);
        let compiling = median_of(&swap.compiling, |s| s.other_after_answer);
        println!(
            "\nHot swap (two replicas, median of {} rounds): the other replica serves the upload {} after it answered with shared compiled code (aim <= {} ms: {}), {} when it compiles for itself (same invocation: {:.1}x); the upload itself answered in {} / {}",
            swap.shared.len(),
            ms(shared),
            AIM.as_millis(),
            if shared <= AIM { "ok" } else { "missed" },
            ms(compiling),
            compiling.as_secs_f64() / shared.as_secs_f64().max(1e-6),
            ms(median_of(&swap.shared, |s| s.answered)),
            ms(median_of(&swap.compiling, |s| s.answered)),
        );
    }
    if let Some((b, calls)) = &python {
        crate::bench_python::print(b, *calls);
    }
    println!(
        "\nBaselines: the original's calculate (its image pipeline in Python with pyts), pyts, Pillow, Backtrader \
         and vectorbt run here in this invocation (each \"run\"; \"quoted\" only where one could not run: 280 ms \
         calculate and pyts' 700 ms / 1 ms, measured for the original crypto-gaf on this machine class); the \
         original Express API is quoted (14-19 req/s, p50 1.4 s; its code is not here)."
    );
    if !failures.is_empty() {
        anyhow::bail!("crypto-gaf and a baseline (Backtrader, vectorbt) disagree:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

/// The matrix pipeline's default settings (5 s and 15 s, stochastic, blend-mean through the
/// sandbox, k = 4).
fn bench_matrix_settings() -> cgaf_calculate::matrix::pipeline::PipelineSettings {
    use cgaf_calculate::matrix::features::FeatureSet;
    use cgaf_calculate::matrix::pipeline::{LaneSettings, PipelineSettings};
    use cgaf_calculate::matrix::rollup::Aggregation;
    use cgaf_calculate::matrix::solver::SolverMode;
    let lane = |g| LaneSettings {
        granularity_ms: g,
        solver: SolverMode::Stochastic { lambda: 1.0 },
        blender: "blend-mean".into(),
        blender_params: vec![],
        k: 4,
    };
    PipelineSettings {
        features: FeatureSet::default(),
        aggregation: Aggregation::Mean,
        lanes: vec![lane(5_000), lane(15_000)],
    }
}

/// The first sample time of the matrix benchmarks (2025-11-29T00:00:00Z).
const MATRIX_BENCH_T0: i64 = 1_764_374_400_000;

/// The matrix pipeline's stored path on a private PostgreSQL (durable, as `cgaf serve` runs it):
/// `n` samples of one product 250 ms apart (a day at 4 samples/s with the full run) through the
/// calculate worker's steps — read the samples after the cursor, compute, write the rows with
/// the advanced cursor in one transaction, 2,000 samples a step as the service does — and then
/// a replay of that stored day into a named replay (read the rollups, recompute, write, hash).
async fn bench_matrix_stored(host: &Arc<cgaf_runtime::PluginHost>, n: usize, lines: &mut Vec<Line>) -> Result<()> {
    let dir = tempfile_dir()?.join("matrix");
    std::fs::create_dir_all(&dir)?;
    let result = stored_in(host, &dir, n, lines).await;
    let _ = std::fs::remove_dir_all(&dir);
    return result;

    async fn stored_in(
        host: &Arc<cgaf_runtime::PluginHost>,
        dir: &std::path::Path,
        n: usize,
        lines: &mut Vec<Line>,
    ) -> Result<()> {
        use cgaf_calculate::matrix::worker::{replay, MatrixWorker};
        const PRODUCT: &str = "BENCH-USD";
        let pg_dir = dir.join("pg");
        let pg = tokio::task::spawn_blocking(move || {
            cgaf_embedded_postgres::EmbeddedPostgres::start(&cgaf_embedded_postgres::EmbeddedOptions::new(pg_dir))
        })
        .await?
        .context("starting a private PostgreSQL for the matrix benchmark")?;
        let store = cgaf_store::Store::new(&cgaf_store::DbSettings::new(pg.url()))?;
        store.wait_ready(Duration::from_secs(60)).await?;
        store.migrate().await?;
        store.ensure_products(&[cgaf_store::Product { product: PRODUCT.into(), max_size: i32::MAX }]).await?;
        // The samples of the in-memory run, written in one statement (not measured).
        insert_matrix_bench_samples(&*store.client().await?, &[PRODUCT.to_string()], 0, n as i64).await?;
        let settings = bench_matrix_settings();
        let worker = MatrixWorker { settings: settings.clone(), blender: host.clone(), batch: 2_000, telemetry: None };
        let t = Instant::now();
        let live = worker.catch_up(&store, cgaf_store::matrices::LIVE, PRODUCT, usize::MAX).await?;
        let stored = t.elapsed();
        anyhow::ensure!(live.samples == n, "the stored path consumed {} samples of {n}", live.samples);
        anyhow::ensure!(live.faults.is_empty(), "the stored path had {} blend faults", live.faults.len());
        let per_sample = stored.as_secs_f64() / n as f64;
        let (from, to) = (MATRIX_BENCH_T0, MATRIX_BENCH_T0 + n as i64 * 250 + 60_000);
        let t = Instant::now();
        let day = replay(&store, &settings, host.clone(), "bench-day", PRODUCT, from, to).await?;
        let replayed = t.elapsed();
        anyhow::ensure!(
            day.blends == live.blends,
            "the replay made {} blends, the live run {}",
            day.blends,
            live.blends
        );
        println!(
            "matrix pipeline, stored: {n} samples in {:.2} s, {:.1} us per sample with the database reads and \
             writes ({} rollups, {} blends, {} scores); replay of the stored samples ({} rollups) in {:.2} s = {:.2} s \
             for a day of 345,600 samples (aim < 10 s)",
            stored.as_secs_f64(),
            per_sample * 1e6,
            live.rollups,
            live.blends,
            live.scores,
            day.rollups,
            replayed.as_secs_f64(),
            replayed.as_secs_f64() * 345_600.0 / n as f64
        );
        lines.push(Line {
            name: "matrix pipeline per sample, stored (aim < 100 us)",
            value: format!("{:.1} us", per_sample * 1e6),
            baseline: "100 us (aim)".into(),
            ratio: 1e-4 / per_sample,
            target: 1.0,
        });
        let scale = 345_600.0 / n as f64;
        lines.push(Line {
            name: "matrix replay of a stored day, scaled (aim < 10 s)",
            value: format!("{:.2} s", replayed.as_secs_f64() * scale),
            baseline: "10 s (aim)".into(),
            ratio: 10.0 / (replayed.as_secs_f64() * scale),
            target: 1.0,
        });
        matrix_products_cycle(&store, host, lines).await?;
        drop(pg);
        Ok(())
    }
}

/// Writes samples `from..to` of each of `products` in one statement: 250 ms apart from
/// [`MATRIX_BENCH_T0`], a deterministic series (the same as the in-memory run's for the first
/// product; each further product shifted by 17 samples).
async fn insert_matrix_bench_samples(
    client: &tokio_postgres::Client,
    products: &[String],
    from: i64,
    to: i64,
) -> Result<u64> {
    Ok(client
        .execute(
            "INSERT INTO crypto_gaf.samples
               (product, midpoint, ask_prices, ask_sizes, bid_prices, bid_sizes, buys, sells, sampled_at)
             SELECT q.product, 100 + sin(x * 0.01) + sin(x * 0.37) * 0.01,
                    ARRAY[101, 102, 103]::numeric[],
                    ARRAY[1 + abs(cos(x * 0.7)), 2 + sin(x * 0.13), 1.5]::numeric[],
                    ARRAY[99, 98, 97]::numeric[],
                    ARRAY[1 + abs(sin(x * 0.3)), 2 + cos(x * 0.11), 1.5]::numeric[],
                    ARRAY[100, abs(sin(x * 0.9)), 1]::numeric[],
                    ARRAY[100, abs(cos(x * 0.5)), 1]::numeric[],
                    to_timestamp(($1::float8 + i * 250) / 1000.0)
             FROM generate_series($2::bigint, $3::bigint - 1) AS g(i),
                  unnest($4::text[]) WITH ORDINALITY AS q(product, p),
                  LATERAL (SELECT i::float8 + (p - 1) * 17 AS x) AS v
             ORDER BY i, p",
            &[&(MATRIX_BENCH_T0 as f64), &from, &to, &products],
        )
        .await?)
}

/// The matrix pipeline's calculate cycle with 100 products at 4 samples/s each, stored: before
/// each cycle every product gets the 2 samples of a 500 ms interval (written in one statement,
/// not measured), then the cycle steps every product as the calculate worker does (read the
/// cursor and the new samples, compute, write the rows with the cursor in one transaction).
/// After a minute of samples as warm-up (buckets closed, blends and forecasts under way), 40
/// cycles are measured: mean and worst cycle against the 500 ms interval, the share on time and
/// the headroom. Images are not part of it (their cost per product is in `--scale`).
async fn matrix_products_cycle(
    store: &cgaf_store::Store,
    host: &Arc<cgaf_runtime::PluginHost>,
    lines: &mut Vec<Line>,
) -> Result<()> {
    use cgaf_calculate::matrix::worker::MatrixWorker;
    const PRODUCTS: usize = 100;
    const CYCLES: usize = 40;
    const WARM_UP: i64 = 240;
    const INTERVAL: Duration = Duration::from_millis(500);
    let products: Vec<String> = (0..PRODUCTS).map(|i| format!("MATRIX-{i:03}")).collect();
    let rows: Vec<cgaf_store::Product> =
        products.iter().map(|p| cgaf_store::Product { product: p.clone(), max_size: i32::MAX }).collect();
    store.ensure_products(&rows).await?;
    let client = store.client().await?;
    let insert = |from: i64, to: i64| insert_matrix_bench_samples(&client, &products, from, to);
    let worker =
        MatrixWorker { settings: bench_matrix_settings(), blender: host.clone(), batch: 2_000, telemetry: None };
    let cycle = |worker: &MatrixWorker| {
        let (worker, products) = (worker.clone(), &products);
        async move {
            for p in products {
                worker.step(store, cgaf_store::matrices::LIVE, p).await?;
            }
            anyhow::Ok(())
        }
    };
    insert(0, WARM_UP).await?;
    cycle(&worker).await?;
    let mut times = Vec::with_capacity(CYCLES);
    for c in 0..CYCLES as i64 {
        insert(WARM_UP + 2 * c, WARM_UP + 2 * c + 2).await?;
        let t = Instant::now();
        cycle(&worker).await?;
        times.push(t.elapsed());
    }
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / CYCLES as f64;
    let worst = times.iter().max().copied().unwrap_or_default();
    let on_time = times.iter().filter(|t| **t <= INTERVAL).count() as f64 / CYCLES as f64;
    let headroom = 1.0 - mean / INTERVAL.as_secs_f64();
    println!(
        "matrix pipeline, {PRODUCTS} products at 4 samples/s, stored: calculate cycle (every product's step, 2 new \
         samples each) mean {:.1} ms, worst {:.1} ms of the {} ms interval; {:.0}% of {CYCLES} cycles on time; \
         headroom {:.0}%",
        mean * 1e3,
        worst.as_secs_f64() * 1e3,
        INTERVAL.as_millis(),
        on_time * 100.0,
        headroom * 100.0
    );
    lines.push(Line {
        name: "matrix cycle, 100 products x 4 samples/s, stored (aim: within 500 ms)",
        value: format!("{:.1} ms (headroom {:.0}%)", mean * 1e3, headroom * 100.0),
        baseline: "500 ms (interval)".into(),
        ratio: INTERVAL.as_secs_f64() / mean,
        target: 1.0,
    });
    Ok(())
}

/// The matrix pipeline's per-sample cost, in memory (no database): [`bench_matrix_settings`],
/// samples 250 ms apart.
async fn bench_matrix(host: &Arc<cgaf_runtime::PluginHost>, n: usize, lines: &mut Vec<Line>) -> Result<()> {
    use cgaf_calculate::matrix::features::FeatureSample;
    use cgaf_calculate::matrix::pipeline::StepOutput;
    let h = host.clone();
    let (elapsed, blends, faults) = tokio::task::spawn_blocking(move || {
        let settings = bench_matrix_settings();
        let mut state = settings.adopt(None, 0);
        let samples: Vec<FeatureSample> = (0..n)
            .map(|i| {
                let x = i as f64;
                FeatureSample {
                    sample_id: i as i64 + 1,
                    sampled_at_ms: MATRIX_BENCH_T0 + i as i64 * 250,
                    midpoint: 100.0 + (x * 0.01).sin() + (x * 0.37).sin() * 0.01,
                    bid_sizes: vec![1.0 + (x * 0.3).sin().abs(), 2.0 + (x * 0.11).cos(), 1.5],
                    ask_sizes: vec![1.0 + (x * 0.7).cos().abs(), 2.0 + (x * 0.13).sin(), 1.5],
                    buy_size: (x * 0.9).sin().abs(),
                    sell_size: (x * 0.5).cos().abs(),
                }
            })
            .collect();
        let (mut blends, mut faults) = (0, 0);
        let t = Instant::now();
        for s in &samples {
            let mut out = StepOutput::default();
            settings.on_sample("BENCH-USD", &mut state, s, h.as_ref(), &mut out);
            blends += out.rows.blends.len();
            faults += out.faults.len();
        }
        (t.elapsed(), blends, faults)
    })
    .await?;
    if faults > 0 {
        anyhow::bail!("the matrix benchmark had {faults} blend faults");
    }
    let per_sample = elapsed.as_secs_f64() / n as f64;
    // 100 products at 4 samples/s: the share of one core the pipeline takes.
    let load = per_sample * 100.0 * 4.0;
    println!(
        "matrix pipeline: {n} samples, {blends} blends through the sandbox in {:.2} s; {:.1} us per sample; \
         100 products x 4 samples/s use {:.1}% of one core (headroom {:.0}x); a day of one product in {:.2} s",
        elapsed.as_secs_f64(),
        per_sample * 1e6,
        load * 100.0,
        1.0 / load,
        per_sample * 345_600.0
    );
    lines.push(Line {
        name: "matrix pipeline per sample (aim < 100 us)",
        value: format!("{:.1} us", per_sample * 1e6),
        baseline: "100 us (aim)".into(),
        ratio: 1e-4 / per_sample,
        target: 1.0,
    });
    Ok(())
}

/// The calculate aim: one 600-sample product in at most 10 ms.
const CALCULATE_AIM_SECONDS: f64 = 0.010;

/// The original's calculate cycle: (seconds, how it was obtained).
type CalculateBaseline = (f64, String);

fn calculate_lines(lines: &mut Vec<Line>, calc: Duration, native: Duration, original: &CalculateBaseline) {
    let (secs, label) = original;
    lines.push(Line {
        name: "calculate cycle, 600 samples, via plugins, fast PNG",
        value: ms(calc),
        baseline: format!("{} ({label})", ms(Duration::from_secs_f64(*secs))),
        ratio: secs / calc.as_secs_f64(),
        // The aim: at most 10 ms through plugins, as a ratio to the baseline.
        target: secs / CALCULATE_AIM_SECONDS,
    });
    lines.push(Line {
        name: "calculate cycle, 600 samples, native, fast PNG",
        value: ms(native),
        baseline: format!("{} ({label})", ms(Duration::from_secs_f64(*secs))),
        ratio: secs / native.as_secs_f64(),
        target: secs / CALCULATE_AIM_SECONDS,
    });
}

/// The original crypto-gaf's calculate cycle (its image part, `bench/pyts_baseline.py
/// calculate`: pyts, numpy, Pillow, base64, ThreadPoolExecutor(4)) on the series `snapshot`
/// gives our transforms, timed in this invocation; its pixels must equal those of `ours` (a
/// mismatch is a failure). Falls back to the issue's quoted 280 ms where pyts cannot run.
fn original_calculate(
    snapshot: &Snapshot,
    ours: &cgaf_store::GafImages,
    reps: usize,
    failures: &mut Vec<String>,
) -> CalculateBaseline {
    let quoted = || (0.280, "Python, quoted".to_string());
    let levels = cgaf_calculate::features::orderbook_imbalance(snapshot, 3);
    let (buy, sell) = cgaf_calculate::features::trade_intensity(snapshot);
    let columns = |t: &[[f64; 3]]| -> Vec<Vec<f64>> { (0..3).map(|c| t.iter().map(|x| x[c]).collect()).collect() };
    let input = serde_json::json!({
        "midpoint": snapshot.midpoints,
        "orderbook": levels,
        "buy": columns(&buy),
        "sell": columns(&sell),
    });
    let run = || -> std::result::Result<serde_json::Value, String> {
        let file = tempfile_dir().map_err(|e| e.to_string())?.join("original-calculate.json");
        std::fs::write(&file, input.to_string()).map_err(|e| e.to_string())?;
        let args =
            ["calculate".into(), "--input".into(), file.display().to_string(), "--reps".into(), reps.to_string()];
        let v = run_baseline("setup-pyts.sh", "pyts_baseline.py", &args);
        let _ = std::fs::remove_file(&file);
        v
    };
    let v = match run() {
        Ok(v) => v,
        Err(why) => {
            println!("the original's calculate (pyts) skipped ({why}); the quoted 280 ms is used");
            return quoted();
        }
    };
    let Some(secs) = v["seconds"].as_f64() else {
        println!("the original's calculate printed no time: {v}");
        return quoted();
    };
    let image = |k: &str| v["images"][k].as_str().unwrap_or_default().to_string();
    let theirs = cgaf_store::GafImages {
        midpoint: ours.midpoint.clone(),
        midpoint_gasf: image("midpoint_gasf"),
        midpoint_gadf: image("midpoint_gadf"),
        orderbook: image("orderbook"),
        buy: image("buy"),
        sell: image("sell"),
        size: ours.size,
    };
    let same = match (image_pixels(ours), image_pixels(&theirs)) {
        (Ok(a), Ok(b)) => {
            let differ: Vec<usize> = (0..a.len().min(b.len())).filter(|&i| a[i] != b[i]).collect();
            if differ.is_empty() && a.len() == 5 && b.len() == 5 {
                "the same pixels in all five images".to_string()
            } else {
                failures.push(format!("the original's calculate made other pixels in images {differ:?}"));
                format!("OTHER PIXELS in images {differ:?}")
            }
        }
        (_, Err(e)) | (Err(e), _) => {
            failures.push(format!("decoding the original's calculate images: {e}"));
            format!("images not decodable: {e}")
        }
    };
    println!(
        "the original's calculate (Version D's images: pyts {}, numpy {}, Pillow, base64, ThreadPoolExecutor(4)), \
         600 samples: {} (median of {reps}); {same}",
        v["pyts"].as_str().unwrap_or("?"),
        v["numpy"].as_str().unwrap_or("?"),
        ms(Duration::from_secs_f64(secs))
    );
    (secs, "original's Python, run".to_string())
}

async fn bench_plugins(host: &Arc<cgaf_runtime::PluginHost>, quick: bool, lines: &mut Vec<Line>) -> Result<()> {
    eprintln!("[2/7] plugin overhead and GASF 256 via plugin vs native ...");
    let h = host.clone();
    let (trivial, via_plugin, native_one) =
        tokio::task::spawn_blocking(move || -> Result<(Duration, Duration, Duration)> {
            let tiny = [1.0, 2.0];
            let plugin = h.registry.get("gasf")?;
            let x: Vec<f64> = (0..256).map(|i| (i as f64 * 0.1).sin()).collect();
            let p = vec![("image_size".to_string(), "256".to_string())];
            let trivial = per_call(&|| {
                let _ = h.runtime.transform(&plugin, &tiny, &[]);
            });
            let via = per_call(&|| {
                let _ = h.runtime.transform(&plugin, &x, &p);
            });
            let gp = GafParams { image_size: SizeParam::Int(256), ..GafParams::default() };
            let native = per_call(&|| {
                let _ = std::hint::black_box(cgaf_kernels::gaf(&x, GafMethod::Summation, &gp));
            });
            Ok((trivial, via, native))
        })
        .await??;
    lines.push(Line {
        name: "plugin call overhead (GASF of 2 values)",
        value: format!("{:.1} us", trivial.as_secs_f64() * 1e6),
        baseline: "1 ms (pyts call, quoted)".into(),
        ratio: 1e-3 / trivial.as_secs_f64(),
        target: 20.0,
    });
    println!(
        "GASF 256 via plugin {:.1} us vs native {:.1} us: {:.2}x (aim <= 2x)",
        via_plugin.as_secs_f64() * 1e6,
        native_one.as_secs_f64() * 1e6,
        via_plugin.as_secs_f64() / native_one.as_secs_f64()
    );

    // The next contract (gaf:plugin@0.2.0): the same GASF returned as 8-bit pixels from the
    // sandbox, against 0.1.0's f64 matrix mapped by the host, against native + mapping.
    let h = host.clone();
    let (next, old, native) = tokio::task::spawn_blocking(move || -> Result<(Duration, Duration, Duration)> {
        let next = h.runtime.load(crate::plugin_host::NEXT_CONTRACT_BENCH_PLUGIN)?;
        let old = h.registry.get("gasf")?;
        let x: Vec<f64> = (0..256).map(|i| (i as f64 * 0.1).sin()).collect();
        let p = vec![("image_size".to_string(), "256".to_string())];
        anyhow::ensure!(
            h.runtime.transform_pixels(&next, &x, &p)? == h.runtime.transform_pixels(&old, &x, &p)?,
            "0.2.0 and 0.1.0 made different pixels"
        );
        let gp = GafParams { image_size: SizeParam::Int(256), ..GafParams::default() };
        Ok((
            per_call(&|| {
                let _ = std::hint::black_box(h.runtime.transform_pixels(&next, &x, &p));
            }),
            per_call(&|| {
                let _ = std::hint::black_box(h.runtime.transform_pixels(&old, &x, &p));
            }),
            per_call(&|| {
                if let Ok(m) = cgaf_kernels::gaf(&x, GafMethod::Summation, &gp) {
                    std::hint::black_box(m.data.iter().map(|&v| cgaf_kernels::to_pixel(v)).collect::<Vec<u8>>());
                }
            }),
        ))
    })
    .await??;
    println!(
        "GASF 256 as pixels: contract 0.2.0 (pixels from the sandbox) {:.1} us = {:.2}x native, 0.1.0 (f64 matrix out, mapped by the host) {:.1} us = {:.2}x native; native + mapping {:.1} us",
        next.as_secs_f64() * 1e6,
        next.as_secs_f64() / native.as_secs_f64(),
        old.as_secs_f64() * 1e6,
        old.as_secs_f64() / native.as_secs_f64(),
        native.as_secs_f64() * 1e6,
    );

    eprintln!("      sma-cross through the sandbox, 1M bars in batches of 10k ...");
    let h = host.clone();
    let n_bars = if quick { 200_000 } else { 1_000_000 };
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
    Ok(())
}

/// pyts's GramianAngularField on `batch` (`bench/pyts_baseline.py gasf`, pyts installed into a
/// private virtualenv first): (batch seconds, one-series seconds, pyts version), or the reason it
/// cannot run here.
fn pyts_gasf(batch: &[Vec<f64>]) -> std::result::Result<(f64, f64, String), String> {
    let dir = tempfile_dir().map_err(|e| e.to_string())?;
    let file = dir.join("pyts-series.json");
    std::fs::write(&file, serde_json::to_vec(batch).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let v = run_baseline(
        "setup-pyts.sh",
        "pyts_baseline.py",
        &["gasf".into(), "--series".into(), file.display().to_string()],
    );
    let _ = std::fs::remove_file(&file);
    let v = v?;
    match (v["batch_seconds"].as_f64(), v["single_seconds"].as_f64()) {
        (Some(b), Some(s)) => Ok((b, s, v["version"].as_str().unwrap_or("?").to_string())),
        _ => Err(format!("pyts_baseline.py gasf printed {v}")),
    }
}

async fn bench_gasf(quick: bool, lines: &mut Vec<Line>) -> Result<()> {
    eprintln!("[3/7] GASF batch 1000 x 256 ...");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let batch = random_series(&mut rng, if quick { 200 } else { 1000 }, 256);
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
    // pyts on the same series, in this invocation (quoted figures only where it cannot run).
    let (pyts_batch, pyts_single, pyts_label) = {
        let b = batch.clone();
        match tokio::task::spawn_blocking(move || pyts_gasf(&b)).await? {
            Ok((batch_s, single_s, version)) => {
                println!(
                    "pyts {version} on the same {} series of 256: GramianAngularField batch {:.1} ms, one series {:.1} us",
                    batch.len(),
                    batch_s * 1e3,
                    single_s * 1e6
                );
                (batch_s * scale, single_s, format!("pyts {version}, run"))
            }
            Err(why) => {
                println!("pyts baseline skipped ({why}); quoted figures used");
                (0.7, 1e-3, "pyts, quoted".to_string())
            }
        }
    };
    lines.push(Line {
        name: "GASF 1000 x 256, 1 thread",
        value: ms(one),
        baseline: format!("{} ({pyts_label})", ms(Duration::from_secs_f64(pyts_batch))),
        ratio: pyts_batch / one.as_secs_f64(),
        target: 20.0,
    });
    lines.push(Line {
        name: "GASF 1000 x 256, all cores",
        value: ms(all),
        baseline: format!("{} ({pyts_label})", ms(Duration::from_secs_f64(pyts_batch))),
        ratio: pyts_batch / all.as_secs_f64(),
        target: 20.0,
    });

    eprintln!("[4/7] single-series GASF 256 latency ...");
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
        baseline: format!("{:.0} us ({pyts_label})", pyts_single * 1e6),
        ratio: pyts_single / single.as_secs_f64(),
        target: 20.0,
    });

    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The run path: one CSV of 1-minute bars, imported and run on a service through the API, and the
// same file through Backtrader's GenericCSVData.

/// A year of 1-minute bars.
const RUN_PATH_YEAR_BARS: usize = 525_600;
/// Bars of the run-path benchmark with `--quick`.
const RUN_PATH_QUICK_BARS: usize = 20_000;
/// The product the run-path benchmark imports into.
const RUN_PATH_PRODUCT: &str = "BENCH-USD";
/// Times the run path's backtest runs, in process and through the API; its time is the median.
/// This machine's speed swings within seconds: Backtrader's 40 s run averages the swings, one
/// run of a second does not.
const RUN_PATH_RUNS: usize = 5;

/// The times sorted, and their median ([`median`]).
fn median_of(times: impl IntoIterator<Item = Duration>) -> (Vec<Duration>, Duration) {
    let mut times: Vec<Duration> = times.into_iter().collect();
    times.sort();
    let m = if times.is_empty() { Duration::ZERO } else { median(times.clone()) };
    (times, m)
}

/// `0.812, 0.845, 0.901 s`.
fn seconds_list(times: &[Duration]) -> String {
    let list: Vec<String> = times.iter().map(|t| format!("{:.3}", t.as_secs_f64())).collect();
    format!("{} s", list.join(", "))
}
/// Fee of both engines, bps of notional.
const RUN_PATH_FEE_BPS: f64 = 0.2;
/// Slippage of both engines, bps of the open.
const RUN_PATH_SLIPPAGE_BPS: f64 = 0.1;
/// API token of the benchmark's service.
const RUN_PATH_TOKEN: &str = "cgaf-bench-run-path";
/// Largest relative difference allowed between crypto-gaf and Backtrader (prices, sizes, fees,
/// final equity).
const AGREE_REL: f64 = 1e-9;
/// Bars per `Store::bars_page` call in the read benchmark (what runs read per page).
const READ_PAGE_BARS: i64 = 50_000;
/// The 1-minute interval, ms.
const MINUTE_MS: i64 = 60_000;

/// Writes `bars` (1-minute bars stamped at their close) as the run-path CSV: the header
/// `datetime,open,high,low,close,volume`, `datetime` the bar's OPEN as `YYYY-MM-DD HH:MM:SS` UTC
/// (the pandas / Backtrader convention, what `GenericCSVData`'s default `dtformat` reads and what
/// crypto-gaf's importer reads as opens), numbers in shortest round-trip form.
fn write_generic_csv(path: &std::path::Path, bars: &[cgaf_trade::domain::Bar]) -> Result<()> {
    use std::io::Write;
    let mut w =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    writeln!(w, "datetime,open,high,low,close,volume")?;
    for b in bars {
        let open_time = chrono::DateTime::from_timestamp_millis(b.time_ms - MINUTE_MS)
            .with_context(|| format!("bar time {} out of range", b.time_ms))?;
        writeln!(
            w,
            "{},{},{},{},{},{}",
            open_time.format("%Y-%m-%d %H:%M:%S"),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        )?;
    }
    w.flush()?;
    Ok(())
}

/// One executed order, as either engine reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fill {
    /// 0-based index of the bar it filled on (at that bar's open).
    bar: i64,
    /// That bar's close, ms since the epoch.
    close_ms: i64,
    /// Fill price (slippage included).
    price: f64,
    /// Signed units.
    size: f64,
    /// Fee paid.
    fee: f64,
}

/// Reads `backtrader_sma.py --fills` output (`bar,time_ms,price,size,commission`, `time_ms` the
/// bar's datetime as Backtrader stamps it: the open of a bar read from the run-path CSV).
fn read_backtrader_fills(path: &std::path::Path, interval_ms: i64) -> Result<Vec<Fill>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let field = |k: usize| rec.get(k).unwrap_or("");
        let num = |k: usize| -> Result<f64> {
            field(k).parse::<f64>().with_context(|| format!("{}: row {}, column {}", path.display(), i + 2, k + 1))
        };
        let int = |k: usize| -> Result<i64> {
            field(k).parse::<i64>().with_context(|| format!("{}: row {}, column {}", path.display(), i + 2, k + 1))
        };
        out.push(Fill { bar: int(0)?, close_ms: int(1)? + interval_ms, price: num(2)?, size: num(3)?, fee: num(4)? });
    }
    Ok(out)
}

/// `|a - b|` relative to the larger magnitude (0 when both are 0).
fn rel_diff(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

/// How closely two engines' fills and final equity agree.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Agreement {
    /// Fills compared.
    fills: usize,
    /// Largest relative difference of a fill's price, size or fee.
    max_fill_rel: f64,
    /// Relative difference of the final equity.
    equity_rel: f64,
}

/// Checks that `ours` and `theirs` made the same trades (same count, same bars and times, prices,
/// sizes and fees within `tol` relative) and ended within `tol` of the same equity; the first
/// difference otherwise.
fn compare_runs(
    ours: &[Fill],
    our_equity: f64,
    theirs: &[Fill],
    their_equity: f64,
    tol: f64,
) -> std::result::Result<Agreement, String> {
    if ours.len() != theirs.len() {
        let first = ours.iter().zip(theirs).position(|(a, b)| a.bar != b.bar).unwrap_or(ours.len().min(theirs.len()));
        return Err(format!(
            "crypto-gaf made {} fills, Backtrader {}; first different at fill {first}: ours {:?}, Backtrader {:?}",
            ours.len(),
            theirs.len(),
            ours.get(first),
            theirs.get(first)
        ));
    }
    let mut agree = Agreement { fills: ours.len(), ..Agreement::default() };
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if a.bar != b.bar || a.close_ms != b.close_ms {
            return Err(format!("fill {i}: crypto-gaf filled on bar {a:?}, Backtrader on {b:?}"));
        }
        let worst = rel_diff(a.price, b.price).max(rel_diff(a.size, b.size)).max(rel_diff(a.fee, b.fee));
        if worst > tol || worst.is_nan() {
            return Err(format!(
                "fill {i}: crypto-gaf {a:?}, Backtrader {b:?} (relative difference {worst:e} > {tol:e})"
            ));
        }
        agree.max_fill_rel = agree.max_fill_rel.max(worst);
    }
    agree.equity_rel = rel_diff(our_equity, their_equity);
    if agree.equity_rel > tol || agree.equity_rel.is_nan() {
        return Err(format!(
            "final equity: crypto-gaf {our_equity}, Backtrader {their_equity} (relative difference {:e} > {tol:e})",
            agree.equity_rel
        ));
    }
    Ok(agree)
}

/// GETs `url` as JSON; an error names the status and body.
async fn get_json(http: &reqwest::Client, url: &str) -> Result<serde_json::Value> {
    let r = http.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.with_context(|| format!("GET {url}: not JSON"))?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status} {body}");
    Ok(body)
}

/// How often the benchmark polls a run or sweep: as `cgaf backtest` does. (`GET /api/runs/{id}`
/// reads the run's equity curve from its decision log, so polling much faster slows the run.)
const POLL: Duration = Duration::from_millis(200);

/// Microseconds since the epoch of the RFC 3339 time `obj[key]`.
fn time_field_us(obj: &serde_json::Value, key: &str) -> Option<i64> {
    obj[key].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_micros())
}

/// POSTs `body` to `url` with the token and polls `{url}/{id}` (id in `id_key`) every [`POLL`]
/// until its status leaves pending/running. Returns the ended object and the time from the POST
/// to its end: the POST's round trip plus `finished_at - created_at` as the service recorded them
/// (so the polling interval does not count), or the time until the end was seen when the
/// object lacks them.
async fn post_and_wait(
    http: &reqwest::Client,
    url: &str,
    id_key: &str,
    body: &serde_json::Value,
) -> Result<(serde_json::Value, Duration)> {
    let t = Instant::now();
    let r =
        http.post(url).bearer_auth(RUN_PATH_TOKEN).json(body).send().await.with_context(|| format!("POST {url}"))?;
    let status = r.status();
    let created: serde_json::Value = r.json().await.with_context(|| format!("POST {url}: not JSON"))?;
    anyhow::ensure!(status.is_success(), "POST {url}: {status} {created}");
    let post = t.elapsed();
    let id = created[id_key].as_i64().with_context(|| format!("POST {url}: no {id_key} in {created}"))?;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let obj = get_json(http, &format!("{url}/{id}")).await?;
        if !matches!(obj["status"].as_str(), Some("pending" | "running")) {
            let span = match (time_field_us(&obj, "created_at"), time_field_us(&obj, "finished_at")) {
                (Some(c), Some(f)) if f >= c => post + Duration::from_micros((f - c) as u64),
                _ => t.elapsed(),
            };
            return Ok((obj, span));
        }
        anyhow::ensure!(Instant::now() < deadline, "{url}/{id} still {} after an hour", obj["status"]);
        tokio::time::sleep(POLL).await;
    }
}

/// The stored 1-minute bars of `product` closing from `first_close` to `last_close`: as rows in
/// pages of [`READ_PAGE_BARS`] (`Store::bars_page`, the truth) or, `as_runs`, as runs read them
/// (`BarReader`: a period with a block as one value, the rest as rows).
async fn read_back(
    store: &cgaf_store::Store,
    product: &str,
    (first_close, last_close): (i64, i64),
    as_runs: bool,
) -> Result<Vec<cgaf_trade::domain::Bar>> {
    if as_runs {
        let mut reader =
            cgaf_trade::bars::BarReader::open(store, product, MINUTE_MS, Some(first_close - MINUTE_MS), last_close)
                .await?;
        return Ok(reader.read_all().await?);
    }
    let (mut after, mut out) = (first_close - MINUTE_MS, Vec::new());
    loop {
        let page = store.bars_page(product, MINUTE_MS, after, last_close, READ_PAGE_BARS).await?;
        out.extend(page.iter().map(|b| b.to_bar()));
        match page.last() {
            Some(b) if page.len() as i64 == READ_PAGE_BARS => after = b.close_ms,
            _ => return Ok(out),
        }
    }
}

/// Times reading the whole history of `product` at 1 minute as runs read it (best of 3); checks
/// that every bar came back.
async fn time_history_read(store: &cgaf_store::Store, product: &str, closes: (i64, i64), n: usize) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let count = read_back(store, product, closes, true).await?.len();
        best = best.min(t.elapsed());
        anyhow::ensure!(count == n, "read {count} bars back, imported {n}");
    }
    Ok(best)
}

/// What a backtest run does minus PostgreSQL: `bars` through sma-cross 10/30 in chunks of
/// [`cgaf_trade::backtest::BACKTEST_CHUNK`]
/// with `step_bars` (one strategy call per bar, the state captured at the end of each chunk, the
/// decision rows built). Returns the time, the final equity, the fills and the bytes of strategy state captured.
async fn time_engine_alone(bars: &[cgaf_trade::domain::Bar]) -> Result<(Duration, f64, u64, usize)> {
    let host = crate::plugin_host::offline_host(&std::env::temp_dir().join("cgaf-bench"))?;
    let params = vec![("fast".to_string(), "10".to_string()), ("slow".to_string(), "30".to_string())];
    let settings = cgaf_trade::domain::RunSettings {
        fee_bps: RUN_PATH_FEE_BPS,
        slippage_bps: RUN_PATH_SLIPPAGE_BPS,
        ..cgaf_trade::domain::RunSettings::default()
    };
    let mut strategy = cgaf_trade::PluginStrategy::new(host.strategy("sma-cross", &params)?);
    let mut portfolio = cgaf_trade::domain::Portfolio::new(settings.starting_cash);
    let mut series = cgaf_trade::domain::Series::starting_at(settings.starting_cash);
    let mut state_bytes = 0usize;
    let t = Instant::now();
    for chunk in bars.chunks(cgaf_trade::backtest::BACKTEST_CHUNK) {
        let (rows, _) =
            cgaf_trade::runs::step_bars(&mut strategy, chunk, &settings, &mut portfolio, Some(&mut series))?;
        state_bytes +=
            rows.iter().filter_map(|r| r.strategy_state.as_ref()).map(|s| s.to_string().len()).sum::<usize>();
    }
    let took = t.elapsed();
    Ok((took, portfolio.equity, portfolio.fills, state_bytes))
}

/// What PostgreSQL alone takes to write an import's rows.
struct ServerCopy {
    /// Rows written.
    rows: u64,
    /// Seconds the COPY took.
    seconds: f64,
}

/// A file `name` in the database server's data folder (the server reads and writes it with
/// `COPY`), and its path quoted for SQL.
async fn server_file(client: &tokio_postgres::Client, name: &str) -> Result<(std::path::PathBuf, String)> {
    let dir: String = client.query_one("SHOW data_directory", &[]).await?.get(0);
    let file = std::path::Path::new(&dir).join(name);
    let path = file.to_string_lossy().replace('\'', "''");
    Ok((file, path))
}

/// The floor of an import on this database: the rows stored for `product` (bars of every
/// interval) written to a file on the server in COPY's binary form under another product name,
/// then COPYed from it into the same table in a transaction that is rolled back. No client, no
/// parsing, no rollups computed, no blocks: only PostgreSQL's own work for the same rows.
async fn time_server_copy(store: &cgaf_store::Store, product: &str) -> Result<ServerCopy> {
    let mut client = store.client().await?;
    let (file, path) = server_file(&client, "cgaf-bench-floor.bin").await?;
    client
        .batch_execute(&format!(
            "COPY (SELECT 'FLOOR-' || product, interval_ms, close_time, open, high, low, close, volume, buy_volume,
                     sell_volume, sample_count, bid, ask, bid_depth, ask_depth, first_sample_at, last_sample_at,
                     origin, source
                   FROM crypto_gaf.bars WHERE product = '{}' ORDER BY interval_ms, close_time)
             TO '{path}' (FORMAT binary)",
            product.replace('\'', "''")
        ))
        .await
        .context("writing the stored bars to a file on the server")?;
    let tx = client.transaction().await?;
    let t = Instant::now();
    let rows = tx.execute(&format!("COPY crypto_gaf.bars FROM '{path}' (FORMAT binary)"), &[]).await;
    let seconds = t.elapsed().as_secs_f64();
    tx.rollback().await?;
    let _ = std::fs::remove_file(&file);
    let rows = rows.context("COPY from the file on the server")?;
    Ok(ServerCopy { rows, seconds })
}

/// PostgreSQL's best case for storing `product`'s bars of `interval_ms` with their key on this
/// machine: the rows written to a file on the server in COPY's binary form, COPYed from it into
/// a new table without indexes, partitions or constraints, and the primary key of
/// `crypto_gaf.bars` then built on it in one sort (the cheapest way PostgreSQL has to hold rows
/// under a unique key), in a transaction that is rolled back. No client, no parsing, no rollups,
/// no blocks: what no importer of rows keyed like `crypto_gaf.bars` can beat here.
async fn time_best_case_copy(store: &cgaf_store::Store, product: &str, interval_ms: i64) -> Result<ServerCopy> {
    let mut client = store.client().await?;
    let (file, path) = server_file(&client, "cgaf-bench-best-case.bin").await?;
    client
        .batch_execute(&format!(
            "COPY (SELECT * FROM crypto_gaf.bars WHERE product = '{}' AND interval_ms = {interval_ms}
                   ORDER BY close_time)
             TO '{path}' (FORMAT binary)",
            product.replace('\'', "''")
        ))
        .await
        .context("writing the stored bars to a file on the server")?;
    let tx = client.transaction().await?;
    tx.batch_execute("CREATE TABLE crypto_gaf.bench_best_case (LIKE crypto_gaf.bars)").await?;
    let t = Instant::now();
    let rows = tx.execute(&format!("COPY crypto_gaf.bench_best_case FROM '{path}' (FORMAT binary)"), &[]).await;
    let keyed = match &rows {
        Ok(_) => {
            tx.batch_execute(
                "ALTER TABLE crypto_gaf.bench_best_case ADD PRIMARY KEY (product, interval_ms, close_time)",
            )
            .await
        }
        Err(_) => Ok(()),
    };
    let seconds = t.elapsed().as_secs_f64();
    tx.rollback().await?;
    let _ = std::fs::remove_file(&file);
    let rows = rows.context("COPY from the file on the server")?;
    keyed.context("building the primary key")?;
    Ok(ServerCopy { rows, seconds })
}

/// The run path on `n` 1-minute bars (see `bench/README.md`): one CSV, imported through the
/// importer and the store, read back, run by a `cgaf serve` through `POST /api/runs` (and swept
/// through `POST /api/sweeps`), and run by Backtrader from the same file; the trades and final
/// equity of both are checked against each other (a difference goes to `failures`).
async fn bench_run_path(n: usize, backtrader: bool, lines: &mut Vec<Line>, failures: &mut Vec<String>) -> Result<()> {
    use cgaf_trade::domain::history::{CsvImportOptions, TimeIs, DEFAULT_ROLLUP_INTERVALS};
    let dir = tempfile_dir()?.join("run-path");
    std::fs::create_dir_all(&dir)?;
    let result = run_path_in(&dir, n, backtrader, lines, failures).await;
    let _ = std::fs::remove_dir_all(&dir);
    return result;

    async fn run_path_in(
        dir: &std::path::Path,
        n: usize,
        backtrader: bool,
        lines: &mut Vec<Line>,
        failures: &mut Vec<String>,
    ) -> Result<()> {
        let bars = walk_bars(n, 42);
        let (first, last) = match (bars.first(), bars.last()) {
            (Some(f), Some(l)) => (f.time_ms, l.time_ms),
            _ => anyhow::bail!("no bars"),
        };
        let csv_path = dir.join("bars-1m.csv");
        write_generic_csv(&csv_path, &bars)?;
        let csv_mb = std::fs::metadata(&csv_path)?.len() as f64 / 1e6;

        // A private PostgreSQL, durable as `cgaf serve` runs it.
        let pg_dir = dir.join("pg");
        let pg = tokio::task::spawn_blocking(move || {
            cgaf_embedded_postgres::EmbeddedPostgres::start(&cgaf_embedded_postgres::EmbeddedOptions::new(pg_dir))
        })
        .await?
        .context("starting a private PostgreSQL for the run-path benchmark")?;
        let url = pg.url();
        let store = cgaf_store::Store::new(&cgaf_store::DbSettings::new(url.clone()))?;
        store.wait_ready(Duration::from_secs(60)).await?;
        store.migrate().await?;
        store.ensure_products(&[cgaf_store::Product { product: RUN_PATH_PRODUCT.into(), max_size: 600 }]).await?;

        // 1. Import: what `cgaf history import` does (the file streamed in batches into COPY and
        // rolled up, in one transaction).
        let t0 = Instant::now();
        let rollups: Vec<i64> = DEFAULT_ROLLUP_INTERVALS.iter().copied().filter(|&i| i > MINUTE_MS).collect();
        let target = cgaf_trade::CsvImportTarget {
            product: RUN_PATH_PRODUCT,
            source: "csv:bars-1m.csv",
            rollups: &rollups,
            replace: false,
        };
        let label = csv_path.display().to_string();
        let imported =
            cgaf_trade::import_csv(&store, &csv_path, &label, CsvImportOptions::new(MINUTE_MS), &target, None)
                .await
                .context("importing the run-path CSV")?;
        let import_time = t0.elapsed();
        anyhow::ensure!(
            imported.file.time_is == TimeIs::Open,
            "the importer read the times as {}",
            imported.file.time_is
        );
        anyhow::ensure!(imported.parse_s.is_none(), "the run-path CSV was not streamed");
        let report = imported.report;
        anyhow::ensure!(report.written == n as u64, "imported {} bars of {n}", report.written);
        let import_rate = n as f64 / import_time.as_secs_f64();
        println!(
            "run path: {n} 1-minute bars, {csv_mb:.1} MB CSV; import {:.3} s = {:.0} bars/s (streamed: read, COPY and {} rollup bars at once)",
            import_time.as_secs_f64(),
            import_rate,
            report.rolled_up,
        );
        let floor = time_server_copy(&store, RUN_PATH_PRODUCT).await?;
        let floor_rate = n as f64 / floor.seconds;
        println!(
            "PostgreSQL alone, the same {} rows (the bars and their rollups) COPYed from a file on the server into the same table, rolled back: {:.3} s = {:.0} of the file's bars/s; the import takes {:.2}x that",
            floor.rows,
            floor.seconds,
            floor_rate,
            import_time.as_secs_f64() / floor.seconds
        );
        let best = time_best_case_copy(&store, RUN_PATH_PRODUCT, MINUTE_MS).await?;
        let best_rate = best.rows as f64 / best.seconds;
        println!(
            "PostgreSQL's best case, the {} 1-minute rows alone COPYed from a file on the server into a new table without indexes and the bars' primary key then built in one sort, rolled back (no rollups, no blocks, no client): {:.3} s = {:.0} bars/s, {} the aim of 500000",
            best.rows,
            best.seconds,
            best_rate,
            if best_rate < 500_000.0 { "below" } else { "above" }
        );
        // The store holds the bars that were written to the file: its rows, and what runs read.
        for as_runs in [false, true] {
            let stored = read_back(&store, RUN_PATH_PRODUCT, (first, last), as_runs).await?;
            let what = if as_runs { "runs read" } else { "the store's rows hold" };
            anyhow::ensure!(stored.len() == n, "{what} {} bars of {n}", stored.len());
            anyhow::ensure!(
                stored.iter().zip(&bars).all(|(p, b)| (p.time_ms, p.open, p.high, p.low, p.close, p.volume)
                    == (b.time_ms, b.open, b.high, b.low, b.close, b.volume)),
                "{what} other bars than were written"
            );
        }

        let sizes = store
            .client()
            .await?
            .query_one(
                "SELECT count(*), coalesce(sum(octet_length(data)), 0)::int8 FROM crypto_gaf.bar_blocks
                 WHERE product = $1 AND interval_ms = $2",
                &[&RUN_PATH_PRODUCT, &MINUTE_MS],
            )
            .await?;
        let (block_count, block_bytes): (i64, i64) = (sizes.get(0), sizes.get(1));
        println!(
            "bar blocks of the 1m bars: {block_count}, {:.1} MB ({:.1} bytes a bar)",
            block_bytes as f64 / 1e6,
            block_bytes as f64 / n as f64
        );

        // 2. Read back: what runs do (the periods' blocks, the rest as rows in pages of 50k).
        let read = time_history_read(&store, RUN_PATH_PRODUCT, (first, last), n).await?;
        let read_year = read.mul_f64(RUN_PATH_YEAR_BARS as f64 / n as f64);
        println!(
            "read {n} bars as runs read them ({} bar blocks written by the import, the rest rows in pages of {READ_PAGE_BARS}): {} (a year of 1-minute bars: {})",
            report.blocks,
            ms(read),
            ms(read_year)
        );

        // What the run does minus the database, for the breakdown.
        let mut engine_times = Vec::with_capacity(RUN_PATH_RUNS);
        let (mut engine_equity, mut engine_fills, mut state_bytes) = (0.0, 0, 0);
        for _ in 0..RUN_PATH_RUNS {
            let took;
            (took, engine_equity, engine_fills, state_bytes) = time_engine_alone(&bars).await?;
            engine_times.push(took);
        }
        let (engine_times, engine) = median_of(engine_times);
        println!(
            "the same backtest in process, without PostgreSQL (step_bars, state every {} bars): {:.3} s = {:.0} bars/s, the median of {RUN_PATH_RUNS} ({}; {engine_fills} fills, {:.0} MB of strategy state JSON)",
            cgaf_trade::backtest::BACKTEST_CHUNK,
            engine.as_secs_f64(),
            n as f64 / engine.as_secs_f64(),
            seconds_list(&engine_times),
            state_bytes as f64 / 1e6
        );

        // 3. The service, and the backtest through the API.
        let http = reqwest::Client::new();
        let mut service =
            ServiceChild::start(&url, &dir.join("service"), "api,trade", RUN_PATH_PRODUCT, RUN_PATH_TOKEN, &[])?;
        service.wait_ready(&http).await?;
        let base = service.base.clone();
        let run_body = serde_json::json!({
            "strategy": "sma-cross", "params": {"fast": 10, "slow": 30}, "product": RUN_PATH_PRODUCT,
            "mode": "backtest", "bar_interval": "1m", "from": cgaf_trade::domain::history::rfc3339(first - MINUTE_MS), "to": cgaf_trade::domain::history::rfc3339(last),
            "fee_bps": RUN_PATH_FEE_BPS, "slippage_bps": RUN_PATH_SLIPPAGE_BPS, "starting_cash": 10_000.0,
        });
        // The same run, posted RUN_PATH_RUNS times: each must end the same (equity, log hash);
        // the median time is the run's.
        let mut posted = Vec::with_capacity(RUN_PATH_RUNS);
        for _ in 0..RUN_PATH_RUNS {
            let (run, time) = post_and_wait(&http, &format!("{base}/api/runs"), "run_id", &run_body).await?;
            anyhow::ensure!(run["status"] == "finished", "the run ended {}: {}", run["status"], run["status_reason"]);
            anyhow::ensure!(
                run["bars_done"].as_i64() == Some(n as i64),
                "the run did {} bars of {n}",
                run["bars_done"]
            );
            posted.push((run, time));
        }
        let (run_times, run_time) = median_of(posted.iter().map(|(_, t)| *t));
        let Some((run, _)) = posted.pop() else { anyhow::bail!("no run was posted") };
        for (other, _) in &posted {
            let same = |k: &str| other[k] == run[k];
            if !(same("decision_log_sha256") && other["portfolio"]["equity"] == run["portfolio"]["equity"]) {
                failures.push(format!(
                    "two runs of the same request differ: run {} ended at {} (log {}), run {} at {} (log {})",
                    other["run_id"],
                    other["portfolio"]["equity"],
                    other["decision_log_sha256"],
                    run["run_id"],
                    run["portfolio"]["equity"],
                    run["decision_log_sha256"]
                ));
            }
        }
        let run_id = run["run_id"].as_i64().context("run_id")?;
        let our_equity = run["portfolio"]["equity"].as_f64().context("the run's portfolio has no equity")?;
        // What each poll of the run costs (its equity curve is thinned from the whole log), and a
        // page of the log from the middle (its strategy states replayed from a checkpoint).
        let t = Instant::now();
        get_json(&http, &format!("{base}/api/runs/{run_id}")).await?;
        let poll = t.elapsed();
        let t = Instant::now();
        let page = get_json(&http, &format!("{base}/api/runs/{run_id}/decisions?cursor={}&limit=1000", n / 2)).await?;
        let page_time = t.elapsed();
        let replayed =
            page["decisions"].as_array().map_or(0, |d| d.iter().filter(|r| !r["strategy_state"].is_null()).count());
        anyhow::ensure!(replayed == 1000, "a page of the log has {replayed} strategy states of 1000");
        println!(
            "GET /api/runs/{{id}} (1000-point equity curve of the year): {}; a page of 1000 decisions from the middle, states replayed from the checkpoint: {}",
            ms(poll),
            ms(page_time)
        );
        let client = store.client().await?;
        let logged: i64 = client
            .query_one(
                "SELECT coalesce(sum(rows), 0)::int8 FROM crypto_gaf.decision_blocks WHERE run_id = $1",
                &[&run_id],
            )
            .await?
            .get(0);
        anyhow::ensure!(logged == n as i64, "the decision log holds {logged} rows, the run {n} bars");
        let log_mb: f64 = client
            .query_one(
                // On disk (heap, TOAST and indexes): the benchmark's database holds only the
                // logs of these runs.
                "SELECT pg_total_relation_size('crypto_gaf.decision_blocks')::float8 / 1e6 / $1",
                &[&(RUN_PATH_RUNS as f64)],
            )
            .await?
            .get(0);
        let mut ours: Vec<Fill> = Vec::new();
        let mut after_seq = None;
        loop {
            let page = store
                .decisions(run_id, &cgaf_store::DecisionQuery { after_seq, limit: 50_000, ..Default::default() })
                .await?;
            let Some(last) = page.last() else { break };
            after_seq = Some(last.seq);
            ours.extend(page.iter().filter(|r| r.fill_price.is_some()).map(|r| Fill {
                bar: r.seq,
                close_ms: r.time_ms,
                price: r.fill_price.unwrap_or(f64::NAN),
                size: r.fill_quantity.unwrap_or(f64::NAN),
                fee: r.fee.unwrap_or(f64::NAN),
            }));
        }
        drop(client);
        // The run hashes its log as it writes it; the export read back must hash the same (the
        // check a user would make), timed apart here.
        let t = Instant::now();
        let sha = cgaf_trade::decision_log_sha256(&store, run_id).await?;
        let hash_time = t.elapsed();
        if run["decision_log_sha256"].as_str() != Some(sha.as_str()) {
            failures.push(format!(
                "the run's decision_log_sha256 {} is not its log's hash {sha}",
                run["decision_log_sha256"]
            ));
        }
        if our_equity != engine_equity || ours.len() as u64 != engine_fills {
            failures.push(format!(
                "the run via the API ended at {our_equity} with {} fills, the same engine in process at {engine_equity} with {engine_fills}",
                ours.len()
            ));
        }
        let at = |k: &str| time_field_us(&run, k);
        if let (Some(created), Some(started), Some(finished)) = (at("created_at"), at("started_at"), at("finished_at"))
        {
            println!(
                "  the run's own timestamps: created -> started {:.3} s, started -> finished {:.3} s; of that, about {:.3} s strategy and engine (in process above), the rest writing the log (hashed as written; reading it back and hashing the export, which must give the same hash: {:.3} s, not part of the run)",
                (started - created) as f64 / 1e6,
                (finished - started) as f64 / 1e6,
                engine.as_secs_f64(),
                hash_time.as_secs_f64()
            );
        }
        println!(
            "crypto-gaf POST /api/runs -> finished: {:.3} s = {:.0} bars/s, the median of {RUN_PATH_RUNS} runs ({}; each {logged} decision rows in blocks, the strategy state every {} bars, {log_mb:.1} MB on disk in PostgreSQL; {} fills, {} trades, final equity {our_equity})",
            run_time.as_secs_f64(),
            n as f64 / run_time.as_secs_f64(),
            seconds_list(&run_times),
            cgaf_trade::backtest::BACKTEST_CHUNK,
            ours.len(),
            run["metrics"]["trades"],
        );

        // 4. The metrics-only sweep path: a grid through POST /api/sweeps, one series per point.
        let sweep_body = serde_json::json!({
            "strategy": "sma-cross", "product": RUN_PATH_PRODUCT, "bar_interval": "1m",
            "from": cgaf_trade::domain::history::rfc3339(first - MINUTE_MS), "to": cgaf_trade::domain::history::rfc3339(last),
            "grid": {"fast": [5, 10, 15, 20], "slow": [30, 60]}, "metric": "total_return",
            "fee_bps": RUN_PATH_FEE_BPS, "slippage_bps": RUN_PATH_SLIPPAGE_BPS, "starting_cash": 10_000.0,
        });
        let (sweep, sweep_time) = post_and_wait(&http, &format!("{base}/api/sweeps"), "sweep_id", &sweep_body).await?;
        anyhow::ensure!(
            sweep["status"] == "finished",
            "the sweep ended {}: {}",
            sweep["status"],
            sweep["status_reason"]
        );
        let points = sweep["jobs_total"].as_i64().unwrap_or(8).max(1) as f64;
        let per_point = sweep_time.div_f64(points);
        println!(
            "crypto-gaf POST /api/sweeps ({points} points, metrics only) -> finished: {:.3} s, {:.3} s per backtest",
            sweep_time.as_secs_f64(),
            per_point.as_secs_f64()
        );
        let point = sweep_point_total_return(&sweep["result"], 10, 30);
        match point {
            Some(tr) => {
                let sweep_equity = 10_000.0 * (1.0 + tr);
                let d = rel_diff(sweep_equity, our_equity);
                if d > AGREE_REL {
                    failures.push(format!(
                        "the sweep's fast 10 / slow 30 point ends at {sweep_equity}, the run at {our_equity} (relative {d:e})"
                    ));
                }
            }
            None => failures.push(format!("the sweep result has no fast 10 / slow 30 point: {}", sweep["result"])),
        }
        // Close the client's keep-alive connections first: the service then stops without
        // cancelling one.
        drop(http);
        drop(service);
        store.close();
        drop(store);
        let mut pg = pg;
        tokio::task::spawn_blocking(move || pg.stop()).await??;

        lines.push(Line {
            name: "CSV import, 1m bars (bars/s)",
            value: format!("{import_rate:.0}"),
            baseline: "500000 (aim)".into(),
            ratio: import_rate / 500_000.0,
            target: 1.0,
        });
        lines.push(Line {
            name: "PostgreSQL's best case, 1m rows + key (bars/s)",
            value: format!("{best_rate:.0}"),
            baseline: "500000 (aim)".into(),
            ratio: best_rate / 500_000.0,
            target: 0.0,
        });
        lines.push(Line {
            name: "CSV import vs PostgreSQL's own COPY of its rows",
            value: format!("{import_rate:.0}"),
            baseline: format!("{floor_rate:.0} (server COPY)"),
            ratio: import_rate / floor_rate,
            target: 0.0,
        });
        lines.push(Line {
            name: "a year of 1m bars read as runs read it",
            value: ms(read_year),
            baseline: "300 ms (aim)".into(),
            ratio: 0.3 / read_year.as_secs_f64(),
            target: 1.0,
        });
        if !backtrader {
            println!("Backtrader baseline skipped (--no-backtrader)");
            return Ok(());
        }

        // 5. Backtrader on the same file.
        eprintln!("      Backtrader GenericCSVData on the same {n} bars ...");
        let fills_path = dir.join("backtrader-fills.csv");
        let bt_args: Vec<String> = vec![
            "--bars".into(),
            csv_path.to_string_lossy().into_owned(),
            "--feed".into(),
            "generic".into(),
            "--fast".into(),
            "10".into(),
            "--slow".into(),
            "30".into(),
            "--cash".into(),
            "10000".into(),
            "--fee-bps".into(),
            RUN_PATH_FEE_BPS.to_string(),
            "--slippage-bps".into(),
            RUN_PATH_SLIPPAGE_BPS.to_string(),
            "--fills".into(),
            fills_path.to_string_lossy().into_owned(),
        ];
        let t = Instant::now();
        let bt = tokio::task::spawn_blocking(move || run_backtrader(&bt_args)).await?;
        let bt_wall = t.elapsed();
        let bt = match bt {
            Ok(bt) => bt,
            Err(why) => {
                println!("Backtrader baseline skipped: {why}");
                return Ok(());
            }
        };
        let bt_total = bt["end_to_end_seconds"].as_f64().context("Backtrader: end_to_end_seconds")?;
        let bt_preload = bt["preload_seconds"].as_f64().unwrap_or(0.0);
        let bt_equity = bt["final_value"].as_f64().context("Backtrader: final_value")?;
        let theirs = read_backtrader_fills(&fills_path, MINUTE_MS)?;
        println!(
            "Backtrader {} GenericCSVData: {bt_total:.3} s end to end ({:.3} s of it parsing the CSV in its preload, {:.0} bars/s; {:.3} s with the interpreter start), {} fills, {} trades, final value {bt_equity}",
            bt["version"].as_str().unwrap_or("?"),
            bt_preload,
            n as f64 / bt_preload.max(1e-9),
            bt_wall.as_secs_f64(),
            theirs.len(),
            bt["trades"],
        );
        match compare_runs(&ours, our_equity, &theirs, bt_equity, AGREE_REL) {
            Ok(a) => println!(
                "check: the same {} fills (bars, times; prices, sizes and fees within {:.1e} relative) and final equity within {:.1e} (limit {AGREE_REL:e}): ok",
                a.fills, a.max_fill_rel, a.equity_rel
            ),
            Err(why) => {
                println!("check FAILED: {why}");
                failures.push(why);
            }
        }
        let ratio = bt_total / run_time.as_secs_f64();
        let with_import = run_time + import_time;
        println!(
            "run path ratio: Backtrader / crypto-gaf = {ratio:.1}x (backtest via the API, bars already imported); {:.1}x including the import",
            bt_total / with_import.as_secs_f64()
        );
        lines.push(Line {
            name: "run path: POST /api/runs, 1m bars (s)",
            value: format!("{:.3} s", run_time.as_secs_f64()),
            baseline: format!("{bt_total:.2} s (Backtrader)"),
            ratio,
            target: 50.0,
        });
        lines.push(Line {
            name: "run path incl. CSV import (s)",
            value: format!("{:.3} s", with_import.as_secs_f64()),
            baseline: format!("{bt_total:.2} s (Backtrader)"),
            ratio: bt_total / with_import.as_secs_f64(),
            target: 50.0,
        });
        lines.push(Line {
            name: "sweep via the API, per backtest (s)",
            value: format!("{:.3} s", per_point.as_secs_f64()),
            baseline: format!("{bt_total:.2} s (Backtrader)"),
            ratio: bt_total / per_point.as_secs_f64(),
            target: 100.0,
        });
        Ok(())
    }
}

/// The `total_return` of the point `fast`/`slow` in a sweep result (its `rows`, each with
/// `params` and, without walk-forward splits, the whole range's `total_return`).
fn sweep_point_total_return(result: &serde_json::Value, fast: i64, slow: i64) -> Option<f64> {
    result["rows"].as_array()?.iter().find_map(|row| {
        let params = &row["params"];
        (params["fast"].as_i64() == Some(fast) && params["slow"].as_i64() == Some(slow))
            .then(|| row["total_return"].as_f64())
            .flatten()
    })
}

/// The sweep benchmark's grid, issue 13's "fast 5..50 × slow 20..200": 10 × 10 points, as
/// `(from, to, step)`.
const SWEEP_FAST: (i64, i64, i64) = (5, 50, 5);
const SWEEP_SLOW: (i64, i64, i64) = (20, 200, 20);
/// Starting cash of both sides of the sweep benchmark.
const SWEEP_CASH: f64 = 10_000.0;
/// Largest relative difference of a run's final equity between crypto-gaf and vectorbt.
const SWEEP_EQUITY_TOLERANCE: f64 = 1e-6;

/// One backtest of the sweep benchmark: its parameters, trades and final equity.
#[derive(Debug, Clone, PartialEq)]
struct SweepRun {
    fast: i64,
    slow: i64,
    trades: u64,
    final_value: f64,
}

/// The backtests of a crypto-gaf sweep result (rows without an error), with the final equity
/// `cash · (1 + total_return)`.
fn sweep_runs(result: &serde_json::Value, cash: f64) -> Vec<SweepRun> {
    result["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|row| row["error"].is_null())
        .filter_map(|row| {
            Some(SweepRun {
                fast: row["params"]["fast"].as_i64()?,
                slow: row["params"]["slow"].as_i64()?,
                trades: row["trades"].as_u64()?,
                final_value: cash * (1.0 + row["total_return"].as_f64()?),
            })
        })
        .collect()
}

/// The runs of `vectorbt_sweep.py`'s JSON line.
fn vectorbt_runs(v: &serde_json::Value) -> Vec<SweepRun> {
    v["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(SweepRun {
                fast: r["fast"].as_i64()?,
                slow: r["slow"].as_i64()?,
                trades: r["trades"].as_u64()?,
                final_value: r["final_value"].as_f64()?,
            })
        })
        .collect()
}

/// Where two sweeps disagree: a pair only one side ran, a different trade count, or final
/// equities further apart than [`SWEEP_EQUITY_TOLERANCE`] (relative). Empty when they agree.
fn compare_sweeps(ours: &[SweepRun], theirs: &[SweepRun]) -> Vec<String> {
    let mut out = Vec::new();
    for o in ours {
        match theirs.iter().find(|t| (t.fast, t.slow) == (o.fast, o.slow)) {
            None => out.push(format!("fast {} slow {}: vectorbt did not run it", o.fast, o.slow)),
            Some(t) if t.trades != o.trades => {
                out.push(format!("fast {} slow {}: {} trades vs vectorbt's {}", o.fast, o.slow, o.trades, t.trades))
            }
            Some(t) if rel_diff(o.final_value, t.final_value) > SWEEP_EQUITY_TOLERANCE => out.push(format!(
                "fast {} slow {}: final equity {} vs vectorbt's {} (relative difference {:.2e})",
                o.fast,
                o.slow,
                o.final_value,
                t.final_value,
                rel_diff(o.final_value, t.final_value)
            )),
            Some(_) => {}
        }
    }
    for t in theirs.iter().filter(|t| !ours.iter().any(|o| (o.fast, o.slow) == (t.fast, t.slow))) {
        out.push(format!("fast {} slow {}: crypto-gaf did not run it", t.fast, t.slow));
    }
    out
}

/// Runs the vectorbt baseline `bench/vectorbt_sweep.py` with `args` (installing vectorbt into a
/// private virtualenv first): its JSON line, or the reason it cannot run here.
fn run_vectorbt(args: &[String]) -> std::result::Result<serde_json::Value, String> {
    run_baseline("setup-vectorbt.sh", "vectorbt_sweep.py", args)
}

/// CPU time this process has used so far (user + system, every thread), from `/proc/self/stat`
/// in clock ticks of 1/100 s (Linux's USER_HZ); `None` where that file is missing.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state); utime and
    // stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The SMA-cross sweep (issue 13's grid) over `n` 1-minute bars: crypto-gaf's sweep engine with
/// the strategy in the wasm sandbox, then vectorbt on the same bars, grid and fill rule, in this
/// invocation; bar-runs per second of both, and every run's trades and final equity compared.
/// The SMA-cross grid of the sweep benchmarks (fast 5..50 × slow 20..200).
fn sweep_spec() -> Result<cgaf_trade::domain::SweepSpec> {
    let range = |(from, to, step): (i64, i64, i64)| serde_json::json!({"from": from, "to": to, "step": step});
    let request: cgaf_trade::SweepRequest = serde_json::from_value(serde_json::json!({
        "strategy": "sma-cross", "product": "BENCH", "bar_interval": "1m",
        "grid": {"fast": range(SWEEP_FAST), "slow": range(SWEEP_SLOW)},
        "metric": "total_return", "fee_bps": 0.0, "slippage_bps": 0.0, "starting_cash": SWEEP_CASH
    }))?;
    Ok(request.spec()?)
}

/// The in-process sweep engine (what `POST /api/sweeps` runs once the bars are read) over `bars`
/// on `threads` threads (0 = one per core), sma-cross in the sandbox, after a warm-up on the
/// first 2000 bars: (warm-up seconds, seconds, process CPU seconds, the result as JSON). Blocks.
pub(crate) fn timed_sweep(
    bars: &[cgaf_trade::domain::Bar],
    threads: usize,
) -> Result<(f64, f64, Option<f64>, serde_json::Value)> {
    let spec = sweep_spec()?;
    let host = crate::plugin_host::offline_host(&std::env::temp_dir().join("cgaf-bench"))?;
    let plugin = host.registry.get("sma-cross")?;
    let t = Instant::now();
    cgaf_trade::sweep::sweep_bars(&host, &plugin, &spec, &bars[..bars.len().min(2000)], threads, &|_, _| true)?;
    let warm = t.elapsed().as_secs_f64();
    let (t, cpu0) = (Instant::now(), process_cpu_seconds());
    let result = cgaf_trade::sweep::sweep_bars(&host, &plugin, &spec, bars, threads, &|_, _| true)?;
    let secs = t.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    Ok((warm, secs, cpu, serde_json::to_value(&result)?))
}

async fn bench_sweep(n: usize, vectorbt: bool, lines: &mut Vec<Line>, failures: &mut Vec<String>) -> Result<()> {
    let bars = Arc::new(walk_bars(n, 42));
    let points = sweep_spec()?.points().len();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let b = bars.clone();
    let (warm, secs, cpu, result) = tokio::task::spawn_blocking(move || timed_sweep(&b, 0)).await??;
    let ours = sweep_runs(&result, SWEEP_CASH);
    let ours_rate = (n * ours.len()) as f64 / secs;
    println!(
        "sweep sma-cross, crypto-gaf (in-process sweep engine, run_sweep as POST /api/sweeps runs it once the bars are read; \
         sma-cross in the wasm sandbox, {threads} threads): {points} grid points, {} backtests ({} refused: fast >= slow), \
         {n} bars: {secs:.2} s = {:.2} M bar-runs/s (warm-up on 2000 bars {warm:.2} s)",
        ours.len(),
        points - ours.len(),
        ours_rate / 1e6
    );
    if !vectorbt {
        println!("vectorbt baseline skipped (--no-vectorbt)");
        return Ok(());
    }
    let dir = tempfile_dir()?;
    let csv = dir.join("sweep-bars.csv");
    write_bars_csv(&csv, &bars)?;
    eprintln!("      vectorbt on the same {n} bars (installs vectorbt into a private virtualenv once) ...");
    let axis = |(from, to, step): (i64, i64, i64)| format!("{from}..{to}/{step}");
    let vbt_args: Vec<String> = vec![
        "--bars".into(),
        csv.to_string_lossy().into_owned(),
        "--fast".into(),
        axis(SWEEP_FAST),
        "--slow".into(),
        axis(SWEEP_SLOW),
        "--cash".into(),
        SWEEP_CASH.to_string(),
        "--fee-bps".into(),
        "0".into(),
    ];
    let vbt = tokio::task::spawn_blocking(move || run_vectorbt(&vbt_args)).await?;
    let _ = std::fs::remove_dir_all(&dir);
    let vbt = match vbt {
        Ok(v) => v,
        Err(why) => {
            println!("vectorbt baseline skipped: {why}");
            return Ok(());
        }
    };
    let theirs = vectorbt_runs(&vbt);
    let vbt_secs = vbt["seconds"].as_f64().unwrap_or(f64::NAN);
    let vbt_rate = (n * theirs.len()) as f64 / vbt_secs;
    println!(
        "sweep sma-cross, vectorbt {} (numba {}, engine=numba, JIT warmed up first: {:.1} s on 2000 bars; \
         Portfolio.from_signals in chunks of {} columns): {} backtests, {n} bars: {vbt_secs:.2} s = {:.2} M bar-runs/s \
         (CSV parsing {:.2} s, not counted)",
        vbt["version"].as_str().unwrap_or("?"),
        vbt["numba"].as_str().unwrap_or("?"),
        vbt["jit_seconds"].as_f64().unwrap_or(f64::NAN),
        vbt["columns"],
        theirs.len(),
        vbt_rate / 1e6,
        vbt["load_seconds"].as_f64().unwrap_or(f64::NAN)
    );
    let disagree = compare_sweeps(&ours, &theirs);
    let (trades_ours, trades_theirs): (u64, u64) =
        (ours.iter().map(|r| r.trades).sum(), theirs.iter().map(|r| r.trades).sum());
    let worst = ours
        .iter()
        .filter_map(|o| {
            theirs.iter().find(|t| (t.fast, t.slow) == (o.fast, o.slow)).map(|t| rel_diff(o.final_value, t.final_value))
        })
        .fold(0.0f64, f64::max);
    println!(
        "sweep check: {} of {} runs agree (trades equal, final equity within {SWEEP_EQUITY_TOLERANCE:e} relative); \
         trades {trades_ours} vs {trades_theirs}; largest final-equity difference {worst:.2e}",
        ours.len().saturating_sub(disagree.len()),
        ours.len()
    );
    for d in disagree.iter().take(10) {
        println!("  {d}");
    }
    failures.extend(disagree.into_iter().map(|d| format!("sweep vs vectorbt: {d}")));
    // The machine may be shared: bar-runs per CPU-second say how fast each side is per core used,
    // whatever share of the cores it got (crypto-gaf uses every core, vectorbt one).
    if let (Some(cpu), Some(vbt_cpu)) = (cpu, vbt["cpu_seconds"].as_f64()) {
        let (ours_cpu_rate, vbt_cpu_rate) = ((n * ours.len()) as f64 / cpu, (n * theirs.len()) as f64 / vbt_cpu);
        println!(
            "sweep per CPU-second: crypto-gaf {cpu:.1} CPU-s = {:.2} M bar-runs per CPU-second, vectorbt {vbt_cpu:.1} CPU-s \
             = {:.2} M ({:.2}x per core used; wall-clock ratio {:.2}x)",
            ours_cpu_rate / 1e6,
            vbt_cpu_rate / 1e6,
            ours_cpu_rate / vbt_cpu_rate,
            ours_rate / vbt_rate
        );
    }
    lines.push(Line {
        name: "sma-cross sweep, bar-runs/s (sandbox vs vectorbt)",
        value: format!("{:.2} M", ours_rate / 1e6),
        baseline: format!("{:.2} M (vectorbt)", vbt_rate / 1e6),
        ratio: ours_rate / vbt_rate,
        target: 2.0,
    });
    Ok(())
}

/// The time of one call of `f`: the best of three rounds of 200 calls, averaged per call.
fn per_call(f: &dyn Fn()) -> Duration {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in a folder of its own, both removed when the folder is dropped.
    fn temp_file(name: &str) -> (ScratchFolder, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("cgaf-bench-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        (ScratchFolder(dir), path)
    }

    #[test]
    fn a_scratch_folder_is_removed_with_what_it_holds() {
        let (folder, path) = temp_file("scratch.txt");
        std::fs::write(&path, "x").unwrap();
        let dir = folder.0.clone();
        drop(folder);
        assert!(!dir.exists(), "{} is left", dir.display());
    }

    #[test]
    fn the_run_path_csv_reads_back_through_the_importer_to_the_same_bars() {
        use cgaf_trade::domain::history::{read_bars_csv, CsvImportOptions, TimeIs};
        let bars = walk_bars(500, 3);
        let (_folder, path) = temp_file("bars.csv");
        write_generic_csv(&path, &bars).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("datetime,open,high,low,close,volume\n2024-01-01 00:00:00,100,"), "{}", &text[..80]);
        let read = read_bars_csv(std::fs::File::open(&path).unwrap(), CsvImportOptions::new(MINUTE_MS)).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(read.time_is, TimeIs::Open);
        assert_eq!(read.bars.len(), bars.len());
        for (r, b) in read.bars.iter().zip(&bars) {
            assert_eq!(
                (r.close_ms, r.open, r.high, r.low, r.close, r.volume),
                (b.time_ms, b.open, b.high, b.low, b.close, b.volume)
            );
        }
    }

    #[test]
    fn backtrader_fills_are_moved_from_the_bar_open_to_its_close() {
        let (_folder, path) = temp_file("fills.csv");
        std::fs::write(&path, "bar,time_ms,price,size,commission\n30,1704069000000,100.5,99.25,0.2\n").unwrap();
        let fills = read_backtrader_fills(&path, MINUTE_MS).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(fills, vec![Fill { bar: 30, close_ms: 1_704_069_060_000, price: 100.5, size: 99.25, fee: 0.2 }]);
    }

    #[test]
    fn runs_agree_only_on_the_same_fills_and_equity() {
        let f = |bar: i64, size: f64| Fill {
            bar,
            close_ms: WALK_START_MS + (bar + 1) * MINUTE_MS,
            price: 100.0,
            size,
            fee: 0.02,
        };
        let ours = vec![f(30, 100.0), f(64, -200.0)];
        let a = compare_runs(&ours, 9_000.0, &ours, 9_000.0, 1e-9).unwrap();
        assert_eq!((a.fills, a.max_fill_rel, a.equity_rel), (2, 0.0, 0.0));
        // Rounding below the tolerance is fine and reported.
        let close = vec![f(30, 100.0 * (1.0 + 1e-12)), f(64, -200.0)];
        let a = compare_runs(&ours, 9_000.0, &close, 9_000.0 * (1.0 - 1e-12), 1e-9).unwrap();
        assert!(a.max_fill_rel > 0.0 && a.max_fill_rel < 1e-11 && a.equity_rel > 0.0, "{a:?}");
        // A size, a bar, a count or the equity off: refused, naming it.
        let off = vec![f(30, 100.0 * (1.0 + 1e-6)), f(64, -200.0)];
        assert!(compare_runs(&ours, 9_000.0, &off, 9_000.0, 1e-9).unwrap_err().starts_with("fill 0:"));
        let later = vec![f(30, 100.0), f(65, -200.0)];
        assert!(compare_runs(&ours, 9_000.0, &later, 9_000.0, 1e-9).unwrap_err().contains("filled on bar"));
        let fewer = vec![f(30, 100.0)];
        assert!(compare_runs(&ours, 9_000.0, &fewer, 9_000.0, 1e-9)
            .unwrap_err()
            .contains("made 2 fills, Backtrader 1"));
        assert!(compare_runs(&ours, 9_000.0, &ours, 9_000.1, 1e-9).unwrap_err().starts_with("final equity"));
    }

    #[test]
    fn the_sweep_point_is_found_by_its_parameters() {
        let result = serde_json::json!({"rows": [
            {"params": {"fast": 5, "slow": 30}, "total_return": 0.5},
            {"params": {"fast": 10, "slow": 30}, "total_return": -0.25},
        ]});
        assert_eq!(sweep_point_total_return(&result, 10, 30), Some(-0.25));
        assert_eq!(sweep_point_total_return(&result, 10, 60), None);
    }

    #[test]
    fn the_process_cpu_time_is_read_and_grows() {
        let a = process_cpu_seconds().expect("/proc/self/stat");
        let t = Instant::now();
        let mut x = 0u64;
        while process_cpu_seconds().is_some_and(|b| b < a + 0.02) && t.elapsed() < Duration::from_secs(5) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(process_cpu_seconds().is_some_and(|b| b >= a + 0.02), "CPU time stayed at {a} s");
    }

    #[test]
    fn sweeps_agree_only_on_the_same_runs_trades_and_equity() {
        let ours = sweep_runs(
            &serde_json::json!({"rows": [
                {"params": {"fast": 5, "slow": 20}, "trades": 7, "total_return": 0.5, "error": null},
                {"params": {"fast": 10, "slow": 20}, "trades": 3, "total_return": -0.25, "error": null},
                {"params": {"fast": 30, "slow": 20}, "trades": 0, "total_return": null, "error": "fast must be smaller"},
            ]}),
            1000.0,
        );
        assert_eq!(
            ours,
            [
                SweepRun { fast: 5, slow: 20, trades: 7, final_value: 1500.0 },
                SweepRun { fast: 10, slow: 20, trades: 3, final_value: 750.0 }
            ]
        );
        let theirs = vectorbt_runs(&serde_json::json!({"runs": [
            {"fast": 5, "slow": 20, "trades": 7, "orders": 7, "final_value": 1500.0 * (1.0 + 1e-12)},
            {"fast": 10, "slow": 20, "trades": 3, "orders": 3, "final_value": 750.0},
        ]}));
        assert!(compare_sweeps(&ours, &theirs).is_empty());
        let mut off = theirs.clone();
        off[0].trades = 8;
        off[1].final_value = 751.0;
        let d = compare_sweeps(&ours, &off);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("7 trades vs vectorbt's 8") && d[1].contains("final equity"), "{d:?}");
        let d = compare_sweeps(&ours[..1], &theirs);
        assert_eq!(d, ["fast 10 slow 20: crypto-gaf did not run it"]);
        let d = compare_sweeps(&ours, &theirs[..1]);
        assert_eq!(d, ["fast 10 slow 20: vectorbt did not run it"]);
    }
}
