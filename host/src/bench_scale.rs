//! `cgaf bench --scale`: how cost grows with the work on this machine — the calculate cycle
//! against the image edge (it is O(n²): the constant per pixel is printed),
//! `/api/gaf/image` throughput and p99 against connections and against the image edge, and
//! products served on time with CPU, RSS and memory per product (`bench_products`), and the
//! sweep engine's throughput against the cores it is given.

use crate::bench::{bench_calculate, have_wrk, ms, sim_snapshot, timed_sweep, walk_bars, ImageServer};
use crate::bench_products::ProductsScale;
use crate::cli::{BenchArgs, BenchPart};
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;

/// Image edges of the scale tables (samples per image).
const EDGES: [usize; 4] = [120, 300, 600, 1024];

/// Connections of the load table.
const CONNECTIONS: [u32; 3] = [1, 32, 256];

/// Prints the scale tables that `args.only` picks (all without it).
pub async fn run(args: &BenchArgs) -> Result<()> {
    let wants = |p: BenchPart| args.only.is_empty() || args.only.contains(&p);
    if wants(BenchPart::Calculate) || wants(BenchPart::Http) {
        edges_and_load(args.quick, args.http_seconds, wants(BenchPart::Http) && !args.no_http).await?;
    }
    if wants(BenchPart::Products) {
        let opts = ProductsScale {
            counts: args.scale_products.iter().map(|&n| n as usize).collect(),
            step: Duration::from_secs(args.scale_step_seconds),
            edge: args.scale_edge as usize,
        };
        crate::bench_products::run(&opts).await?;
    }
    if wants(BenchPart::Sweep) {
        sweep_cores(args.quick).await?;
    }
    Ok(())
}

/// The sma-cross sweep (100 runs of the benchmark grid, strategy in the sandbox) on 1, 2, …
/// threads up to the machine's cores: bar-runs per second and the speed-up over one thread.
async fn sweep_cores(quick: bool) -> Result<()> {
    let n = if quick { 100_000 } else { 1_000_000 };
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let bars = Arc::new(walk_bars(n, 42));
    println!("\nsweep throughput against cores: sma-cross grid fast 5..50 × slow 20..200, {n} bars, this machine has {cores} cores");
    println!("| threads | runs | time | M bar-runs/s | CPU used | speed-up |");
    println!("|---|---|---|---|---|---|");
    let mut one = None;
    let mut threads = 1;
    while threads <= cores {
        let b = bars.clone();
        let (_, secs, cpu, result) = tokio::task::spawn_blocking(move || timed_sweep(&b, threads)).await??;
        // Backtests made (grid points with fast >= slow are refused, with an error).
        let runs = result["rows"].as_array().map_or(0, |rows| rows.iter().filter(|r| r["error"].is_null()).count());
        let rate = (n * runs) as f64 / secs;
        let base = *one.get_or_insert(rate);
        let cpu = cpu.map_or("—".to_string(), |c| format!("{:.2} cores", c / secs));
        println!("| {threads} | {runs} | {secs:.2} s | {:.2} | {cpu} | {:.2}× |", rate / 1e6, rate / base);
        threads *= 2;
    }
    Ok(())
}

/// The calculate cycle against the edge and, with `http`, the load tables.
async fn edges_and_load(quick: bool, seconds: u64, http: bool) -> Result<()> {
    let host = Arc::new(crate::plugin_host::offline_host(&std::env::temp_dir().join("cgaf-bench"))?);
    let reps = if quick { 3 } else { 10 };
    println!("\nscale: the calculate cycle (5 images, PNG, base64) against the image edge, median of {reps}");
    println!(
        "{:>6} {:>16} {:>16} {:>22} {:>22}",
        "edge", "via plugins", "native", "plugins ns/pixel", "native ns/pixel"
    );
    let mut images_by_edge = Vec::with_capacity(EDGES.len());
    for n in EDGES {
        let snapshot = Arc::new(sim_snapshot(n).await?);
        let (s, h) = (snapshot.clone(), host.clone());
        let (plugins, images) = tokio::task::spawn_blocking(move || bench_calculate(&s, h.as_ref(), reps)).await??;
        let s = snapshot.clone();
        let (native, _) =
            tokio::task::spawn_blocking(move || bench_calculate(&s, &cgaf_calculate::NativeKernels, reps)).await??;
        // Five images of n² pixels (three of them three channels: the per-pixel constant is
        // per image pixel, all channels included).
        let pixels = 5.0 * (n * n) as f64;
        println!(
            "{n:>6} {:>16} {:>16} {:>22.2} {:>22.2}",
            ms(plugins),
            ms(native),
            plugins.as_secs_f64() * 1e9 / pixels,
            native.as_secs_f64() * 1e9 / pixels
        );
        images_by_edge.push((n, images));
    }
    if !http {
        return Ok(());
    }

    let tool = if have_wrk() { "wrk" } else { "the built-in generator (32 connections always; install wrk)" };
    println!("\nscale: /api/gaf/image at 600 px against connections ({tool}, {seconds} s each)");
    println!("{:>12} {:>12} {:>12} {:>12} {:>8}", "connections", "req/s", "p50", "p99", "errors");
    if let Some((_, images)) = images_by_edge.iter().find(|(n, _)| *n == 600) {
        let server = ImageServer::start(images).await?;
        for c in CONNECTIONS {
            let r = server.load(seconds, c, None).await?;
            println!("{c:>12} {:>12.0} {:>12} {:>12} {:>8}", r.rps, ms(r.p50), ms(r.p99), r.errors);
        }
        server.stop().await;
    }

    println!("\nscale: /api/gaf/image at 32 connections against the image edge");
    println!("{:>6} {:>12} {:>12} {:>12} {:>12} {:>16}", "edge", "body MB", "req/s", "p50", "p99", "gzip req/s");
    for (n, images) in &images_by_edge {
        let server = ImageServer::start(images).await?;
        let plain = server.load(seconds, 32, None).await?;
        server.warm("gzip").await?;
        let gzip = server.load(seconds, 32, Some("Accept-Encoding: gzip".into())).await?;
        println!(
            "{n:>6} {:>12.2} {:>12.0} {:>12} {:>12} {:>16.0}",
            server.body_len as f64 / 1e6,
            plain.rps,
            ms(plain.p50),
            ms(plain.p99),
            gzip.rps
        );
        server.stop().await;
    }
    Ok(())
}
