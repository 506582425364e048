//! Live capture through libpcap (the `pcap` crate).
//!
//! Each interface has its own capture thread. It takes frames from libpcap's
//! ring as they come and copies them into a [`Batch`] (libpcap reuses its
//! buffer at the next call, so a frame that crosses threads must be copied;
//! this is the only copy, one `memcpy` per frame into a batch buffer that is
//! reused). A batch goes to the analysis thread when it is full, when it is
//! 20 ms old, or when the read timeout (100 ms) passes with no traffic, so a
//! quiet link still reaches the analysis promptly. The channel is bounded: if
//! the analysis falls behind, the capture thread waits and the kernel buffer
//! absorbs the burst; what it cannot hold, the kernel drops and counts, and
//! those drops are reported (`drops.kernel`), never hidden.
//!
//! Several interfaces (the two directions of a TAP, two SPAN sessions) feed
//! one analysis, so their flows meet in one flow table.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::os::fd::AsRawFd;

use pcap::{Active, Capture, Device};

/// Capture settings (`lanterne capture` options).
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// Kernel buffer size in MiB.
    pub buffer_mb: u32,
    pub promisc: bool,
    /// Deliver frames as they arrive instead of block by block (see
    /// `lanterne capture --immediate`).
    pub immediate: bool,
    /// BPF filter expression (tcpdump syntax).
    pub bpf: Option<String>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            snaplen: 65535,
            buffer_mb: 64,
            promisc: true,
            immediate: false,
            bpf: None,
        }
    }
}

/// Where one frame lies in a batch.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub ts_ns: i64,
    pub at: u32,
    pub caplen: u32,
    pub orig_len: u32,
}

/// Frames of one interface, in arrival order.
#[derive(Debug, Default)]
pub struct Batch {
    pub iface: usize,
    pub linktype: u32,
    pub buf: Vec<u8>,
    pub frames: Vec<Frame>,
}

impl Batch {
    /// The bytes of `f`.
    pub fn data(&self, f: &Frame) -> &[u8] {
        let at = f.at as usize;
        self.buf.get(at..at + f.caplen as usize).unwrap_or_default()
    }
}

/// What one interface's capture thread reports (read by the analysis and
/// the metrics while the capture runs).
#[derive(Debug, Default)]
pub struct IfaceCounters {
    /// The interface.
    pub name: String,
    /// Still capturing (false once its capture stopped on an error).
    pub up: AtomicBool,
    /// Frames handed to the analysis.
    pub frames: AtomicU64,
    /// libpcap's counts since the capture started (`pcap_stats`, widened
    /// from its 32-bit counters, which wrap).
    pub received: AtomicU64,
    pub dropped_kernel: AtomicU64,
    pub dropped_interface: AtomicU64,
    /// Why the capture stopped early (interface down, read error).
    pub error: Mutex<Option<String>>,
}

/// An opened interface.
pub struct Live {
    pub name: String,
    pub linktype: u32,
    cap: Capture<Active>,
}

/// Names of the capture devices libpcap sees, for error messages.
pub fn device_names() -> Vec<String> {
    Device::list()
        .map(|l| l.into_iter().map(|d| d.name).collect())
        .unwrap_or_default()
}

/// Opens `iface` for capture. Errors are one line that says what to do.
pub fn open(iface: &str, opts: &LiveOptions) -> Result<Live, String> {
    let devices = device_names();
    if !devices.is_empty() && !devices.iter().any(|d| d == iface) {
        return Err(format!(
            "{iface}: no such interface (available: {})",
            devices.join(", ")
        ));
    }
    let inactive =
        Capture::from_device(iface).map_err(|e| format!("{iface}: cannot capture: {e}"))?;
    let mb = opts.buffer_mb.clamp(1, 2047) as i32;
    let cap = inactive
        .promisc(opts.promisc)
        .snaplen(opts.snaplen.clamp(64, 262_144) as i32)
        .buffer_size(mb << 20)
        .immediate_mode(opts.immediate)
        .timeout(100)
        .open()
        .map_err(|e| open_error(iface, &e.to_string()))?;
    let mut cap = cap;
    if let Some(f) = &opts.bpf {
        cap.filter(f, true)
            .map_err(|e| format!("--bpf {f:?}: {e}"))?;
    }
    // Non-blocking, with our own poll(): libpcap's read timeout does not
    // make it return when the link is quiet (TPACKET_V3 polls again), and the
    // capture thread must see a stop request within a fraction of a second.
    let cap = cap
        .setnonblock()
        .map_err(|e| format!("{iface}: cannot capture: {e}"))?;
    let linktype = cap.get_datalink().0 as u32;
    Ok(Live {
        name: iface.to_string(),
        linktype,
        cap,
    })
}

