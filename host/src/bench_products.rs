//! `cgaf bench --scale`, the products part: how many products one `cgaf serve --roles
//! collect,calculate` serves on time at 4 samples/s each (the simulator), with its CPU and RSS and
//! PostgreSQL's CPU, and what each product costs in memory (RSS growth and PostgreSQL bytes of the
//! samples and images tables). Each step is a fresh database on one private PostgreSQL, every
//! product filled to its window first (so the images are full size from the first cycle), then a
//! bounded measuring window.

use crate::bench_service::ServiceChild;
use anyhow::{Context, Result};
use cgaf_collect::{AnySource, MarketSource as _, SourceSettings};
use cgaf_store::{DbSettings, Product, Store};
use std::path::Path;
use std::time::{Duration, Instant};

/// The collect schedule: 4 samples per second per product.
const COLLECT_INTERVAL: Duration = Duration::from_millis(250);
/// The calculate schedule (the service's default). It is a bucket bound of
/// `cgaf_calculate_cycle_seconds`, so "cycles within the interval" is counted exactly.
const CALCULATE_INTERVAL: Duration = Duration::from_millis(500);
/// A progress line at most this often while a step measures.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What the products part measures.
#[derive(Debug, Clone)]
pub struct ProductsScale {
    /// Product counts, one step each.
    pub counts: Vec<usize>,
    /// How long each step measures (after its warm-up).
    pub step: Duration,
    /// Samples per product (the image edge).
    pub edge: usize,
}

/// One step's result.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// Products served.
    pub products: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// Samples stored per product per second (4 is on time).
    pub samples_per_product_s: f64,
    /// The calculate cycles in the window.
    pub cycles: CycleStats,
    /// cgaf's CPU seconds per wall second (1.0 = one core busy).
    pub cgaf_cores: f64,
    /// PostgreSQL's CPU seconds per wall second.
    pub postgres_cores: f64,
    /// cgaf's resident memory at the end of the window, bytes.
    pub cgaf_rss: u64,
    /// `pg_total_relation_size` of the samples and images tables, bytes.
    pub postgres_bytes: u64,
}

/// The calculate cycles of a window, from two readings of `cgaf_calculate_cycle_seconds`.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleStats {
    /// Cycles finished in the window.
    pub count: f64,
    /// Cycles the schedule would start in the window (seconds / interval).
    pub scheduled: f64,
    /// Of the finished cycles, those within the interval.
    pub on_time: f64,
    /// Mean cycle, seconds.
    pub mean: f64,
    /// The bucket bound under which 99% of the cycles finished, seconds (infinite past the last).
    pub p99_bound: f64,
}

impl CycleStats {
    /// The share of cycles that finished within the interval (0 when none finished).
    pub fn on_time_fraction(&self) -> f64 {
        if self.count > 0.0 {
            self.on_time / self.count
        } else {
            0.0
        }
    }

    /// 1 − mean cycle / interval: the share of the interval left over on average (negative when
    /// cycles overrun).
    pub fn headroom(&self, interval: Duration) -> f64 {
        1.0 - self.mean / interval.as_secs_f64()
    }
}

/// A histogram read from the exposition text: cumulative buckets `(le, count)`, sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Cumulative bucket counts by upper bound (`+Inf` as infinity), in the text's order.
    pub buckets: Vec<(f64, f64)>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations.
    pub count: f64,
}

/// The values of metric `name` (exact name, any labels) in Prometheus text exposition, each with
/// its label text (what is between the braces, empty without).
pub fn metric_values<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => {
                    let (labels, v) = r.split_once('}')?;
                    (labels, v)
                }
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            let value = value.split_whitespace().next()?;
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            Some((labels, value))
        })
        .collect()
}

/// The histogram `name` in exposition `text` (empty when it is not there).
pub fn histogram(text: &str, name: &str) -> Histogram {
    let bucket = format!("{name}_bucket");
    let buckets = metric_values(text, &bucket)
        .into_iter()
        .filter_map(|(labels, v)| {
            let le = labels.split(',').find_map(|kv| kv.trim().strip_prefix("le="))?.trim_matches('"');
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, v))
        })
        .collect();
    let one = |suffix: &str| metric_values(text, &format!("{name}{suffix}")).first().map(|(_, v)| *v).unwrap_or(0.0);
    Histogram { buckets, sum: one("_sum"), count: one("_count") }
}

