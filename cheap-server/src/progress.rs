//! Progress of the long commands: an indicatif bar on a terminal (done / total, rate, ETA),
//! and a plain line every few seconds when stderr is not one (a log, CI).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain line is printed off a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// What is counted.
#[derive(Clone, Copy)]
pub enum Unit {
    Bytes,
    Entries,
}

/// One running task's progress, fed from a shared counter.
pub struct Progress {
    label: String,
    unit: Unit,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    pub fn new(label: impl Into<String>, unit: Unit, total: Option<u64>) -> Self {
        let label = label.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = total.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
            let counts = match unit {
                Unit::Bytes => "{bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                Unit::Entries => "{human_pos}/{human_len} entries ({per_sec}, {eta})",
            };
            let template = format!("{{msg}} {{wide_bar}} {counts}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar.set_message(label.clone());
            bar
        });
        let now = Instant::now();
        Progress {
            label,
            unit,
            total,
            bar,
            started: now,
            last_line: now,
        }
    }

    /// Shows `done`.
    pub fn set(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        if self.last_line.elapsed() >= LINE_EVERY {
            self.last_line = Instant::now();
            eprintln!("cheap: {}: {}", self.label, self.line(done));
        }
    }

    fn line(&self, done: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / secs;
        let what = match self.unit {
            Unit::Bytes => "bytes",
            Unit::Entries => "entries",
        };
        match self.total {
            Some(t) if t > 0 => {
                let left = t.saturating_sub(done) as f64 / rate.max(1.0);
                format!(
                    "{done} of {t} {what} ({:.0}%), {rate:.0}/s, about {left:.0} s left",
                    done as f64 * 100.0 / t as f64
                )
            }
            _ => format!("{done} {what}, {rate:.0}/s"),
        }
    }

    /// Ends the display at `done`.
    pub fn finish(&mut self, done: u64) {
        match self.bar.take() {
            Some(bar) => {
                bar.set_position(done);
                bar.finish_and_clear();
            }
            None if self.started.elapsed() >= LINE_EVERY => {
                eprintln!("cheap: {}: {}", self.label, self.line(done));
            }
            None => {}
        }
    }

    /// Runs `work`, showing `counter` every 200 ms until it ends.
    pub async fn watch<T>(
        &mut self,
        counter: &Arc<AtomicU64>,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let out = loop {
            tokio::select! {
                out = &mut work => break out,
                _ = tick.tick() => self.set(counter.load(Ordering::Relaxed)),
            }
        };
        self.finish(counter.load(Ordering::Relaxed));
        out
    }
}
