//! Usage statistics read straight from a container's cgroup files, v1 and
//! v2 alike. One reader serves both `docker stats` (through the shim) and
//! the daemon's Prometheus scrape, so the two always agree; it reads only the
//! few files it needs into one reused buffer, because a scrape of a hundred
//! containers must stay within a few milliseconds.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::RuntimeError;
use crate::limits::Stats;

/// Where the cgroup hierarchies are mounted, and which version they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One hierarchy per controller: `<root>/<controller>/<cgroup>`.
    V1(PathBuf),
    /// The unified hierarchy: `<root>/<cgroup>`.
    V2(PathBuf),
}

impl Layout {
    /// The host's layout: v2 when /sys/fs/cgroup itself is the unified
    /// hierarchy; a hybrid host (v1 controllers, an empty `unified`) is v1.
    pub fn detect() -> Layout {
        Self::detect_at(Path::new("/sys/fs/cgroup"))
    }

    pub fn detect_at(root: &Path) -> Layout {
        if root.join("cgroup.controllers").exists() {
            Layout::V2(root.to_path_buf())
        } else {
            Layout::V1(root.to_path_buf())
        }
    }

    fn dir(&self, controller: &str, cgroup: &Path) -> PathBuf {
        let rel = cgroup.strip_prefix("/").unwrap_or(cgroup);
        match self {
            Layout::V1(root) => root.join(controller).join(rel),
            Layout::V2(root) => root.join(rel),
        }
    }
}

/// A container's configured limits as its cgroup holds them (cAdvisor's
/// `container_spec_*`). Zero means unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupSpec {
    /// The raw memory limit; unlimited reads as a huge number (v1) or `u64::MAX` (v2).
    pub memory_limit: u64,
    /// CPU shares (v2's weight converted back to shares, as cAdvisor does).
    pub cpu_shares: u64,
    /// CFS quota in microseconds; 0 when unlimited.
    pub cpu_quota: u64,
    pub cpu_period: u64,
}