/// The cycles between two readings of the cycle histogram, against `interval` (which must be
/// one of its bucket bounds for the on-time count to be exact; the nearest bound below is used
/// otherwise), over `seconds`.
pub fn cycle_stats(before: &Histogram, after: &Histogram, interval: Duration, seconds: f64) -> CycleStats {
    let count = after.count - before.count;
    let at = |h: &Histogram, le: f64| h.buckets.iter().find(|(b, _)| (*b - le).abs() < 1e-12).map(|(_, c)| *c);
    let limit = interval.as_secs_f64();
    let bound = after.buckets.iter().map(|(b, _)| *b).filter(|b| *b <= limit + 1e-12).fold(0.0, f64::max);
    let on_time = at(after, bound).unwrap_or(0.0) - at(before, bound).unwrap_or(0.0);
    let p99_bound = after
        .buckets
        .iter()
        .find(|(b, c)| c - at(before, *b).unwrap_or(0.0) >= 0.99 * count)
        .map(|(b, _)| *b)
        .unwrap_or(f64::INFINITY);
    let mean = if count > 0.0 { (after.sum - before.sum) / count } else { 0.0 };
    CycleStats { count, scheduled: seconds / limit, on_time, mean, p99_bound }
}

/// CPU time of process `pid` (user + system), and with `children` the time of its waited-for
/// children too, from `/proc/<pid>/stat`; ticks.
fn cpu_ticks(pid: u32, children: bool) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14..17 of proc(5) (utime, stime, cutime, cstime) are 11..14 here.
    let get = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    let own = get(11)? + get(12)?;
    Some(if children { own + get(13)? + get(14)? } else { own })
}

/// The parent pid of `pid`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// CPU ticks of the PostgreSQL server whose postmaster is `postmaster`: its own, its exited
/// backends' and its live backends'.
fn postgres_ticks(postmaster: u32) -> u64 {
    let live: u64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid) == Some(postmaster))
        .filter_map(|pid| cpu_ticks(pid, false))
        .sum();
    live + cpu_ticks(postmaster, true).unwrap_or(0)
}

/// Resident memory of `pid`, bytes (`VmRSS` of `/proc/<pid>/status`).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// Clock ticks per second of `/proc` CPU times.
fn ticks_per_second() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// The postmaster's pid: the first line of `postmaster.pid` in the cluster folder.
fn postmaster_pid(cluster: &Path) -> Result<u32> {
    let text = std::fs::read_to_string(cluster.join("postmaster.pid")).context("reading postmaster.pid")?;
    text.lines().next().and_then(|l| l.trim().parse().ok()).context("postmaster.pid names no pid")
}

/// The product names of a step: `S001-USD`, `S002-USD`, ...
fn product_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("S{i:03}-USD")).collect()
}

