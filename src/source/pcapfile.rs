//! Zero-copy, panic-free reader for classic pcap and pcapng capture files.
//!
//! # Formats
//!
//! * **Classic pcap** (libpcap): a 24-byte file header whose magic gives the byte order and
//!   the timestamp unit (`a1b2c3d4`: microseconds, `a1b23c4d`: nanoseconds, either byte
//!   order), followed by records of a 16-byte header (`ts_sec`, `ts_frac`, `caplen`,
//!   `orig_len`) and `caplen` bytes of packet data. The link type is the low 16 bits of the
//!   header's `network` field (the FCS bits above are ignored).
//! * **pcapng**: a sequence of blocks `type, total_length, body, total_length`. A Section
//!   Header Block (SHB) starts every section and fixes its byte order (byte-order magic
//!   `1a2b3c4d`); it also forgets the interfaces of the previous section. Interface
//!   Description Blocks (IDB) give each interface its link type, snap length and timestamp
//!   unit (`if_tsresol`, `if_tsoffset`). Packets come in Enhanced Packet Blocks (EPB),
//!   Simple Packet Blocks (SPB, interface 0, no timestamp: the previous packet's time is
//!   used) and obsolete Packet Blocks (PB). All other blocks (name resolution, statistics,
//!   decryption secrets, custom, ...) are skipped.
//! * Either format may be **gzip**-compressed (`1f 8b`); this is detected and the input is
//!   decompressed on the fly with [`flate2::read::MultiGzDecoder`].
//!
//! # Contract
//!
//! * **Zero copy**: the input is read with large `read()` calls into one owned buffer
//!   (1 MiB, grown only for bigger records, never beyond [`MAX_RECORD_LEN`] plus a header).
//!   Records are parsed in place and [`RawPacket::data`] borrows from that buffer, so a
//!   packet is valid until the next call to [`PcapReader::next_packet`]. Nothing is
//!   allocated per packet.
//! * **Never panics** on any input: every length read from the file is checked before it
//!   is used, and problems are reported as a [`ReadError`] whose `offset` is the position of
//!   the offending record header in the (decompressed) stream. Packets before a bad record
//!   are always returned first; after an error the reader only returns `Ok(None)`.
//! * Oddities that do not prevent reading (`caplen > snaplen`, `caplen > orig_len`, packets
//!   on an undeclared interface, malformed options) are counted in
//!   [`PcapReader::anomalies`] instead.
//! * Frame numbers are 1-based and count every packet record (EPB, SPB, PB in pcapng),
//!   as Wireshark does.

use std::fmt;
use std::io::{self, Chain, Cursor, Read};

use flate2::read::MultiGzDecoder;

/// Initial size of the read buffer.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;
/// Largest accepted record: a pcap `caplen` or a pcapng block total length.
pub const MAX_RECORD_LEN: usize = 256 << 20;

/// Anomaly: a packet's captured length exceeds the snap length of its file/interface.
pub const ANOMALY_CAPLEN_EXCEEDS_SNAPLEN: &str = "caplen_exceeds_snaplen";
/// Anomaly: a packet's captured length exceeds its original length on the wire.
pub const ANOMALY_CAPLEN_EXCEEDS_ORIGLEN: &str = "caplen_exceeds_origlen";
/// Anomaly: a pcapng packet block names an interface with no IDB; the block is skipped.
pub const ANOMALY_UNKNOWN_INTERFACE: &str = "unknown_interface";
/// Anomaly: the options of a pcapng IDB run past the end of the block.
pub const ANOMALY_BAD_OPTION: &str = "bad_option";

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const PCAP_FILE_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

const NG_BLOCK_SHB: u32 = 0x0a0d_0d0a;
const NG_BLOCK_IDB: u32 = 1;
const NG_BLOCK_PB: u32 = 2;
const NG_BLOCK_SPB: u32 = 3;
const NG_BLOCK_EPB: u32 = 6;
const NG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Block type, total length and trailing total length.
const NG_BLOCK_OVERHEAD: usize = 12;
const NG_SHB_MIN_LEN: usize = 28;
/// Interface id (or id + drops), timestamp high/low, caplen, orig_len.
const NG_EPB_FIXED_LEN: usize = 20;
const NG_IDB_FIXED_LEN: usize = 8;
const NG_SPB_FIXED_LEN: usize = 4;
const NG_OPT_END: u16 = 0;
const NG_OPT_IF_TSRESOL: u16 = 9;
const NG_OPT_IF_TSOFFSET: u16 = 14;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// One packet record, borrowing from the reader's buffer (valid until the next call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// DLT/LINKTYPE value (1 Ethernet, 113 SLL, 276 SLL2, 101 RAW, 228 IPv4, 229 IPv6, ...).
    pub linktype: u32,
    /// Captured bytes (caplen).
    pub data: &'a [u8],
    /// Original length on the wire.
    pub orig_len: u32,
    /// 1-based frame number within this file.
    pub frame: u64,
}

/// What went wrong while reading a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// The underlying reader (or the gzip decoder) failed.
    Io,
    /// The input is neither pcap nor pcapng.
    BadMagic,
    /// The input holds no bytes at all.
    Empty,
    /// The input ends inside the file header.
    TruncatedHeader,
    /// The input ends inside a record.
    TruncatedRecord,
    /// A record is malformed (impossible lengths, mismatched trailer, ...).
    BadRecord,
}

/// A fatal reading error; `offset` is the byte offset of the offending record header in the
/// (decompressed) stream.
#[derive(Debug, Clone)]
pub struct ReadError {
    pub kind: ReadErrorKind,
    pub offset: u64,
    pub reason: String,
}

impl ReadError {
    fn new(kind: ReadErrorKind, offset: u64, reason: impl Into<String>) -> Self {
        ReadError {
            kind,
            offset,
            reason: reason.into(),
        }
    }

    fn bad_record(offset: u64, reason: impl Into<String>) -> Self {
        Self::new(ReadErrorKind::BadRecord, offset, reason)
    }

    fn truncated(offset: u64, reason: impl Into<String>) -> Self {
        Self::new(ReadErrorKind::TruncatedRecord, offset, reason)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for ReadError {}

/// The container format of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

/// Streaming reader of pcap / pcapng (optionally gzip-compressed) captures.
pub struct PcapReader<R: Read> {
    io: InputBuffer<R>,
    state: State,
    stats: Stats,
    done: bool,
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header. Gzip input (`1f 8b`) is detected and decompressed
    /// transparently, so callers pass the raw file, stdin or byte slice.
    pub fn new(inner: R) -> Result<Self, ReadError> {
        Self::with_limits(inner, DEFAULT_BUFFER_SIZE, MAX_RECORD_LEN)
    }

    /// Like [`PcapReader::new`], with an explicit initial buffer size and record size limit
    /// (largest pcap `caplen` / pcapng block length accepted; capped at [`MAX_RECORD_LEN`]).
    pub fn with_limits(
        mut inner: R,
        initial_buffer: usize,
        max_record_len: usize,
    ) -> Result<Self, ReadError> {
        let max_len = max_record_len.clamp(64, MAX_RECORD_LEN);
        let capacity = initial_buffer.clamp(64, max_len + PCAP_RECORD_HEADER_LEN);
        let mut buf = vec![0u8; capacity];
        let (input, end, eof) = sniff_gzip(&mut inner, &mut buf)?;
        let input = match input {
            Sniffed::Plain => Input::Plain(inner),
            Sniffed::Gzip(prefix) => Input::Gzip(Box::new(MultiGzDecoder::new(
                Cursor::new(prefix).chain(inner),
            ))),
        };
        let mut io = InputBuffer {
            input,
            buf,
            start: 0,
            end,
            base: 0,
            eof,
            max_len,
            chunked: false,
            spares: Vec::new(),
            starved: false,
        };
        let state = read_file_header(&mut io)?;
        Ok(PcapReader {
            io,
            state,
            stats: Stats::default(),
            done: false,
        })
    }

    /// The container format (pcap or pcapng) of the input.
    pub fn format(&self) -> Format {
        match self.state {
            State::Pcap(_) => Format::Pcap,
            State::Ng(_) => Format::PcapNg,
        }
    }

    /// Whether the input was gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        matches!(self.io.input, Input::Gzip(_))
    }

    /// The next packet; `Ok(None)` at clean end of input. After an `Err`, further calls
    /// return `Ok(None)`.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, ReadError> {
        match self.step() {
            Ok(Some(loc)) => Ok(Some(loc.packet(&self.io.buf))),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Parses the next record. Ends the reader at the end of input or on an
    /// error, except when a chunked buffer ran out (`io.starved`): nothing of
    /// that record was consumed, it is parsed again after the cut.
    #[inline(always)]
    fn step(&mut self) -> Result<Option<PacketLoc>, ReadError> {
        if self.done {
            return Ok(None);
        }
        self.io.starved = false;
        let step = match &mut self.state {
            State::Pcap(pcap) => pcap.next(&mut self.io, &mut self.stats),
            State::Ng(ng) => ng.next(&mut self.io, &mut self.stats),
        };
        if !matches!(step, Ok(Some(_))) && !self.io.starved {
            self.done = true;
        }
        step
    }

    /// Chunked mode, for workers that share the read buffers: a buffer is never
    /// refilled in place once packets have been handed out from it. When it runs
    /// out, [`PcapReader::next_chunked`] says [`Step::Cut`]; [`PcapReader::cut`]
    /// then gives the buffer up whole (every location handed out since the last
    /// cut points into it) and moves the unparsed tail to a fresh buffer, which
    /// the next call fills: the worker that reads a chunk also walks it, while
    /// the data is in its core's cache.
    pub fn set_chunked(&mut self) {
        self.io.chunked = true;
    }

    /// The next step of a chunked read: a packet's location in the current
    /// buffer, a cut (call [`PcapReader::cut`], then go on), or the end. Errors
    /// as for [`PcapReader::next_packet`].
    pub fn next_chunked(&mut self) -> Result<Step, ReadError> {
        let step = self.step();
        if self.io.starved {
            return Ok(Step::Cut);
        }
        Ok(match step? {
            Some(loc) => Step::Packet(loc),
            None => Step::End,
        })
    }

    /// Gives up the current buffer whole and moves the unparsed tail to a fresh
    /// one (a spare given with [`PcapReader::add_spare`], or a new one).
    pub fn cut(&mut self) -> Vec<u8> {
        self.io.cut()
    }

    /// Gives the reader a buffer to continue into instead of allocating one.
    pub fn add_spare(&mut self, buf: Vec<u8>) {
        self.io.spares.push(buf);
    }

    /// Takes the current buffer (at the end of a chunked read).
    pub fn take_buffer(&mut self) -> Vec<u8> {
        self.io.start = 0;
        self.io.end = 0;
        std::mem::take(&mut self.io.buf)
    }

    /// Bytes of (decompressed) input consumed so far.
    pub fn offset(&self) -> u64 {
        self.io.pos()
    }

    /// Number of packet records seen so far (the last frame number handed out or skipped).
    pub fn frame_count(&self) -> u64 {
        self.stats.frame
    }

    /// Count of anomalies that did not stop reading, by reason.
    pub fn anomalies(&self) -> &[(&'static str, u64)] {
        &self.stats.anomalies
    }
}

// ---------------------------------------------------------------------------------------
// Input buffering
// ---------------------------------------------------------------------------------------

type GzInput<R> = MultiGzDecoder<Chain<Cursor<Vec<u8>>, R>>;

enum Input<R: Read> {
    Plain(R),
    Gzip(Box<GzInput<R>>),
}

impl<R: Read> Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Plain(r) => r.read(buf),
            Input::Gzip(r) => r.read(buf),
        }
    }
}

