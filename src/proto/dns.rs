//! DNS message parser (RFC 1035 wire format, plus SVCB/HTTPS from RFC 9460),
//! bounded and panic-free, rendering names exactly as tshark (Wireshark 4.0)
//! does, so that the facts we extract match a tshark ground truth.
//!
//! # What is parsed
//!
//! The header, every question (name, type, class) and every answer record
//! (owner name, type, class, TTL, RDLENGTH, and RDATA for A, AAAA, CNAME,
//! SVCB and HTTPS). The authority and additional sections are not parsed:
//! nothing is extracted from them, and a fault there cannot hide a question
//! or an answer, which come first in the message.
//!
//! When parsing stops early, [`Message::error`] holds the reason and
//! `questions` / `answers` hold every record completed before the damage:
//! tshark does the same (a dissector exception ends the message, the fields
//! already added stay in the tree).
//!
//! # Name rendering (tshark's `get_dns_name` + `format_text`)
//!
//! * labels joined by `.`, case kept, no trailing dot; the root is `<Root>`;
//! * the bytes of a label are copied as they are (a `.`, a space or a
//!   backslash inside a label is *not* escaped), then the whole name goes
//!   through Wireshark's `format_text`: printable ASCII as is; other ASCII as
//!   `\a \b \f \n \r \t \v` or a backslash and three **octal** digits
//!   (`\001`, `\000`, `\177`); the name is decoded as UTF-8, printable
//!   characters are kept, invalid sequences become U+FFFD, non-printable
//!   non-ASCII characters become `\uXXXX` / `\UXXXXXXXX`;
//! * a name that does not fit tshark's 255-byte buffer (more than 253 bytes,
//!   dots included, before escaping) is `<Name too long>`;
//! * a compression pointer whose target lies 2 bytes past its own end
//!   (tshark's self-loop test, as written), or more than 255 pointers, gives
//!   `<Name contains a pointer that loops>`; a real cycle is detected as soon
//!   as a pointer target repeats, which gives the answer tshark reaches after
//!   255 jumps, without the work;
//! * an extended label type `0x40` other than a bit-string label (`0x41`)
//!   gives `<Unknown extended label>`; bit-string labels render as
//!   `\[x<hex>/<bits>]` with tshark's quirks;
//! * label type `0x80`, or a name that runs past the end of the message, is
//!   an error (tshark throws and the message ends there).
//!
//! # Limits, and why
//!
//! | limit | value | why |
//! |---|---|---|
//! | header | 12 bytes | shorter input is not DNS: [`parse_message`] returns `None` |
//! | records parsed per section | [`MAX_RECORDS_PER_SECTION`] (512) | QDCOUNT/ANCOUNT are untrusted (65535 in a 40-byte message); nothing is allocated from a count, records are pushed one by one while data lasts, and the count is capped so a crafted message cannot make us build a huge list |
//! | rendered name | [`MAX_DNAME_LEN`] (255) buffer | tshark's `MAX_DNAME_LEN`; longer names become `<Name too long>`, as in tshark; the walk past the limit continues (without copying) so the next record starts where tshark's does |
//! | compression pointers per name | 255 ([`MAX_DNAME_LEN`]) | tshark's loop rule; plus a pointer-target cycle check that stops a loop at once |
//! | name-walk steps per message | [`MAX_NAME_STEPS`] (1 Mi) | labels and pointers read, over all names of one message: pointer chains through long label runs could otherwise cost 255 × 64 KiB per name; past it parsing stops with an error (no real message comes close) |
//! | SVCB list entries | [`MAX_SVC_LIST`] (64) per list | alpn/ipv4hint/ipv6hint lists are bounded by RDATA anyway; the cap keeps memory per record small |
//! | TCP message | 65535 bytes | the 2-byte length prefix; [`split_tcp_messages`] never buffers, it returns how much it consumed |
//!
//! # tshark quirks kept on purpose (parity with the ground truth)
//!
//! * A and AAAA: when RDLENGTH is not zero, the first 4 / 16 bytes at the
//!   start of RDATA are read whatever RDLENGTH says (tshark does); when it is
//!   zero, there is no address ([`RData::Other`]).
//! * Names inside RDATA (CNAME, NS, PTR, MX, SOA, SRV, SVCB target, ...) are
//!   read like any name, and may run past RDLENGTH; a broken one ends the
//!   message, like a tshark exception. A TXT record whose strings do not add
//!   up to RDLENGTH also ends it.
//! * An RDATA running past the end of the message sets `error`, but the
//!   record is kept when its data could be read (tshark shows it too).
//! * Questions of an UPDATE message (opcode 5) are the zone section: they are
//!   returned as questions; tshark files them under "Zone", so callers that
//!   compare with tshark's `Queries` should skip opcode 5.
//!
//! Known approximation: GLib decides "printable" from the full Unicode
//! tables; here control and format characters follow Unicode 15, but of the
//! unassigned code points only noncharacters and wholly unassigned planes are
//! treated as non-printable (no other case in the ground truth).

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Most records parsed in one section (questions, answers).
pub const MAX_RECORDS_PER_SECTION: usize = 512;
/// tshark's `MAX_DNAME_LEN`: size of the rendered-name buffer, and the
/// largest number of compression pointers followed in one name.
pub const MAX_DNAME_LEN: usize = 255;
/// tshark's `MIN_DNAME_LEN`.
const MIN_DNAME_LEN: usize = 2;
/// Labels and pointers read while walking names, over one whole message.
pub const MAX_NAME_STEPS: usize = 1 << 20;
/// Most entries kept in each SVCB list (alpn, ipv4hint, ipv6hint).
pub const MAX_SVC_LIST: usize = 64;

