//! CPU time of the processes taking part in a run, from `/proc`.
//!
//! A [`Probe`] samples, at the start and at the end of a measured phase, the
//! user + system time of named processes (by pid: the hub, the notifiers, the
//! SMTP sink, the load tool itself) and of every process whose command name is
//! `postgres` (the server forks one backend per connection), plus the whole
//! machine's counters from `/proc/stat` (a labelled pid is counted under its
//! label only). The difference is what each spent in
//! the phase. A process that appears during the phase counts from zero; one
//! that exits before the end sample is lost (read the end sample before
//! stopping anything).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// Fields of `/proc/<pid>/stat` the probe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub comm: String,
    /// utime + stime, in clock ticks.
    pub ticks: u64,
}

/// Parses `/proc/<pid>/stat`. The command name is in parentheses and may hold
/// spaces and parentheses itself, so fields are counted after the last `)`.
pub fn parse_stat(content: &str) -> Option<ProcStat> {
    let open = content.find('(')?;
    let close = content.rfind(')')?;
    let comm = content.get(open + 1..close)?.to_owned();
    // After ")": field 3 (state) is index 0, utime (14) index 11, stime (15) index 12.
    let fields: Vec<&str> = content.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ProcStat {
        comm,
        ticks: utime + stime,
    })
}

/// Machine-wide counters from the first line of `/proc/stat`, in ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineTicks {
    pub total: u64,
    /// idle + iowait.
    pub idle: u64,
    pub steal: u64,
}

pub fn parse_proc_stat(content: &str) -> Option<MachineTicks> {
    let line = content.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest
    // time is already counted in user, so it is left out of the total.
    let total = v.iter().take(8).sum();
    Some(MachineTicks {
        total,
        idle: v.get(3)? + v.get(4).copied().unwrap_or(0),
        steal: v.get(7).copied().unwrap_or(0),
    })
}

/// CPUs online on the machine (not `available_parallelism`, which shrinks to this process's
/// affinity mask when it is pinned).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 { n as usize } else { 1 }
}

pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn read_pid(pid: u32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Pids of every process whose command name is `comm`, with their ticks.
fn by_comm(comm: &str) -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(s) = read_pid(pid)
            && s.comm == comm
        {
            out.insert(pid, s.ticks);
        }
    }
    out
}

fn machine() -> MachineTicks {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_proc_stat(&s))
        .unwrap_or_default()
}

/// What is watched: labelled pids (a label may hold several) and command
/// names whose processes are summed under the same name.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub pids: Vec<(String, u32)>,
    pub comms: Vec<String>,
}

impl Watch {
    /// The load tool itself and PostgreSQL, plus `pids`.
    pub fn standard(pids: Vec<(String, u32)>) -> Self {
        let mut all = vec![("loadtest".to_owned(), std::process::id())];
        all.extend(pids);
        Self {
            pids: all,
            comms: vec!["postgres".to_owned()],
        }
    }
}

#[derive(Debug, Clone)]
struct Sample {
    at: std::time::Instant,
    pids: HashMap<u32, u64>,
    comms: Vec<HashMap<u32, u64>>,
    machine: MachineTicks,
}

fn sample(w: &Watch) -> Sample {
    Sample {
        at: std::time::Instant::now(),
        pids: w
            .pids
            .iter()
            .filter_map(|&(_, pid)| read_pid(pid).map(|s| (pid, s.ticks)))
            .collect(),
        comms: w.comms.iter().map(|c| by_comm(c)).collect(),
        machine: machine(),
    }
}

/// CPU used in a phase, by process group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CpuReport {
    pub wall_secs: f64,
    /// CPU seconds per label (pids) and per command name (e.g. `postgres`).
    pub cpu_secs: BTreeMap<String, f64>,
    /// The same as a share of the machine's busy time in the phase (%).
    pub share_of_busy_pct: BTreeMap<String, f64>,
    /// Busy CPU seconds of the machine not spent by the processes above
    /// (other work on a shared machine, the kernel's own threads).
    pub other_cpu_secs: f64,
    /// Average busy cores over the phase (all processes, whole machine).
    pub machine_busy_cores: f64,
    pub machine_cores: usize,
    /// Time the hypervisor gave to others (shared machine), in cores.
    pub machine_steal_cores: f64,
}

/// A phase being measured.
pub struct Probe {
    watch: Watch,
    start: Sample,
}

impl Probe {
    pub fn start(watch: Watch) -> Self {
        let start = sample(&watch);
        Self { watch, start }
    }

    /// Adds a labelled pid that started after the probe (it counts from zero).
    pub fn add_pid(&mut self, label: &str, pid: u32) {
        self.watch.pids.push((label.to_owned(), pid));
    }