enum Sniffed {
    Plain,
    /// The bytes already read, to be fed to the decoder before the rest of the input.
    Gzip(Vec<u8>),
}

/// Reads the first two bytes into `buf` to look for the gzip magic. Returns what was found,
/// how many bytes of `buf` hold plain input, and whether the input ended.
fn sniff_gzip<R: Read>(inner: &mut R, buf: &mut [u8]) -> Result<(Sniffed, usize, bool), ReadError> {
    let mut end = 0;
    let mut eof = false;
    while end < GZIP_MAGIC.len() && !eof {
        let room = buf.get_mut(end..).unwrap_or_default();
        match inner.read(room) {
            Ok(0) => eof = true,
            Ok(n) => end = (end + n).min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(ReadError::new(
                    ReadErrorKind::Io,
                    end as u64,
                    format!("read error: {e}"),
                ))
            }
        }
    }
    let head = buf.get(..end).unwrap_or_default();
    if head.starts_with(&GZIP_MAGIC) {
        Ok((Sniffed::Gzip(head.to_vec()), 0, false))
    } else {
        Ok((Sniffed::Plain, end, eof))
    }
}

/// One owned buffer: `buf[start..end]` holds input not parsed yet, `base` is the stream
/// offset of `buf[0]`.
struct InputBuffer<R: Read> {
    input: Input<R>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    base: u64,
    eof: bool,
    /// Largest record accepted; the buffer never grows beyond this plus a record header.
    max_len: usize,
    /// Chunked mode (see [`PcapReader::set_chunked`]).
    chunked: bool,
    /// Buffers to continue into after a cut (chunked mode).
    spares: Vec<Vec<u8>>,
    /// A fill stopped short for want of a cut (chunked mode).
    starved: bool,
}

impl<R: Read> InputBuffer<R> {
    /// Stream offset of the first unparsed byte.
    #[inline]
    fn pos(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Makes at least `need` unparsed bytes available unless the input ends first; returns
    /// how many are available.
    #[inline]
    fn fill(&mut self, need: usize) -> Result<usize, ReadError> {
        let avail = self.end - self.start;
        if avail >= need {
            Ok(avail)
        } else {
            self.refill(need)
        }
    }

    /// Slow path of [`InputBuffer::fill`]: moves the unparsed tail to the front of the
    /// buffer, grows the buffer if the record does not fit, and reads more.
    #[cold]
    fn refill(&mut self, need: usize) -> Result<usize, ReadError> {
        let cap = self.max_len + PCAP_RECORD_HEADER_LEN;
        let need = need.min(cap);
        if self.start > 0 && self.chunked {
            if self.start.saturating_add(need) > self.buf.len() {
                // Packets were handed out from this buffer: it is cut, not refilled.
                self.starved = true;
                return Ok(self.end - self.start);
            }
            // Room left after `end` (short reads): read in place, nothing moves.
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < need && !self.eof {
            if self.end == self.buf.len() {
                // Grow with the data actually received, so a hostile length in a small file
                // cannot make us allocate the whole limit.
                let new_len = self.buf.len().saturating_mul(2).min(cap);
                self.buf.resize(new_len, 0);
            }
            let room = self.buf.get_mut(self.end..).unwrap_or_default();
            match self.input.read(room) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end = (self.end + n).min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(&e)),
            }
        }
        Ok(self.end - self.start)
    }

    /// Chunked mode: gives up the buffer whole, the unparsed tail moving to a
    /// fresh one (filled by the next `fill`).
    fn cut(&mut self) -> Vec<u8> {
        let mut fresh = self.spares.pop().unwrap_or_default();
        if fresh.len() < self.buf.len() {
            fresh.resize(self.buf.len(), 0);
        }
        let tail = self.end - self.start;
        if let (Some(dst), Some(src)) = (fresh.get_mut(..tail), self.buf.get(self.start..self.end))
        {
            dst.copy_from_slice(src);
        }
        self.base += self.start as u64;
        self.end = tail;
        self.start = 0;
        std::mem::replace(&mut self.buf, fresh)
    }

    fn io_error(&self, err: &io::Error) -> ReadError {
        let what = match self.input {
            Input::Plain(_) => "read error",
            Input::Gzip(_) => "read error (gzip stream)",
        };
        ReadError::new(
            ReadErrorKind::Io,
            self.base + self.end as u64,
            format!("{what}: {err}"),
        )
    }

    /// `N` bytes at `rel` past the first unparsed byte (zeros if out of range).
    #[inline]
    fn array<const N: usize>(&self, rel: usize) -> [u8; N] {
        array_at(self.unparsed(), rel)
    }

    #[inline]
    fn unparsed(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// `len` unparsed bytes starting `rel` bytes past the first unparsed byte.
    #[inline]
    fn slice(&self, rel: usize, len: usize) -> &[u8] {
        let from = self.start.saturating_add(rel);
        self.buf
            .get(from..from.saturating_add(len))
            .unwrap_or_default()
    }

    #[inline]
    fn consume(&mut self, len: usize) {
        self.start = self.start.saturating_add(len).min(self.end);
    }
}

// ---------------------------------------------------------------------------------------
// Byte-order helpers
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    #[inline]
    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    #[inline]
    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }

    #[inline]
    fn i64(self, b: [u8; 8]) -> i64 {
        match self {
            Endian::Little => i64::from_le_bytes(b),
            Endian::Big => i64::from_be_bytes(b),
        }
    }

    #[inline]
    fn u16_at(self, bytes: &[u8], at: usize) -> u16 {
        self.u16(array_at(bytes, at))
    }

    #[inline]
    fn u32_at(self, bytes: &[u8], at: usize) -> u32 {
        self.u32(array_at(bytes, at))
    }
}

/// `N` bytes of `bytes` at `at`, or zeros when out of range (callers check lengths first).
#[inline]
fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}

/// `u32` length field to `usize` (saturating on exotic 16-bit targets).
#[inline]
fn len_usize(len: u32) -> usize {
    usize::try_from(len).unwrap_or(usize::MAX)
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

// ---------------------------------------------------------------------------------------
// Shared record bookkeeping
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    frame: u64,
    anomalies: Vec<(&'static str, u64)>,
}

impl Stats {
    #[cold]
    fn anomaly(&mut self, reason: &'static str) {
        match self.anomalies.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.anomalies.push((reason, 1)),
        }
    }

    #[inline]
    fn check_lengths(&mut self, caplen: u32, orig_len: u32, snaplen: u32) {
        if snaplen != 0 && caplen > snaplen {
            self.anomaly(ANOMALY_CAPLEN_EXCEEDS_SNAPLEN);
        }
        if caplen > orig_len {
            self.anomaly(ANOMALY_CAPLEN_EXCEEDS_ORIGLEN);
        }
    }
}

