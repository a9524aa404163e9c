//! Keeps the daemon's heap from holding on to memory it no longer uses.
//!
//! glibc's malloc gives each thread that allocates under contention an arena
//! of its own (up to eight per core), and gives freed memory back to the
//! kernel only from the top of the main arena. A daemon that streamed a
//! 100 MB log, or started a thousand containers from the blocking pool,
//! would keep tens of megabytes of free heap resident for good. Two arenas
//! are enough for two runtime workers (allocation here is not the
//! bottleneck), and a periodic `malloc_trim` returns the free pages of every
//! arena, the middle of heaps included (`MADV_DONTNEED`), once enough of it
//! is free to matter.

use std::time::Duration;

/// Arenas for the whole process; set before any thread starts.
const ARENAS: libc::c_int = 2;
/// How often the free heap is looked at.
const PERIOD: Duration = Duration::from_secs(2);
/// Free heap below this stays: trimming it would cost more faults than it saves.
const SLACK: usize = 4 << 20;

/// Caps the number of malloc arenas. Call before the first thread exists.
pub fn limit_arenas() {
    // SAFETY: mallopt only changes allocator parameters; no thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Starts the thread that returns free heap to the kernel.
pub fn spawn_trimmer() -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("heap-trim".into())
        .stack_size(64 << 10)
        .spawn(|| {
            loop {
                std::thread::sleep(PERIOD);
                if free_heap() > SLACK {
                    // SAFETY: malloc_trim takes the arenas' locks itself.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                }
            }
        })
        .map(drop)
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
}
