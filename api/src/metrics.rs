//! Prometheus metrics served at `GET /metrics`.
//!
//! Each [`Metrics`] has its own registry, so tests that build several
//! services in one process do not share counters.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, from 50 µs to 1 s: a prediction takes
/// microseconds, so the default Prometheus buckets (from 5 ms) would put
/// every request in the first one.
const LATENCY_BUCKETS: [f64; 13] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Route labels; any other path is counted as `unmatched`, so that clients
/// cannot create new label values.
const ROUTES: [&str; 6] = [
    "/",
    "/livez",
    "/predict",
    "/metrics",
    "/openapi.json",
    "/docs",
];
const UNMATCHED: &str = "unmatched";

/// Method labels: the methods of RFC 9110 and PATCH. hyper accepts any
/// token as a method, so every other one is counted as `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];
const OTHER_METHOD: &str = "other";

/// The service's counters, histogram and gauges.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    model_info: IntGaugeVec,
    model_loaded: IntGauge,
    reloads: IntCounterVec,
    /// Latency children of every route label, in [`ROUTES`] order and then
    /// `unmatched`, resolved once: a label lookup hashes the label values
    /// and takes a lock on every request.
    latency_by_route: Vec<Histogram>,
    /// The counter of the most frequent request, a successful prediction.
    predict_ok: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status code.",
            ),
            &["route", "method", "status"],
        )
        .expect("the metric options are valid");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request to response, by route.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("the metric options are valid");
        let model_info = IntGaugeVec::new(
            Opts::new("model_info", "1 for the version of the model being served."),
            &["version"],
        )
        .expect("the metric options are valid");
        let model_loaded =
            IntGauge::new("model_loaded", "1 when a valid model is serving, else 0.")
                .expect("the metric options are valid");
        let reloads = IntCounterVec::new(
            Opts::new(
                "model_reloads_total",
                "Model file loads by outcome: installed or rejected.",
            ),
            &["outcome"],
        )
        .expect("the metric options are valid");

        let registry = Registry::new();
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(model_info.clone()),
            Box::new(model_loaded.clone()),
            Box::new(reloads.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric name is registered once");
        }
        let latency_by_route = ROUTES
            .iter()
            .chain(std::iter::once(&UNMATCHED))
            .map(|route| latency.with_label_values(&[*route]))
            .collect();
        let predict_ok = requests.with_label_values(&["/predict", "POST", "200"]);
        Metrics {
            registry,
            requests,
            model_info,
            model_loaded,
            reloads,
            latency_by_route,
            predict_ok,
        }
    }

    /// Counts one finished request and its latency.
    pub fn observe_request(&self, path: &str, method: &str, status: u16, seconds: f64) {
        let index = if status == 404 {
            ROUTES.len()
        } else {
            route_index(path)
        };
        let route = ROUTES.get(index).copied().unwrap_or(UNMATCHED);
        if route == "/predict" && method == "POST" && status == 200 {
            self.predict_ok.inc();
        } else {
            let status_buffer = itoa_status(status);
            let status = std::str::from_utf8(&status_buffer).unwrap_or("0");
            self.requests
                .with_label_values(&[route, method_label(method), status])
                .inc();
        }
        self.latency_by_route[index].observe(seconds);
    }

    /// Sets the served model version, or none.
    pub fn set_model(&self, version: Option<&str>) {
        self.model_info.reset();
        match version {
            Some(version) => {
                self.model_info.with_label_values(&[version]).set(1);
                self.model_loaded.set(1);
            }
            None => self.model_loaded.set(0),
        }
    }

    /// Counts one load of the model file with its `outcome`.
    pub fn record_reload(&self, outcome: &str) {
        self.reloads.with_label_values(&[outcome]).inc();
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> Vec<u8> {
        let mut buffer = Vec::with_capacity(4096);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("writing to a Vec cannot fail");
        buffer
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Maps a request path to its index in [`ROUTES`], or `ROUTES.len()` for
/// `unmatched`. warp serves a route with trailing slashes too (`/livez/`),
/// so they are ignored.
fn route_index(path: &str) -> usize {
    let trimmed = path.trim_end_matches('/');
    let path = if trimmed.is_empty() { "/" } else { trimmed };
    let path = if path.starts_with("/docs/") {
        "/docs"
    } else {
        path
    };
    ROUTES
        .iter()
        .position(|route| *route == path)
        .unwrap_or(ROUTES.len())
}

/// Returns the method label of a request method: one of [`METHODS`] or
/// `other`, so that clients cannot create new label values.
fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or(OTHER_METHOD)
}

/// Returns the route label of a request path: one of [`ROUTES`] or
/// `unmatched`.
#[cfg(test)]
fn route_label(path: &str) -> &'static str {
    ROUTES.get(route_index(path)).copied().unwrap_or(UNMATCHED)
}

/// Formats a 3-digit status code without allocating.
fn itoa_status(status: u16) -> [u8; 3] {
    let status = status.min(999);
    [
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_share_one_label() {
        assert_eq!(route_label("/predict"), "/predict");
        assert_eq!(route_label("/docs/index.html"), "/docs");
        assert_eq!(route_label("/nope/1"), "unmatched");
        assert_eq!(route_label("/nope/"), "unmatched");
    }

    #[test]
    fn trailing_slash_keeps_the_route() {
        assert_eq!(route_label("/predict/"), "/predict");
        assert_eq!(route_label("/livez/"), "/livez");
        assert_eq!(route_label("/"), "/");
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let metrics = Metrics::new();
        for method in ["M1", "M2", "get"] {
            metrics.observe_request("/livez", method, 405, 0.0002);
        }
        metrics.observe_request("/livez", "PATCH", 405, 0.0002);
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(
            text.contains(r#"http_requests_total{method="other",route="/livez",status="405"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"http_requests_total{method="PATCH",route="/livez",status="405"} 1"#)
        );
        assert!(!text.contains(r#"method="M1""#), "{text}");
    }

    #[test]
    fn request_counter_is_rendered() {
        let metrics = Metrics::new();
        metrics.observe_request("/predict", "POST", 422, 0.0002);
        metrics.observe_request("/predict", "POST", 200, 0.0002);
        metrics.observe_request("/predict/", "POST", 200, 0.0002);
        metrics.observe_request("/nope", "GET", 404, 0.0002);
        metrics.set_model(Some("0123456789ab"));
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(
            text.contains(r#"http_requests_total{method="POST",route="/predict",status="422"} 1"#)
        );
        assert!(
            text.contains(r#"http_requests_total{method="POST",route="/predict",status="200"} 2"#)
        );
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#)
        );
        assert!(text.contains(r#"http_request_duration_seconds_count{route="/predict"} 3"#));
        assert!(text.contains(r#"http_request_duration_seconds_count{route="unmatched"} 1"#));
        assert!(text.contains(r#"model_info{version="0123456789ab"} 1"#));
        assert!(text.contains("model_loaded 1"));
    }
}