/// One step of a chunked read (see [`PcapReader::set_chunked`]).
#[derive(Debug, Clone, Copy)]
pub enum Step {
    Packet(PacketLoc),
    /// The current buffer is done: call [`PcapReader::cut`].
    Cut,
    End,
}

/// Where a parsed packet lies in the buffer; turned into a [`RawPacket`] by the reader,
/// or handed out as is in chunked mode (see [`PcapReader::set_chunked`]).
#[derive(Debug, Clone, Copy)]
pub struct PacketLoc {
    pub ts_ns: i64,
    pub linktype: u32,
    /// Absolute index of the packet data in the buffer.
    pub data: usize,
    pub caplen: usize,
    pub orig_len: u32,
    pub frame: u64,
}

impl PacketLoc {
    /// The packet, given the buffer the location points into.
    #[inline]
    pub fn packet<'a>(&self, buf: &'a [u8]) -> RawPacket<'a> {
        let data = buf.get(self.data..self.data.saturating_add(self.caplen));
        debug_assert!(data.is_some(), "packet slice out of the buffer");
        RawPacket {
            ts_ns: self.ts_ns,
            linktype: self.linktype,
            data: data.unwrap_or_default(),
            orig_len: self.orig_len,
            frame: self.frame,
        }
    }
}

enum State {
    Pcap(PcapState),
    Ng(NgState),
}

/// Reads the file header (classic pcap header or first pcapng SHB) and returns the
/// format state.
fn read_file_header<R: Read>(io: &mut InputBuffer<R>) -> Result<State, ReadError> {
    let avail = io.fill(4)?;
    if avail == 0 {
        return Err(ReadError::new(ReadErrorKind::Empty, 0, "empty file"));
    }
    let head = io.slice(0, avail.min(4));
    if avail < 4 {
        return Err(if is_magic_prefix(head) {
            ReadError::new(
                ReadErrorKind::TruncatedHeader,
                0,
                format!("file too short for a capture header: {avail} bytes"),
            )
        } else {
            bad_magic(head)
        });
    }
    let magic: [u8; 4] = io.array(0);
    if u32::from_be_bytes(magic) == NG_BLOCK_SHB {
        return NgState::read_header(io).map(State::Ng);
    }
    match PcapState::from_magic(magic) {
        Some((endian, ts_scale)) => PcapState::read_header(io, endian, ts_scale).map(State::Pcap),
        None => Err(bad_magic(head)),
    }
}

fn all_magics() -> [[u8; 4]; 5] {
    let micros = PCAP_MAGIC_MICROS.to_be_bytes();
    let nanos = PCAP_MAGIC_NANOS.to_be_bytes();
    [
        micros,
        PCAP_MAGIC_MICROS.to_le_bytes(),
        nanos,
        PCAP_MAGIC_NANOS.to_le_bytes(),
        NG_BLOCK_SHB.to_be_bytes(),
    ]
}

fn is_magic_prefix(head: &[u8]) -> bool {
    all_magics().iter().any(|m| m.starts_with(head))
}

fn bad_magic(head: &[u8]) -> ReadError {
    let hex: String = head.iter().map(|b| format!("{b:02x}")).collect();
    ReadError::new(
        ReadErrorKind::BadMagic,
        0,
        format!("not a pcap or pcapng file (magic 0x{hex})"),
    )
}

// ---------------------------------------------------------------------------------------
// Classic pcap
// ---------------------------------------------------------------------------------------

struct PcapState {
    endian: Endian,
    /// Nanoseconds per unit of `ts_frac` (1000 for µs files, 1 for ns files).
    frac_ns: i64,
    linktype: u32,
    snaplen: u32,
}

impl PcapState {
    fn from_magic(magic: [u8; 4]) -> Option<(Endian, i64)> {
        match (u32::from_be_bytes(magic), u32::from_le_bytes(magic)) {
            (PCAP_MAGIC_MICROS, _) => Some((Endian::Big, 1000)),
            (_, PCAP_MAGIC_MICROS) => Some((Endian::Little, 1000)),
            (PCAP_MAGIC_NANOS, _) => Some((Endian::Big, 1)),
            (_, PCAP_MAGIC_NANOS) => Some((Endian::Little, 1)),
            _ => None,
        }
    }

    fn read_header<R: Read>(
        io: &mut InputBuffer<R>,
        endian: Endian,
        frac_ns: i64,
    ) -> Result<Self, ReadError> {
        let avail = io.fill(PCAP_FILE_HEADER_LEN)?;
        if avail < PCAP_FILE_HEADER_LEN {
            return Err(ReadError::new(
                ReadErrorKind::TruncatedHeader,
                0,
                format!(
                    "truncated pcap file header: need {PCAP_FILE_HEADER_LEN} bytes, only {avail}"
                ),
            ));
        }
        let header = io.slice(0, PCAP_FILE_HEADER_LEN);
        let snaplen = endian.u32_at(header, 16);
        let linktype = endian.u32_at(header, 20) & 0xffff;
        io.consume(PCAP_FILE_HEADER_LEN);
        Ok(PcapState {
            endian,
            frac_ns,
            linktype,
            snaplen,
        })
    }

    /// Parses the next record in place.
    #[inline]
    fn next<R: Read>(
        &self,
        io: &mut InputBuffer<R>,
        stats: &mut Stats,
    ) -> Result<Option<PacketLoc>, ReadError> {
        let at = io.pos();
        let avail = io.fill(PCAP_RECORD_HEADER_LEN)?;
        if avail < PCAP_RECORD_HEADER_LEN {
            return match avail {
                0 => Ok(None),
                _ => Err(ReadError::truncated(
                    at,
                    format!("truncated record header: need 16 bytes, only {avail} left"),
                )),
            };
        }
        let header: [u8; PCAP_RECORD_HEADER_LEN] = io.array(0);
        let e = self.endian;
        let ts_sec = e.u32_at(&header, 0);
        let ts_frac = e.u32_at(&header, 4);
        let caplen = e.u32_at(&header, 8);
        let orig_len = e.u32_at(&header, 12);

        let caplen_usize = len_usize(caplen);
        if caplen_usize > io.max_len {
            return Err(ReadError::bad_record(
                at,
                format!(
                    "caplen {caplen} exceeds the limit of {} bytes per record",
                    io.max_len
                ),
            ));
        }
        let need = PCAP_RECORD_HEADER_LEN + caplen_usize;
        let avail = io.fill(need)?;
        if avail < need {
            return Err(ReadError::truncated(
                at,
                format!(
                    "truncated record: header says {caplen} bytes, only {} left",
                    avail.saturating_sub(PCAP_RECORD_HEADER_LEN)
                ),
            ));
        }
        stats.check_lengths(caplen, orig_len, self.snaplen);
        stats.frame += 1;
        let data = io.start + PCAP_RECORD_HEADER_LEN;
        io.consume(need);
        Ok(Some(PacketLoc {
            ts_ns: i64::from(ts_sec) * NANOS_PER_SEC + i64::from(ts_frac) * self.frac_ns,
            linktype: self.linktype,
            data,
            caplen: caplen_usize,
            orig_len,
            frame: stats.frame,
        }))
    }
}

// ---------------------------------------------------------------------------------------
// pcapng
// ---------------------------------------------------------------------------------------

/// Conversion of interface timestamp units to nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsScale {
    /// ns = units * m (resolution 10^-n, n <= 9).
    Mul(u64),
    /// ns = units / d (resolution 10^-n, n > 9).
    Div(u128),
    /// ns = units * 10^9 / 2^s (resolution 2^-s).
    Shift(u32),
}

impl TsScale {
    /// The default resolution: microseconds.
    const MICROS: TsScale = TsScale::Mul(1000);

    /// Decodes an `if_tsresol` option value.
    fn from_tsresol(value: u8) -> TsScale {
        let exp = u32::from(value & 0x7f);
        if value & 0x80 != 0 {
            TsScale::Shift(exp)
        } else if exp <= 9 {
            TsScale::Mul(10u64.pow(9 - exp))
        } else {
            // 10^-n with n > 9: divide; beyond 10^38 every 64-bit value rounds to 0.
            TsScale::Div(10u128.checked_pow(exp - 9).unwrap_or(u128::MAX))
        }
    }

    #[inline]
    fn to_ns(self, units: u64) -> i128 {
        let units = u128::from(units);
        // units < 2^64 and the factors are <= 10^9 < 2^30, so nothing overflows.
        let ns = match self {
            TsScale::Mul(m) => units * u128::from(m),
            TsScale::Div(d) => units / d.max(1),
            TsScale::Shift(s) => (units * 1_000_000_000) >> s.min(127),
        };
        i128::try_from(ns).unwrap_or(i128::MAX)
    }
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    scale: TsScale,
    /// `if_tsoffset` in nanoseconds.
    offset_ns: i128,
}

impl Interface {
    #[inline]
    fn ts_ns(&self, units: u64) -> i64 {
        clamp_i64(self.scale.to_ns(units) + self.offset_ns)
    }
}

/// A complete, length-checked block at the start of the unparsed input.
struct Block {
    btype: u32,
    len: usize,
    endian: Endian,
    /// Stream offset of the block.
    at: u64,
}

impl Block {
    fn body_len(&self) -> usize {
        self.len.saturating_sub(NG_BLOCK_OVERHEAD)
    }
}

