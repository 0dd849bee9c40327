//! `cgaf bench --scale`: how cost grows with the work on this machine — the calculate cycle
//! against the image edge (it is O(n²): the constant per pixel is printed),
//! `/api/gaf/image` throughput and p99 against connections and against the image edge, and
//! products served on time with CPU, RSS and memory per product (`bench_products`).

use crate::bench::{bench_calculate, have_wrk, ms, sim_snapshot, ImageServer};
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
    println!(
        "
Not in these tables yet: sweep throughput against cores (see the closing notes of the performance issue)."
    );
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
        server.warm_gzip().await?;
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
