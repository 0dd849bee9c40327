//! Metrics read at scrape time from state other parts keep: the plugins' call accounting (the
//! runtime registry's per-version statistics, exported as they are, never counted twice), and the
//! database pool and error counts of the store.
//!
//! Cardinality: `plugin` is bounded by the installed plugins; `version` by
//! [`MAX_VERSIONS_PER_PLUGIN`] per plugin (the active one and the newest others called in this
//! process); `kind` by the runtime's fault codes.

use cgaf_runtime::{PluginHost, CALL_SECONDS_BUCKETS};
use cgaf_store::Store;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The fault kinds (the runtime's codes of faults): each exported version's counters start at 0.
pub const FAULT_KINDS: [&str; 5] = ["trap", "timeout", "memory_limit", "invalid_result", "plugin_error"];

/// Most versions of one plugin with their own series.
pub const MAX_VERSIONS_PER_PLUGIN: usize = 5;

/// One metric family: its descriptor and how it is exposed.
struct Family {
    desc: Desc,
    kind: MetricType,
}

impl Family {
    fn new(name: &str, help: &str, labels: &[&str], kind: MetricType) -> Result<Self, prometheus::Error> {
        let labels = labels.iter().map(|l| l.to_string()).collect();
        Ok(Self { desc: Desc::new(name.into(), help.into(), labels, HashMap::new())?, kind })
    }

    fn family(&self, metrics: Vec<proto::Metric>) -> MetricFamily {
        let mut f = MetricFamily::default();
        f.set_name(self.desc.fq_name.clone());
        f.set_help(self.desc.help.clone());
        f.set_field_type(self.kind);
        f.set_metric(metrics);
        f
    }
}

fn labelled(labels: &[(&str, &str)]) -> proto::Metric {
    let mut m = proto::Metric::default();
    m.set_label(
        labels
            .iter()
            .map(|(n, v)| {
                let mut l = proto::LabelPair::default();
                l.set_name(n.to_string());
                l.set_value(v.to_string());
                l
            })
            .collect(),
    );
    m
}

fn counter(labels: &[(&str, &str)], value: f64) -> proto::Metric {
    let mut m = labelled(labels);
    let mut c = proto::Counter::default();
    c.set_value(value);
    m.set_counter(c);
    m
}

fn gauge(labels: &[(&str, &str)], value: f64) -> proto::Metric {
    let mut m = labelled(labels);
    let mut g = proto::Gauge::default();
    g.set_value(value);
    m.set_gauge(g);
    m
}

/// Versions ordered newest first (semver; unparsable ones last, by text).
fn newest_first(versions: &mut [String]) {
    versions.sort_by(|a, b| match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => b.cmp(&a),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => b.cmp(a),
    });
}

/// The plugins' call accounting as Prometheus metrics.
pub struct PluginCollector {
    host: Arc<PluginHost>,
    calls: Family,
    faults: Family,
    latency: Family,
    quarantines: Family,
    peak_memory: Family,
    swaps: Family,
    active: Family,
}

impl PluginCollector {
    /// A collector reading `host`'s registry on every scrape.
    pub fn new(host: Arc<PluginHost>) -> Result<Self, prometheus::Error> {
        let pv = &["plugin", "version"];
        Ok(Self {
            host,
            calls: Family::new("cgaf_plugin_calls_total", "Plugin calls in this process", pv, MetricType::COUNTER)?,
            faults: Family::new(
                "cgaf_plugin_faults_total",
                "Plugin faults (trap, timeout, memory_limit, invalid_result, plugin_error) by kind",
                &["plugin", "version", "kind"],
                MetricType::COUNTER,
            )?,
            latency: Family::new(
                "cgaf_plugin_call_duration_seconds",
                "Plugin call latency",
                pv,
                MetricType::HISTOGRAM,
            )?,
            quarantines: Family::new(
                "cgaf_plugin_quarantines_total",
                "Quarantines this process asked for",
                pv,
                MetricType::COUNTER,
            )?,
            peak_memory: Family::new(
                "cgaf_plugin_peak_memory_bytes",
                "Largest linear memory an instance of the version had in this process",
                pv,
                MetricType::GAUGE,
            )?,
            swaps: Family::new(
                "cgaf_plugin_swaps_total",
                "Changes of the active version in this process",
                &["plugin"],
                MetricType::COUNTER,
            )?,
            active: Family::new(
                "cgaf_plugin_active_info",
                "1 for the version of each plugin active in this process",
                pv,
                MetricType::GAUGE,
            )?,
        })
    }
}

