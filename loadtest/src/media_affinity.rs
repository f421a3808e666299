//! CPU pinning for the video-visit benchmarks.
//!
//! The load generator's webrtc peers do the same SRTP and RTCP work per packet as the worker
//! (each packet is encrypted by its publisher and decrypted by its subscriber, and decrypted
//! and re-encrypted by the worker), so on a 2-core machine they need about as much CPU as the
//! worker: left alone, both saturate together and the figure is the machine's. Pinning the
//! worker to one core and the load generator to the other (`--worker-cpus 0 --loadgen-cpus
//! 1`) gives "the worker on one core", the unit the mediasoup anchor (~500 consumers per
//! worker) is quoted in, and says which side ran out first.

use std::io;

/// The affinity mask of `cpus`.
pub fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET only writes bit `cpu` of `set` (it ignores out-of-range numbers).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

/// Pins thread `tid` (0: the calling thread) to `set`. Async-signal-safe (one system call),
/// so usable between fork and exec.
pub fn pin_thread(tid: libc::pid_t, set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Pins every thread of this process to `cpus` (threads started later inherit it from the
/// thread that starts them).
pub fn pin_this_process(cpus: &[usize]) -> io::Result<()> {
    let set = cpu_set(cpus);
    for entry in std::fs::read_dir("/proc/self/task")? {
        if let Some(tid) = entry?
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<libc::pid_t>().ok())
        {
            pin_thread(tid, &set)?;
        }
    }
    Ok(())
}

/// Makes `cmd`'s process start pinned to `cpus` (nothing when `cpus` is empty).
pub fn pin_child(cmd: &mut tokio::process::Command, cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    let set = cpu_set(cpus);
    // SAFETY: the closure runs between fork and exec and only makes one system call.
    unsafe {
        cmd.pre_exec(move || pin_thread(0, &set));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_hold_the_cpus_given() {
        let set = cpu_set(&[0, 3]);
        // SAFETY: reading bits of a valid set.
        unsafe {
            assert!(libc::CPU_ISSET(0, &set));
            assert!(!libc::CPU_ISSET(1, &set));
            assert!(libc::CPU_ISSET(3, &set));
        }
    }
}