/// The root name as tshark renders it.
pub const ROOT_NAME: &str = "<Root>";
/// Rendered name when it does not fit tshark's buffer.
pub const NAME_TOO_LONG: &str = "<Name too long>";
/// Rendered name for a compression loop.
pub const NAME_LOOPS: &str = "<Name contains a pointer that loops>";
/// Rendered name for an extended label type that is not a bit string.
pub const NAME_UNKNOWN_EXT_LABEL: &str = "<Unknown extended label>";

/// Error: a name runs past the end of the message.
pub const ERR_NAME_TRUNCATED: &str = "name runs past the end of the message";
/// Error: a label starts with the reserved bits `10`.
pub const ERR_LABEL_TYPE: &str = "reserved label type 0x80";
/// Error: a name tshark rejects (unknown extended label as first byte, ...).
pub const ERR_NAME_INVALID: &str = "invalid name";
/// Error: the per-message name-walk budget ran out.
pub const ERR_NAME_BUDGET: &str = "name walk budget exhausted";
/// Error: a question's type or class is cut off.
pub const ERR_QUESTION_TRUNCATED: &str = "question truncated";
/// Error: an answer's fixed fields (type, class, TTL, RDLENGTH) are cut off.
pub const ERR_ANSWER_TRUNCATED: &str = "answer truncated";
/// Error: RDATA content could not be read (address or name cut off, bad TXT).
pub const ERR_RDATA_TRUNCATED: &str = "rdata truncated or malformed";
/// Error: RDLENGTH goes past the end of the message.
pub const ERR_RDATA_OVERRUN: &str = "rdata overruns message";
/// Error: a section holds more than [`MAX_RECORDS_PER_SECTION`] records.
pub const ERR_TOO_MANY_RECORDS: &str = "too many records";

/// One question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Name rendered as tshark does.
    pub name: String,
    pub qtype: u16,
}

/// Decoded RDATA of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// Target name, rendered as tshark does.
    Cname(String),
    /// SVCB (64) or HTTPS (65).
    Https {
        priority: u16,
        target: String,
        alpn: Vec<String>,
        ipv4hint: Vec<Ipv4Addr>,
        ipv6hint: Vec<Ipv6Addr>,
        ech: bool,
    },
    /// Any other type, or RDLENGTH 0.
    Other,
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Owner name, rendered as tshark does.
    pub name: String,
    pub rtype: u16,
    /// Raw class (for mDNS the top bit is the cache-flush flag).
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

/// One parsed DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub is_response: bool,
    pub opcode: u8,
    pub rcode: u8,
    pub questions: Vec<Question>,
    pub answers: Vec<Answer>,
    /// Some(reason) when parsing stopped early; questions/answers hold what was parsed before.
    pub error: Option<&'static str>,
}

/// Parses one DNS message (UDP payload, or one TCP message without its 2-byte length prefix).
/// Returns None only if the 12-byte header is missing.
pub fn parse_message(buf: &[u8]) -> Option<Message> {
    parse_message_opts(buf, true)
}

/// Like [`parse_message`]; `answer_names: false` leaves the owner names of
/// answers and their CNAME targets empty (checked and measured all the same,
/// so the message parses, or fails, exactly alike): only facts show them.
pub fn parse_message_opts(buf: &[u8], answer_names: bool) -> Option<Message> {
    if buf.len() < 12 {
        return None;
    }
    let word = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
    let flags = word(2);
    let qdcount = usize::from(word(4));
    let ancount = usize::from(word(6));
    let mut msg = Message {
        id: word(0),
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0f) as u8,
        rcode: (flags & 0x0f) as u8,
        questions: Vec::new(),
        answers: Vec::new(),
        error: None,
    };
    let mut p = Parser {
        buf,
        steps: 0,
        answer_names,
    };
    let mut off = 12usize;
    for i in 0..qdcount {
        if i == MAX_RECORDS_PER_SECTION {
            msg.error = Some(ERR_TOO_MANY_RECORDS);
            return Some(msg);
        }
        match p.question(off) {
            Ok((q, next)) => {
                msg.questions.push(q);
                off = next;
            }
            Err(e) => {
                msg.error = Some(e);
                return Some(msg);
            }
        }
    }
    for i in 0..ancount {
        if i == MAX_RECORDS_PER_SECTION {
            msg.error = Some(ERR_TOO_MANY_RECORDS);
            return Some(msg);
        }
        match p.answer(off) {
            Ok((a, next)) => {
                msg.answers.push(a);
                if next > buf.len() {
                    msg.error = Some(ERR_RDATA_OVERRUN);
                    return Some(msg);
                }
                off = next;
            }
            Err(e) => {
                msg.error = Some(e);
                return Some(msg);
            }
        }
    }
    Some(msg)
}

/// Type mnemonic as tshark prints it: A, NS, CNAME, SOA, NULL, PTR, HINFO, MX, TXT, AAAA, LOC, NB(32), SRV, NAPTR, OPT, DS, SSHFP, RRSIG, NSEC, DNSKEY, NSEC3, TLSA, SVCB(64), HTTPS(65), SPF, IXFR, AXFR, ANY, CAA; otherwise "TYPE<n>".
pub fn type_name(t: u16) -> Cow<'static, str> {
    let s = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        10 => "NULL",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        29 => "LOC",
        32 => "NB",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        44 => "SSHFP",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return Cow::Owned(format!("TYPE{t}")),
    };
    Cow::Borrowed(s)
}

/// Splits a TCP DNS byte stream into messages: iterates over complete length-prefixed messages in `buf`, returns how many bytes were consumed (so the caller keeps the incomplete tail).
pub fn split_tcp_messages<'a>(buf: &'a [u8], mut f: impl FnMut(&'a [u8])) -> usize {
    let mut off = 0usize;
    while let Some(prefix) = buf.get(off..off + 2) {
        let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        let Some(body) = buf.get(off + 2..off + 2 + len) else {
            break;
        };
        f(body);
        off += 2 + len;
    }
    off
}

