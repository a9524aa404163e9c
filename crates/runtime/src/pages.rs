//! Gives back the pages that a process faulted in from files but no longer
//! uses (its own code and read-only data, libc's): it then lives on the
//! pages its steady state touches, which are faulted in again as needed.
//! Every page of a mapped file that a process has touched counts in its
//! RSS, and the kernel maps code in around each fault (large folios of the
//! page cache, or 64 KB), so code that ran once at start-up, or for one
//! request, would otherwise count for the process's whole life. The shim
//! does this once the container runs and after control requests; the daemon
//! when it goes idle. The pages stay in the page cache, shared and
//! reclaimable: what changes is what each process holds resident.
//!
//! Only mappings that cannot hold anything of ours are dropped: backed by a
//! file, not writable, and without anonymous (copied-on-write) pages, so
//! MADV_DONTNEED loses nothing: the next access reads the page cache again.

/// One mapping of /proc/self/smaps that may be dropped: start and length.
fn droppable(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize, bool)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            let perms = fields.next().unwrap_or_default();
            let path = fields.nth(3).unwrap_or_default();
            let candidate = path.starts_with('/') && perms.as_bytes().get(1) == Some(&b'-');
            current = Some((start, end - start, candidate));
            continue;
        }
        if first == "Anonymous:"
            && let Some((start, len, true)) = current.take()
            && fields.next() == Some("0")
        {
            out.push((start, len));
        }
    }
    out
}

/// Drops the clean file-backed pages of this process (see the module).
pub fn release_file_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, len) in droppable(&smaps) {
        // SAFETY: the range is one whole mapping of this process, file-backed,
        // read-only and without private pages (checked above): MADV_DONTNEED
        // only unmaps page-cache pages, which the next access maps in again.
        // A failure leaves the pages where they were.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

/// Gives back the pages of the main thread's stack below the current
/// frame: start-up's deeper calls (reading the parameters, creating the
/// container) left them dirty, and they are private memory (~32 KB of a
/// shim's). Must run on the main thread; elsewhere it does nothing.
pub fn release_idle_stack() {
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    if let Some((low, top)) = idle_stack(&maps, sp) {
        // SAFETY: [low, top) is part of this thread's stack mapping below
        // every live frame (idle_stack): nothing there is in use, and the
        // next access gets a zeroed page.
        unsafe {
            libc::madvise(low as *mut libc::c_void, top - low, libc::MADV_DONTNEED);
        }
    }
}

const PAGE: usize = 4096;

/// The part of the `[stack]` mapping below `sp`, less two pages of margin
/// for the red zone and the calls still to come; None when `sp` is not on
/// that stack (another thread's).
fn idle_stack(maps: &str, sp: usize) -> Option<(usize, usize)> {
    let low = maps
        .lines()
        .filter(|l| l.ends_with("[stack]"))
        .filter_map(|l| {
            let (range, _) = l.split_once(' ')?;
            let (lo, hi) = range.split_once('-')?;
            Some((
                usize::from_str_radix(lo, 16).ok()?,
                usize::from_str_radix(hi, 16).ok()?,
            ))
        })
        .find(|&(lo, hi)| (lo..hi).contains(&sp))
        .map(|(lo, _)| lo)?;
    let top = (sp & !(PAGE - 1)).saturating_sub(2 * PAGE);
    (top > low).then_some((low, top))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_stack_is_below_the_frame_on_the_main_stack_only() {
        let maps = "\
55d0a0000000-55d0a0100000 r--p 00000000 fd:01 123 /usr/bin/berth-shim
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
";
        let sp = 0x7ffc_0001_8a40;
        assert_eq!(
            idle_stack(maps, sp),
            Some((0x7ffc_0000_0000, 0x7ffc_0001_6000))
        );
        // Another thread's stack, or a frame too near the bottom: nothing.
        assert_eq!(idle_stack(maps, 0x7f00_0000_1000), None);
        assert_eq!(idle_stack(maps, 0x7ffc_0000_1a40), None);
    }

    #[test]
    fn only_clean_read_only_file_mappings() {
        let smaps = "\
55d0a0000000-55d0a0100000 r--p 00000000 fd:01 123 /usr/bin/berth-shim
Rss:                 400 kB
Anonymous:             0 kB
55d0a0100000-55d0a0500000 r-xp 00100000 fd:01 123 /usr/bin/berth-shim
Anonymous:             0 kB
55d0a0500000-55d0a0600000 r--p 00500000 fd:01 123 /usr/bin/berth-shim
Anonymous:           300 kB
55d0a0600000-55d0a0610000 rw-p 00600000 fd:01 123 /usr/bin/berth-shim
Anonymous:             8 kB
55d0a1000000-55d0a1100000 rw-p 00000000 00:00 0 [heap]
Anonymous:           100 kB
7f0000000000-7f0000010000 r--p 00000000 00:00 0
Anonymous:             0 kB
7fff00000000-7fff00001000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
";
        assert_eq!(
            droppable(smaps),
            [(0x55d0a0000000, 0x100000), (0x55d0a0100000, 0x400000)],
            "the relocated read-only data (private pages) and everything writable stay"
        );
    }

    fn rss_file_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn file_pages_leave_and_code_still_runs() {
        let before = rss_file_kb();
        release_file_pages();
        let after = rss_file_kb();
        assert!(after < before, "RssFile {before} kB -> {after} kB");
        // Code and read-only data are read in again on use.
        let text = format!(
            "{:?}",
            droppable("7f00-7f01 r--p 0 0:0 1 /x\nAnonymous: 0 kB\n")
        );
        assert_eq!(text, "[(32512, 1)]");
    }
}
