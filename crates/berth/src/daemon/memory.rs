//! Keeps the daemon's resident memory to what it uses.
//!
//! The heap: glibc's malloc gives each thread that allocates under
//! contention an arena of its own (up to eight per core), and gives freed
//! memory back to the kernel only from the top of a heap. A daemon that
//! streamed a 100 MB log, or started a thousand containers from the
//! blocking pool, would keep megabytes of free heap resident for good. Two
//! arenas are enough for the runtime's few workers (allocation is not the
//! bottleneck here), and `malloc_trim` returns the free pages of every
//! arena, the middle of heaps included, once enough is free to matter.
//!
//! The binary's pages: start-up, and each kind of request, fault in code
//! and read-only data of a 60 MB binary (~20 MB of it resident after
//! start, most of it never run again). Once the daemon has been idle for a
//! second, those pages are given back (see `runtime::pages`); what the
//! next requests need is faulted in again from the page cache.

use std::time::{Duration, Instant};

/// Arenas for the whole process; set before any thread starts.
const ARENAS: libc::c_int = 2;
/// How often the keeper looks.
const PERIOD: Duration = Duration::from_secs(1);
/// Free heap below this stays: trimming it would cost more faults than it saves.
const SLACK: usize = 1 << 20;
/// CPU the whole daemon may use in a period that still counts as idle.
const IDLE_CPU: Duration = Duration::from_millis(2);
/// File pages are given back at most this often, so that a daemon busy in
/// short bursts does not fault its code in again after each one (a release
/// and the faults after it cost about a millisecond).
const RELEASE_INTERVAL: Duration = Duration::from_secs(5);
/// Work after which the next quiet second gives file pages back within the
/// interval: the millisecond of faults that follows is then at most 2% of it.
const WORTH_A_RELEASE: Duration = Duration::from_millis(50);

/// Caps the number of malloc arenas. Call before the first thread exists.
pub fn limit_arenas() {
    // SAFETY: mallopt only changes allocator parameters; no thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Starts the thread that trims the heap and gives back file pages.
pub fn spawn_keeper() -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("memory-keeper".into())
        .stack_size(64 << 10)
        .spawn(keep)
        .map(drop)
}

fn keep() {
    let mut idle = IdleRelease::default();
    let mut cpu = cpu_time();
    loop {
        std::thread::sleep(PERIOD);
        if free_heap() > SLACK {
            // SAFETY: malloc_trim takes the arenas' locks itself.
            unsafe {
                libc::malloc_trim(0);
            }
        }
        let now = cpu_time();
        if idle.observe(now.saturating_sub(cpu), Instant::now()) {
            runtime::pages::release_file_pages();
        }
        cpu = now;
    }
}

/// When to give file pages back: in an idle period that follows work done
/// since the last time (start-up is work), at most every `RELEASE_INTERVAL`
/// unless that work was `WORTH_A_RELEASE`: a 100 MB log streamed just after
/// a release is not left holding the code it faulted in for seconds.
#[derive(Debug, Default)]
struct IdleRelease {
    last: Option<Instant>,
    /// CPU of the busy periods since the last release (each adds at least
    /// `IDLE_CPU`, so zero means none was busy).
    work: Duration,
}

impl IdleRelease {
    /// `spent`: the process's CPU time in the period that ended at `now`.
    fn observe(&mut self, spent: Duration, now: Instant) -> bool {
        if spent >= IDLE_CPU {
            self.work += spent;
            return false;
        }
        let due = self.work >= WORTH_A_RELEASE
            || self
                .last
                .is_none_or(|t| now.duration_since(t) >= RELEASE_INTERVAL);
        if !(due && (!self.work.is_zero() || self.last.is_none())) {
            return false;
        }
        self.last = Some(now);
        self.work = Duration::ZERO;
        true
    }
}

/// CPU time of the whole process, every thread.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Bytes malloc holds free, in all arenas (fordblks counts free chunks).
fn free_heap() -> usize {
    // SAFETY: mallinfo2 reads the arenas' statistics under their locks.
    unsafe { libc::mallinfo2() }.fordblks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_holes_are_counted_and_trimming_gives_them_back() {
        // Every other block freed: holes between live blocks, which free()
        // cannot give back (only the top of a heap shrinks by itself). 64 KiB
        // stays below the mmap threshold, so the blocks live in the heap.
        let mut blocks: Vec<Option<Vec<u8>>> =
            (0..400).map(|i| Some(vec![i as u8; 64 << 10])).collect();
        let before = free_heap();
        for b in blocks.iter_mut().step_by(2) {
            b.take();
        }
        assert!(
            free_heap() >= before + (10 << 20),
            "holes count as free heap"
        );
        let rss = || {
            std::fs::read_to_string("/proc/self/status")
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<usize>().ok())
                .unwrap()
        };
        let held = rss();
        // SAFETY: as in the trimmer.
        unsafe { libc::malloc_trim(0) };
        assert!(rss() + 8 * 1024 < held, "trim returned the free pages");
        drop(blocks);
    }

    #[test]
    fn pages_go_back_once_per_quiet_spell_after_work_and_not_too_often() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let quiet = Duration::ZERO;
        let some = Duration::from_millis(10);
        let much = Duration::from_millis(600);
        let mut r = IdleRelease::default();
        assert!(!r.observe(some, at(0)), "busy: never");
        assert!(
            r.observe(quiet, at(1)),
            "the first quiet second after start-up"
        );
        assert!(!r.observe(quiet, at(2)), "nothing was done since");
        assert!(!r.observe(some, at(3)));
        assert!(
            !r.observe(quiet, at(4)),
            "a little work again, but within the interval"
        );
        assert!(
            r.observe(quiet, at(31)),
            "the interval passed, work was done"
        );
        assert!(
            !r.observe(quiet, at(62)),
            "idle all along: nothing new to give back"
        );
        assert!(!r.observe(much, at(63)));
        assert!(
            r.observe(quiet, at(64)),
            "within the interval, but after enough work to be worth it"
        );
        assert!(!r.observe(some, at(65)));
        assert!(!r.observe(some, at(66)));
        assert!(
            !r.observe(quiet, at(67)),
            "small bursts add up to less than is worth a release"
        );
    }
}