/// Result of walking a name, before tshark's final checks.
// The name buffer lives on the stack on purpose: boxing it would bring back
// the allocation per name it replaced.
#[allow(clippy::large_enum_variant)]
enum Expanded {
    /// The bytes written to tshark's buffer, how many of them count as the
    /// name (bit-string labels are written but not counted), bytes used.
    Text {
        buf: NameBuf,
        name_len: usize,
        used: usize,
    },
    /// One of tshark's fixed strings, bytes used.
    Special(&'static str, usize),
}

/// tshark's name buffer, on the stack (a name never takes more than
/// [`MAX_DNAME_LEN`] bytes of it: `room` in [`Parser::expand`] sees to it).
struct NameBuf {
    bytes: [u8; MAX_DNAME_LEN],
    len: usize,
}

impl NameBuf {
    fn new() -> Self {
        NameBuf {
            bytes: [0; MAX_DNAME_LEN],
            len: 0,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends what fits (all of it, given the caller's `room`).
    fn extend_from_slice(&mut self, s: &[u8]) {
        let n = s.len().min(MAX_DNAME_LEN - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }
}

struct Parser<'a> {
    buf: &'a [u8],
    /// Name-walk steps spent so far in this message.
    steps: usize,
    /// Render answers' owner names and CNAME targets.
    answer_names: bool,
}

impl Parser<'_> {
    fn byte(&self, off: usize) -> Option<u8> {
        self.buf.get(off).copied()
    }

    fn u16_at(&self, off: usize) -> Option<u16> {
        let b = self.buf.get(off..off.checked_add(2)?)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    fn bytes(&self, off: usize, len: usize) -> Option<&[u8]> {
        self.buf.get(off..off.checked_add(len)?)
    }

    fn question(&mut self, off: usize) -> Result<(Question, usize), &'static str> {
        let (name, used) = self.name(off)?;
        let p = off.saturating_add(used);
        let qtype = self.u16_at(p).ok_or(ERR_QUESTION_TRUNCATED)?;
        self.u16_at(p.saturating_add(2))
            .ok_or(ERR_QUESTION_TRUNCATED)?;
        Ok((Question { name, qtype }, p.saturating_add(4)))
    }

    /// Parses one answer record at `off`; returns it and where the next
    /// record starts (which may lie past the end when RDLENGTH overruns).
    fn answer(&mut self, off: usize) -> Result<(Answer, usize), &'static str> {
        let (name, used) = self.name_opt(off, self.answer_names)?;
        let p = off.saturating_add(used);
        let fixed = self.bytes(p, 10).ok_or(ERR_ANSWER_TRUNCATED)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rd = p + 10;
        let data = if rdlen == 0 {
            RData::Other
        } else {
            self.rdata(rtype, rd, rdlen)?
        };
        let answer = Answer {
            name,
            rtype,
            class,
            ttl,
            data,
        };
        Ok((answer, rd + rdlen))
    }

    /// Decodes RDATA; `Err` where tshark's dissector would throw.
    fn rdata(&mut self, rtype: u16, rd: usize, rdlen: usize) -> Result<RData, &'static str> {
        const T: &str = ERR_RDATA_TRUNCATED;
        Ok(match rtype {
            1 => {
                let b = self.bytes(rd, 4).ok_or(T)?;
                RData::A(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            28 => {
                let b: [u8; 16] = self.bytes(rd, 16).ok_or(T)?.try_into().map_err(|_| T)?;
                RData::Aaaa(Ipv6Addr::from(b))
            }
            5 => RData::Cname(self.name_opt(rd, self.answer_names)?.0),
            64 | 65 => self.svcb(rd, rdlen)?,
            // NS, MD, MF, MB, MG, MR, PTR, NSAP-PTR, DNAME: one name.
            2 | 3 | 4 | 7 | 8 | 9 | 12 | 23 | 39 => {
                self.name_opt(rd, false)?;
                RData::Other
            }
            // MX, AFSDB, RT: 16-bit value then a name.
            15 | 18 | 21 => {
                self.u16_at(rd).ok_or(T)?;
                self.name_opt(rd + 2, false)?;
                RData::Other
            }
            // MINFO, RP: two names.
            14 | 17 => {
                let (_, used) = self.name_opt(rd, false)?;
                self.name_opt(rd.saturating_add(used), false)?;
                RData::Other
            }
            // SOA: two names then five 32-bit values.
            6 => {
                let (_, u1) = self.name_opt(rd, false)?;
                let (_, u2) = self.name_opt(rd.saturating_add(u1), false)?;
                self.bytes(rd.saturating_add(u1).saturating_add(u2), 20)
                    .ok_or(T)?;
                RData::Other
            }
            // SRV: priority, weight, port, target.
            33 => {
                self.bytes(rd, 6).ok_or(T)?;
                self.name_opt(rd + 6, false)?;
                RData::Other
            }
            // TXT, SPF: tshark loops until the strings add up to RDLENGTH
            // exactly, reading past it (and throwing) otherwise.
            16 | 99 => {
                let mut left = rdlen;
                let mut o = rd;
                while left != 0 {
                    let l = usize::from(self.byte(o).ok_or(T)?);
                    self.bytes(o + 1, l).ok_or(T)?;
                    if l + 1 > left {
                        return Err(T);
                    }
                    left -= l + 1;
                    o += l + 1;
                }
                RData::Other
            }
            _ => RData::Other,
        })
    }

    /// SVCB / HTTPS RDATA (RFC 9460). The target may use compression
    /// pointers; a malformed parameter ends the parameter list quietly.
    fn svcb(&mut self, rd: usize, rdlen: usize) -> Result<RData, &'static str> {
        let priority = self.u16_at(rd).ok_or(ERR_RDATA_TRUNCATED)?;
        let (target, used) = self.name(rd + 2)?;
        let end = (rd + rdlen).min(self.buf.len());
        let mut alpn = Vec::new();
        let mut ipv4hint = Vec::new();
        let mut ipv6hint = Vec::new();
        let mut ech = false;
        let mut o = rd + 2 + used;
        while o + 4 <= end {
            let key = u16::from_be_bytes([self.buf[o], self.buf[o + 1]]);
            let len = usize::from(u16::from_be_bytes([self.buf[o + 2], self.buf[o + 3]]));
            let v0 = o + 4;
            if v0 + len > end {
                break;
            }
            let value = &self.buf[v0..v0 + len];
            match key {
                1 => {
                    let mut i = 0;
                    while i < value.len() {
                        let l = usize::from(value[i]);
                        let Some(id) = value.get(i + 1..i + 1 + l) else {
                            break;
                        };
                        if alpn.len() < MAX_SVC_LIST {
                            alpn.push(format_text(id));
                        }
                        i += 1 + l;
                    }
                }
                4 => {
                    for c in value.chunks_exact(4).take(MAX_SVC_LIST) {
                        ipv4hint.push(Ipv4Addr::new(c[0], c[1], c[2], c[3]));
                    }
                }
                5 => ech = true,
                6 => {
                    for c in value.chunks_exact(16).take(MAX_SVC_LIST) {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(c);
                        ipv6hint.push(Ipv6Addr::from(a));
                    }
                }
                _ => {}
            }
            o = v0 + len;
        }
        Ok(RData::Https {
            priority,
            target,
            alpn,
            ipv4hint,
            ipv6hint,
            ech,
        })
    }

    /// Reads the name at `start`: its tshark rendering and the number of
    /// bytes it takes at `start` (tshark's `get_dns_name`).
    fn name(&mut self, start: usize) -> Result<(String, usize), &'static str> {
        self.name_opt(start, true)
    }