/// Runs the products part and prints its tables.
pub async fn run(opts: &ProductsScale) -> Result<Vec<StepResult>> {
    let dir = std::env::temp_dir().join(format!("cgaf-bench-products-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(&dir, opts).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(dir: &Path, opts: &ProductsScale) -> Result<Vec<StepResult>> {
    println!(
        "\nscale: products served at 4 samples/s each (simulator), {} samples per product, calculate every {} ms; \
         {} s measured per step after a warm-up",
        opts.edge,
        CALCULATE_INTERVAL.as_millis(),
        opts.step.as_secs()
    );
    let pg_dir = dir.join("pg");
    let pg = tokio::task::spawn_blocking(move || {
        cgaf_embedded_postgres::EmbeddedPostgres::start(&cgaf_embedded_postgres::EmbeddedOptions::new(pg_dir))
    })
    .await?
    .context("starting a private PostgreSQL for the products benchmark")?;
    let postmaster = postmaster_pid(pg.cluster_dir())?;
    let admin = Store::new(&DbSettings::new(pg.url()))?;
    admin.wait_ready(Duration::from_secs(60)).await?;
    // One compile cache for every step's service.
    let data_dir = dir.join("data");
    let mut results = Vec::with_capacity(opts.counts.len());
    for &n in &opts.counts {
        let database = format!("scale_{n}");
        admin.client().await?.batch_execute(&format!("CREATE DATABASE {database}")).await?;
        let url = pg.database_url(&database);
        println!("  {n} products: filling {} samples per product", opts.edge);
        let store = fill(&url, n, opts.edge).await?;
        let r = measure_step(&url, &data_dir, &store, postmaster, n, opts).await?;
        println!(
            "  {n} products: {:.2} samples/s per product, {:.0}/{:.0} cycles, {:.1}% on time, mean {:.0} ms, cgaf {:.2} cores, \
             PostgreSQL {:.2} cores, RSS {:.0} MB",
            r.samples_per_product_s,
            r.cycles.count,
            r.cycles.scheduled,
            100.0 * r.cycles.on_time_fraction(),
            r.cycles.mean * 1e3,
            r.cgaf_cores,
            r.postgres_cores,
            r.cgaf_rss as f64 / 1e6
        );
        results.push(r);
    }
    print_tables(&results, opts);
    Ok(results)
}

/// A migrated database at `url` with `n` products, each holding `edge` simulator samples: the
/// first product's through the collector's insert, the others copied from it in SQL.
async fn fill(url: &str, n: usize, edge: usize) -> Result<Store> {
    let store = Store::new(&DbSettings::new(url.to_string()))?;
    store.wait_ready(Duration::from_secs(60)).await?;
    store.migrate().await?;
    let names = product_names(n);
    let max_size = i32::try_from(edge).context("edge")?;
    let products: Vec<Product> = names.iter().map(|p| Product { product: p.clone(), max_size }).collect();
    store.ensure_products(&products).await?;
    let first = names.first().context("no products")?;
    let mut source = AnySource::new(&SourceSettings { seed: 7, ..SourceSettings::default() })?;
    let mut cursor = None;
    for _ in 0..edge {
        let fetched = source.fetch(first, cursor.as_ref()).await?;
        cursor = fetched.cursor;
        store.insert_sample(&fetched.sample, max_size, "sim", None).await?;
    }
    let client = store.client().await?;
    for name in &names[1..] {
        client
            .execute(
                "INSERT INTO crypto_gaf.samples
                   (ask_prices, ask_sizes, bid_prices, bid_sizes, buys, midpoint, product, sells, sampled_at)
                 SELECT ask_prices, ask_sizes, bid_prices, bid_sizes, buys, midpoint, $2, sells, sampled_at
                 FROM crypto_gaf.samples WHERE product = $1 ORDER BY sample_id",
                &[first, name],
            )
            .await?;
    }
    drop(client);
    Ok(store)
}

/// Runs `cgaf serve --roles collect,calculate` on `url` for `n` products, waits for its first
/// cycles, then measures for `opts.step`.
async fn measure_step(
    url: &str,
    data_dir: &Path,
    store: &Store,
    postmaster: u32,
    n: usize,
    opts: &ProductsScale,
) -> Result<StepResult> {
    let products: Vec<String> = product_names(n).into_iter().map(|p| format!("{p}:{}", opts.edge)).collect();
    let mut service = start_service(url, data_dir, &products.join(","))?;
    let pid = service.pid();
    let http = reqwest::Client::new();
    service.wait_ready(&http).await?;
    // Warm-up: the first cycles (every product computed once) and a bounded wait.
    let warm_until = Instant::now() + opts.step;
    loop {
        let h = histogram(&metrics(&service, &http).await?, "cgaf_calculate_cycle_seconds");
        if h.count >= 2.0 || Instant::now() >= warm_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let samples = |text: &str| metric_values(text, "cgaf_samples_total").iter().map(|(_, v)| v).sum::<f64>();
    let text0 = metrics(&service, &http).await?;
    let (t0, cpu0, pg0) = (Instant::now(), cpu_ticks(pid, false).unwrap_or(0), postgres_ticks(postmaster));
    let mut next_progress = t0 + PROGRESS_EVERY;
    while t0.elapsed() < opts.step {
        tokio::time::sleep(Duration::from_millis(100).min(opts.step.saturating_sub(t0.elapsed()))).await;
        if Instant::now() >= next_progress && t0.elapsed() < opts.step {
            next_progress += PROGRESS_EVERY;
            let h = histogram(&metrics(&service, &http).await?, "cgaf_calculate_cycle_seconds");
            println!(
                "  {n} products: {:.0}/{} s measured, {:.0} cycles",
                t0.elapsed().as_secs_f64(),
                opts.step.as_secs(),
                h.count - histogram(&text0, "cgaf_calculate_cycle_seconds").count
            );
        }
    }
    let text1 = metrics(&service, &http).await?;
    let seconds = t0.elapsed().as_secs_f64();
    let (cpu1, pg1) = (cpu_ticks(pid, false).unwrap_or(0), postgres_ticks(postmaster));
    let cgaf_rss = rss_bytes(pid).unwrap_or(0);
    service.stop();
    let ticks = ticks_per_second();
    let cycles = cycle_stats(
        &histogram(&text0, "cgaf_calculate_cycle_seconds"),
        &histogram(&text1, "cgaf_calculate_cycle_seconds"),
        CALCULATE_INTERVAL,
        seconds,
    );
    let row = store
        .client()
        .await?
        .query_one(
            "SELECT (pg_total_relation_size('crypto_gaf.samples') + pg_total_relation_size('crypto_gaf.gafs'))::int8",
            &[],
        )
        .await?;
    let postgres_bytes: i64 = row.get(0);
    Ok(StepResult {
        products: n,
        seconds,
        samples_per_product_s: (samples(&text1) - samples(&text0)) / seconds / n as f64,
        cycles,
        cgaf_cores: cpu1.saturating_sub(cpu0) as f64 / ticks / seconds,
        postgres_cores: pg1.saturating_sub(pg0) as f64 / ticks / seconds,
        cgaf_rss,
        postgres_bytes: u64::try_from(postgres_bytes).unwrap_or(0),
    })
}

/// The tables of the products part.
fn print_tables(results: &[StepResult], opts: &ProductsScale) {
    println!(
        "\nscale: products on time ({} samples each; on time = a calculate cycle within its {} ms interval)",
        opts.edge,
        CALCULATE_INTERVAL.as_millis()
    );
    println!(
        "{:>9} {:>14} {:>13} {:>9} {:>10} {:>10} {:>9} {:>11} {:>11} {:>10}",
        "products",
        "samples/s/prod",
        "cycles",
        "on time",
        "mean",
        "p99 <=",
        "headroom",
        "cgaf CPU",
        "pg CPU",
        "cgaf RSS"
    );
    for r in results {
        let c = &r.cycles;
        let p99 = if c.p99_bound.is_finite() { format!("{:.0} ms", c.p99_bound * 1e3) } else { "> max".into() };
        println!(
            "{:>9} {:>14.2} {:>13} {:>8.1}% {:>7.0} ms {:>10} {:>8.0}% {:>11} {:>11} {:>7.0} MB",
            r.products,
            r.samples_per_product_s,
            format!("{:.0}/{:.0}", c.count, c.scheduled),
            100.0 * c.on_time_fraction(),
            c.mean * 1e3,
            p99,
            100.0 * c.headroom(CALCULATE_INTERVAL),
            format!("{:.2} cores", r.cgaf_cores),
            format!("{:.2} cores", r.postgres_cores),
            r.cgaf_rss as f64 / 1e6
        );
    }
    println!("\nscale: memory per product");
    println!("{:>9} {:>22} {:>28}", "products", "cgaf RSS growth/product", "PostgreSQL bytes/product");
    let mut previous: Option<&StepResult> = None;
    for r in results {
        let growth = match previous {
            Some(p) if r.products > p.products => {
                let delta = r.cgaf_rss as f64 - p.cgaf_rss as f64;
                format!("{:.2} MB", delta / (r.products - p.products) as f64 / 1e6)
            }
            _ => "-".into(),
        };
        println!(
            "{:>9} {:>22} {:>25.2} MB",
            r.products,
            growth,
            r.postgres_bytes as f64 / r.products.max(1) as f64 / 1e6
        );
        previous = Some(r);
    }
    println!(
        "(RSS growth per product: between this step and the one before; PostgreSQL bytes: \
         pg_total_relation_size of crypto_gaf.samples and crypto_gaf.gafs over the products)"
    );
}

/// `cgaf serve --roles collect,calculate` on the simulator for `products`; stopped when dropped.
fn start_service(database_url: &str, data_dir: &Path, products: &str) -> Result<ServiceChild> {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let args = [
        "--roles",
        "collect,calculate",
        "--source",
        "sim",
        "--products",
        products,
        "--sync-products",
        "--collect-schedule",
        &ms(COLLECT_INTERVAL),
        "--calculate-schedule",
        &ms(CALCULATE_INTERVAL),
        "--database-url",
        database_url,
    ]
    .map(String::from);
    ServiceChild::spawn(data_dir, &args)
}

/// The service's `/metrics` text.
async fn metrics(service: &ServiceChild, http: &reqwest::Client) -> Result<String> {
    let url = format!("{}/metrics", service.base);
    Ok(http.get(&url).send().await.with_context(|| format!("GET {url}"))?.text().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP cgaf_calculate_cycle_seconds One calculate cycle
# TYPE cgaf_calculate_cycle_seconds histogram
cgaf_calculate_cycle_seconds_bucket{le=\"0.1\"} 5
cgaf_calculate_cycle_seconds_bucket{le=\"0.25\"} 8
cgaf_calculate_cycle_seconds_bucket{le=\"0.5\"} 9
cgaf_calculate_cycle_seconds_bucket{le=\"1\"} 10
cgaf_calculate_cycle_seconds_bucket{le=\"+Inf\"} 10
cgaf_calculate_cycle_seconds_sum 2.5
cgaf_calculate_cycle_seconds_count 10
cgaf_samples_total{product=\"A-USD\"} 7
cgaf_samples_total{product=\"B-USD\"} 3
cgaf_samples_totally 99
";

    #[test]
    fn metric_values_match_the_exact_name() {
        let v = metric_values(TEXT, "cgaf_samples_total");
        assert_eq!(v, [("product=\"A-USD\"", 7.0), ("product=\"B-USD\"", 3.0)]);
        assert_eq!(metric_values(TEXT, "cgaf_calculate_cycle_seconds_count"), [("", 10.0)]);
        assert!(metric_values(TEXT, "nothing").is_empty());
    }

    #[test]
    fn a_histogram_is_read_with_its_infinite_bucket() {
        let h = histogram(TEXT, "cgaf_calculate_cycle_seconds");
        assert_eq!(h.buckets.len(), 5);
        assert_eq!(h.buckets[4], (f64::INFINITY, 10.0));
        assert_eq!((h.sum, h.count), (2.5, 10.0));
        assert_eq!(histogram("", "x"), Histogram::default());
    }

    #[test]
    fn cycle_stats_count_the_window_only() {
        let before = Histogram {
            buckets: vec![(0.1, 2.0), (0.25, 2.0), (0.5, 2.0), (1.0, 2.0), (f64::INFINITY, 2.0)],
            sum: 0.1,
            count: 2.0,
        };
        let after = histogram(TEXT, "cgaf_calculate_cycle_seconds");
        let s = cycle_stats(&before, &after, Duration::from_millis(500), 5.0);
        assert_eq!(s.count, 8.0);
        assert_eq!(s.scheduled, 10.0);
        // 9 − 2 cycles within 0.5 s of the 8 in the window.
        assert_eq!(s.on_time, 7.0);
        assert_eq!(s.on_time_fraction(), 7.0 / 8.0);
        assert!((s.mean - 0.3).abs() < 1e-12);
        assert_eq!(s.p99_bound, 1.0);
        assert!((s.headroom(Duration::from_millis(500)) - 0.4).abs() < 1e-12);
        // An interval between bounds counts the cycles under the bound below it.
        let s = cycle_stats(&before, &after, Duration::from_millis(300), 5.0);
        assert_eq!(s.on_time, 6.0);
        // No cycles: nothing on time, no division by zero.
        let none = cycle_stats(&after, &after, Duration::from_millis(500), 5.0);
        assert_eq!((none.count, none.on_time_fraction(), none.mean), (0.0, 0.0, 0.0));
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        assert!(cpu_ticks(me, true).is_some());
        assert!(rss_bytes(me).unwrap() > 0);
        assert_eq!(parent_of(me), Some(std::os::unix::process::parent_id()));
        assert!(ticks_per_second() > 0.0);
    }

    #[test]
    fn product_names_are_valid_and_distinct() {
        let names = product_names(300);
        assert_eq!(names.len(), 300);
        assert!(names.iter().all(|n| cgaf_store::products::validate_product_id(n).is_ok()));
        assert_eq!(names.iter().collect::<std::collections::BTreeSet<_>>().len(), 300);
    }
}
