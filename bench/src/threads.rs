//! Where a run's answers cost the server: each thread's CPU time and the bytes it wrote to files, read
//! from `/proc/PID/task/*` before and after the run and grouped by thread name. This is the per-thread
//! profile docs/benchmarks.md cites ("where a commit's bytes go"), so that it comes with every run
//! instead of from a script kept outside the repository. Linux only; elsewhere it prints nothing.

use std::collections::BTreeMap;

/// CPU time (clock ticks) and bytes written (`wchar`: `write`/`pwrite` to files; a socket's `send`
/// is not counted), summed over the threads of each name.
pub struct Snapshot(BTreeMap<String, (u64, u64)>);

pub fn snapshot(pid: u32) -> Option<Snapshot> {
    let mut by_name: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let dir = task.path();
        // A thread that ended meanwhile is skipped.
        let (Ok(stat), Ok(io)) = (std::fs::read_to_string(dir.join("stat")), std::fs::read_to_string(dir.join("io")))
        else {
            continue;
        };
        // `pid (name) state …`: the name may hold spaces and parentheses, so fields count from the
        // last ')'. utime and stime are fields 14 and 15 of proc_pid_stat(5): the 12th and 13th after
        // the name, which is field 2 (the state, field 3, is the first after it).
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map_or("?", |(_, n)| n).to_owned();
        let fields: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        let written =
            io.lines().find_map(|l| l.strip_prefix("wchar:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        let entry = by_name.entry(name).or_default();
        entry.0 += ticks;
        entry.1 += written;
    }
    Some(Snapshot(by_name))
}

/// One line for the table: each thread name's CPU per answer, and bytes written per answer where it
/// wrote any, for the names that used at least 0.5 µs an answer.
pub fn per_answer(before: &Snapshot, after: &Snapshot, answers: f64) -> Option<String> {
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    if answers < 1.0 || ticks_per_second <= 0.0 {
        return None;
    }
    let parts: Vec<String> = after
        .0
        .iter()
        .filter_map(|(name, (ticks, written))| {
            let (t0, w0) = before.0.get(name).copied().unwrap_or((0, 0));
            let cpu_us = ticks.saturating_sub(t0) as f64 / ticks_per_second * 1e6 / answers;
            let bytes = written.saturating_sub(w0) as f64 / answers;
            (cpu_us >= 0.5).then(|| {
                if bytes >= 1.0 {
                    format!("{name} {cpu_us:.1} µs, {bytes:.0} B written")
                } else {
                    format!("{name} {cpu_us:.1} µs")
                }
            })
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread that burns 200 ms of CPU shows at least half of it under its own name, and the
    /// file it writes shows in its bytes: reading the wrong fields of `stat` (another session's
    /// first try summed stime with a child's time) or of `io` fails this.
    #[test]
    fn a_busy_thread_shows_its_cpu_and_its_writes() {
        let pid = std::process::id();
        let before = snapshot(pid).expect("/proc is readable");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("written");
        std::thread::Builder::new()
            .name("bench-busy".into())
            .spawn(move || {
                std::fs::write(&file, vec![1u8; 100_000]).unwrap();
                let start = std::time::Instant::now();
                let mut x = 0u64;
                while start.elapsed() < std::time::Duration::from_millis(200) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                // The snapshot below must see this thread alive.
                std::thread::sleep(std::time::Duration::from_millis(300));
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400));
        let after = snapshot(pid).unwrap();
        let line = per_answer(&before, &after, 1.0).expect("some thread used CPU");
        let busy = line.split(" · ").find(|p| p.starts_with("bench-busy ")).unwrap_or_else(|| panic!("{line}"));
        let cpu_us: f64 = busy["bench-busy ".len()..].split(' ').next().unwrap().parse().unwrap();
        assert!(cpu_us >= 100_000.0, "{busy}");
        assert!(busy.contains(", 100000 B written"), "{busy}");
    }
}
