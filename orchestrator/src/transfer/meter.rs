//! Byte progress of one transfer: a bar with bytes and throughput on a
//! terminal, a start line and an end line otherwise, nothing when quiet.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{format_duration, utc_timestamp, Mode};

/// Clones share one count, so a stream can advance the meter that the
/// command finishes.
#[derive(Debug, Clone)]
pub struct Meter {
    mode: Mode,
    label: String,
    bar: Option<ProgressBar>,
    started: Instant,
    bytes: Arc<AtomicU64>,
}

impl Meter {
    /// Starts a meter for `label`; `total` is the expected byte count when
    /// it is known in advance (a file to load), `None` for a stream.
    pub fn start(mode: Mode, label: &str, total: Option<u64>) -> Self {
        let bar = (mode == Mode::Terminal).then(|| terminal_bar(label, total));
        if mode == Mode::Plain {
            let size = total.map(|bytes| format!(" ({})", HumanBytes(bytes)));
            plain_line(&format!("{label}: started{}", size.unwrap_or_default()));
        }
        Self {
            mode,
            label: label.to_owned(),
            bar,
            started: Instant::now(),
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn advance(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ends the meter with a summary of size, time and throughput.
    pub fn finish(self, outcome: &str) {
        let elapsed = self.started.elapsed();
        let bytes = self.bytes.load(Ordering::Relaxed);
        let summary = format!(
            "{outcome}: {} in {} ({}/s)",
            HumanBytes(bytes),
            format_duration(elapsed),
            HumanBytes(throughput(bytes, elapsed)),
        );
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.finish_with_message(summary),
            (None, Mode::Plain) => plain_line(&format!("{}: {summary}", self.label)),
            _ => {}
        }
    }

    /// Ends the meter as failed; the error itself is printed by `main`.
    pub fn fail(self) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.abandon_with_message("failed"),
            (None, Mode::Plain) => plain_line(&format!("{}: failed", self.label)),
            _ => {}
        }
    }
}

fn terminal_bar(label: &str, total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::new(total),
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {wide_msg}",
        ),
        None => (
            ProgressBar::no_length(),
            "{spinner} {prefix:.bold} {bytes} {binary_bytes_per_sec} {wide_msg}",
        ),
    };
    let style = ProgressStyle::with_template(template)
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.set_prefix(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn throughput(bytes: u64, elapsed: Duration) -> u64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        (bytes as f64 / seconds) as u64
    } else {
        0
    }
}

fn plain_line(text: &str) {
    eprintln!("{} {text}", utc_timestamp(SystemTime::now()));
}