/// Memory in use minus the inactive page cache the kernel can drop, the
/// docker CLI's rule for `docker stats` MEM USAGE and cAdvisor's working set:
/// v1 subtracts `total_inactive_file`, v2 `inactive_file`.
pub fn working_set(usage: u64, memory_stat: &BTreeMap<String, u64>) -> u64 {
    let inactive = memory_stat
        .get("total_inactive_file")
        .or_else(|| memory_stat.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    if inactive < usage {
        usage - inactive
    } else {
        usage
    }
}

/// Reads cgroup files through one buffer; not shared between threads.
#[derive(Debug)]
pub struct Reader {
    layout: Layout,
    buf: String,
    scratch: Vec<u8>,
    clock_ticks: u64,
}

impl Reader {
    pub fn new(layout: Layout) -> Reader {
        Reader {
            layout,
            buf: String::with_capacity(8192),
            scratch: vec![0; 8192],
            clock_ticks: clock_ticks(),
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Reads `dir/file` into the buffer; false when it does not exist.
    /// cgroup files are generated whole on the first read (seq_file): a
    /// read that comes back short is the end, which saves the read that
    /// would return 0 and the fstat `read_to_string` makes, a third of
    /// the system calls of a scrape.
    fn load(&mut self, dir: &Path, file: &str) -> Result<bool, RuntimeError> {
        self.buf.clear();
        let path = dir.join(file);
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(RuntimeError::io(format!("opening {}", path.display()), e)),
        };
        loop {
            let n = f
                .read(&mut self.scratch)
                .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
            let text = std::str::from_utf8(&self.scratch[..n]).map_err(|e| {
                RuntimeError::io(
                    format!("reading {}", path.display()),
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })?;
            self.buf.push_str(text);
            if n < self.scratch.len() {
                return Ok(true);
            }
        }
    }

    /// A single-number file; "max" (v2's unlimited) reads as `max`, a
    /// missing file or anything unparsable as 0.
    fn number(&mut self, dir: &Path, file: &str, max: u64) -> Result<u64, RuntimeError> {
        if !self.load(dir, file)? {
            return Ok(0);
        }
        let t = self.buf.trim();
        Ok(if t == "max" {
            max
        } else {
            // v1's cfs_quota_us is -1 when unlimited.
            t.parse().unwrap_or(0)
        })
    }

    /// A flat-keyed file ("key value" lines), as a map.
    fn keyed(&mut self, dir: &Path, file: &str) -> Result<BTreeMap<String, u64>, RuntimeError> {
        self.load(dir, file)?;
        Ok(parse_keyed(&self.buf)
            .map(|(k, v)| (k.to_string(), v))
            .collect())
    }

    /// A flat-keyed file's values for `keys`, in their order (0 when absent).
    fn pick<const N: usize>(
        &mut self,
        dir: &Path,
        file: &str,
        keys: [&str; N],
    ) -> Result<[u64; N], RuntimeError> {
        let mut out = [0; N];
        self.load(dir, file)?;
        for (k, v) in parse_keyed(&self.buf) {
            if let Some(i) = keys.iter().position(|want| *want == k) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// The cgroup's usage. `full` also reads what `docker stats` shows and a
    /// scrape does not need: per-CPU times (v1), the peak usage, the pids limit. The host's
    /// CPU time and CPU count are left for the caller (one read per scrape,
    /// not per container).
    pub fn stats(&mut self, cgroup: &Path, full: bool) -> Result<Stats, RuntimeError> {
        match self.layout.clone() {
            Layout::V1(_) => self.stats_v1(cgroup, full),
            Layout::V2(_) => self.stats_v2(cgroup, full),
        }
    }

    fn stats_v1(&mut self, cgroup: &Path, full: bool) -> Result<Stats, RuntimeError> {
        let mut s = Stats::default();
        let mem = self.layout.dir("memory", cgroup);
        if !mem.is_dir() {
            return Err(RuntimeError::NotRunning);
        }
        s.memory_usage = self.number(&mem, "memory.usage_in_bytes", 0)?;
        if full {
            s.memory_max_usage = self.number(&mem, "memory.max_usage_in_bytes", 0)?;
        }
        s.memory_limit = self.number(&mem, "memory.limit_in_bytes", 0)?;
        s.memory_failcnt = self.number(&mem, "memory.failcnt", 0)?;
        s.memory_stat = self.keyed(&mem, "memory.stat")?;
        s.memory_cache = stat_of(&s.memory_stat, "total_cache", "cache");
        s.memory_rss = stat_of(&s.memory_stat, "total_rss", "rss");

        let acct = self.layout.dir("cpuacct", cgroup);
        s.cpu_usage_ns = self.number(&acct, "cpuacct.usage", 0)?;
        // cpuacct.stat counts USER_HZ ticks; Docker reports nanoseconds.
        let [user, system] = self.pick(&acct, "cpuacct.stat", ["user", "system"])?;
        let tick_ns = 1_000_000_000 / self.clock_ticks;
        s.cpu_user_ns = user * tick_ns;
        s.cpu_kernel_ns = system * tick_ns;
        if full && self.load(&acct, "cpuacct.usage_percpu")? {
            s.percpu_usage_ns = self
                .buf
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
        }
        let cpu = self.layout.dir("cpu", cgroup);
        let [periods, throttled, throttled_ns] = self.pick(
            &cpu,
            "cpu.stat",
            ["nr_periods", "nr_throttled", "throttled_time"],
        )?;
        s.cpu_periods = periods;
        s.cpu_throttled_periods = throttled;
        s.cpu_throttled_ns = throttled_ns;

        let pids = self.layout.dir("pids", cgroup);
        s.pids_current = self.number(&pids, "pids.current", 0)?;
        if full {
            s.pids_limit = self.number(&pids, "pids.max", 0)?;
        }

        let blkio = self.layout.dir("blkio", cgroup);
        if self.load(&blkio, "blkio.throttle.io_service_bytes_recursive")? {
            (s.blkio_read_bytes, s.blkio_write_bytes) = blkio_v1(&self.buf);
        }
        Ok(s)
    }

    fn stats_v2(&mut self, cgroup: &Path, full: bool) -> Result<Stats, RuntimeError> {
        let mut s = Stats::default();
        let dir = self.layout.dir("", cgroup);
        if !dir.is_dir() {
            return Err(RuntimeError::NotRunning);
        }
        s.memory_usage = self.number(&dir, "memory.current", 0)?;
        if full {
            s.memory_max_usage = self.number(&dir, "memory.peak", 0)?;
        }
        s.memory_limit = self.number(&dir, "memory.max", u64::MAX)?;
        [s.memory_failcnt] = self.pick(&dir, "memory.events", ["max"])?;
        s.memory_stat = self.keyed(&dir, "memory.stat")?;
        s.memory_cache = stat_of(&s.memory_stat, "file", "file");
        s.memory_rss = stat_of(&s.memory_stat, "anon", "anon");

        let [usage, user, system, periods, throttled, throttled_us] = self.pick(
            &dir,
            "cpu.stat",
            [
                "usage_usec",
                "user_usec",
                "system_usec",
                "nr_periods",
                "nr_throttled",
                "throttled_usec",
            ],
        )?;
        s.cpu_usage_ns = usage * 1000;
        s.cpu_user_ns = user * 1000;
        s.cpu_kernel_ns = system * 1000;
        s.cpu_periods = periods;
        s.cpu_throttled_periods = throttled;
        s.cpu_throttled_ns = throttled_us * 1000;

        s.pids_current = self.number(&dir, "pids.current", 0)?;
        if full {
            s.pids_limit = self.number(&dir, "pids.max", 0)?;
        }
        if self.load(&dir, "io.stat")? {
            (s.blkio_read_bytes, s.blkio_write_bytes) = io_stat_v2(&self.buf);
        }
        Ok(s)
    }

    /// The limits the cgroup enforces now (a `docker update` shows at once);
    /// the memory limit is the one `stats` (just read from it) holds.
    pub fn spec(&mut self, cgroup: &Path, stats: &Stats) -> Result<CgroupSpec, RuntimeError> {
        let memory_limit = stats.memory_limit;
        match self.layout.clone() {
            Layout::V1(_) => {
                let cpu = self.layout.dir("cpu", cgroup);
                Ok(CgroupSpec {
                    memory_limit,
                    cpu_shares: self.number(&cpu, "cpu.shares", 0)?,
                    // -1 (unlimited) does not parse as u64: 0, unset.
                    cpu_quota: self.number(&cpu, "cpu.cfs_quota_us", 0)?,
                    cpu_period: self.number(&cpu, "cpu.cfs_period_us", 0)?,
                })
            }
            Layout::V2(_) => {
                let dir = self.layout.dir("", cgroup);
                let weight = self.number(&dir, "cpu.weight", 0)?;
                let (quota, period) = if self.load(&dir, "cpu.max")? {
                    cpu_max(&self.buf)
                } else {
                    (0, 0)
                };
                Ok(CgroupSpec {
                    memory_limit,
                    cpu_shares: weight_to_shares(weight),
                    cpu_quota: quota,
                    cpu_period: period,
                })
            }
        }
    }

    /// Processes (not threads) in the cgroup, as cAdvisor's `container_processes`.
    pub fn processes(&mut self, cgroup: &Path) -> Result<u64, RuntimeError> {
        let dir = self.layout.dir("pids", cgroup);
        self.load(&dir, "cgroup.procs")?;
        Ok(self.buf.lines().filter(|l| !l.trim().is_empty()).count() as u64)
    }
}

fn parse_keyed(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|l| {
        let (k, v) = l.split_once(' ')?;
        Some((k, v.trim().parse().ok()?))
    })
}

/// The hierarchical v1 counter when there is one, else the local one.
fn stat_of(stat: &BTreeMap<String, u64>, total: &str, local: &str) -> u64 {
    stat.get(total)
        .or_else(|| stat.get(local))
        .copied()
        .unwrap_or(0)
}

/// `MAJ:MIN Read|Write|... N` lines, summed over devices.
fn blkio_v1(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(_dev), Some(op), Some(v)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let v: u64 = v.parse().unwrap_or(0);
        match op {
            "Read" => read += v,
            "Write" => write += v,
            _ => {}
        }
    }
    (read, write)
}

/// `MAJ:MIN rbytes=N wbytes=N ...` lines, summed over devices.
fn io_stat_v2(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for field in text.split_whitespace() {
        match field.split_once('=') {
            Some(("rbytes", v)) => read += v.parse::<u64>().unwrap_or(0),
            Some(("wbytes", v)) => write += v.parse::<u64>().unwrap_or(0),
            _ => {}
        }
    }
    (read, write)
}

/// v2's `cpu.max`: "QUOTA PERIOD" or "max PERIOD".
fn cpu_max(text: &str) -> (u64, u64) {
    let mut f = text.split_whitespace();
    let quota = f.next().and_then(|q| q.parse().ok()).unwrap_or(0);
    let period = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (quota, period)
}

/// cAdvisor's reading of a v2 weight as shares (1..10000 onto 2..262144).
fn weight_to_shares(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    2 + (weight - 1) * 262142 / 9999
}

/// The host's total CPU time (the first line of /proc/stat), as Docker
/// reports `system_cpu_usage`: the denominator of `docker stats`' CPU %.
pub fn host_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq: steal and guests excluded, as Docker.
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    Some(ticks * (1_000_000_000 / clock_ticks()))
}

fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|h| u64::try_from(h).ok())
        .filter(|h| *h > 0)
        .unwrap_or(100)
}