impl Collector for PluginCollector {
    fn desc(&self) -> Vec<&Desc> {
        [&self.calls, &self.faults, &self.latency, &self.quarantines, &self.peak_memory, &self.swaps, &self.active]
            .iter()
            .map(|f| &f.desc)
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let registry = &self.host.registry;
        let active: BTreeMap<String, String> =
            registry.all().iter().map(|p| (p.info.name.clone(), p.info.version.clone())).collect();
        let mut by_plugin: BTreeMap<String, BTreeMap<String, cgaf_runtime::PluginStats>> = BTreeMap::new();
        for ((name, version), stats) in registry.stats_all() {
            by_plugin.entry(name).or_default().insert(version, stats);
        }
        let (mut calls, mut faults, mut latency, mut quarantines, mut peak) = (vec![], vec![], vec![], vec![], vec![]);
        for (name, versions) in &by_plugin {
            let mut names: Vec<String> = versions.keys().cloned().collect();
            newest_first(&mut names);
            let current = active.get(name);
            let mut kept: Vec<&String> = current.filter(|v| versions.contains_key(*v)).into_iter().collect();
            kept.extend(names.iter().filter(|v| Some(*v) != current).take(MAX_VERSIONS_PER_PLUGIN - kept.len()));
            for version in kept {
                let Some(s) = versions.get(version) else { continue };
                let labels = [("plugin", name.as_str()), ("version", version.as_str())];
                calls.push(counter(&labels, s.calls as f64));
                quarantines.push(counter(&labels, s.quarantines as f64));
                peak.push(gauge(&labels, s.peak_memory as f64));
                for kind in FAULT_KINDS {
                    let n = s.faults.get(kind).copied().unwrap_or(0);
                    faults.push(counter(&[labels[0], labels[1], ("kind", kind)], n as f64));
                }
                let mut h = proto::Histogram::default();
                h.set_sample_count(s.calls);
                h.set_sample_sum(s.total_seconds);
                let mut cumulative = 0;
                h.set_bucket(
                    CALL_SECONDS_BUCKETS
                        .iter()
                        .zip(s.latency_buckets)
                        .map(|(&le, n)| {
                            cumulative += n;
                            let mut b = proto::Bucket::default();
                            b.set_upper_bound(le);
                            b.set_cumulative_count(cumulative);
                            b
                        })
                        .collect(),
                );
                let mut m = labelled(&labels);
                m.set_histogram(h);
                latency.push(m);
            }
        }
        let swaps = registry.swaps().iter().map(|(n, c)| counter(&[("plugin", n)], *c as f64)).collect();
        let active = active.iter().map(|(n, v)| gauge(&[("plugin", n), ("version", v)], 1.0)).collect();
        vec![
            self.calls.family(calls),
            self.faults.family(faults),
            self.latency.family(latency),
            self.quarantines.family(quarantines),
            self.peak_memory.family(peak),
            self.swaps.family(swaps),
            self.active.family(active),
        ]
    }
}

/// The database pool's state and the store's error counts as Prometheus metrics.
pub struct DatabaseCollector {
    store: Store,
    connections: Family,
    max_connections: Family,
    waiting: Family,
    errors: Family,
}

impl DatabaseCollector {
    /// A collector reading `store`'s pool on every scrape.
    pub fn new(store: Store) -> Result<Self, prometheus::Error> {
        Ok(Self {
            store,
            connections: Family::new(
                "cgaf_db_pool_connections",
                "Pooled database connections by state (in_use, idle)",
                &["state"],
                MetricType::GAUGE,
            )?,
            max_connections: Family::new(
                "cgaf_db_pool_max_connections",
                "Most connections the pool opens",
                &[],
                MetricType::GAUGE,
            )?,
            waiting: Family::new(
                "cgaf_db_pool_waiting_requests",
                "Requests waiting for a pooled connection",
                &[],
                MetricType::GAUGE,
            )?,
            errors: Family::new(
                "cgaf_db_errors_total",
                "Database errors by kind (connection, query)",
                &["kind"],
                MetricType::COUNTER,
            )?,
        })
    }
}

impl Collector for DatabaseCollector {
    fn desc(&self) -> Vec<&Desc> {
        [&self.connections, &self.max_connections, &self.waiting, &self.errors].iter().map(|f| &f.desc).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let pool = self.store.pool_status();
        let errors = cgaf_store::error_counts();
        let in_use = pool.size.saturating_sub(pool.available);
        vec![
            self.connections.family(vec![
                gauge(&[("state", "in_use")], in_use as f64),
                gauge(&[("state", "idle")], pool.available as f64),
            ]),
            self.max_connections.family(vec![gauge(&[], pool.max_size as f64)]),
            self.waiting.family(vec![gauge(&[], pool.waiting as f64)]),
            self.errors.family(vec![
                counter(&[("kind", "connection")], errors.connection as f64),
                counter(&[("kind", "query")], errors.query as f64),
            ]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_newest_first() {
        let mut v = vec!["1.2.0".to_string(), "x".into(), "1.10.0".into(), "0.9.1".into()];
        newest_first(&mut v);
        assert_eq!(v, ["1.10.0", "1.2.0", "0.9.1", "x"]);
    }

    #[test]
    fn the_pool_and_errors_are_exposed() {
        let store = Store::new(&cgaf_store::DbSettings::new("postgres://u@127.0.0.1:1/x")).unwrap();
        let registry = prometheus::Registry::new();
        registry.register(Box::new(DatabaseCollector::new(store).unwrap())).unwrap();
        let text = {
            let mut buf = Vec::new();
            prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &registry.gather(), &mut buf).unwrap();
            String::from_utf8(buf).unwrap()
        };
        assert!(text.contains("cgaf_db_pool_connections{state=\"in_use\"} 0"), "{text}");
        assert!(text.contains("cgaf_db_pool_max_connections 16"), "{text}");
        assert!(text.contains("cgaf_db_errors_total{kind=\"query\"}"), "{text}");
    }
}
