//! Resident memory of the server under test, from `/proc/<pid>/status`.
//!
//! VmRSS is what the kernel has mapped in for the process right now: it
//! includes allocator slack and excludes kernel socket buffers, so it is the
//! user-space cost of holding connections, which is what the idle scenario
//! compares between the hub and the raw server.

use std::io;

/// The `VmRSS` line of a status file, in KiB.
pub fn parse_vmrss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value = parts.next()?.parse().ok()?;
    (parts.next()? == "kB").then_some(value)
}

/// Current RSS of `pid` in KiB.
pub fn read_kb(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vmrss_kb(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmRSS in /proc/{pid}/status (a kernel thread or a zombie?)"),
        )
    })
}

/// `(after - before) / connections` in bytes; negative when memory was
/// returned to the system meanwhile.
pub fn per_connection_bytes(before_kb: u64, after_kb: u64, connections: u64) -> Option<f64> {
    (connections > 0).then(|| (after_kb as f64 - before_kb as f64) * 1024.0 / connections as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vmrss() {
        let status = "Name:\tloadtest\nVmPeak:\t  9000 kB\nVmRSS:\t    4242 kB\nThreads:\t3\n";
        assert_eq!(parse_vmrss_kb(status), Some(4242));
        assert_eq!(parse_vmrss_kb("Name:\tx\n"), None);
        assert_eq!(parse_vmrss_kb("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn reads_own_rss() {
        assert!(read_kb(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn per_connection() {
        assert_eq!(per_connection_bytes(1000, 2000, 1024), Some(1000.0));
        assert_eq!(per_connection_bytes(2000, 1000, 1024), Some(-1000.0));
        assert_eq!(per_connection_bytes(1, 2, 0), None);
    }
}
