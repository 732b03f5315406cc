//! Operational figures for an operator's Prometheus, in its text format, on a listener of their own
//! that is off unless `metrics_bind` is set (`app`). What may be counted is fixed here: process
//! figures, submissions accepted and refused by a reason from a closed list, the writer's batch sizes
//! and commit times, report run times. No label names a survey, a client, a respondent or a time; no
//! figure is finer than the scrape that reads it (docs/privacy.md, "Metrics"). Imports nothing of
//! Chorus: the rooms call in with plain values.

use std::time::Duration;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::ConstGauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

/// The content type of what `render` gives (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Why a submission was refused: a closed list, so no label value can come from a request.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the label values, as Prometheus spells them
pub enum Refusal {
    unknown_survey,
    closed,
    invalid_answers,
    unreadable,
    bad_token,
    expired_token,
    too_fast,
    already_received,
    rate_limited,
    honeypot,
    bad_code,
    not_ready,
    /// The screening answer ends the survey (e.g. under 18): nothing stored, by design.
    screened_out,
    /// A failure of ours (database, writer, sealing): answered with a 500.
    internal,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: Refusal,
}

/// The figures of one running application (tests run several in one process, so there is no global).
pub struct Metrics {
    registry: Registry,
    accepted: Counter,
    refused: Family<Reason, Counter>,
    batch_size: Histogram,
    commit_seconds: Histogram,
    report_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let accepted = Counter::default();
        let refused = Family::<Reason, Counter>::default();
        // 1, 2, 4 … 1,024 answers: the writer takes at most 512 at a time.
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        // 0.25 ms … about 4 s.
        let commit_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 15));
        // 0.1 s … about 7 minutes.
        let report_seconds = Histogram::new(exponential_buckets(0.1, 2.0, 13));
        let mut registry = Registry::default();
        // The usual process_* names stay unprefixed, as every exporter spells them.
        registry.register_collector(Box::new(Process::now()));
        let ours = registry.sub_registry_with_prefix("chorus");
        ours.register(
            "submissions_accepted",
            "Answer sets stored and acknowledged, all surveys together",
            accepted.clone(),
        );
        ours.register("submissions_refused", "Submissions refused, all surveys together, by reason", refused.clone());
        ours.register("writer_batch_size", "Answer sets per group commit", batch_size.clone());
        ours.register_with_unit(
            "writer_commit",
            "Time of one group commit, from its first statement to the end of its COMMIT",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        ours.register_with_unit(
            "report_run",
            "Time of one report run started from the web, from the request to the stored release",
            Unit::Seconds,
            report_seconds.clone(),
        );
        Self { registry, accepted, refused, batch_size, commit_seconds, report_seconds }
    }

    pub fn accepted(&self) {
        self.accepted.inc();
    }

    pub fn refused(&self, reason: Refusal) {
        self.refused.get_or_create(&Reason { reason }).inc();
    }

    pub fn batch(&self, size: usize, took: Duration) {
        self.batch_size.observe(size as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    pub fn report_run(&self, took: Duration) {
        self.report_seconds.observe(took.as_secs_f64());
    }

    /// Every figure, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in the crate.
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not encode the metrics");
        }
        out
    }
}

/// The usual `process_*` figures, read from /proc at each scrape (nothing on systems without it).
#[derive(Debug)]
struct Process {
    /// When this process started, in whole seconds since the epoch (not a respondent's time).
    started: u64,
}

/// Linux reports CPU times in /proc in USER_HZ ticks, 100 a second on every architecture it runs on.
const TICKS_PER_SECOND: f64 = 100.0;

impl Process {
    fn now() -> Self {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self { started }
    }

    /// User plus system CPU time, from /proc/self/stat (fields 14 and 15, after the command name).
    fn cpu_seconds() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name is in parentheses and may hold spaces: count fields after its last ')'.
        let rest = stat.rsplit_once(')')?.1;
        let mut fields = rest.split_whitespace().skip(11);
        let user: u64 = fields.next()?.parse().ok()?;
        let system: u64 = fields.next()?.parse().ok()?;
        Some((user + system) as f64 / TICKS_PER_SECOND)
    }

    /// Resident memory in bytes, from the `VmRSS` line of /proc/self/status.
    fn resident_bytes() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    fn open_fds() -> Option<i64> {
        Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as i64)
    }
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(cpu) = Self::cpu_seconds() {
            let metric = ConstCounter::new(cpu);
            let e = encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent",
                None,
                metric.metric_type(),
            )?;
            metric.encode(e)?;
        }
        if let Some(bytes) = Self::resident_bytes() {
            let metric = ConstGauge::new(bytes as i64);
            let e = encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size",
                None,
                metric.metric_type(),
            )?;
            metric.encode(e)?;
        }
        if let Some(fds) = Self::open_fds() {
            let metric = ConstGauge::new(fds);
            let e =
                encoder.encode_descriptor("process_open_fds", "Open file descriptors", None, metric.metric_type())?;
            metric.encode(e)?;
        }
        let metric = ConstGauge::new(self.started as i64);
        let e = encoder.encode_descriptor(
            "process_start_time_seconds",
            "When the process started, in seconds since the Unix epoch",
            None,
            metric.metric_type(),
        )?;
        metric.encode(e)
    }
}