/// CPUs online on the host (what `docker stats` and `machine_cpu_cores` count).
pub fn online_cpus() -> u32 {
    crate::spec::resources::online_cpus()
}

/// The host's memory in bytes (MemTotal of /proc/meminfo).
pub fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn working_set_subtracts_inactive_file_as_the_docker_cli() {
        let mut stat = BTreeMap::new();
        assert_eq!(working_set(1000, &stat), 1000);
        stat.insert("inactive_file".to_string(), 300);
        assert_eq!(working_set(1000, &stat), 700, "v2");
        stat.insert("total_inactive_file".to_string(), 100);
        assert_eq!(working_set(1000, &stat), 900, "v1's total wins");
        stat.insert("total_inactive_file".to_string(), 5000);
        assert_eq!(working_set(1000, &stat), 1000, "never below zero");
    }

    #[test]
    fn v1_files_read_into_stats_and_spec() {
        let root = tempfile::tempdir().unwrap();
        let cg = Path::new("/berth/c1");
        let at = |c: &str| root.path().join(c).join("berth/c1");
        write(
            &at("memory"),
            &[
                ("memory.usage_in_bytes", "1000000\n"),
                ("memory.max_usage_in_bytes", "2000000\n"),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.failcnt", "3\n"),
                (
                    "memory.stat",
                    "cache 400\nrss 500\ntotal_cache 4000\ntotal_rss 5000\ntotal_inactive_file 100000\n",
                ),
            ],
        );
        write(
            &at("cpuacct"),
            &[
                ("cpuacct.usage", "5000000000\n"),
                ("cpuacct.stat", "user 300\nsystem 100\n"),
                ("cpuacct.usage_percpu", "3000000000 2000000000 \n"),
            ],
        );
        write(
            &at("cpu"),
            &[
                (
                    "cpu.stat",
                    "nr_periods 10\nnr_throttled 4\nthrottled_time 7000\n",
                ),
                ("cpu.shares", "512\n"),
                ("cpu.cfs_quota_us", "-1\n"),
                ("cpu.cfs_period_us", "100000\n"),
            ],
        );
        write(
            &at("pids"),
            &[
                ("pids.current", "3\n"),
                ("pids.max", "max\n"),
                ("cgroup.procs", "10\n11\n"),
            ],
        );
        write(
            &at("blkio"),
            &[(
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 100\n8:0 Write 200\n8:0 Total 300\n8:16 Read 1\n8:16 Write 2\nTotal 303\n",
            )],
        );
        let mut r = Reader::new(Layout::detect_at(root.path()));
        assert!(matches!(r.layout(), Layout::V1(_)));
        let s = r.stats(cg, true).unwrap();
        let tick = 1_000_000_000 / r.clock_ticks;
        assert_eq!(s.cpu_usage_ns, 5_000_000_000);
        assert_eq!((s.cpu_user_ns, s.cpu_kernel_ns), (300 * tick, 100 * tick));
        assert_eq!(s.percpu_usage_ns, [3_000_000_000, 2_000_000_000]);
        assert_eq!(
            (s.cpu_periods, s.cpu_throttled_periods, s.cpu_throttled_ns),
            (10, 4, 7000)
        );
        assert_eq!(s.memory_usage, 1_000_000);
        assert_eq!(s.memory_max_usage, 2_000_000);
        assert_eq!(s.memory_failcnt, 3);
        assert_eq!((s.memory_cache, s.memory_rss), (4000, 5000));
        assert_eq!(working_set(s.memory_usage, &s.memory_stat), 900_000);
        assert_eq!((s.pids_current, s.pids_limit), (3, 0));
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (101, 202));
        let spec = r.spec(cg, &s).unwrap();
        assert_eq!(
            spec,
            CgroupSpec {
                memory_limit: 9223372036854771712,
                cpu_shares: 512,
                cpu_quota: 0,
                cpu_period: 100000
            }
        );
        assert_eq!(r.processes(cg).unwrap(), 2);
        assert!(matches!(
            r.stats(Path::new("/berth/gone"), false),
            Err(RuntimeError::NotRunning)
        ));
    }

    #[test]
    fn v2_files_read_into_stats_and_spec() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            &[("cgroup.controllers", "cpu memory io pids\n")],
        );
        let cg = Path::new("/berth/c2");
        write(
            &root.path().join("berth/c2"),
            &[
                ("memory.current", "1000000\n"),
                ("memory.max", "max\n"),
                ("memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n"),
                ("memory.stat", "anon 600\nfile 300\ninactive_file 250000\n"),
                (
                    "cpu.stat",
                    "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 8\nnr_throttled 2\nthrottled_usec 30\n",
                ),
                ("cpu.weight", "100\n"),
                ("cpu.max", "50000 100000\n"),
                ("pids.current", "4\n"),
                ("pids.max", "20\n"),
                (
                    "io.stat",
                    "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n",
                ),
                ("cgroup.procs", "1\n"),
            ],
        );
        let mut r = Reader::new(Layout::detect_at(root.path()));
        assert!(matches!(r.layout(), Layout::V2(_)));
        let s = r.stats(cg, true).unwrap();
        assert_eq!(
            (s.cpu_usage_ns, s.cpu_user_ns, s.cpu_kernel_ns),
            (2_500_000_000, 2_000_000_000, 500_000_000)
        );
        assert!(s.percpu_usage_ns.is_empty());
        assert_eq!(
            (s.cpu_periods, s.cpu_throttled_periods, s.cpu_throttled_ns),
            (8, 2, 30_000)
        );
        assert_eq!(s.memory_limit, u64::MAX);
        assert_eq!(s.memory_max_usage, 0, "no memory.peak on older kernels");
        assert_eq!(s.memory_failcnt, 7);
        assert_eq!((s.memory_cache, s.memory_rss), (300, 600));
        assert_eq!(working_set(s.memory_usage, &s.memory_stat), 750_000);
        assert_eq!((s.pids_current, s.pids_limit), (4, 20));
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (11, 22));
        let spec = r.spec(cg, &s).unwrap();
        assert_eq!(
            spec.cpu_shares, 2597,
            "cAdvisor's conversion of the default weight"
        );
        assert_eq!((spec.cpu_quota, spec.cpu_period), (50000, 100000));
        assert_eq!(r.processes(cg).unwrap(), 1);
    }
}
