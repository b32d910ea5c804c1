//! Progress output for long commands: one spinner per step on a terminal,
//! plain timestamped lines otherwise (CI logs, pipes), nothing with
//! `--quiet`. Everything goes to stderr so stdout carries only results
//! (the URL, plan and status tables).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Terminal,
    Plain,
    Quiet,
}

impl Mode {
    /// Chooses spinners when stderr is a terminal, plain lines otherwise.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Plain
        }
    }
}

/// The progress display of one command run.
#[derive(Debug, Clone)]
pub struct Progress {
    mode: Mode,
    multi: MultiProgress,
}

/// One step on the display: a spinner, or a start and an end line.
#[derive(Debug)]
pub struct Task {
    mode: Mode,
    label: String,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    pub fn new(mode: Mode) -> Self {
        let target = match mode {
            Mode::Terminal => ProgressDrawTarget::stderr(),
            Mode::Plain | Mode::Quiet => ProgressDrawTarget::hidden(),
        };
        Self {
            mode,
            multi: MultiProgress::with_draw_target(target),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Starts a step labelled `label`, e.g. `image etl_app:latest`.
    pub fn task(&self, label: impl Into<String>, message: &str) -> Task {
        let label = label.into();
        let bar = match self.mode {
            Mode::Terminal => {
                let style =
                    ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {wide_msg}")
                        .expect("the template is valid")
                        .tick_strings(&["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", "✔"]);
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(style);
                bar.set_prefix(label.clone());
                bar.set_message(message.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                Some(bar)
            }
            Mode::Plain => {
                plain_line(&format!("{label}: {message}"));
                None
            }
            Mode::Quiet => None,
        };
        Task {
            mode: self.mode,
            label,
            bar,
            started: Instant::now(),
        }
    }

    /// Prints a line that is not tied to a step.
    pub fn info(&self, text: &str) {
        match self.mode {
            Mode::Terminal => {
                let _ = self.multi.println(text);
            }
            Mode::Plain => plain_line(text),
            Mode::Quiet => {}
        }
    }
}

impl Task {
    /// Shows the latest output line of the step (a build log line, say).
    pub fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    /// Prints an output line that must stay visible, such as a log line of
    /// the ETL container, prefixed with the step label.
    pub fn line(&self, text: &str) {
        let line = format!("{} | {text}", self.label);
        match (self.mode, &self.bar) {
            (Mode::Terminal, Some(bar)) => bar.println(line),
            (Mode::Plain, _) => plain_line(&line),
            _ => {}
        }
    }

    /// Ends the step with `outcome`, e.g. `built in 2.1 s`.
    pub fn finish(self, outcome: &str) {
        let elapsed = format_duration(self.started.elapsed());
        match (self.mode, &self.bar) {
            (Mode::Terminal, Some(bar)) => {
                bar.finish_with_message(format!("{outcome} ({elapsed})"))
            }
            (Mode::Plain, _) => plain_line(&format!("{}: {outcome} ({elapsed})", self.label)),
            _ => {}
        }
    }

    /// Ends the step as failed; the error itself is printed by `main`.
    pub fn fail(self, outcome: &str) {
        match (self.mode, &self.bar) {
            (Mode::Terminal, Some(bar)) => {
                bar.set_style(
                    ProgressStyle::with_template("✘ {prefix:.bold.red} {wide_msg}")
                        .expect("the template is valid"),
                );
                bar.abandon_with_message(outcome.to_string());
            }
            (Mode::Plain, _) => plain_line(&format!("{}: {outcome}", self.label)),
            _ => {}
        }
    }
}

/// Formats a duration for people: `850 ms`, `2.4 s`, `1 min 05 s`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis < 60_000 {
        format!("{:.1} s", duration.as_secs_f64())
    } else {
        let seconds = duration.as_secs();
        format!("{} min {:02} s", seconds / 60, seconds % 60)
    }
}

fn plain_line(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{} {text}", utc_timestamp(SystemTime::now()));
}

/// Formats `time` as RFC 3339 UTC with milliseconds, e.g.
/// `2026-12-04T19:35:34.120Z`.
pub fn utc_timestamp(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date, with
/// Howard Hinnant's `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_of_known_instants() {
        // Reference values from `date -u -d @SECONDS +%FT%TZ` (GNU coreutils).
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap_day = UNIX_EPOCH + Duration::from_millis(951_782_400_250);
        assert_eq!(utc_timestamp(leap_day), "2000-02-29T00:00:00.250Z");
        let recent = UNIX_EPOCH + Duration::from_secs(1_796_413_534);
        assert_eq!(utc_timestamp(recent), "2026-12-04T19:45:34.000Z");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(format_duration(Duration::from_millis(2_440)), "2.4 s");
        assert_eq!(format_duration(Duration::from_secs(65)), "1 min 05 s");
    }
}
