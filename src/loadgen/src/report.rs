//! Latency samples, one result row per scenario, and the table they print as.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Latency samples in microseconds; percentiles by nearest rank over the sorted samples.
#[derive(Default, Clone)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Samples(Vec::with_capacity(n))
    }

    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_micros().min(u128::from(u64::MAX)) as u64);
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// p50, p90 and p99 in milliseconds (None without samples).
    pub fn percentiles(mut self) -> [Option<f64>; 3] {
        self.0.sort_unstable();
        [0.50, 0.90, 0.99].map(|q| {
            if self.0.is_empty() {
                return None;
            }
            let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
            Some(self.0[rank - 1] as f64 / 1000.0)
        })
    }
}

/// The result of one scenario: one row of the table, one line of `--json`.
#[derive(Serialize, Deserialize, Default, Clone)]
pub struct Row {
    pub scenario: String,
    pub ops: u64,
    #[serde(default)]
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_sec: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_kib_before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_kib_after: Option<u64>,
    #[serde(default)]
    pub note: String,
}

impl Row {
    /// A row whose throughput is `ops` over `elapsed` and whose latencies are `samples`.
    pub fn new(scenario: &str, ops: u64, elapsed: Duration, samples: Samples) -> Row {
        let seconds = elapsed.as_secs_f64();
        let [p50_ms, p90_ms, p99_ms] = samples.percentiles();
        Row {
            scenario: scenario.to_string(),
            ops,
            seconds,
            ops_per_sec: (seconds > 0.0).then(|| ops as f64 / seconds),
            p50_ms,
            p90_ms,
            p99_ms,
            ..Row::default()
        }
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    pub fn errors(mut self, errors: u64, first: Option<String>) -> Row {
        self.errors = errors;
        if errors > 0 {
            let sep = if self.note.is_empty() { "" } else { "; " };
            let first = first.unwrap_or_default();
            let first: String = first.chars().take(120).collect();
            self.note = format!("{}{sep}{errors} errors, first: {first}", self.note);
        }
        self
    }
}

/// Formats milliseconds with about three significant digits.
pub fn fmt_ms(ms: Option<f64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms >= 10_000.0 => format!("{:.1}s", ms / 1000.0),
        Some(ms) if ms >= 1000.0 => format!("{:.2}s", ms / 1000.0),
        Some(ms) if ms >= 100.0 => format!("{ms:.0}ms"),
        Some(ms) if ms >= 10.0 => format!("{ms:.1}ms"),
        Some(ms) if ms >= 1.0 => format!("{ms:.2}ms"),
        Some(ms) => format!("{:.0}µs", ms * 1000.0),
    }
}

fn fmt_rate(rate: Option<f64>) -> String {
    match rate {
        None => "-".into(),
        Some(r) if r >= 100.0 => format!("{r:.0}"),
        Some(r) if r >= 10.0 => format!("{r:.1}"),
        Some(r) => format!("{r:.2}"),
    }
}

fn fmt_rss(row: &Row) -> String {
    let mib = |k: u64| format!("{:.0}MiB", k as f64 / 1024.0);
    match (row.rss_kib_before, row.rss_kib_after) {
        (Some(b), Some(a)) if b != a => format!("{}→{}", mib(b), mib(a)),
        (_, Some(a)) => mib(a),
        (Some(b), None) => mib(b),
        (None, None) => "-".into(),
    }
}

/// The rows as one aligned table.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "scenario", "ops", "ops/s", "p50", "p90", "p99", "rss", "note",
    ]
    .map(String::from);
    let mut lines: Vec<[String; 8]> = vec![header];
    for row in rows {
        lines.push([
            row.scenario.clone(),
            row.ops.to_string(),
            fmt_rate(row.ops_per_sec),
            fmt_ms(row.p50_ms),
            fmt_ms(row.p90_ms),
            fmt_ms(row.p99_ms),
            fmt_rss(row),
            row.note.clone(),
        ]);
    }
    let mut widths = [0usize; 8];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &lines {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i == 0 || i == 7 {
                text.push_str(cell);
                if i != 7 {
                    text.push_str(&" ".repeat(pad));
                }
            } else {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            }
            if i != 7 {
                text.push_str("  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// The resident set size of process `pid` in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> Option<u64> {
    proc_number(&pid.to_string(), "status", "VmRSS:")
}

/// The first number after `label` on its line of /proc/`pid`/`file`.
fn proc_number(pid: &str, file: &str, label: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The CPU time (user + system) process `pid` has used, in seconds, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_ticks(&stat).map(|ticks| ticks as f64 / CLOCK_TICKS)
}

/// /proc counts CPU time in USER_HZ ticks, which is 100 on every architecture Den runs on
/// (`sysconf(_SC_CLK_TCK)` would say so, but would need `libc`).
const CLOCK_TICKS: f64 = 100.0;

/// utime + stime of a /proc/PID/stat line: fields 14 and 15, counted after the `(comm)`,
/// which may itself hold spaces and parentheses.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let mut fields = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The soft limit on open files of process `pid` (this one when None), from /proc/PID/limits.
pub fn open_files_limit(pid: Option<u32>) -> Option<u64> {
    let pid = pid.map_or_else(|| "self".to_string(), |p| p.to_string());
    proc_number(&pid, "limits", "Max open files")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut s = Samples::default();
        for i in 1..=100 {
            s.push(Duration::from_millis(i));
        }
        let [p50, p90, p99] = s.percentiles();
        assert_eq!(p50, Some(50.0));
        assert_eq!(p90, Some(90.0));
        assert_eq!(p99, Some(99.0));
        assert_eq!(Samples::default().percentiles(), [None, None, None]);
    }

    #[test]
    fn table_is_aligned() {
        let rows = vec![
            Row::new("create", 1000, Duration::from_secs(2), Samples::default()),
            Row::new("get", 5, Duration::from_secs(1), Samples::default()).note("x"),
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("create    1000    500"), "{t}");
        assert_eq!(
            lines[1].find("500").map(|i| i + 3),
            lines[2].find("5.00").map(|i| i + 4)
        );
    }

    #[test]
    fn cpu_ticks_follow_the_command_name() {
        let stat = "42 (den (x) y) S 1 42 42 0 -1 4194560 900 0 0 0 123 45 0 0 20 0 9 0";
        assert_eq!(cpu_ticks(stat), Some(168));
        assert!(cpu_seconds(std::process::id()).is_some());
        assert!(open_files_limit(None).is_some_and(|n| n > 0));
    }

    #[test]
    fn formats_durations() {
        assert_eq!(fmt_ms(Some(0.25)), "250µs");
        assert_eq!(fmt_ms(Some(1.234)), "1.23ms");
        assert_eq!(fmt_ms(Some(12.34)), "12.3ms");
        assert_eq!(fmt_ms(Some(1234.0)), "1.23s");
    }
}
