//! The standard process metrics of Prometheus client libraries (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds`), read from /proc at each scrape. Linux
//! only; elsewhere none are shown.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads this process's metrics from /proc on each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// One reading of /proc.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    /// None: unlimited.
    pub max_fds: Option<u64>,
    pub start_time_seconds: f64,
}

/// Why this process's stats could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[cfg(target_os = "linux")]
    #[error("/proc: {0}")]
    Proc(#[from] procfs::ProcError),
    #[cfg(not(target_os = "linux"))]
    #[error("process metrics are read from /proc, on Linux only")]
    NotLinux,
}

impl ProcessStats {
    /// This process's stats, or why /proc could not be read.
    #[cfg(target_os = "linux")]
    pub fn read() -> Result<Self, ProcessError> {
        use procfs::process::{LimitValue, Process};
        let me = Process::myself()?;
        let stat = me.stat()?;
        let ticks = procfs::ticks_per_second() as f64;
        let boot = procfs::boot_time_secs()?;
        let max_fds = match me.limits()?.max_open_files.soft_limit {
            LimitValue::Value(n) => Some(n),
            LimitValue::Unlimited => None,
        };
        Ok(Self {
            cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
            resident_bytes: stat.rss * procfs::page_size(),
            virtual_bytes: stat.vsize,
            open_fds: me.fd_count()? as u64,
            max_fds,
            start_time_seconds: boot as f64 + stat.starttime as f64 / ticks,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn read() -> Result<Self, ProcessError> {
        Err(ProcessError::NotLinux)
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A scrape still answers, without these, if /proc cannot be read.
        let Ok(s) = ProcessStats::read() else { return Ok(()) };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor("process_cpu_seconds", "Total user and system CPU time spent in seconds.", None, cpu.metric_type())?)?;
        let gauges = [
            ("process_resident_memory_bytes", "Resident memory size in bytes.", s.resident_bytes as f64),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes.", s.virtual_bytes as f64),
            ("process_open_fds", "Number of open file descriptors.", s.open_fds as f64),
            // As client_golang: "unlimited" shows as the largest u64.
            ("process_max_fds", "Maximum number of open file descriptors.", s.max_fds.unwrap_or(u64::MAX) as f64),
            ("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", s.start_time_seconds),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = ProcessStats::read().unwrap();
        assert!(s.resident_bytes > 0 && s.virtual_bytes >= s.resident_bytes, "{s:?}");
        // stdin, stdout and stderr at least, and the fd this reading opened on /proc/self/fd.
        assert!(s.open_fds >= 3, "{s:?}");
        assert!(s.max_fds.is_none_or(|m| m >= s.open_fds), "{s:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        // Started before now and after 2020.
        assert!(s.start_time_seconds <= now + 1.0 && s.start_time_seconds > 1_577_836_800.0, "{s:?}");
    }
}