/// libpcap's activation error, with the remedy for the common ones.
fn open_error(iface: &str, msg: &str) -> String {
    let m = msg.to_ascii_lowercase();
    if m.contains("permission") || m.contains("not permitted") {
        format!(
            "{iface}: {msg}: capturing needs root, or the capabilities \
             (setcap cap_net_raw,cap_net_admin+eip /path/to/lanterne)"
        )
    } else if m.contains("no such device") {
        format!("{iface}: {msg} (available: {})", device_names().join(", "))
    } else {
        format!("{iface}: cannot capture: {msg}")
    }
}

/// Bytes a batch collects before it is sent.
const BATCH_BYTES: usize = 256 * 1024;
/// Frames a batch collects at most before it is sent.
const BATCH_FRAMES: usize = 4096;

/// What one batch holds at most with snap length `snaplen`: its buffer (a
/// full batch and one more frame), and where its frames lie.
pub fn batch_memory(snaplen: u32) -> usize {
    BATCH_BYTES + (snaplen as usize).max(65536) + BATCH_FRAMES * std::mem::size_of::<Frame>()
}
/// Longest a frame waits in a batch.
const BATCH_AGE: Duration = Duration::from_millis(20);
/// Longest a stopping capture thread keeps reading what the kernel holds.
const DRAIN: Duration = Duration::from_secs(2);
/// How often the capture thread reads libpcap's counters.
const STATS_EVERY: Duration = Duration::from_millis(500);

/// Longest wait for frames before the stop flag is checked again.
const POLL_MS: i32 = 100;

/// Waits until `fd` is readable, or `ms` milliseconds.
fn wait_readable(fd: std::os::fd::RawFd, ms: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd on the stack, for the duration of the call.
    unsafe { libc::poll(&mut p, 1, ms) };
}

/// Widens a wrapping 32-bit counter: `last` is the previous raw value. A
/// step back by more than half the range is a reset, not a wrap (libpcap
/// derives the interface drops from the device's counters, which read 0 once
/// the device is gone or its driver resets them): nothing is added then.
fn widen(total: &AtomicU64, last: &mut u32, now: u32) {
    let delta = now.wrapping_sub(*last);
    if delta < 1 << 31 {
        total.fetch_add(u64::from(delta), Ordering::Relaxed);
    }
    *last = now;
}

