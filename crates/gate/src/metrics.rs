//! Prometheus metrics: messages and findings counters, check latency histograms per action,
//! the time each detector and the parser take, and the notices to senders (counted per event
//! and outcome, and the backlog of pending ones).

use doublecheck_engine::{InternalError, Timings, Verdict};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Histogram buckets for stages that take microseconds, in seconds.
const FINE_BUCKETS: &[f64] = &[
    0.000_001, 0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 1.0,
];

/// The process-wide recorder, installed on first use; `/metrics` renders it.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
            ])
            .and_then(|b| {
                // Detectors and the parser take microseconds: finer buckets.
                b.set_buckets_for_metric(
                    Matcher::Full("doublecheck_detector_seconds".into()),
                    FINE_BUCKETS,
                )?
                .set_buckets_for_metric(
                    Matcher::Full("doublecheck_parse_seconds".into()),
                    FINE_BUCKETS,
                )
            })
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Another recorder may already be installed (tests build several apps): keep ours for
        // rendering either way.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Count one checked message: its action, its findings, and how long the check took.
pub fn record_check(
    front_end: &'static str,
    result: &Result<Verdict, InternalError>,
    elapsed: Duration,
) {
    let _ = handle();
    match result {
        Ok(v) => {
            metrics::counter!("doublecheck_messages_total", "front_end" => front_end, "action" => v.would.as_str()).increment(1);
            metrics::histogram!("doublecheck_check_seconds", "front_end" => front_end, "action" => v.would.as_str())
                .record(elapsed.as_secs_f64());
            for f in &v.findings {
                metrics::counter!("doublecheck_findings_total", "detector" => f.id, "severity" => f.severity.as_str()).increment(1);
            }
        }
        Err(_) => {
            metrics::counter!("doublecheck_internal_errors_total", "front_end" => front_end)
                .increment(1);
        }
    }
}

/// Record how long parsing and each detector took for one message:
/// `doublecheck_detector_seconds{detector}` and `doublecheck_parse_seconds`.
pub fn record_timings(timings: &Timings) {
    let _ = handle();
    metrics::histogram!("doublecheck_parse_seconds").record(timings.parse.as_secs_f64());
    for (detector, t) in timings.per_detector() {
        metrics::histogram!("doublecheck_detector_seconds", "detector" => detector)
            .record(t.as_secs_f64());
    }
}

/// Count one notice to a sender: `doublecheck_notices_total{event,result}` with `result`
/// `queued` (stored), `sent` (the upstream accepted it), `retry` (a temporary failure; tried
/// again later), `failed` (given up) or `skipped` (nobody to tell, or nowhere to send).
pub fn record_notice(event: &str, result: &'static str) {
    let _ = handle();
    let event: &'static str = match event {
        "held" => "held",
        "released" => "released",
        "rejected" => "rejected",
        _ => "other",
    };
    metrics::counter!("doublecheck_notices_total", "event" => event, "result" => result)
        .increment(1);
}

/// Set the notice backlog gauges: `doublecheck_notices_pending` (notices not yet accepted by the
/// upstream nor given up) and `doublecheck_notices_oldest_pending_seconds` (0 when none).
pub fn record_notice_backlog(pending: u64, oldest_age: Duration) {
    let _ = handle();
    metrics::gauge!("doublecheck_notices_pending").set(pending as f64);
    metrics::gauge!("doublecheck_notices_oldest_pending_seconds").set(oldest_age.as_secs_f64());
}