    pub fn finish(&self) -> CpuReport {
        let end = sample(&self.watch);
        build(&self.watch, &self.start, &end, clock_ticks_per_sec())
    }
}

fn build(watch: &Watch, start: &Sample, end: &Sample, hz: f64) -> CpuReport {
    let wall = end.at.duration_since(start.at).as_secs_f64();
    let mut cpu: BTreeMap<String, f64> = BTreeMap::new();
    for (label, pid) in &watch.pids {
        let before = start.pids.get(pid).copied().unwrap_or(0);
        let after = end.pids.get(pid).copied().unwrap_or(before);
        *cpu.entry(label.clone()).or_default() += after.saturating_sub(before) as f64 / hz;
    }
    // A labelled pid is reported under its label only, not in its command's group.
    let labelled: std::collections::HashSet<u32> = watch.pids.iter().map(|&(_, p)| p).collect();
    for (i, comm) in watch.comms.iter().enumerate() {
        let ticks: u64 = end.comms[i]
            .iter()
            .filter(|(pid, _)| !labelled.contains(pid))
            .map(|(pid, after)| after.saturating_sub(start.comms[i].get(pid).copied().unwrap_or(0)))
            .sum();
        *cpu.entry(comm.clone()).or_default() += ticks as f64 / hz;
    }
    let total = end.machine.total.saturating_sub(start.machine.total) as f64;
    let idle = end.machine.idle.saturating_sub(start.machine.idle) as f64;
    let steal = end.machine.steal.saturating_sub(start.machine.steal) as f64;
    let busy_secs = (total - idle - steal).max(0.0) / hz;
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let share = cpu
        .iter()
        .map(|(k, v)| {
            let pct = if busy_secs > 0.0 {
                v / busy_secs * 100.0
            } else {
                0.0
            };
            (k.clone(), (pct * 10.0).round() / 10.0)
        })
        .collect();
    let accounted: f64 = cpu.values().sum();
    let per_wall = |ticks: f64| if wall > 0.0 { ticks / hz / wall } else { 0.0 };
    CpuReport {
        wall_secs: round(wall),
        cpu_secs: cpu.into_iter().map(|(k, v)| (k, round(v))).collect(),
        other_cpu_secs: round((busy_secs - accounted).max(0.0)),
        share_of_busy_pct: share,
        machine_busy_cores: round(per_wall(total - idle - steal)),
        machine_cores: online_cpus(),
        machine_steal_cores: round(per_wall(steal)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_awkward_names() {
        let line = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    123 45 0 0 20 0 9 0 777 1000 10 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                comm: "tokio (rt) x".into(),
                ticks: 168
            })
        );
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn parses_proc_stat() {
        let s = "cpu  100 5 50 800 20 1 2 7 3 0\ncpu0 1 2 3 4\n";
        assert_eq!(
            parse_proc_stat(s),
            Some(MachineTicks {
                total: 985,
                idle: 820,
                steal: 7
            })
        );
    }

    #[test]
    fn reads_this_process() {
        let me = read_pid(std::process::id()).unwrap();
        assert!(!me.comm.is_empty());
        let p = Probe::start(Watch::standard(vec![]));
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let r = p.finish();
        assert!(r.cpu_secs.contains_key("loadtest"));
        assert!(r.cpu_secs.contains_key("postgres"));
        assert!(r.wall_secs >= 0.0);
    }

    #[test]
    fn deltas_count_new_processes_from_zero() {
        let t0 = std::time::Instant::now();
        let watch = Watch {
            pids: vec![("a".into(), 1), ("b".into(), 2), ("sampler".into(), 12)],
            comms: vec!["postgres".into()],
        };
        let start = Sample {
            at: t0,
            pids: HashMap::from([(1, 100)]),
            comms: vec![HashMap::from([(10, 50), (12, 0)])],
            machine: MachineTicks {
                total: 1000,
                idle: 500,
                steal: 0,
            },
        };
        let end = Sample {
            at: t0 + std::time::Duration::from_secs(2),
            pids: HashMap::from([(1, 150), (2, 30), (12, 10)]),
            comms: vec![HashMap::from([(10, 70), (11, 20), (12, 10)])],
            machine: MachineTicks {
                total: 1400,
                idle: 600,
                steal: 0,
            },
        };
        let r = build(&watch, &start, &end, 100.0);
        assert_eq!(r.cpu_secs["a"], 0.5);
        assert_eq!(r.cpu_secs["b"], 0.3);
        assert_eq!(r.cpu_secs["postgres"], 0.4);
        assert_eq!(r.machine_busy_cores, 1.5);
        assert_eq!(r.share_of_busy_pct["a"], 16.7);
        assert_eq!(r.cpu_secs["sampler"], 0.1);
        assert_eq!(r.other_cpu_secs, 1.7);
    }
}
