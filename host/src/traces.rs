//! Logging and traces: the tracing subscriber of every command — the log lines on stderr (text or
//! JSON, colours only on a terminal) and, when an OTLP endpoint is set, OpenTelemetry spans
//! exported over OTLP/HTTP (protobuf) through our own reqwest client on the service's tokio
//! runtime. JSON log lines inside a traced span carry its `trace_id` and `span_id`.

use crate::cli::{GlobalArgs, LogFormat};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use std::time::Duration;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The standard variables an OTLP exporter reads, in the order they are tried after
/// `--otlp-endpoint`: the traces endpoint is used as it is, the general one gets `/v1/traces`.
const OTEL_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const OTEL_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard service-name variable, used when `--otlp-service-name` is not given.
const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// The service name when neither `--otlp-service-name` nor `OTEL_SERVICE_NAME` is set.
const DEFAULT_SERVICE_NAME: &str = "cgaf";
/// The log directive that keeps warp's per-request lines out of the log: an info line per request,
/// a warn line per 4xx and an error line per 5xx that says only "unable to process request" (a
/// `/readyz` probe answered 503 while the service starts was an ERROR line). The API logs the
/// causes of its failures itself, and every request is on its span and in the request metrics.
const QUIET_WARP: &str = "warp::filters::trace=off";
/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where spans go: the OTLP/HTTP traces URL and the service name they are reported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// The full traces URL, e.g. `http://collector:4318/v1/traces`.
    pub traces_url: String,
    /// `service.name` of the exported resource.
    pub service_name: String,
}

impl TraceSettings {
    /// Traces are on when `--otlp-endpoint`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is set (first wins); a base endpoint gets `/v1/traces`, as
    /// the OTLP specification says. `env` reads a variable (the process environment in `cgaf`).
    pub fn resolve(global: &GlobalArgs, env: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let traces_url = if let Some(base) = set(global.otlp_endpoint.clone()) {
            with_traces_path(&base)
        } else if let Some(url) = set(env(OTEL_TRACES_ENDPOINT)) {
            url
        } else if let Some(base) = set(env(OTEL_ENDPOINT)) {
            with_traces_path(&base)
        } else {
            return Ok(None);
        };
        let parsed = url::Url::parse(&traces_url).map_err(|e| format!("OTLP endpoint {traces_url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("OTLP endpoint {traces_url:?}: want an http:// or https:// URL (OTLP over HTTP)"));
        }
        let service_name = set(global.otlp_service_name.clone())
            .or_else(|| set(env(OTEL_SERVICE_NAME)))
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
        Ok(Some(Self { traces_url, service_name }))
    }
}

/// `base` + `/v1/traces` (one slash between).
fn with_traces_path(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// What [`init`] set up; [`Telemetry::shutdown`] flushes the spans still queued.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued and stops the exporter. Call it from outside the runtime's
    /// `block_on` while the runtime still runs (the export requests run on it).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown_with_timeout(EXPORT_TIMEOUT) {
                eprintln!("warning: flushing traces: {e}");
            }
        }
    }
}

/// The filter of the log lines for `--log`: warp's per-request lines only when it names warp.
fn log_filter(log: &str) -> Result<EnvFilter, String> {
    let filter = EnvFilter::try_new(log).unwrap_or_else(|_| EnvFilter::new("info"));
    if log.contains("warp") {
        return Ok(filter);
    }
    Ok(filter.add_directive(QUIET_WARP.parse().map_err(|e| format!("{QUIET_WARP}: {e}"))?))
}

/// The subscriber's dispatch, for the JSON formatter to read span contexts from.
static DISPATCH: OnceLock<tracing::dispatcher::WeakDispatch> = OnceLock::new();

