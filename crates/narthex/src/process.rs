//! `process_*` self-metrics, read from `/proc` at each scrape, under the
//! names the Prometheus Go client uses, so that dashboards keep working.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Linux reports process times in clock ticks of this many per second; the
/// value is fixed by the kernel's user-space ABI.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Default)]
pub struct ProcessCollector;

#[derive(Debug, Default, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    start_time_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    open_fds: f64,
    max_fds: f64,
}

/// Fields of `/proc/self/stat` after the command name (which may contain
/// spaces and parentheses, so parsing starts after its last `)`).
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default()
}

fn read() -> Sample {
    let mut s = Sample::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        let f = stat_fields(&stat);
        // After the name: state is field 0, utime 11, stime 12, starttime 19, vsize 20.
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        s.cpu_seconds = (num(11) + num(12)) / TICKS_PER_SECOND;
        s.virtual_bytes = num(20);
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| t.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok())))
            .unwrap_or(0.0);
        s.start_time_seconds = boot + num(19) / TICKS_PER_SECOND;
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(kb) = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok()) {
            s.resident_bytes = kb * 1024.0;
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        s.open_fds = dir.count() as f64;
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        s.max_fds =
            limits.lines().find(|l| l.starts_with("Max open files")).and_then(|l| l.split_whitespace().nth(3)).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    }
    s
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = read();
        let counter = ConstCounter::new(s.cpu_seconds);
        counter.encode(encoder.encode_descriptor("process_cpu_seconds", "Total user and system CPU time spent in seconds.", None, MetricType::Counter)?)?;
        let gauges = [
            ("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", s.start_time_seconds),
            ("process_resident_memory_bytes", "Resident memory size in bytes.", s.resident_bytes),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes.", s.virtual_bytes),
            ("process_open_fds", "Number of open file descriptors.", s.open_fds),
            ("process_max_fds", "Maximum number of open file descriptors.", s.max_fds),
        ];
        for (name, help, v) in gauges {
            ConstGauge::new(v).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let stat = "1234 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 1000 123456 789";
        let f = stat_fields(stat);
        assert_eq!(f[0], "S");
        assert_eq!(f[11], "250");
        assert_eq!(f[12], "50");
        assert_eq!(f[19], "1000");
        assert_eq!(f[20], "123456");
    }

    #[test]
    fn reads_this_process() {
        let s = read();
        assert!(s.resident_bytes > 0.0);
        assert!(s.open_fds >= 1.0);
        assert!(s.start_time_seconds > 1_000_000_000.0);
    }
}
