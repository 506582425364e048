//! Bounded reassembly of one direction of a TCP byte stream, for the first
//! bytes of a flow only (a ClientHello, HTTP request headers, DNS messages).
//!
//! Segments may arrive out of order, overlap, or be retransmitted. The buffer
//! holds the in-order bytes from a start sequence number; segments beyond a
//! gap wait in a small pending list until the gap is filled. Everything is
//! capped: `cap` bytes of contiguous data, [`MAX_PENDING`] waiting segments.
//! When a cap is hit the stream reports [`Push::Overflow`] and the caller
//! gives up on the flow (counted), it never grows without bound.

/// Out-of-order segments kept while waiting for a gap to fill.
pub const MAX_PENDING: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// New in-order bytes were added (possibly draining pending segments).
    Added,
    /// Nothing new: a retransmission of bytes already held or consumed.
    Duplicate,
    /// Stored beyond a gap.
    Pending,
    /// A cap was hit.
    Overflow,
}

#[derive(Debug, Default, Clone)]
pub struct Stream {
    /// Sequence number of `buf[0]`.
    base: u32,
    started: bool,
    buf: Vec<u8>,
    pending: Vec<(u32, Vec<u8>)>,
}

/// Signed distance from `a` to `b` in sequence space.
#[inline]
fn seq_diff(b: u32, a: u32) -> i64 {
    b.wrapping_sub(a) as i32 as i64
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Sets the first expected sequence number (ISN + 1 from a SYN).
    pub fn start_at(&mut self, seq: u32) {
        if !self.started {
            self.base = seq;
            self.started = true;
        }
    }

    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Heap bytes held (contiguous data and waiting segments).
    pub fn mem(&self) -> usize {
        self.buf.capacity()
            + self.pending.capacity() * std::mem::size_of::<(u32, Vec<u8>)>()
            + self
                .pending
                .iter()
                .map(|(_, d)| d.capacity())
                .sum::<usize>()
    }

    /// The contiguous bytes not yet consumed.
    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    /// Sequence number right after the contiguous data.
    pub fn next_seq(&self) -> u32 {
        self.base.wrapping_add(self.buf.len() as u32)
    }

    /// Whether `seq` is where the next in-order byte goes and nothing is buffered
    /// (the caller may then parse the segment in place, without copying).
    pub fn is_in_order_empty(&self, seq: u32) -> bool {
        (!self.started || seq == self.base) && self.buf.is_empty() && self.pending.is_empty()
    }

    /// Drops `n` parsed bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.base = self.base.wrapping_add(n as u32);
    }

    /// Marks `n` bytes at `seq` as consumed without storing them (parsed in place).
    pub fn skip_in_place(&mut self, seq: u32, n: usize) {
        if !self.started {
            self.base = seq;
            self.started = true;
        }
        if seq == self.base && self.buf.is_empty() {
            self.base = self.base.wrapping_add(n as u32);
        }
    }

    /// Adds a segment. `cap` bounds the contiguous buffer.
    pub fn push(&mut self, seq: u32, data: &[u8], cap: usize) -> Push {
        if data.is_empty() {
            return Push::Duplicate;
        }
        if !self.started {
            self.base = seq;
            self.started = true;
        }
        let end = self.next_seq();
        let off = seq_diff(seq, end);
        if off > 0 {
            // Beyond a gap.
            if off as usize > cap || self.pending.len() >= MAX_PENDING {
                return Push::Overflow;
            }
            if self
                .pending
                .iter()
                .any(|(s, d)| *s == seq && d.len() >= data.len())
            {
                return Push::Duplicate;
            }
            self.pending.push((seq, data.to_vec()));
            return Push::Pending;
        }
        // Overlaps what we have: keep only the new tail.
        let skip = (-off) as usize;
        if skip >= data.len() {
            return Push::Duplicate;
        }
        if self.buf.len() + data.len() - skip > cap {
            return Push::Overflow;
        }
        self.buf.extend_from_slice(&data[skip..]);
        self.drain_pending(cap)
    }

    fn drain_pending(&mut self, cap: usize) -> Push {
        loop {
            let end = self.next_seq();
            let mut progressed = false;
            let mut i = 0;
            while i < self.pending.len() {
                let (s, _) = self.pending[i];
                let off = seq_diff(s, end);
                if off <= 0 {
                    let (_, d) = self.pending.swap_remove(i);
                    let skip = (-off) as usize;
                    if skip < d.len() {
                        if self.buf.len() + d.len() - skip > cap {
                            return Push::Overflow;
                        }
                        self.buf.extend_from_slice(&d[skip..]);
                        progressed = true;
                    }
                    continue;
                }
                i += 1;
            }
            if !progressed {
                return Push::Added;
            }
        }
    }

    /// Frees the memory held (the flow stopped inspecting).
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.pending = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_out_of_order_and_retransmit() {
        let mut s = Stream::new();
        s.start_at(1000);
        assert_eq!(s.push(1005, b"fghij", 100), Push::Pending);
        assert_eq!(s.push(1000, b"abcde", 100), Push::Added);
        assert_eq!(s.data(), b"abcdefghij");
        assert_eq!(s.push(1000, b"abcde", 100), Push::Duplicate);
        assert_eq!(s.push(1008, b"ijkl", 100), Push::Added);
        assert_eq!(s.data(), b"abcdefghijkl");
        s.consume(4);
        assert_eq!(s.data(), b"efghijkl");
        assert_eq!(s.push(1002, b"cdefghijklmn", 100), Push::Added);
        assert_eq!(s.data(), b"efghijklmn");
    }

    #[test]
    fn wraparound() {
        let mut s = Stream::new();
        s.start_at(u32::MAX - 1);
        assert_eq!(s.push(1, b"de", 100), Push::Pending);
        assert_eq!(s.push(u32::MAX - 1, b"abc", 100), Push::Added);
        assert_eq!(s.data(), b"abcde");
    }

    #[test]
    fn caps() {
        let mut s = Stream::new();
        s.start_at(0);
        assert_eq!(s.push(0, &[0; 10], 16), Push::Added);
        assert_eq!(s.push(10, &[0; 10], 16), Push::Overflow);
        for i in 0..MAX_PENDING as u32 {
            assert_eq!(s.push(100 + i * 10, &[1; 2], 1000), Push::Pending);
        }
        assert_eq!(s.push(500, &[1; 2], 1000), Push::Overflow);
    }
}