    /// Like [`Parser::name`]; `render: false` checks the name and measures it
    /// exactly alike but leaves the string empty (a name nobody reads).
    fn name_opt(&mut self, start: usize, render: bool) -> Result<(String, usize), &'static str> {
        let (text, used) = match self.expand(start)? {
            Expanded::Special(s, used) => {
                if used < MIN_DNAME_LEN {
                    return Err(ERR_NAME_INVALID);
                }
                (Cow::Borrowed(s), used)
            }
            Expanded::Text {
                buf,
                name_len,
                used,
            } => {
                // tshark tests the first byte of its NUL-terminated buffer.
                let buf = buf.as_slice();
                if buf.first().copied().unwrap_or(0) == 0 && used <= MIN_DNAME_LEN {
                    (Cow::Borrowed(ROOT_NAME), used)
                } else if used < MIN_DNAME_LEN || (used > MIN_DNAME_LEN && name_len == 0) {
                    return Err(ERR_NAME_INVALID);
                } else if !render {
                    (Cow::Borrowed(""), used)
                } else {
                    (
                        Cow::Owned(format_text(&buf[..name_len.min(buf.len())])),
                        used,
                    )
                }
            }
        };
        Ok((
            if render {
                text.into_owned()
            } else {
                String::new()
            },
            used,
        ))
    }

    /// tshark's `expand_dns_name`, step for step, with a cycle check and a
    /// step budget added.
    fn expand(&mut self, start: usize) -> Result<Expanded, &'static str> {
        let mut off = start;
        let mut out = NameBuf::new();
        let mut name_len = 0usize;
        // Room left in tshark's buffer; goes to 0 when the name is too long.
        let mut room: usize = MAX_DNAME_LEN;
        let mut used: Option<usize> = None;
        let mut jumps = 0usize;
        // Pointer targets followed so far: a few fit on the stack.
        let mut near = [0usize; 8];
        let mut far: Vec<usize> = Vec::new();
        loop {
            self.steps += 1;
            if self.steps > MAX_NAME_STEPS {
                return Err(ERR_NAME_BUDGET);
            }
            let c = self.byte(off).ok_or(ERR_NAME_TRUNCATED)?;
            off += 1;
            if c == 0 {
                break;
            }
            match c & 0xc0 {
                0x00 => {
                    if !out.is_empty() {
                        if room > 0 {
                            out.push(b'.');
                            name_len += 1;
                            room -= 1;
                        }
                    } else {
                        room = room.saturating_sub(1);
                    }
                    let l = usize::from(c);
                    let label = self.bytes(off, l).ok_or(ERR_NAME_TRUNCATED)?;
                    let take = l.min(room);
                    out.extend_from_slice(&label[..take]);
                    name_len += take;
                    room -= take;
                    off += l;
                }
                0x40 => {
                    if c & 0x3f != 0x01 {
                        // tshark: len = offset - start_offset, even after a jump.
                        let len = off as i64 - start as i64;
                        if len < 1 {
                            return Err(ERR_NAME_INVALID);
                        }
                        return Ok(Expanded::Special(NAME_UNKNOWN_EXT_LABEL, len as usize));
                    }
                    // Bit-string label (RFC 2673), printed as tshark does;
                    // written to the buffer but not counted in name_len.
                    let bits = self.byte(off).ok_or(ERR_NAME_TRUNCATED)?;
                    off += 1;
                    let label_len = if bits == 0 {
                        1
                    } else {
                        (usize::from(bits) - 1) / 8 + 1
                    };
                    put(&mut out, &mut room, b"\\[x");
                    for _ in 0..label_len {
                        if room > 0 {
                            let b = self.byte(off).ok_or(ERR_NAME_TRUNCATED)?;
                            put(&mut out, &mut room, format!("{b:02x}").as_bytes());
                        }
                        off += 1;
                    }
                    put(&mut out, &mut room, format!("/{bits}]").as_bytes());
                }
                0x80 => return Err(ERR_LABEL_TYPE),
                _ => {
                    let lo = self.byte(off).ok_or(ERR_NAME_TRUNCATED)?;
                    let target = (usize::from(c & 0x3f) << 8) | usize::from(lo);
                    off += 1;
                    jumps += 1;
                    let len = *used.get_or_insert_with(|| off - start);
                    // tshark's checks, then ours: a repeated target is a
                    // cycle that tshark would follow until the jump cap.
                    let seen = near[..(jumps - 1).min(near.len())].contains(&target)
                        || far.contains(&target);
                    if target == off + 2 || jumps > MAX_DNAME_LEN || seen {
                        return Ok(Expanded::Special(NAME_LOOPS, len));
                    }
                    match near.get_mut(jumps - 1) {
                        Some(slot) => *slot = target,
                        None => far.push(target),
                    }
                    off = target;
                }
            }
        }
        let used = used.unwrap_or_else(|| off - start);
        if room > 0 {
            Ok(Expanded::Text {
                buf: out,
                name_len,
                used,
            })
        } else {
            Ok(Expanded::Special(NAME_TOO_LONG, used))
        }
    }
}

