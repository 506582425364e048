//! Packet sources. A source yields captured frames with their link type and
//! capture time; the analysis does not care where they come from. Files are
//! read by the pure-Rust reader in [`pcapfile`] (chosen by measurement, see
//! BENCHMARKS.md); live capture goes through libpcap in [`live`].
pub mod live;
pub mod pcapfile;

pub use pcapfile::{PacketLoc, PcapReader, RawPacket, ReadError};

/// A source of captured frames.
pub trait PacketSource {
    /// The next frame, `Ok(None)` at the end. The frame borrows the source's
    /// buffer until the next call (no copy).
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, ReadError>;
    /// Bytes consumed so far (for progress).
    fn position(&self) -> u64;
    /// Counted oddities that did not stop reading, by reason.
    fn anomalies(&self) -> Vec<(&'static str, u64)>;
}

impl<R: std::io::Read> PacketSource for PcapReader<R> {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, ReadError> {
        PcapReader::next_packet(self)
    }
    fn position(&self) -> u64 {
        self.offset()
    }
    fn anomalies(&self) -> Vec<(&'static str, u64)> {
        PcapReader::anomalies(self).to_vec()
    }
}