struct NgState {
    endian: Endian,
    interfaces: Vec<Interface>,
    /// Timestamp of the previous packet, for Simple Packet Blocks.
    last_ts: i64,
}

impl NgState {
    /// Reads the first Section Header Block.
    fn read_header<R: Read>(io: &mut InputBuffer<R>) -> Result<Self, ReadError> {
        let avail = io.fill(NG_BLOCK_OVERHEAD)?;
        if avail >= NG_BLOCK_OVERHEAD {
            let bom: [u8; 4] = io.array(8);
            if byte_order(bom).is_none() {
                return Err(ReadError::new(
                    ReadErrorKind::BadMagic,
                    0,
                    format!(
                        "not a pcap or pcapng file (pcapng byte-order magic 0x{:08x})",
                        u32::from_be_bytes(bom)
                    ),
                ));
            }
        }
        let block = match next_block(io, Endian::Little) {
            Ok(Some(block)) => block,
            Ok(None) => return Err(ReadError::new(ReadErrorKind::Empty, 0, "empty file")),
            Err(e) if e.kind == ReadErrorKind::TruncatedRecord => {
                return Err(ReadError::new(
                    ReadErrorKind::TruncatedHeader,
                    e.offset,
                    format!("truncated pcapng section header: {}", e.reason),
                ))
            }
            Err(e) => return Err(e),
        };
        let mut state = NgState {
            endian: block.endian,
            interfaces: Vec::new(),
            last_ts: 0,
        };
        state.begin_section(io, &block)?;
        io.consume(block.len);
        Ok(state)
    }

    /// Parses blocks until the next packet.
    #[inline]
    fn next<R: Read>(
        &mut self,
        io: &mut InputBuffer<R>,
        stats: &mut Stats,
    ) -> Result<Option<PacketLoc>, ReadError> {
        loop {
            let Some(block) = next_block(io, self.endian)? else {
                return Ok(None);
            };
            let packet = match block.btype {
                NG_BLOCK_EPB => self.enhanced_packet(io, &block, stats)?,
                NG_BLOCK_SPB => self.simple_packet(io, &block, stats)?,
                NG_BLOCK_PB => self.obsolete_packet(io, &block, stats)?,
                NG_BLOCK_IDB => {
                    self.add_interface(io, &block, stats)?;
                    None
                }
                NG_BLOCK_SHB => {
                    self.begin_section(io, &block)?;
                    None
                }
                _ => None,
            };
            io.consume(block.len);
            if packet.is_some() {
                return Ok(packet);
            }
        }
    }

    /// Starts a new section: new byte order, no interfaces.
    fn begin_section<R: Read>(
        &mut self,
        io: &InputBuffer<R>,
        block: &Block,
    ) -> Result<(), ReadError> {
        let major = block.endian.u16_at(io.slice(0, block.len), 12);
        let minor = block.endian.u16_at(io.slice(0, block.len), 14);
        if major != 1 {
            return Err(ReadError::bad_record(
                block.at,
                format!("unsupported pcapng version {major}.{minor}"),
            ));
        }
        self.endian = block.endian;
        self.interfaces.clear();
        Ok(())
    }

    /// Interface Description Block: link type, snap length, timestamp options.
    fn add_interface<R: Read>(
        &mut self,
        io: &InputBuffer<R>,
        block: &Block,
        stats: &mut Stats,
    ) -> Result<(), ReadError> {
        let body = io.slice(8, block.body_len());
        if body.len() < NG_IDB_FIXED_LEN {
            return Err(ReadError::bad_record(
                block.at,
                format!(
                    "interface description block too short ({} bytes)",
                    block.len
                ),
            ));
        }
        let e = self.endian;
        let mut iface = Interface {
            linktype: u32::from(e.u16_at(body, 0)),
            snaplen: e.u32_at(body, 4),
            scale: TsScale::MICROS,
            offset_ns: 0,
        };
        let options = body.get(NG_IDB_FIXED_LEN..).unwrap_or_default();
        let well_formed = for_each_option(options, e, |code, value| match (code, value) {
            (NG_OPT_IF_TSRESOL, [resol]) => iface.scale = TsScale::from_tsresol(*resol),
            (NG_OPT_IF_TSOFFSET, value) if value.len() == 8 => {
                iface.offset_ns = i128::from(e.i64(array_at(value, 0))) * 1_000_000_000;
            }
            _ => {}
        });
        if !well_formed {
            stats.anomaly(ANOMALY_BAD_OPTION);
        }
        self.interfaces.push(iface);
        Ok(())
    }

    /// Enhanced Packet Block: 32-bit interface id, 64-bit timestamp, lengths, data.
    #[inline]
    fn enhanced_packet<R: Read>(
        &mut self,
        io: &InputBuffer<R>,
        block: &Block,
        stats: &mut Stats,
    ) -> Result<Option<PacketLoc>, ReadError> {
        let if_id = self.endian.u32_at(io.slice(8, 4), 0);
        self.timed_packet(io, block, if_id, stats, "enhanced packet block")
    }

    /// Obsolete Packet Block: 16-bit interface id and drop count, then as an EPB.
    fn obsolete_packet<R: Read>(
        &mut self,
        io: &InputBuffer<R>,
        block: &Block,
        stats: &mut Stats,
    ) -> Result<Option<PacketLoc>, ReadError> {
        let if_id = u32::from(self.endian.u16_at(io.slice(8, 2), 0));
        self.timed_packet(io, block, if_id, stats, "packet block")
    }

    /// Common part of EPB and PB (same layout after the interface id).
    #[inline]
    fn timed_packet<R: Read>(
        &mut self,
        io: &InputBuffer<R>,
        block: &Block,
        if_id: u32,
        stats: &mut Stats,
        what: &str,
    ) -> Result<Option<PacketLoc>, ReadError> {
        let body_len = block.body_len();
        if body_len < NG_EPB_FIXED_LEN {
            return Err(ReadError::bad_record(
                block.at,
                format!("{what} too short ({} bytes)", block.len),
            ));
        }
        let fixed: [u8; NG_EPB_FIXED_LEN] = io.array(8);
        let e = self.endian;
        let ts_units = (u64::from(e.u32_at(&fixed, 4)) << 32) | u64::from(e.u32_at(&fixed, 8));
        let caplen = e.u32_at(&fixed, 12);
        let orig_len = e.u32_at(&fixed, 16);
        let caplen_usize = len_usize(caplen);
        if caplen_usize > body_len - NG_EPB_FIXED_LEN {
            return Err(ReadError::bad_record(
                block.at,
                format!(
                    "{what}: caplen {caplen} exceeds the block ({} bytes of data room)",
                    body_len - NG_EPB_FIXED_LEN
                ),
            ));
        }
        stats.frame += 1;
        let Some(iface) = self.interfaces.get(len_usize(if_id)) else {
            stats.anomaly(ANOMALY_UNKNOWN_INTERFACE);
            return Ok(None);
        };
        stats.check_lengths(caplen, orig_len, iface.snaplen);
        let ts_ns = iface.ts_ns(ts_units);
        let linktype = iface.linktype;
        self.last_ts = ts_ns;
        Ok(Some(PacketLoc {
            ts_ns,
            linktype,
            data: io.start + 8 + NG_EPB_FIXED_LEN,
            caplen: caplen_usize,
            orig_len,
            frame: stats.frame,
        }))
    }

    /// Simple Packet Block: interface 0, original length, data; no timestamp.
    fn simple_packet<R: Read>(
        &mut self,
        io: &InputBuffer<R>,
        block: &Block,
        stats: &mut Stats,
    ) -> Result<Option<PacketLoc>, ReadError> {
        let body_len = block.body_len();
        if body_len < NG_SPB_FIXED_LEN {
            return Err(ReadError::bad_record(
                block.at,
                format!("simple packet block too short ({} bytes)", block.len),
            ));
        }
        let orig_len = self.endian.u32_at(io.slice(8, 4), 0);
        stats.frame += 1;
        let Some(iface) = self.interfaces.first() else {
            stats.anomaly(ANOMALY_UNKNOWN_INTERFACE);
            return Ok(None);
        };
        let mut caplen = len_usize(orig_len).min(body_len - NG_SPB_FIXED_LEN);
        if iface.snaplen != 0 {
            caplen = caplen.min(len_usize(iface.snaplen));
        }
        Ok(Some(PacketLoc {
            ts_ns: self.last_ts,
            linktype: iface.linktype,
            data: io.start + 8 + NG_SPB_FIXED_LEN,
            caplen,
            orig_len,
            frame: stats.frame,
        }))
    }
}

/// The byte order announced by a section header's byte-order magic.
fn byte_order(bom: [u8; 4]) -> Option<Endian> {
    if u32::from_le_bytes(bom) == NG_BYTE_ORDER_MAGIC {
        Some(Endian::Little)
    } else if u32::from_be_bytes(bom) == NG_BYTE_ORDER_MAGIC {
        Some(Endian::Big)
    } else {
        None
    }
}

