//! `cgaf bench --only hot-swap`: how long after an upload with `activate=true` answers on one
//! replica another replica serves the new version — with the compiled code shared through the
//! database (an artifact key set on both) and, in the same invocation, with each replica
//! compiling for itself (no key). Two `cgaf serve --roles api` children of this process on one
//! private PostgreSQL, all three fresh for every round (nothing compiled, cached or stored
//! beforehand); the other replica is asked `POST /api/transforms/gadf` back to back, and
//! its switch is the first answer from the uploaded version (`gadf` 1.1.0 answers the negated
//! field, so the answer shows which version computed it).

use crate::bench_service::ServiceChild;
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

const TOKEN: &str = "cgaf-bench-hot-swap";
/// A key both replicas of the "shared" rounds hold (a benchmark's, not a secret).
const ARTIFACT_KEY: &str = "cgaf-bench-hot-swap-artifact-key-0123456789";
/// The aim of issue 13: every replica switches within 100 ms.
pub(crate) const AIM: Duration = Duration::from_millis(100);

/// One round's times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Swap {
    /// Upload sent → its answer (the uploading replica compiled and switched before answering).
    pub answered: Duration,
    /// The upload's answer → the other replica's first answer from the new version.
    pub other_after_answer: Duration,
}

/// The medians of `rounds` rounds with shared compiled code and of as many compiling.
pub(crate) struct HotSwap {
    /// With `--plugin-artifact-key` on both replicas.
    pub shared: Vec<Swap>,
    /// Without: each replica compiles.
    pub compiling: Vec<Swap>,
}

/// The median of `f` over `swaps`.
pub(crate) fn median_of(swaps: &[Swap], f: impl Fn(&Swap) -> Duration) -> Duration {
    let mut v: Vec<Duration> = swaps.iter().map(f).collect();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Runs `rounds` rounds of each kind, alternating.
pub(crate) async fn bench_hot_swap(rounds: usize) -> Result<HotSwap> {
    let dir = std::env::temp_dir().join(format!("cgaf-bench-hot-swap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, rounds).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(dir: &std::path::Path, rounds: usize) -> Result<HotSwap> {
    let http = reqwest::Client::new();
    let mut out = HotSwap { shared: vec![], compiling: vec![] };
    for round in 0..rounds {
        for shared in [true, false] {
            let swap = one_round(&http, &dir.join(format!("round-{round}-{shared}")), shared).await?;
            eprintln!(
                "  round {}/{rounds} ({}): upload answered in {:.1} ms, other replica switched {:.1} ms later",
                round + 1,
                if shared { "shared compiled code" } else { "each replica compiles" },
                swap.answered.as_secs_f64() * 1e3,
                swap.other_after_answer.as_secs_f64() * 1e3
            );
            if shared { &mut out.shared } else { &mut out.compiling }.push(swap);
        }
    }
    Ok(out)
}

async fn one_round(http: &reqwest::Client, dir: &std::path::Path, shared: bool) -> Result<Swap> {
    let pg_dir = dir.join("pg");
    let pg = tokio::task::spawn_blocking(move || {
        cgaf_embedded_postgres::EmbeddedPostgres::start(&cgaf_embedded_postgres::EmbeddedOptions::new(pg_dir))
    })
    .await?
    .context("starting a private PostgreSQL for the hot-swap benchmark")?;
    let url = &pg.url();
    let extra: Vec<String> = if shared { vec!["--plugin-artifact-key".into(), ARTIFACT_KEY.into()] } else { vec![] };
    let mut uploader = ServiceChild::start(url, &dir.join("a"), "api", "BENCH-USD", TOKEN, &extra)?;
    let mut other = ServiceChild::start(url, &dir.join("b"), "api", "BENCH-USD", TOKEN, &extra)?;
    uploader.wait_ready(http).await?;
    other.wait_ready(http).await?;

    let transform_url = format!("{}/api/transforms/gadf", other.base);
    let body = serde_json::json!({"series": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 5.0, 8.0], "params": {"image_size": 4}});
    let ask = || async {
        let r = http.post(&transform_url).json(&body).send().await.context("POST /api/transforms/gadf")?;
        anyhow::ensure!(r.status().is_success(), "POST /api/transforms/gadf: {}", r.status());
        Ok::<_, anyhow::Error>(r.bytes().await?)
    };
    let before = ask().await?;

    let upload = {
        let http = http.clone();
        let url = format!("{}/api/plugins?activate=true", uploader.base);
        async move {
            let t = Instant::now();
            let r = http
                .post(url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/wasm")
                .body(crate::plugin_host::SWAP_BENCH_PLUGIN)
                .send()
                .await
                .context("uploading gadf 1.1.0")?;
            let status = r.status();
            anyhow::ensure!(status.is_success(), "upload: {status} {}", r.text().await.unwrap_or_default());
            Ok::<_, anyhow::Error>((t, Instant::now()))
        }
    };
    let upload = tokio::spawn(upload);
    let deadline = Instant::now() + Duration::from_secs(60);
    let switched = loop {
        let answer = ask().await?;
        if answer != before {
            break Instant::now();
        }
        anyhow::ensure!(Instant::now() < deadline, "the other replica did not switch within 60 s");
    };
    let (sent, answered) = upload.await??;
    Ok(Swap { answered: answered - sent, other_after_answer: switched.saturating_duration_since(answered) })
}