/// tshark's `snprintf` into the name buffer: written only when it fits.
fn put(out: &mut NameBuf, room: &mut usize, s: &[u8]) {
    if *room > 0 {
        if s.len() <= *room {
            out.extend_from_slice(s);
            *room -= s.len();
        } else {
            *room = 0;
        }
    }
}

/// Wireshark 4.0's `format_text`: renders bytes that should be UTF-8 as a
/// printable string (see the module documentation).
pub fn format_text(s: &[u8]) -> String {
    if s.iter().all(|c| (0x20..0x7f).contains(c)) {
        // Printable ASCII (nearly every name): as is.
        return String::from_utf8_lossy(s).into_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0usize;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if (0x20..0x7f).contains(&c) {
            out.push(char::from(c));
            continue;
        }
        if c < 0x80 {
            push_ascii_escape(&mut out, c);
            continue;
        }
        let (extra, mask) = match c {
            0xc0..=0xdf => (1, 0x1f),
            0xe0..=0xef => (2, 0x0f),
            0xf0..=0xf7 => (3, 0x07),
            0xf8..=0xfb => (4, 0x03),
            0xfc..=0xfd => (5, 0x01),
            _ => (0, 0),
        };
        let mut uc: u32 = 0xfffd;
        if extra > 0 {
            uc = u32::from(c & mask);
            for _ in 0..extra {
                let Some(&d) = s.get(i) else {
                    uc = 0xfffd;
                    break;
                };
                if d & 0xc0 != 0x80 {
                    // Re-read as the start of the next character.
                    uc = 0xfffd;
                    break;
                }
                i += 1;
                uc = (uc << 6) | u32::from(d & 0x3f);
            }
            // g_unichar_validate
            if !(uc < 0x11_0000 && (uc & 0xffff_f800) != 0xd800) {
                uc = 0xfffd;
            }
        }
        match char::from_u32(uc) {
            Some(ch) if unichar_isprint(uc) => out.push(ch),
            // Not printable and not ASCII (an overlong ASCII control also
            // lands here, as in Wireshark, since its last byte is >= 0x80).
            _ if uc <= 0xffff => out.push_str(&format!("\\u{uc:04x}")),
            _ => out.push_str(&format!("\\U{uc:08x}")),
        }
    }
    out
}

fn push_ascii_escape(out: &mut String, c: u8) {
    out.push('\\');
    match c {
        0x07 => out.push('a'),
        0x08 => out.push('b'),
        0x0c => out.push('f'),
        0x0a => out.push('n'),
        0x0d => out.push('r'),
        0x09 => out.push('t'),
        0x0b => out.push('v'),
        _ => {
            out.push(char::from(b'0' + ((c >> 6) & 3)));
            out.push(char::from(b'0' + ((c >> 3) & 7)));
            out.push(char::from(b'0' + (c & 7)));
        }
    }
}