/// Buffers the next whole block and checks its framing: total length a multiple of 4,
/// at least 12 (28 for an SHB), within the limit, equal to the trailing copy.
/// `Ok(None)` at a clean end of input.
#[inline]
fn next_block<R: Read>(
    io: &mut InputBuffer<R>,
    section_endian: Endian,
) -> Result<Option<Block>, ReadError> {
    let at = io.pos();
    let avail = io.fill(8)?;
    if avail < 8 {
        return match avail {
            0 => Ok(None),
            _ => Err(ReadError::truncated(
                at,
                format!("truncated block header: need 8 bytes, only {avail} left"),
            )),
        };
    }
    let btype = section_endian.u32(io.array(0));
    let (endian, min_len) = if btype == NG_BLOCK_SHB {
        let avail = io.fill(NG_BLOCK_OVERHEAD)?;
        if avail < NG_BLOCK_OVERHEAD {
            return Err(ReadError::truncated(
                at,
                format!("truncated section header: need 12 bytes, only {avail} left"),
            ));
        }
        let bom: [u8; 4] = io.array(8);
        let Some(endian) = byte_order(bom) else {
            return Err(ReadError::bad_record(
                at,
                format!(
                    "section header block with bad byte-order magic 0x{:08x}",
                    u32::from_be_bytes(bom)
                ),
            ));
        };
        (endian, NG_SHB_MIN_LEN)
    } else {
        (section_endian, NG_BLOCK_OVERHEAD)
    };
    let len32 = endian.u32(io.array(4));
    let len = len_usize(len32);
    if len < min_len || len % 4 != 0 {
        return Err(ReadError::bad_record(
            at,
            format!(
                "block type 0x{btype:08x}: bad total length {len} \
                 (must be a multiple of 4 and at least {min_len})"
            ),
        ));
    }
    if len > io.max_len {
        return Err(ReadError::bad_record(
            at,
            format!(
                "block type 0x{btype:08x}: total length {len} exceeds the limit of {} bytes",
                io.max_len
            ),
        ));
    }
    let avail = io.fill(len)?;
    if avail < len {
        return Err(ReadError::truncated(
            at,
            format!("truncated record: header says {len} bytes, only {avail} left"),
        ));
    }
    let trailer = endian.u32(io.array(len - 4));
    if trailer != len32 {
        return Err(ReadError::bad_record(
            at,
            format!("block type 0x{btype:08x}: trailing length {trailer} != leading {len}"),
        ));
    }
    Ok(Some(Block {
        btype,
        len,
        endian,
        at,
    }))
}