/// Captures until `stop` is set or the interface fails; sends batches to
/// `tx` (stops too when the receiver is gone).
pub fn run(
    mut live: Live,
    iface: usize,
    tx: SyncSender<Batch>,
    stop: &AtomicBool,
    counters: &IfaceCounters,
) {
    let linktype = live.linktype;
    let fresh = || Batch {
        iface,
        linktype,
        buf: Vec::with_capacity(BATCH_BYTES + 65536),
        frames: Vec::with_capacity(BATCH_FRAMES),
    };
    let mut batch = fresh();
    let mut first_at = Instant::now();
    let mut stats_at = Instant::now();
    let (mut recv, mut drop, mut ifdrop) = (0u32, 0u32, 0u32);
    let read_stats =
        |cap: &mut Capture<Active>, recv: &mut u32, drop: &mut u32, ifdrop: &mut u32| {
            if let Ok(s) = cap.stats() {
                widen(&counters.received, recv, s.received);
                widen(&counters.dropped_kernel, drop, s.dropped);
                widen(&counters.dropped_interface, ifdrop, s.if_dropped);
            }
        };
    let send = |batch: Batch| -> bool {
        counters
            .frames
            .fetch_add(batch.frames.len() as u64, Ordering::Relaxed);
        tx.send(batch).is_ok()
    };
    counters.up.store(true, Ordering::Relaxed);
    // After a stop request, what the kernel already holds is still read (for
    // at most this long), so that a stop loses nothing it counted.
    let mut drain_until: Option<Instant> = None;
    let mut failed = false;
    loop {
        if drain_until.is_none() && stop.load(Ordering::Relaxed) {
            drain_until = Some(Instant::now() + DRAIN);
        }
        if drain_until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        match live.cap.next_packet() {
            Ok(p) => {
                if batch.frames.is_empty() {
                    first_at = Instant::now();
                }
                let h = p.header;
                // (time_t and suseconds_t are i64 here, narrower elsewhere.)
                #[allow(clippy::useless_conversion)]
                let ts_ns = i64::from(h.ts.tv_sec)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(i64::from(h.ts.tv_usec) * 1000);
                batch.frames.push(Frame {
                    ts_ns,
                    at: batch.buf.len() as u32,
                    caplen: p.data.len() as u32,
                    orig_len: h.len,
                });
                batch.buf.extend_from_slice(p.data);
                let full = batch.buf.len() >= BATCH_BYTES
                    || batch.frames.len() >= BATCH_FRAMES
                    || first_at.elapsed() >= BATCH_AGE;
                if full && !send(std::mem::replace(&mut batch, fresh())) {
                    return;
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing ready: hand over what we hold, then wait for frames
                // (or, stopping, the kernel's buffer is empty: done).
                if !batch.frames.is_empty() && !send(std::mem::replace(&mut batch, fresh())) {
                    return;
                }
                if drain_until.is_some() {
                    break;
                }
                wait_readable(live.cap.as_raw_fd(), POLL_MS);
            }
            Err(e) => {
                // The interface went down or was removed: keep what was
                // captured, say so now (the other interfaces go on), and
                // report it at the end too.
                let msg = format!("{}: capture stopped: {e}", live.name);
                eprintln!("lanterne: {msg}");
                if let Ok(mut slot) = counters.error.lock() {
                    slot.get_or_insert(msg);
                }
                counters.up.store(false, Ordering::Relaxed);
                failed = true;
                break;
            }
        }
        if stats_at.elapsed() >= STATS_EVERY {
            stats_at = Instant::now();
            read_stats(&mut live.cap, &mut recv, &mut drop, &mut ifdrop);
        }
    }
    if !failed {
        // (A failed device's counters are gone; the last ones read stay.)
        read_stats(&mut live.cap, &mut recv, &mut drop, &mut ifdrop);
    }
    if !batch.frames.is_empty() {
        send(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_widen_across_wraps_but_not_resets() {
        let total = AtomicU64::new(0);
        let mut last = 0u32;
        widen(&total, &mut last, 10);
        widen(&total, &mut last, 1 << 30);
        widen(&total, &mut last, (1 << 31) + 100);
        widen(&total, &mut last, u32::MAX - 5);
        widen(&total, &mut last, 4); // wrapped: 10 more
        assert_eq!(total.load(Ordering::Relaxed), u64::from(u32::MAX - 5) + 10);
        // The device's counter reset (or the device is gone): nothing added.
        widen(&total, &mut last, 0);
        assert_eq!(total.load(Ordering::Relaxed), u64::from(u32::MAX - 5) + 10);
        widen(&total, &mut last, 7);
        assert_eq!(total.load(Ordering::Relaxed), u64::from(u32::MAX - 5) + 17);
    }

    #[test]
    fn unknown_interface_lists_the_others() {
        let e = open("lanterne-no-such-if0", &LiveOptions::default())
            .err()
            .expect("no such interface");
        assert!(e.starts_with("lanterne-no-such-if0: "), "{e}");
        if !device_names().is_empty() {
            assert!(e.contains("available: "), "{e}");
        }
    }
}