/// Installs the global subscriber: log lines per `global` and, when `traces` is set, the
/// OpenTelemetry layer exporting to it. Must run inside the tokio runtime that carries the
/// export requests (`runtime.enter()`).
pub fn init(global: &GlobalArgs, traces: Option<&TraceSettings>) -> Result<Telemetry, String> {
    let filter = log_filter(&global.log)?;
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let log_layer = match global.log_format {
        LogFormat::Json => fmt.json().event_format(WithTraceIds(tracing_subscriber::fmt::format().json())).boxed(),
        LogFormat::Text => fmt.boxed(),
    }
    .with_filter(filter);
    let (otel_layer, provider) = match traces {
        Some(settings) => {
            let provider = tracer_provider(settings)?;
            let tracer = provider.tracer("cgaf");
            let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(filter_fn(exported));
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    let dispatch: tracing::Dispatch = Registry::default().with(log_layer).with(otel_layer).into();
    // Set before the dispatch is installed, so no event can be formatted without it.
    let _ = DISPATCH.set(dispatch.downgrade());
    dispatch.try_init().map_err(|e| format!("installing the log subscriber: {e}"))?;
    Ok(Telemetry { provider })
}

/// What goes to OpenTelemetry: our crates' spans at info and above (the cycles, requests and
/// batches; not the per-library debug spans), and their warnings and errors as span events.
fn exported(meta: &tracing::Metadata<'_>) -> bool {
    let ours = meta.target().starts_with("cgaf");
    let wanted = if meta.is_span() { Level::INFO } else { Level::WARN };
    ours && *meta.level() <= wanted
}

/// The tracer provider: a batch processor (its own thread) and the OTLP/HTTP exporter sending
/// through [`RuntimeClient`].
fn tracer_provider(settings: &TraceSettings) -> Result<SdkTracerProvider, String> {
    let handle =
        tokio::runtime::Handle::try_current().map_err(|e| format!("traces need the tokio runtime to send on: {e}"))?;
    let client =
        reqwest::Client::builder().timeout(EXPORT_TIMEOUT).build().map_err(|e| format!("the OTLP HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(settings.traces_url.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(RuntimeClient { client, handle })
        .build()
        .map_err(|e| format!("the OTLP span exporter: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(settings.service_name.clone()).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The OTLP exporter's HTTP client: our reqwest client, each request spawned on the service's
/// tokio runtime. The batch processor exports from its own thread with a plain executor, so the
/// request must not run there (reqwest needs tokio's reactor); no second runtime or HTTP stack.
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    handle: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let sent = self.handle.spawn(async move {
            let response = client.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = sent.await??;
        let mut out = Response::builder().status(status).body(body)?;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// The JSON event format with the OpenTelemetry `trace_id` and `span_id` of the innermost
/// traced span added to each line inside one.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let ids = ctx.event_scope().and_then(|scope| {
            let dispatch = DISPATCH.get()?.upgrade()?;
            scope.into_iter().find_map(|span| {
                let cx = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
                let span_context = cx.span().span_context().clone();
                span_context.is_valid().then(|| (span_context.trace_id(), span_context.span_id()))
            })
        });
        match (ids, line.trim_end().strip_suffix('}')) {
            (Some((trace_id, span_id)), Some(object)) => {
                writer.write_str(object)?;
                writeln!(writer, ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}")
            }
            _ => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The lines `filter` lets through of an error from warp's request trace and one of ours.
    fn logged(filter: EnvFilter) -> String {
        use tracing_subscriber::layer::SubscriberExt;
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let writer = move || Sink(sink.clone());
        let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false).with_filter(filter);
        tracing::subscriber::with_default(Registry::default().with(layer), || {
            tracing::error!(target: "warp::filters::trace", status = 503, "unable to process request (internal error)");
            tracing::error!(target: "cgaf_api::error", "database query");
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        text
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn warps_request_lines_are_off_unless_the_filter_names_warp() {
        // A `/readyz` probe answered 503 while the service starts made an ERROR line.
        let default = logged(log_filter("info,tokio_postgres=warn").unwrap());
        assert!(!default.contains("unable to process request"), "{default}");
        assert!(default.contains("database query"), "our own errors stay: {default}");
        let asked = logged(log_filter("info,warp=info").unwrap());
        assert!(asked.contains("unable to process request"), "{asked}");
    }

    fn global(args: &[&str]) -> GlobalArgs {
        let mut argv = vec!["cgaf"];
        argv.extend_from_slice(args);
        argv.push("migrate");
        crate::cli::Cli::parse_from(argv).global
    }

    #[test]
    fn traces_are_off_without_an_endpoint() {
        assert_eq!(TraceSettings::resolve(&global(&[]), |_| None), Ok(None));
        assert_eq!(TraceSettings::resolve(&global(&[]), |_| Some(" ".into())), Ok(None));
    }

    #[test]
    fn the_flag_wins_and_a_base_endpoint_gets_the_traces_path() {
        let env = |k: &str| match k {
            OTEL_ENDPOINT => Some("http://env:4318".to_string()),
            OTEL_SERVICE_NAME => Some("from-env".to_string()),
            _ => None,
        };
        let flag = global(&["--otlp-endpoint", "http://collector:4318/"]);
        let s = TraceSettings::resolve(&flag, env).unwrap().unwrap();
        assert_eq!(s.traces_url, "http://collector:4318/v1/traces");
        assert_eq!(s.service_name, "from-env");
        let s = TraceSettings::resolve(&global(&[]), env).unwrap().unwrap();
        assert_eq!(s.traces_url, "http://env:4318/v1/traces");
        let named = global(&["--otlp-service-name", "cgaf-eu"]);
        assert_eq!(TraceSettings::resolve(&named, env).unwrap().unwrap().service_name, "cgaf-eu");
    }

    #[test]
    fn the_traces_endpoint_variable_is_used_as_it_is() {
        let env = |k: &str| (k == OTEL_TRACES_ENDPOINT).then(|| "http://tempo:4318/otlp/v1/traces".to_string());
        let s = TraceSettings::resolve(&global(&[]), env).unwrap().unwrap();
        assert_eq!(s.traces_url, "http://tempo:4318/otlp/v1/traces");
        assert_eq!(s.service_name, DEFAULT_SERVICE_NAME);
    }

    #[test]
    fn a_bad_endpoint_is_refused() {
        assert!(TraceSettings::resolve(&global(&["--otlp-endpoint", "collector:4317"]), |_| None).is_err());
        assert!(TraceSettings::resolve(&global(&["--otlp-endpoint", "not a url"]), |_| None).is_err());
    }
}