/// Calls `f(code, value)` for each option up to `opt_endofopt`; returns false if an option
/// runs past the end of `options`.
fn for_each_option(options: &[u8], endian: Endian, mut f: impl FnMut(u16, &[u8])) -> bool {
    let mut rest = options;
    while rest.len() >= 4 {
        let code = endian.u16_at(rest, 0);
        let len = usize::from(endian.u16_at(rest, 2));
        if code == NG_OPT_END {
            return true;
        }
        let Some(value) = rest.get(4..4 + len) else {
            return false;
        };
        f(code, value);
        let padded = (4 + len + 3) & !3;
        rest = rest.get(padded..).unwrap_or_default();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    // ----- input builders ------------------------------------------------------------

    fn put_u16(out: &mut Vec<u8>, be: bool, v: u16) {
        out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    fn put_u32(out: &mut Vec<u8>, be: bool, v: u32) {
        out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    fn put_u64(out: &mut Vec<u8>, be: bool, v: u64) {
        out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    /// A classic pcap record: (ts_sec, ts_frac, data, orig_len).
    type PcapRec<'a> = (u32, u32, &'a [u8], u32);

    fn pcap_file(be: bool, nanos: bool, network: u32, snaplen: u32, recs: &[PcapRec]) -> Vec<u8> {
        let mut out = Vec::new();
        put_u32(&mut out, be, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        put_u16(&mut out, be, 2);
        put_u16(&mut out, be, 4);
        put_u32(&mut out, be, 0);
        put_u32(&mut out, be, 0);
        put_u32(&mut out, be, snaplen);
        put_u32(&mut out, be, network);
        for &(sec, frac, data, orig) in recs {
            put_u32(&mut out, be, sec);
            put_u32(&mut out, be, frac);
            put_u32(&mut out, be, data.len() as u32);
            put_u32(&mut out, be, orig);
            out.extend_from_slice(data);
        }
        out
    }

    /// Builds pcapng files block by block.
    struct Ng {
        out: Vec<u8>,
        be: bool,
    }

    impl Ng {
        fn new(be: bool) -> Self {
            let mut ng = Ng {
                out: Vec::new(),
                be,
            };
            ng.shb(be);
            ng
        }

        fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
            let len = (12 + body.len()).div_ceil(4) * 4;
            let be = self.be;
            put_u32(&mut self.out, be, btype);
            put_u32(&mut self.out, be, len as u32);
            self.out.extend_from_slice(body);
            self.out.resize(self.out.len() + (len - 12 - body.len()), 0);
            put_u32(&mut self.out, be, len as u32);
            self
        }

        fn shb(&mut self, be: bool) -> &mut Self {
            self.be = be;
            let mut body = Vec::new();
            put_u32(&mut body, be, NG_BYTE_ORDER_MAGIC);
            put_u16(&mut body, be, 1);
            put_u16(&mut body, be, 0);
            put_u64(&mut body, be, u64::MAX);
            self.block(NG_BLOCK_SHB, &body)
        }

        fn idb(&mut self, linktype: u16, snaplen: u32, opts: &[(u16, Vec<u8>)]) -> &mut Self {
            let be = self.be;
            let mut body = Vec::new();
            put_u16(&mut body, be, linktype);
            put_u16(&mut body, be, 0);
            put_u32(&mut body, be, snaplen);
            for (code, value) in opts {
                put_u16(&mut body, be, *code);
                put_u16(&mut body, be, value.len() as u16);
                body.extend_from_slice(value);
                body.resize(body.len().div_ceil(4) * 4, 0);
            }
            if !opts.is_empty() {
                put_u32(&mut body, be, 0);
            }
            self.block(NG_BLOCK_IDB, &body)
        }

        fn epb(&mut self, if_id: u32, ts: u64, data: &[u8], orig: u32) -> &mut Self {
            let be = self.be;
            let mut body = Vec::new();
            put_u32(&mut body, be, if_id);
            put_u32(&mut body, be, (ts >> 32) as u32);
            put_u32(&mut body, be, ts as u32);
            put_u32(&mut body, be, data.len() as u32);
            put_u32(&mut body, be, orig);
            body.extend_from_slice(data);
            self.block(NG_BLOCK_EPB, &body)
        }

        fn pb(&mut self, if_id: u16, ts: u64, data: &[u8], orig: u32) -> &mut Self {
            let be = self.be;
            let mut body = Vec::new();
            put_u16(&mut body, be, if_id);
            put_u16(&mut body, be, 0);
            put_u32(&mut body, be, (ts >> 32) as u32);
            put_u32(&mut body, be, ts as u32);
            put_u32(&mut body, be, data.len() as u32);
            put_u32(&mut body, be, orig);
            body.extend_from_slice(data);
            self.block(NG_BLOCK_PB, &body)
        }

        fn spb(&mut self, data: &[u8], orig: u32) -> &mut Self {
            let be = self.be;
            let mut body = Vec::new();
            put_u32(&mut body, be, orig);
            body.extend_from_slice(data);
            self.block(NG_BLOCK_SPB, &body)
        }

        fn bytes(&self) -> Vec<u8> {
            self.out.clone()
        }
    }

    fn tsoffset(be: bool, secs: i64) -> Vec<u8> {
        (if be {
            secs.to_be_bytes()
        } else {
            secs.to_le_bytes()
        })
        .to_vec()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    // ----- readers -------------------------------------------------------------------

    /// Hands out at most `step` bytes per read, and an `Interrupted` error every 7th call.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        calls: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 7 == 0 {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "signal"));
            }
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn trickle(data: &[u8], step: usize) -> Trickle<'_> {
        Trickle {
            data,
            step,
            calls: 0,
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Pkt {
        ts_ns: i64,
        linktype: u32,
        data: Vec<u8>,
        orig_len: u32,
        frame: u64,
    }

    type Outcome = (Vec<Pkt>, Option<ReadError>);

    fn drain<R: Read>(reader: &mut PcapReader<R>) -> Outcome {
        let mut pkts = Vec::new();
        loop {
            match reader.next_packet() {
                Ok(Some(p)) => pkts.push(Pkt {
                    ts_ns: p.ts_ns,
                    linktype: p.linktype,
                    data: p.data.to_vec(),
                    orig_len: p.orig_len,
                    frame: p.frame,
                }),
                Ok(None) => return (pkts, None),
                Err(e) => {
                    assert!(
                        reader.next_packet().unwrap().is_none(),
                        "Ok(None) after Err"
                    );
                    return (pkts, Some(e));
                }
            }
        }
    }

    fn read_all(data: &[u8]) -> Outcome {
        drain(&mut PcapReader::new(data).expect("header"))
    }

    fn read_ok(data: &[u8]) -> Vec<Pkt> {
        let (pkts, err) = read_all(data);
        assert!(err.is_none(), "unexpected error {err:?}");
        pkts
    }

    fn open_err(data: &[u8]) -> ReadError {
        match PcapReader::new(data) {
            Ok(_) => panic!("header accepted"),
            Err(e) => e,
        }
    }

    fn key(o: &Outcome) -> (Vec<Pkt>, Option<(ReadErrorKind, u64, String)>) {
        let err =
            o.1.as_ref()
                .map(|e| (e.kind.clone(), e.offset, e.reason.clone()));
        (o.0.clone(), err)
    }

    /// Same results whether read in one go, 1 byte at a time, or with a tiny buffer.
    fn assert_read_modes_agree(data: &[u8]) -> Outcome {
        let whole = read_all(data);
        let one = drain(&mut PcapReader::new(trickle(data, 1)).unwrap());
        let small =
            drain(&mut PcapReader::with_limits(trickle(data, 13), 64, MAX_RECORD_LEN).unwrap());
        assert_eq!(key(&whole), key(&one));
        assert_eq!(key(&whole), key(&small));
        whole
    }

    const SEC: i64 = 1_000_000_000;

    // ----- classic pcap --------------------------------------------------------------

    #[test]
    fn pcap_little_endian_micros() {
        let recs: [PcapRec; 2] = [
            (1_700_000_000, 123_456, b"abc", 60),
            (1_700_000_001, 999_999, b"", 0),
        ];
        let file = pcap_file(false, false, 1, 65535, &recs);
        let mut r = PcapReader::new(&file[..]).unwrap();
        assert_eq!(r.format(), Format::Pcap);
        assert!(!r.is_gzip());
        let (pkts, err) = drain(&mut r);
        assert!(err.is_none());
        assert_eq!(
            pkts,
            vec![
                Pkt {
                    ts_ns: 1_700_000_000 * SEC + 123_456_000,
                    linktype: 1,
                    data: b"abc".to_vec(),
                    orig_len: 60,
                    frame: 1
                },
                Pkt {
                    ts_ns: 1_700_000_001 * SEC + 999_999_000,
                    linktype: 1,
                    data: vec![],
                    orig_len: 0,
                    frame: 2
                },
            ]
        );
        assert_eq!(r.offset(), file.len() as u64);
        assert_eq!(r.frame_count(), 2);
        assert!(r.anomalies().is_empty());
    }

    #[test]
    fn pcap_big_endian_nanos_and_fcs_bits() {
        let recs: [PcapRec; 1] = [(4_000_000_000, 999_999_999, b"\x45\x00", 2)];
        // Link type 101 with the FCS-present bits set: they are ignored.
        let file = pcap_file(true, true, 0x1000_0000 | 101, 0, &recs);
        let pkts = read_ok(&file);
        assert_eq!(pkts.len(), 1);
        assert_eq!(pkts[0].ts_ns, 4_000_000_000 * SEC + 999_999_999);
        assert_eq!(pkts[0].linktype, 101);
        assert_eq!(pkts[0].data, b"\x45\x00");
        for (be, nanos) in [(false, true), (true, false)] {
            let file = pcap_file(be, nanos, 113, 100, &[(5, 7, b"xy", 2)]);
            let pkts = read_ok(&file);
            assert_eq!(pkts[0].ts_ns, 5 * SEC + if nanos { 7 } else { 7000 });
            assert_eq!(pkts[0].linktype, 113);
        }
    }

    #[test]
    fn pcap_anomalies_are_counted_not_fatal() {
        let recs: [PcapRec; 3] = [
            (1, 0, &[0u8; 10], 5),
            (2, 0, &[0u8; 10], 100),
            (3, 0, &[0u8; 4], 4),
        ];
        let file = pcap_file(false, false, 1, 8, &recs);
        let mut r = PcapReader::new(&file[..]).unwrap();
        let (pkts, err) = drain(&mut r);
        assert!(err.is_none());
        assert_eq!(pkts.len(), 3);
        assert_eq!(
            r.anomalies(),
            &[
                (ANOMALY_CAPLEN_EXCEEDS_SNAPLEN, 2),
                (ANOMALY_CAPLEN_EXCEEDS_ORIGLEN, 1)
            ]
        );
    }

    #[test]
    fn pcap_truncated_last_record() {
        let recs: [PcapRec; 3] = [
            (1, 0, b"first", 5),
            (2, 0, b"second", 6),
            (3, 0, b"third!", 6),
        ];
        let file = pcap_file(false, false, 1, 65535, &recs);
        let last_at = (24 + 16 + 5 + 16 + 6) as u64;
        let cut = &file[..file.len() - 2];
        let (pkts, err) = assert_read_modes_agree(cut);
        assert_eq!(pkts.len(), 2);
        assert_eq!(pkts[1].data, b"second");
        let err = err.unwrap();
        assert_eq!(err.kind, ReadErrorKind::TruncatedRecord);
        assert_eq!(err.offset, last_at);
        assert_eq!(
            err.reason,
            "truncated record: header says 6 bytes, only 4 left"
        );
        assert_eq!(err.to_string(), format!("offset {last_at}: {}", err.reason));
        // Cut inside the record header.
        let (pkts, err) = read_all(&file[..last_at as usize + 3]);
        assert_eq!(pkts.len(), 2);
        let err = err.unwrap();
        assert_eq!(
            (err.kind, err.offset),
            (ReadErrorKind::TruncatedRecord, last_at)
        );
    }

    #[test]
    fn pcap_hostile_caplen() {
        let mut file = pcap_file(false, false, 1, 65535, &[(1, 0, b"ok", 2)]);
        let bad_at = file.len() as u64;
        for caplen in [u32::MAX, (MAX_RECORD_LEN + 1) as u32] {
            let mut f = file.clone();
            f.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
            f.extend_from_slice(&caplen.to_le_bytes());
            f.extend_from_slice(&[0; 4]);
            f.extend_from_slice(&[0; 64]);
            let (pkts, err) = read_all(&f);
            assert_eq!(pkts.len(), 1);
            let err = err.unwrap();
            assert_eq!((err.kind, err.offset), (ReadErrorKind::BadRecord, bad_at));
        }
        // Large but legal caplen in a short file: truncated, without allocating the world.
        file.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        file.extend_from_slice(&(200u32 << 20).to_le_bytes());
        file.extend_from_slice(&[0; 4]);
        let mut r = PcapReader::new(&file[..]).unwrap();
        let (pkts, err) = drain(&mut r);
        assert_eq!(pkts.len(), 1);
        assert_eq!(err.unwrap().kind, ReadErrorKind::TruncatedRecord);
        assert!(r.io.buf.len() <= DEFAULT_BUFFER_SIZE * 2);
        // A custom limit.
        let file = pcap_file(false, false, 1, 0, &[(1, 0, &[7u8; 100], 100)]);
        let mut r = PcapReader::with_limits(&file[..], 64, 64).unwrap();
        assert_eq!(drain(&mut r).1.unwrap().kind, ReadErrorKind::BadRecord);
    }

    #[test]
    fn record_larger_than_initial_buffer() {
        let big: Vec<u8> = (0..3 * DEFAULT_BUFFER_SIZE + 5).map(|i| i as u8).collect();
        let recs: [PcapRec; 3] = [
            (1, 0, b"a", 1),
            (2, 0, &big, big.len() as u32),
            (3, 0, b"c", 1),
        ];
        let file = pcap_file(false, false, 1, 0, &recs);
        let pkts = read_ok(&file);
        assert_eq!(pkts.len(), 3);
        assert_eq!(pkts[1].data, big);
        assert_eq!(pkts[2].data, b"c");
        // Same with a tiny buffer and trickling input, and for pcapng.
        let small: Vec<u8> = big[..5000].to_vec();
        let recs: [PcapRec; 2] = [(1, 0, &small, 5000), (2, 0, b"z", 1)];
        assert_read_modes_agree(&pcap_file(false, false, 1, 0, &recs));
        let ng = Ng::new(false)
            .idb(1, 0, &[])
            .epb(0, 1, &big, 1)
            .epb(0, 2, b"q", 1)
            .bytes();
        let pkts = read_ok(&ng);
        assert_eq!(pkts[0].data, big);
        assert_eq!(pkts[1].data, b"q");
    }

    // ----- file header errors --------------------------------------------------------

    #[test]
    fn header_errors() {
        let e = open_err(b"");
        assert_eq!((e.kind, e.offset), (ReadErrorKind::Empty, 0));
        assert_eq!(e.reason, "empty file");
        let e = open_err(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(e.kind, ReadErrorKind::BadMagic);
        assert_eq!(e.reason, "not a pcap or pcapng file (magic 0x47455420)");
        assert_eq!(open_err(b"ab").kind, ReadErrorKind::BadMagic);
        assert_eq!(open_err(&[0xd4, 0xc3]).kind, ReadErrorKind::TruncatedHeader);
        let file = pcap_file(false, false, 1, 0, &[]);
        assert_eq!(open_err(&file[..10]).kind, ReadErrorKind::TruncatedHeader);
        assert!(read_ok(&file).is_empty());
        let ng = Ng::new(true).bytes();
        assert_eq!(open_err(&ng[..20]).kind, ReadErrorKind::TruncatedHeader);
        assert_eq!(open_err(&ng[..6]).kind, ReadErrorKind::TruncatedHeader);
        let mut bad_bom = ng.clone();
        bad_bom[8] ^= 0xff;
        assert_eq!(open_err(&bad_bom).kind, ReadErrorKind::BadMagic);
        let mut bad_version = ng.clone();
        bad_version[12..14].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(open_err(&bad_version).kind, ReadErrorKind::BadRecord);
        assert!(read_ok(&ng).is_empty());
        assert_eq!(open_err(&gzip(b"")).kind, ReadErrorKind::Empty);
    }

    // ----- pcapng --------------------------------------------------------------------

    #[test]
    fn pcapng_interfaces_resolutions_and_offsets() {
        for be in [false, true] {
            let ng = Ng::new(be)
                .idb(1, 65535, &[(NG_OPT_IF_TSRESOL, vec![9])])
                .idb(
                    101,
                    0,
                    &[
                        (NG_OPT_IF_TSRESOL, vec![0x8a]),
                        (NG_OPT_IF_TSOFFSET, tsoffset(be, 100)),
                    ],
                )
                .idb(229, 0, &[(2, b"eth0".to_vec())])
                .epb(0, 1_700_000_000_123_456_789, b"eth", 3)
                .epb(1, 5 * 1024 + 512, b"raw!", 40)
                .epb(2, 1_500_000, b"v6v6v", 5)
                .bytes();
            let mut r = PcapReader::new(&ng[..]).unwrap();
            assert_eq!(r.format(), Format::PcapNg);
            let (pkts, err) = drain(&mut r);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(
                pkts,
                vec![
                    Pkt {
                        ts_ns: 1_700_000_000_123_456_789,
                        linktype: 1,
                        data: b"eth".to_vec(),
                        orig_len: 3,
                        frame: 1
                    },
                    Pkt {
                        ts_ns: 105 * SEC + SEC / 2,
                        linktype: 101,
                        data: b"raw!".to_vec(),
                        orig_len: 40,
                        frame: 2
                    },
                    Pkt {
                        ts_ns: SEC + SEC / 2,
                        linktype: 229,
                        data: b"v6v6v".to_vec(),
                        orig_len: 5,
                        frame: 3
                    },
                ]
            );
            assert_eq!(r.offset(), ng.len() as u64);
            assert_read_modes_agree(&ng);
        }
    }

    #[test]
    fn pcapng_unknown_blocks_spb_and_pb() {
        let ng = Ng::new(false)
            .block(4, &[1, 0, 4, 0, 10, 0, 0, 1, 0, 0, 0, 0]) // NRB
            .idb(1, 4, &[])
            .block(0x0000_000a, b"secrets!") // DSB
            .epb(0, 2_000_000, b"abcdef", 6) // caplen > snaplen
            .spb(b"simple", 6) // cut to the snap length
            .block(5, &[0; 12]) // ISB
            .block(0x4000_0bad, b"custom block") // custom
            .pb(0, 3_000_000, b"old", 3)
            .spb(b"", 0)
            .bytes();
        let mut r = PcapReader::new(&ng[..]).unwrap();
        let (pkts, err) = drain(&mut r);
        assert!(err.is_none(), "{err:?}");
        let summary: Vec<_> = pkts
            .iter()
            .map(|p| (p.frame, p.ts_ns, p.data.clone(), p.orig_len))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, 2 * SEC, b"abcdef".to_vec(), 6),
                (2, 2 * SEC, b"simp".to_vec(), 6),
                (3, 3 * SEC, b"old".to_vec(), 3),
                (4, 3 * SEC, vec![], 0),
            ]
        );
        assert_eq!(r.anomalies(), &[(ANOMALY_CAPLEN_EXCEEDS_SNAPLEN, 1)]);
        assert_read_modes_agree(&ng);
    }

    #[test]
    fn pcapng_new_section_switches_byte_order_and_resets_interfaces() {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[])
            .idb(113, 0, &[])
            .epb(1, 1_000_000, b"sll", 3);
        ng.shb(true).idb(276, 0, &[(NG_OPT_IF_TSRESOL, vec![3])]);
        ng.epb(1, 7, b"gone", 4).epb(0, 7, b"sll2", 4).spb(b"s", 1);
        let data = ng.bytes();
        let mut r = PcapReader::new(&data[..]).unwrap();
        let (pkts, err) = drain(&mut r);
        assert!(err.is_none(), "{err:?}");
        let summary: Vec<_> = pkts
            .iter()
            .map(|p| (p.frame, p.linktype, p.ts_ns, p.data.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, 113, SEC, b"sll".to_vec()),
                (3, 276, 7_000_000, b"sll2".to_vec()),
                (4, 276, 7_000_000, b"s".to_vec()),
            ]
        );
        assert_eq!(r.anomalies(), &[(ANOMALY_UNKNOWN_INTERFACE, 1)]);
        assert_read_modes_agree(&data);
    }

    #[test]
    fn pcapng_hostile_blocks() {
        let good = Ng::new(false).idb(1, 0, &[]).epb(0, 1, b"ok", 2).bytes();
        let bad_at = good.len() as u64;
        let check = |tail: &[u8], kind: ReadErrorKind| {
            let mut f = good.clone();
            f.extend_from_slice(tail);
            let (pkts, err) = assert_read_modes_agree(&f);
            assert_eq!(pkts.len(), 1, "{tail:?}");
            let err = err.unwrap();
            assert_eq!((err.kind, err.offset), (kind, bad_at), "{}", err.reason);
        };
        let block = |btype: u32, len: u32, body: &[u8], trailer: u32| {
            let mut b = Vec::new();
            b.extend_from_slice(&btype.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(body);
            b.extend_from_slice(&trailer.to_le_bytes());
            b
        };
        check(&block(6, 13, &[0; 8], 13), ReadErrorKind::BadRecord);
        check(&block(6, 8, &[], 8), ReadErrorKind::BadRecord);
        check(&block(6, 0xffff_fff0, &[0; 8], 0), ReadErrorKind::BadRecord);
        check(&block(5, 16, &[0; 4], 20), ReadErrorKind::BadRecord);
        check(
            &block(6, 1000, &[0; 8], 1000),
            ReadErrorKind::TruncatedRecord,
        );
        check(&[6, 0, 0], ReadErrorKind::TruncatedRecord);
        // EPB whose caplen exceeds the block, EPB and IDB too short.
        let mut epb = Vec::new();
        for v in [0u32, 0, 0, 1000, 1000] {
            epb.extend_from_slice(&v.to_le_bytes());
        }
        check(&block(6, 32, &epb, 32), ReadErrorKind::BadRecord);
        check(&block(6, 16, &[0; 4], 16), ReadErrorKind::BadRecord);
        check(&block(1, 16, &[0; 4], 16), ReadErrorKind::BadRecord);
        check(&block(3, 12, &[], 12), ReadErrorKind::BadRecord);
        // SHB with a bad byte-order magic or version in the middle.
        check(
            &block(NG_BLOCK_SHB, 28, &[0; 16], 28),
            ReadErrorKind::BadRecord,
        );
        // A block over the record limit.
        let mut r = PcapReader::with_limits(&good[..], 64, 64).unwrap();
        let mut f = good.clone();
        f.extend_from_slice(&block(5, 68, &[0; 56], 68));
        let mut r2 = PcapReader::with_limits(&f[..], 64, 64).unwrap();
        assert_eq!(drain(&mut r).0.len(), 1);
        let (pkts, err) = drain(&mut r2);
        assert_eq!(
            (pkts.len(), err.unwrap().kind),
            (1, ReadErrorKind::BadRecord)
        );
    }

    #[test]
    fn pcapng_unknown_interface_and_bad_options_are_anomalies() {
        let mut ng = Ng::new(false);
        ng.epb(0, 1, b"no idb yet", 10).spb(b"no idb", 6);
        // IDB whose option length runs past the block.
        ng.block(NG_BLOCK_IDB, &[1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 200, 0]);
        ng.epb(0, 1, b"x", 1).epb(7, 1, b"nope", 4);
        let data = ng.bytes();
        let mut r = PcapReader::new(&data[..]).unwrap();
        let (pkts, err) = drain(&mut r);
        assert!(err.is_none());
        assert_eq!(pkts.len(), 1);
        assert_eq!((pkts[0].frame, pkts[0].ts_ns), (3, 1000));
        assert_eq!(r.frame_count(), 4);
        assert_eq!(
            r.anomalies(),
            &[(ANOMALY_UNKNOWN_INTERFACE, 3), (ANOMALY_BAD_OPTION, 1)]
        );
    }

    #[test]
    fn pcapng_truncated_last_block() {
        let ng = Ng::new(true)
            .idb(1, 0, &[])
            .epb(0, 1, b"one", 3)
            .epb(0, 2, b"two", 3)
            .bytes();
        let last_len = 32 + 4;
        let last_at = (ng.len() - last_len) as u64;
        let (pkts, err) = assert_read_modes_agree(&ng[..ng.len() - 5]);
        assert_eq!(pkts.len(), 1);
        let err = err.unwrap();
        assert_eq!(
            (err.kind, err.offset),
            (ReadErrorKind::TruncatedRecord, last_at)
        );
        assert_eq!(
            err.reason,
            "truncated record: header says 36 bytes, only 31 left"
        );
    }

    #[test]
    fn readers_for_files_and_stdin_are_send() {
        fn assert_send<T: Send>() {}
        assert_send::<PcapReader<std::fs::File>>();
        assert_send::<PcapReader<std::io::Stdin>>();
        assert_send::<PcapReader<&[u8]>>();
        assert_send::<ReadError>();
    }

    #[test]
    fn tsresol_decoding() {
        assert_eq!(TsScale::from_tsresol(6), TsScale::MICROS);
        assert_eq!(TsScale::from_tsresol(9).to_ns(5), 5);
        assert_eq!(TsScale::from_tsresol(0).to_ns(5), 5 * SEC as i128);
        assert_eq!(TsScale::from_tsresol(12).to_ns(5_000), 5);
        assert_eq!(TsScale::from_tsresol(127).to_ns(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(0x80).to_ns(3), 3 * SEC as i128);
        assert_eq!(TsScale::from_tsresol(0x8a).to_ns(512), SEC as i128 / 2);
        assert_eq!(TsScale::from_tsresol(0xff).to_ns(u64::MAX), 0);
        assert_eq!(TsScale::Mul(1000).to_ns(u64::MAX), u64::MAX as i128 * 1000);
        let iface = Interface {
            linktype: 1,
            snaplen: 0,
            scale: TsScale::from_tsresol(0),
            offset_ns: 0,
        };
        assert_eq!(iface.ts_ns(u64::MAX), i64::MAX);
        let iface = Interface {
            offset_ns: i128::from(i64::MIN) * 1_000_000_000,
            ..iface
        };
        assert_eq!(iface.ts_ns(0), i64::MIN);
    }

    // ----- gzip ----------------------------------------------------------------------

    #[test]
    fn gzip_input_is_transparent() {
        let recs: [PcapRec; 2] = [(1, 2, b"hello", 5), (3, 4, b"world", 5)];
        let pcap = pcap_file(true, false, 1, 0, &recs);
        let ng = Ng::new(false)
            .idb(1, 0, &[])
            .epb(0, 9, b"gz", 2)
            .spb(b"zz", 2)
            .bytes();
        for plain in [pcap, ng] {
            let compressed = gzip(&plain);
            let mut r = PcapReader::new(&compressed[..]).unwrap();
            assert!(r.is_gzip());
            let gz = drain(&mut r);
            assert_eq!(r.offset(), plain.len() as u64);
            assert_eq!(key(&gz), key(&read_all(&plain)));
            assert_eq!(key(&gz), key(&assert_read_modes_agree(&compressed)));
            // Two gzip members, split in the middle of a record.
            let mut two = gzip(&plain[..30]);
            two.extend_from_slice(&gzip(&plain[30..]));
            assert_eq!(key(&read_all(&two)), key(&gz));
        }
    }

    #[test]
    fn corrupt_gzip_is_an_io_error() {
        let plain = pcap_file(false, false, 1, 0, &[(1, 0, &[0x55; 4000], 4000)]);
        let mut compressed = gzip(&plain);
        let mid = compressed.len() / 2;
        for b in &mut compressed[12..mid] {
            *b ^= 0x5a;
        }
        let err = match PcapReader::new(&compressed[..]) {
            Err(e) => e,
            Ok(mut r) => drain(&mut r).1.expect("error"),
        };
        assert_eq!(err.kind, ReadErrorKind::Io, "{err}");
        // A gzip stream cut short also ends in an error, never a panic.
        let cut = gzip(&plain);
        let err = match PcapReader::new(&cut[..cut.len() / 2]) {
            Err(e) => e,
            Ok(mut r) => drain(&mut r).1.expect("error"),
        };
        assert!(
            matches!(err.kind, ReadErrorKind::Io | ReadErrorKind::TruncatedRecord),
            "{err}"
        );
    }

    // ----- fuzz-ish robustness ---------------------------------------------------------

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn sample_files() -> Vec<Vec<u8>> {
        let recs: [PcapRec; 4] = [
            (1, 2, b"hello", 5),
            (3, 4, b"world!!", 7),
            (5, 6, b"", 0),
            (7, 8, b"bye", 30),
        ];
        let ng = Ng::new(false)
            .idb(
                1,
                0,
                &[
                    (NG_OPT_IF_TSRESOL, vec![9]),
                    (NG_OPT_IF_TSOFFSET, tsoffset(false, 5)),
                ],
            )
            .epb(0, 1, b"first packet", 12)
            .block(4, &[1, 0, 4, 0, 10, 0, 0, 1, 0, 0, 0, 0])
            .spb(b"spb", 3)
            .idb(101, 16, &[])
            .pb(1, 2, b"pb", 2)
            .shb(true)
            .idb(228, 0, &[(NG_OPT_IF_TSRESOL, vec![0x84])])
            .epb(0, 3, b"E\0\0\x14", 20)
            .bytes();
        vec![pcap_file(false, true, 1, 64, &recs), ng]
    }

    /// Reads like the pipeline's chunked mode: locations collected per buffer and
    /// resolved only once their buffer is cut; cut buffers come back as spares,
    /// scribbled over first so a stale location would show.
    fn drain_chunked<R: Read>(mut reader: PcapReader<R>) -> (Outcome, usize) {
        reader.set_chunked();
        let mut pkts = Vec::new();
        let mut pending: Vec<PacketLoc> = Vec::new();
        let mut cuts = 0;
        let resolve = |pkts: &mut Vec<Pkt>, locs: &mut Vec<PacketLoc>, buf: &[u8]| {
            for loc in locs.drain(..) {
                let p = loc.packet(buf);
                assert_eq!(p.data.len(), loc.caplen, "location outside its buffer");
                pkts.push(Pkt {
                    ts_ns: p.ts_ns,
                    linktype: p.linktype,
                    data: p.data.to_vec(),
                    orig_len: p.orig_len,
                    frame: p.frame,
                });
            }
        };
        let err = loop {
            match reader.next_chunked() {
                Ok(Step::Packet(loc)) => pending.push(loc),
                Ok(Step::Cut) => {
                    let mut b = reader.cut();
                    cuts += 1;
                    resolve(&mut pkts, &mut pending, &b);
                    b.fill(0xaa);
                    reader.add_spare(b);
                }
                Ok(Step::End) => break None,
                Err(e) => break Some(e),
            }
        };
        let last = reader.take_buffer();
        resolve(&mut pkts, &mut pending, &last);
        ((pkts, err), cuts)
    }

    #[test]
    fn chunked_reading_hands_out_the_same_packets() {
        let big = vec![0x5a; 3000];
        let mut recs: Vec<Vec<u8>> = (0..300u32)
            .map(|i| {
                (0..(i * 37 % 900) as usize)
                    .map(|j| (i as usize + j) as u8)
                    .collect()
            })
            .collect();
        recs.insert(150, big.clone());
        let pcap_recs: Vec<PcapRec> = recs
            .iter()
            .enumerate()
            .map(|(i, d)| (i as u32, 7, d.as_slice(), d.len() as u32 + 4))
            .collect();
        let pcap = pcap_file(false, false, 1, 65535, &pcap_recs);
        let mut ng = Ng::new(true);
        ng.idb(1, 0, &[]);
        for (i, d) in recs.iter().enumerate() {
            if i % 50 == 0 {
                ng.idb(101, 0, &[(NG_OPT_IF_TSRESOL, vec![9])]);
            }
            ng.epb((i % 2) as u32, i as u64 * 1000, d, d.len() as u32);
            if i % 70 == 0 {
                ng.spb(d, d.len() as u32);
            }
        }
        let ng = ng.bytes();
        let mut cut = pcap.clone();
        cut.truncate(pcap.len() - 100);
        for data in [&pcap, &ng, &cut, &gzip(&ng)] {
            let expected = read_all(data);
            for (initial, step) in [
                (64, usize::MAX),
                (1000, usize::MAX),
                (4096, 333),
                (1 << 20, 5000),
            ] {
                let reader = PcapReader::with_limits(trickle(data, step), initial, MAX_RECORD_LEN)
                    .expect("header");
                let (got, buffers) = drain_chunked(reader);
                assert_eq!(key(&got), key(&expected), "initial {initial}, step {step}");
                if initial <= 4096 {
                    assert!(buffers > 5, "only {buffers} buffers retired");
                }
            }
        }
    }

    #[test]
    fn mutated_inputs_never_panic_and_terminate() {
        for seed in 1..=60u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            for base in sample_files() {
                let mut data = base.clone();
                for _ in 0..1 + rng.below(6) {
                    let i = rng.below(data.len());
                    match rng.below(4) {
                        0 => data[i] ^= 1 << rng.below(8),
                        1 => data[i] = rng.next() as u8,
                        2 => data[i] = 0xff,
                        _ => data.truncate(i),
                    }
                    if data.is_empty() {
                        break;
                    }
                }
                let variants = [data.clone(), gzip(&data)];
                for input in &variants {
                    let Ok(mut r) = PcapReader::new(&input[..]) else {
                        continue;
                    };
                    // Every packet consumes at least 12 input bytes.
                    let bound = base.len() / 12 + 2;
                    let mut calls = 0;
                    while let Ok(Some(p)) = r.next_packet() {
                        assert!(p.frame >= 1);
                        calls += 1;
                        assert!(calls <= bound, "seed {seed}: no progress");
                    }
                    assert!(r.next_packet().unwrap().is_none());
                    let one = drain(&mut PcapReader::new(trickle(input, 1)).unwrap());
                    let whole = drain(&mut PcapReader::new(&input[..]).unwrap());
                    assert_eq!(key(&one), key(&whole), "seed {seed}");
                }
            }
        }
    }
}