/// GLib's `g_unichar_isprint` (not Cc, Cf, Cs or Cn) for a valid scalar
/// value. Cc and Cf follow Unicode 15 (GLib 2.74, Debian 12's tshark);
/// unassigned (Cn) code points are approximated: noncharacters, planes 4-13,
/// the unassigned parts of planes 3 and 14.
fn unichar_isprint(uc: u32) -> bool {
    const CF: &[(u32, u32)] = &[
        (0x00ad, 0x00ad),
        (0x0600, 0x0605),
        (0x061c, 0x061c),
        (0x06dd, 0x06dd),
        (0x070f, 0x070f),
        (0x0890, 0x0891),
        (0x08e2, 0x08e2),
        (0x180e, 0x180e),
        (0x200b, 0x200f),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x2066, 0x206f),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x1343f),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
    ];
    if uc < 0x20 || (0x7f..=0x9f).contains(&uc) {
        return false; // Cc
    }
    if CF.iter().any(|&(lo, hi)| (lo..=hi).contains(&uc)) {
        return false;
    }
    if (0xfdd0..=0xfdef).contains(&uc) || uc & 0xfffe == 0xfffe {
        return false; // noncharacters
    }
    if (0x323b0..=0x3ffff).contains(&uc) || (0x4_0000..=0xd_ffff).contains(&uc) {
        return false; // unassigned planes
    }
    if (0xe_0000..=0xe_ffff).contains(&uc) && !(0xe0100..=0xe01ef).contains(&uc) {
        return false; // plane 14 outside the variation selectors
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a message: header with the given counts, then `body`.
    fn msg(flags: u16, qd: u16, an: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&0x1234u16.to_be_bytes());
        m.extend_from_slice(&flags.to_be_bytes());
        for c in [qd, an, 0, 0] {
            m.extend_from_slice(&c.to_be_bytes());
        }
        m.extend_from_slice(body);
        m
    }

    fn wire_name(name: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for l in name.split('.').filter(|l| !l.is_empty()) {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    }

    fn rr(owner: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let mut v = owner.to_vec();
        v.extend_from_slice(&rtype.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&300u32.to_be_bytes());
        v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        v.extend_from_slice(rdata);
        v
    }

    fn question(name: &str, qtype: u16) -> Vec<u8> {
        let mut v = wire_name(name);
        v.extend_from_slice(&qtype.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v
    }

    #[test]
    fn simple_query() {
        let m = parse_message(&msg(0x0100, 1, 0, &question("www.Example.com", 1))).unwrap();
        assert_eq!(m.id, 0x1234);
        assert!(!m.is_response);
        assert_eq!(m.opcode, 0);
        assert_eq!(m.error, None);
        assert_eq!(
            m.questions,
            vec![Question {
                name: "www.Example.com".into(),
                qtype: 1
            }]
        );
        assert!(m.answers.is_empty());
    }

    #[test]
    fn header_only_and_short() {
        assert!(parse_message(&[0; 11]).is_none());
        let m = parse_message(&msg(0x8183, 0, 0, &[])).unwrap();
        assert!(m.is_response);
        assert_eq!(m.rcode, 3);
        assert_eq!(m.error, None);
    }

    #[test]
    fn cname_chain_with_pointers_then_a_and_aaaa() {
        // question at offset 12: www.example.com
        let mut body = question("www.example.com", 1);
        // www.example.com CNAME a.b.example.com (a.b + pointer to "example.com" at 16)
        let cname1 = [1, b'a', 1, b'b', 0xc0, 16];
        body.extend(rr(&[0xc0, 12], 5, &cname1));
        // where the cname1 rdata starts
        let a_b_off = 12 + 21 + 12;
        // a.b.example.com CNAME c.example.com
        body.extend(rr(&[0xc0, a_b_off as u8], 5, &[1, b'c', 0xc0, 16]));
        let c_off = a_b_off + 6 + 12;
        body.extend(rr(&[0xc0, c_off as u8], 1, &[192, 0, 2, 1]));
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        body.extend(rr(&[0xc0, c_off as u8], 28, &v6.octets()));
        let m = parse_message(&msg(0x8180, 1, 4, &body)).unwrap();
        assert_eq!(m.error, None);
        let got: Vec<_> = m
            .answers
            .iter()
            .map(|a| (a.name.as_str(), &a.data))
            .collect();
        assert_eq!(
            got,
            vec![
                ("www.example.com", &RData::Cname("a.b.example.com".into())),
                ("a.b.example.com", &RData::Cname("c.example.com".into())),
                ("c.example.com", &RData::A(Ipv4Addr::new(192, 0, 2, 1))),
                ("c.example.com", &RData::Aaaa(v6)),
            ]
        );
        assert_eq!(m.answers[2].ttl, 300);
        assert_eq!(m.answers[2].class, 1);
        if let RData::Aaaa(a) = &m.answers[3].data {
            assert_eq!(a.to_string(), "2001:db8::1");
        }
    }

    #[test]
    fn https_record() {
        let mut body = question("example.com", 65);
        let mut rdata = vec![0, 1]; // priority 1
        rdata.push(0); // target "." (root)
                       // alpn = h2,h3
        rdata.extend_from_slice(&[0, 1, 0, 6, 2, b'h', b'2', 2, b'h', b'3']);
        // ipv4hint = 192.0.2.1, 192.0.2.2
        rdata.extend_from_slice(&[0, 4, 0, 8, 192, 0, 2, 1, 192, 0, 2, 2]);
        // ech = 3 bytes
        rdata.extend_from_slice(&[0, 5, 0, 3, 1, 2, 3]);
        // ipv6hint = 2001:db8::2
        rdata.extend_from_slice(&[0, 6, 0, 16]);
        rdata.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        body.extend(rr(&[0xc0, 12], 65, &rdata));
        // an SVCB with a compressed target
        body.extend(rr(&[0xc0, 12], 64, &[0, 2, 3, b's', b'v', b'c', 0xc0, 12]));
        let m = parse_message(&msg(0x8180, 1, 2, &body)).unwrap();
        assert_eq!(m.error, None);
        assert_eq!(
            m.answers[0].data,
            RData::Https {
                priority: 1,
                target: "<Root>".into(),
                alpn: vec!["h2".into(), "h3".into()],
                ipv4hint: vec![Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)],
                ipv6hint: vec!["2001:db8::2".parse().unwrap()],
                ech: true,
            }
        );
        match &m.answers[1].data {
            RData::Https {
                priority,
                target,
                ech,
                ..
            } => {
                assert_eq!(*priority, 2);
                assert_eq!(target, "svc.example.com");
                assert!(!ech);
            }
            d => panic!("unexpected {d:?}"),
        }
    }

    #[test]
    fn pointer_to_itself_terminates() {
        // question name is a pointer to offset 12, i.e. to itself
        let m = parse_message(&msg(0, 1, 0, &[0xc0, 12, 0, 1, 0, 1])).unwrap();
        assert_eq!(m.questions.len(), 1);
        assert_eq!(m.questions[0].name, NAME_LOOPS);
        assert_eq!(m.questions[0].qtype, 1);
        assert_eq!(m.error, None);
    }

    #[test]
    fn two_pointers_to_each_other_terminate() {
        // offset 12: "a" then pointer to 17; offset 17: pointer to 12
        let body = [1, b'a', 0xc0, 17, 0, 0xc0, 12, 0, 1, 0, 1];
        let m = parse_message(&msg(0, 1, 0, &body)).unwrap();
        assert_eq!(m.questions[0].name, NAME_LOOPS);
        // A CNAME whose target loops between two pointers.
        let mut body = question("x.org", 1);
        let rd_off = 12 + 11 + 12;
        body.extend(rr(
            &[0xc0, 12],
            5,
            &[0xc0, rd_off as u8 + 2, 0xc0, rd_off as u8],
        ));
        let m = parse_message(&msg(0x8000, 1, 1, &body)).unwrap();
        assert_eq!(m.answers[0].data, RData::Cname(NAME_LOOPS.into()));
        // Loops through labels finish fast too.
        let mut big = Vec::new();
        for _ in 0..200 {
            big.extend_from_slice(&[1, b'x']);
        }
        big.extend_from_slice(&[0xc0, 12]);
        let m = parse_message(&msg(0, 600, 0, &big)).unwrap();
        assert_eq!(m.questions.len(), 0);
        assert_eq!(m.error, Some(ERR_QUESTION_TRUNCATED));
    }

    #[test]
    fn name_walk_budget_bounds_work() {
        // 512 questions, each a pointer into one long run of 1-byte labels
        // that ends with a pointer back to its start: every question costs
        // 15000 label steps before the cycle is seen.
        let run_start = 12 + 6 * 512;
        let mut body = Vec::new();
        for _ in 0..512 {
            body.extend_from_slice(&[0xc0 | (run_start >> 8) as u8, run_start as u8, 0, 1, 0, 1]);
        }
        for _ in 0..15_000 {
            body.extend_from_slice(&[1, b'x']);
        }
        body.extend_from_slice(&[0xc0 | (run_start >> 8) as u8, run_start as u8]);
        let t = std::time::Instant::now();
        let m = parse_message(&msg(0, 512, 0, &body)).unwrap();
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(m.error, Some(ERR_NAME_BUDGET));
        assert_eq!(m.questions.len(), MAX_NAME_STEPS / 15_002);
        assert!(m.questions.iter().all(|q| q.name == NAME_LOOPS));
    }

    #[test]
    fn too_many_records() {
        let mut body = Vec::new();
        for _ in 0..600 {
            body.extend(question("a.b", 1));
        }
        let m = parse_message(&msg(0, 600, 0, &body)).unwrap();
        assert_eq!(m.questions.len(), MAX_RECORDS_PER_SECTION);
        assert_eq!(m.error, Some(ERR_TOO_MANY_RECORDS));
    }

    #[test]
    fn truncated_message_keeps_earlier_records() {
        let mut body = question("a.example", 1);
        body.extend(rr(&[0xc0, 12], 1, &[10, 0, 0, 1]));
        body.extend(rr(&[0xc0, 12], 1, &[10, 0, 0, 2]));
        let full = msg(0x8180, 1, 3, &body);
        let m = parse_message(&full).unwrap();
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.error, Some(ERR_NAME_TRUNCATED));
        // cut inside the second answer's fixed fields
        let m = parse_message(&full[..full.len() - 10]).unwrap();
        assert_eq!(m.questions.len(), 1);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.error, Some(ERR_ANSWER_TRUNCATED));
        // rdlength past the end: address still read, error set
        let mut body = question("a.example", 1);
        let mut r = rr(&[0xc0, 12], 1, &[10, 0, 0, 3]);
        let n = r.len();
        r[n - 6] = 0;
        r[n - 5] = 40;
        body.extend(r);
        let m = parse_message(&msg(0x8180, 1, 2, &body)).unwrap();
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].data, RData::A(Ipv4Addr::new(10, 0, 0, 3)));
        assert_eq!(m.error, Some(ERR_RDATA_OVERRUN));
        // a huge QDCOUNT in a tiny message
        let m = parse_message(&msg(0, 65535, 65535, &question("x.y", 1))).unwrap();
        assert_eq!(m.questions.len(), 1);
        assert!(m.error.is_some());
    }

    #[test]
    fn non_printable_bytes_render_like_tshark() {
        let mut body = vec![6, b'a', 1, 2, 3, b'\t', 0x7f];
        body.extend_from_slice(&[5, b'a', b'.', b' ', b'\\', 0]);
        body.extend_from_slice(&[3, b'x', 0xff, b'y']);
        body.extend_from_slice(&[3, 0xc3, 0xa9, b'!']);
        body.extend_from_slice(&[0, 0, 1, 0, 1]);
        let m = parse_message(&msg(0, 1, 0, &body)).unwrap();
        assert_eq!(
            m.questions[0].name,
            "a\\001\\002\\003\\t\\177.a. \\\\000.x\u{fffd}y.\u{e9}!"
        );
        assert_eq!(format_text(&[0x0a, 0x1b, 0xc2, 0x80]), "\\n\\033\\u0080");
        assert_eq!(format_text(&[0xe2, 0x80, 0x99]), "\u{2019}");
        assert_eq!(format_text(&[0xe2, 0x80, 0x8b]), "\\u200b");
        assert_eq!(format_text(&[0xc3]), "\u{fffd}");
        assert_eq!(format_text(&[0xc3, b'a']), "\u{fffd}a");
    }

    #[test]
    fn root_and_special_names() {
        let m = parse_message(&msg(0, 1, 0, &[0, 0, 2, 0, 1])).unwrap();
        assert_eq!(m.questions[0].name, "<Root>");
        assert_eq!(m.questions[0].qtype, 2);
        // 0x80 label type is an error
        let m = parse_message(&msg(0, 1, 0, &[0x80, 0, 0, 1, 0, 1])).unwrap();
        assert!(m.questions.is_empty());
        assert_eq!(m.error, Some(ERR_LABEL_TYPE));
        // unknown extended label after a label
        let m = parse_message(&msg(0, 1, 0, &[1, b'a', 0x42, 0, 1, 0, 1])).unwrap();
        assert_eq!(m.questions[0].name, NAME_UNKNOWN_EXT_LABEL);
        assert_eq!(m.questions[0].qtype, 0x0001);
        // unknown extended label first: tshark throws
        let m = parse_message(&msg(0, 1, 0, &[0x42, 0, 1, 0, 1])).unwrap();
        assert_eq!(m.error, Some(ERR_NAME_INVALID));
        // too long: 5 labels of 63 bytes
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        long.extend(question("next.org", 28));
        let m = parse_message(&msg(0, 2, 0, &long)).unwrap();
        assert_eq!(m.questions[0].name, NAME_TOO_LONG);
        assert_eq!(m.questions[1].name, "next.org");
        // 253 rendered bytes fit, 254 do not
        let name = |n: usize| {
            let mut v = Vec::new();
            let mut left = n;
            while left > 0 {
                let l = left.min(63);
                v.push(l as u8);
                v.resize(v.len() + l, b'b');
                // the label, then the dot before the next one
                left = (left - l).saturating_sub(1);
            }
            v.extend_from_slice(&[0, 0, 1, 0, 1]);
            v
        };
        let m = parse_message(&msg(0, 1, 0, &name(253))).unwrap();
        assert_eq!(m.questions[0].name.len(), 253);
        let m = parse_message(&msg(0, 1, 0, &name(254))).unwrap();
        assert_eq!(m.questions[0].name, NAME_TOO_LONG);
    }

    #[test]
    fn type_names() {
        assert_eq!(type_name(1), "A");
        assert_eq!(type_name(32), "NB");
        assert_eq!(type_name(65), "HTTPS");
        assert_eq!(type_name(257), "CAA");
        assert_eq!(type_name(24435), "TYPE24435");
    }

    #[test]
    fn split_two_and_a_half_messages() {
        let m1 = msg(0, 1, 0, &question("a.example", 1));
        let m2 = msg(0, 1, 0, &question("b.example", 28));
        let mut stream = Vec::new();
        for m in [&m1, &m2] {
            stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
            stream.extend_from_slice(m);
        }
        let whole = stream.len();
        stream.extend_from_slice(&(m1.len() as u16).to_be_bytes());
        stream.extend_from_slice(&m1[..m1.len() / 2]);
        let mut names = Vec::new();
        let used = split_tcp_messages(&stream, |m| {
            names.push(parse_message(m).unwrap().questions[0].name.clone());
        });
        assert_eq!(used, whole);
        assert_eq!(names, vec!["a.example", "b.example"]);
        assert_eq!(split_tcp_messages(&[0], |_| panic!()), 0);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = parse_message(&data);
            let _ = split_tcp_messages(&data, |m| { let _ = parse_message(m); });
        }

        #[test]
        fn random_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
                                     qd in 0u16..8, an in 0u16..8) {
            let m = msg(0x8180, qd, an, &body);
            let _ = parse_message(&m);
        }

        /// Without answer names a message parses (or fails) exactly alike,
        /// only those names left empty.
        #[test]
        fn answer_names_off_changes_only_those_names(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            names in proptest::collection::vec(("[a-z]{1,8}", 0usize..3), 0..4),
            qd in 0u16..3, an in 0u16..5,
        ) {
            // Real-looking records first (a pointer to the question, CNAMEs,
            // A), then random bytes.
            let mut b = question("www.example.com", 1);
            for (n, kind) in &names {
                b.extend_from_slice(&rr(&[0xc0, 12], [1, 5, 28][*kind], &match kind {
                    0 => vec![192, 0, 2, 1],
                    1 => wire_name(&format!("{n}.example.net")),
                    _ => vec![0x20; 16],
                }));
            }
            b.extend_from_slice(&body);
            let m = msg(0x8180, qd.max(1), an + names.len() as u16, &b);
            let mut full = parse_message(&m).unwrap();
            let lean = parse_message_opts(&m, false).unwrap();
            for a in &mut full.answers {
                a.name.clear();
                if let RData::Cname(n) = &mut a.data {
                    n.clear();
                }
            }
            proptest::prop_assert_eq!(full, lean);
        }
    }
}

/// Strict content check for DNS on a non-DNS port (like tshark's heuristic
/// dissector): one question, standard query opcode, few records, every
/// counted question and answer parsed without error, class IN in the header
/// counts' range. Random or encrypted payloads (QUIC) essentially never pass.
pub fn looks_like_dns(buf: &[u8]) -> bool {
    if buf.len() < 17 || buf.len() > 4096 {
        return false;
    }
    let word = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
    let flags = word(2);
    let (qd, an, ns, ar) = (word(4), word(6), word(8), word(10));
    if qd != 1 || an > 32 || ns > 16 || ar > 16 || (flags >> 11) & 0x0f != 0 || flags & 0x0040 != 0
    {
        return false;
    }
    let Some(m) = parse_message(buf) else {
        return false;
    };
    // The question must parse; a damaged answer section is still DNS (tshark
    // shows it as a malformed DNS response).
    m.questions.len() == 1
        && m.questions[0].name.len() > 1
        && m.questions[0].name.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod heuristic_tests {
    use super::*;

    #[test]
    fn heuristic() {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        assert!(looks_like_dns(&q));
        let mut r = q.clone();
        r[5] = 2;
        assert!(!looks_like_dns(&r));
        assert!(!looks_like_dns(&[0xc3; 100]));
    }
}
