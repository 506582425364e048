//! Packet decoding: link layer, encapsulations and tunnels, IP, TCP/UDP.
//!
//! [`decode`] turns one captured frame into a [`Packet`]: the *innermost* IP
//! header and transport header, with the transport payload as a slice into the
//! frame (no copy, no allocation). Tunnels that mirror ports and cloud traffic
//! mirroring add are looked through: 802.1Q/QinQ, MPLS, PPPoE/PPP, GRE (incl.
//! ERSPAN I/II/III and transparent Ethernet bridging), VXLAN (UDP 4789),
//! GENEVE (UDP 6081), GTP-U (UDP 2152), IP-in-IP (4in4, 6in4, 4in6, 6in6) and
//! Teredo (UDP 3544).
//!
//! Panic contract: every read is bounds-checked through [`Cursor`]-style
//! helpers that return `None`; hostile lengths are clamped to what was
//! captured. A frame that cannot be decoded yields [`Outcome::Undecodable`]
//! with a static reason string, which the caller counts.
//!
//! Byte accounting: `ip_len` is the innermost IP packet length as stated by
//! its header (IPv4 total length, IPv6 40 + payload length), which is what
//! NetFlow/IPFIX count; link-layer headers and tunnel encapsulation are not
//! counted. Snap-length truncation does not change it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Link types we decode (LINKTYPE_* values).
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const PPP: u32 = 9;
    pub const RAW_OLD: u32 = 12;
    pub const RAW_OLD2: u32 = 14;
    pub const PPP_HDLC: u32 = 50;
    pub const PPP_ETHER: u32 = 51;
    pub const RAW: u32 = 101;
    pub const C_HDLC: u32 = 104;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
    pub const IEEE802_11: u32 = 105;
    pub const IEEE802_11_RADIOTAP: u32 = 127;
}

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// TCP flag bits.
pub mod tcpflag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// Fragmentation state of the innermost IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frag {
    /// Not fragmented.
    No,
    /// A fragment with more to follow (the first one has offset 0).
    More,
    /// The last fragment (offset > 0, no more to follow).
    Last,
}

/// The decoded view of one frame.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    pub ip_version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Transport protocol number (6 TCP, 17 UDP, others counted only).
    pub proto: u8,
    /// Innermost IP packet length per its header (bytes counted for flows).
    pub ip_len: u32,
    pub sport: u16,
    pub dport: u16,
    pub tcp_seq: u32,
    pub tcp_ack: u32,
    pub tcp_flags: u8,
    /// Transport payload (captured part only). For a fragment: its part of
    /// the IP payload (no transport header is decoded, see [`crate::defrag`]).
    pub payload: &'a [u8],
    pub frag: Frag,
    /// For a fragment: the datagram's identification, the fragment's offset
    /// in it and its length on the wire (bytes).
    pub frag_id: u32,
    pub frag_offset: u16,
    pub frag_len: u16,
    /// Number of encapsulation layers looked through.
    pub tunnels: u8,
}

/// Result of decoding a frame.
#[derive(Debug)]
pub enum Outcome<'a> {
    Ip(Packet<'a>),
    /// A well-formed frame that carries no IP (ARP, LLDP, STP, ...).
    NonIp,
    /// Could not be decoded; the reason is a stable snake_case key used in reports.
    Undecodable(&'static str),
}

/// Reasons used in [`Outcome::Undecodable`]; listed so reports can show zeros.
pub const REASONS: &[&str] = &[
    "truncated_link",
    "unsupported_link",
    "truncated_ip",
    "bad_ip_header",
    "bad_ip_version",
    "truncated_transport",
    "bad_tcp_header",
    "truncated_tunnel",
    "tunnel_depth",
];

const MAX_DEPTH: u8 = 8;

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Decodes one frame of the given link type.
pub fn decode(linktype: u32, frame: &[u8]) -> Outcome<'_> {
    if linktype == linktype::ETHERNET {
        if let Some(pkt) = ethernet_tcp(frame) {
            return Outcome::Ip(pkt);
        }
    }
    decode_general(linktype, frame)
}

/// The common case in one pass: Ethernet II, then IPv4 without options or
/// fragmentation or IPv6 without extension headers, then TCP. `None` for
/// anything else, or anything in doubt, which [`decode_general`] then decodes
/// (to the same [`Packet`] when this one returns one; a test checks it).
#[inline]
fn ethernet_tcp(frame: &[u8]) -> Option<Packet<'_>> {
    let et = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let (src, dst, ip_len, l4) = match et {
        0x0800 => {
            let h: &[u8; 20] = ip.get(..20)?.try_into().ok()?;
            // Version 4, 20-byte header, TCP, neither MF nor an offset.
            if h[0] != 0x45 || h[9] != PROTO_TCP || u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
                return None;
            }
            let total = u16::from_be_bytes([h[2], h[3]]) as usize;
            let src = IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15]));
            let dst = IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19]));
            (src, dst, total, ip.get(20..total.min(ip.len()))?)
        }
        0x86dd => {
            let h: &[u8; 40] = ip.get(..40)?.try_into().ok()?;
            let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
            if h[0] >> 4 != 6 || h[6] != PROTO_TCP || plen == 0 {
                return None;
            }
            let mut s = [0u8; 16];
            s.copy_from_slice(&h[8..24]);
            let mut d = [0u8; 16];
            d.copy_from_slice(&h[24..40]);
            let ip_len = 40 + plen;
            let src = IpAddr::V6(Ipv6Addr::from(s));
            let dst = IpAddr::V6(Ipv6Addr::from(d));
            (src, dst, ip_len, ip.get(40..ip_len.min(ip.len()))?)
        }
        _ => return None,
    };
    let t: &[u8; 20] = l4.get(..20)?.try_into().ok()?;
    let off = ((t[12] >> 4) as usize) * 4;
    if off < 20 {
        return None;
    }
    Some(Packet {
        ip_version: if et == 0x0800 { 4 } else { 6 },
        src,
        dst,
        proto: PROTO_TCP,
        ip_len: ip_len as u32,
        sport: u16::from_be_bytes([t[0], t[1]]),
        dport: u16::from_be_bytes([t[2], t[3]]),
        tcp_seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        tcp_ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
        tcp_flags: t[13],
        payload: l4.get(off..)?,
        frag: Frag::No,
        frag_id: 0,
        frag_offset: 0,
        frag_len: 0,
        tunnels: 0,
    })
}

/// [`decode`] without the fast path.
fn decode_general(linktype: u32, frame: &[u8]) -> Outcome<'_> {
    let mut d = Decoder { depth: 0 };
    match linktype {
        linktype::ETHERNET => d.ethernet(frame),
        linktype::RAW | linktype::RAW_OLD | linktype::RAW_OLD2 => d.raw_ip(frame),
        linktype::IPV4 => d.ip(frame, 4),
        linktype::IPV6 => d.ip(frame, 6),
        linktype::LINUX_SLL => {
            if frame.len() < 16 {
                return Outcome::Undecodable("truncated_link");
            }
            let proto = u16::from_be_bytes([frame[14], frame[15]]);
            d.sll_payload(proto, &frame[16..])
        }
        linktype::LINUX_SLL2 => {
            if frame.len() < 20 {
                return Outcome::Undecodable("truncated_link");
            }
            let proto = u16::from_be_bytes([frame[0], frame[1]]);
            d.sll_payload(proto, &frame[20..])
        }
        linktype::NULL | linktype::LOOP => {
            if frame.len() < 4 {
                return Outcome::Undecodable("truncated_link");
            }
            let raw = [frame[0], frame[1], frame[2], frame[3]];
            // DLT_NULL is host byte order of the capturing machine: accept both.
            let fam = if linktype == linktype::LOOP {
                u32::from_be_bytes(raw)
            } else {
                let le = u32::from_le_bytes(raw);
                if le < 256 {
                    le
                } else {
                    u32::from_be_bytes(raw)
                }
            };
            match fam {
                2 => d.ip(&frame[4..], 4),
                10 | 24 | 28 | 30 => d.ip(&frame[4..], 6),
                _ => Outcome::NonIp,
            }
        }
        linktype::PPP | linktype::PPP_HDLC => d.ppp(frame),
        linktype::IEEE802_11 => d.wlan(frame, false),
        linktype::IEEE802_11_RADIOTAP => {
            if frame.len() < 4 {
                return Outcome::Undecodable("truncated_link");
            }
            let hl = u16::from_le_bytes([frame[2], frame[3]]) as usize;
            match frame.get(hl..) {
                Some(f) if hl >= 8 => d.wlan(f, false),
                _ => Outcome::Undecodable("truncated_link"),
            }
        }
        linktype::PPP_ETHER => d.pppoe(frame),
        linktype::C_HDLC => {
            if frame.len() < 4 {
                return Outcome::Undecodable("truncated_link");
            }
            let et = u16::from_be_bytes([frame[2], frame[3]]);
            d.ethertype(et, &frame[4..])
        }
        _ => Outcome::Undecodable("unsupported_link"),
    }
}

struct Decoder {
    depth: u8,
}

/// Where an IP packet lies in its datagram.
#[derive(Debug, Clone, Copy)]
struct FragInfo {
    frag: Frag,
    id: u32,
    offset: u16,
    len: u16,
}

impl FragInfo {
    const NONE: FragInfo = FragInfo {
        frag: Frag::No,
        id: 0,
        offset: 0,
        len: 0,
    };
}

/// Decodes a reassembled datagram (see [`crate::defrag`]): its transport
/// header, or the tunnel it carries. `fragment` is one of its fragments as
/// decoded (addresses, protocol, tunnels), `ip_len` the datagram's IP length,
/// `l4` its IP payload.
pub fn datagram<'a>(fragment: &Packet<'_>, ip_len: u32, l4: &'a [u8]) -> Outcome<'a> {
    let mut d = Decoder {
        depth: fragment.tunnels,
    };
    d.transport(
        fragment.ip_version,
        fragment.src,
        fragment.dst,
        fragment.proto,
        ip_len,
        l4,
        FragInfo::NONE,
    )
}

impl Decoder {
    fn enter(&mut self) -> bool {
        self.depth += 1;
        self.depth <= MAX_DEPTH
    }

    fn ethernet<'a>(&mut self, f: &'a [u8]) -> Outcome<'a> {
        if f.len() < 14 {
            return Outcome::Undecodable("truncated_link");
        }
        let et = u16::from_be_bytes([f[12], f[13]]);
        if et <= 1500 {
            // 802.3 length field: LLC/SNAP, never IP in practice for our purposes.
            return Outcome::NonIp;
        }
        self.ethertype(et, &f[14..])
    }

    fn ethertype<'a>(&mut self, mut et: u16, mut rest: &'a [u8]) -> Outcome<'a> {
        // VLAN tags (802.1Q, 802.1ad QinQ, old 0x9100), bounded.
        let mut tags = 0;
        while matches!(et, 0x8100 | 0x88a8 | 0x9100 | 0x9200) {
            tags += 1;
            if tags > 8 || rest.len() < 4 {
                return Outcome::Undecodable("truncated_link");
            }
            et = u16::from_be_bytes([rest[2], rest[3]]);
            rest = &rest[4..];
        }
        match et {
            0x0800 => self.ip(rest, 4),
            0x86dd => self.ip(rest, 6),
            0x8847 | 0x8848 => self.mpls(rest),
            0x8864 => self.pppoe(rest),
            0x6558 => {
                if !self.enter() {
                    return Outcome::Undecodable("tunnel_depth");
                }
                self.ethernet(rest)
            }
            _ => Outcome::NonIp,
        }
    }

    /// IEEE 802.11 data frame with LLC/SNAP. `swapped`: the two frame-control
    /// bytes come in the other order (Cisco CAPWAP access points do this).
    fn wlan<'a>(&mut self, f: &'a [u8], swapped: bool) -> Outcome<'a> {
        if f.len() < 24 {
            return Outcome::Undecodable("truncated_link");
        }
        let (fc0, fc1) = if swapped { (f[1], f[0]) } else { (f[0], f[1]) };
        if (fc0 >> 2) & 0x03 != 2 || fc0 & 0x40 != 0 {
            // Not a data frame, or a null-data frame: no payload.
            return Outcome::NonIp;
        }
        if fc1 & 0x40 != 0 {
            // Protected (encrypted) frame.
            return Outcome::NonIp;
        }
        let mut hl = 24;
        if fc1 & 0x03 == 0x03 {
            hl += 6; // four addresses (WDS)
        }
        if fc0 & 0x80 != 0 {
            hl += 2; // QoS control
            if fc1 & 0x80 != 0 {
                hl += 4; // HT control
            }
        }
        let Some(llc) = f.get(hl..) else {
            return Outcome::Undecodable("truncated_link");
        };
        if llc.len() < 8 || llc[0] != 0xaa || llc[1] != 0xaa || llc[2] != 0x03 {
            return Outcome::NonIp;
        }
        let et = u16::from_be_bytes([llc[6], llc[7]]);
        self.ethertype(et, &llc[8..])
    }

    fn sll_payload<'a>(&mut self, proto: u16, rest: &'a [u8]) -> Outcome<'a> {
        match proto {
            // Raw 802.3 / 802.2 frames and CAN etc.
            0x0001..=0x05ff => Outcome::NonIp,
            _ => self.ethertype(proto, rest),
        }
    }

    fn raw_ip<'a>(&mut self, f: &'a [u8]) -> Outcome<'a> {
        match f.first().map(|b| b >> 4) {
            Some(4) => self.ip(f, 4),
            Some(6) => self.ip(f, 6),
            Some(_) => Outcome::Undecodable("bad_ip_version"),
            None => Outcome::Undecodable("truncated_ip"),
        }
    }

    fn mpls<'a>(&mut self, mut rest: &'a [u8]) -> Outcome<'a> {
        let mut labels = 0;
        loop {
            if rest.len() < 4 {
                return Outcome::Undecodable("truncated_link");
            }
            let bos = rest[2] & 1 == 1;
            rest = &rest[4..];
            labels += 1;
            if bos {
                break;
            }
            if labels > 16 {
                return Outcome::Undecodable("truncated_link");
            }
        }
        match rest.first().map(|b| b >> 4) {
            Some(4) => self.ip(rest, 4),
            Some(6) => self.ip(rest, 6),
            // Pseudowire control word (first nibble 0) followed by Ethernet.
            Some(0) if rest.len() >= 4 + 14 => {
                if !self.enter() {
                    return Outcome::Undecodable("tunnel_depth");
                }
                self.ethernet(&rest[4..])
            }
            Some(_) => Outcome::NonIp,
            None => Outcome::Undecodable("truncated_link"),
        }
    }

    fn pppoe<'a>(&mut self, rest: &'a [u8]) -> Outcome<'a> {
        // ver/type, code, session id, length, then PPP protocol.
        if rest.len() < 8 {
            return Outcome::Undecodable("truncated_link");
        }
        if rest[1] != 0 {
            // Discovery-type code in a session frame: not data.
            return Outcome::NonIp;
        }
        self.ppp_proto(&rest[6..])
    }

    fn ppp<'a>(&mut self, f: &'a [u8]) -> Outcome<'a> {
        // Optional HDLC address/control 0xff 0x03.
        let f = if f.len() >= 2 && f[0] == 0xff && f[1] == 0x03 {
            &f[2..]
        } else {
            f
        };
        self.ppp_proto(f)
    }

    fn ppp_proto<'a>(&mut self, f: &'a [u8]) -> Outcome<'a> {
        // Protocol field: 1 byte when compressed (odd first byte), else 2.
        let (proto, rest) = match f.first() {
            None => return Outcome::Undecodable("truncated_link"),
            Some(&b) if b & 1 == 1 => (b as u16, &f[1..]),
            Some(_) => match be16(f, 0) {
                Some(p) => (p, &f[2..]),
                None => return Outcome::Undecodable("truncated_link"),
            },
        };
        match proto {
            0x0021 => self.ip(rest, 4),
            0x0057 => self.ip(rest, 6),
            _ => Outcome::NonIp,
        }
    }

    /// IPv4 or IPv6 header, then the transport or the next tunnel.
    fn ip<'a>(&mut self, f: &'a [u8], version: u8) -> Outcome<'a> {
        if f.is_empty() {
            return Outcome::Undecodable("truncated_ip");
        }
        if f[0] >> 4 != version {
            return Outcome::Undecodable("bad_ip_version");
        }
        if version == 4 {
            self.ipv4(f)
        } else {
            self.ipv6(f)
        }
    }

    fn ipv4<'a>(&mut self, f: &'a [u8]) -> Outcome<'a> {
        if f.len() < 20 {
            return Outcome::Undecodable("truncated_ip");
        }
        let ihl = ((f[0] & 0x0f) as usize) * 4;
        let total = u16::from_be_bytes([f[2], f[3]]) as usize;
        if ihl < 20 || total < ihl {
            return Outcome::Undecodable("bad_ip_header");
        }
        if f.len() < ihl {
            return Outcome::Undecodable("truncated_ip");
        }
        let flags_off = u16::from_be_bytes([f[6], f[7]]);
        let more = flags_off & 0x2000 != 0;
        let offset = flags_off & 0x1fff;
        let frag = match (offset, more) {
            (0, false) => Frag::No,
            (_, true) => Frag::More,
            (_, false) => Frag::Last,
        };
        let proto = f[9];
        let src = IpAddr::V4(Ipv4Addr::new(f[12], f[13], f[14], f[15]));
        let dst = IpAddr::V4(Ipv4Addr::new(f[16], f[17], f[18], f[19]));
        // Payload: bounded by the header's total length (drops Ethernet padding)
        // and by what was captured.
        let end = total.min(f.len());
        let payload = &f[ihl..end];
        let fi = if frag == Frag::No {
            FragInfo::NONE
        } else {
            FragInfo {
                frag,
                id: u32::from(u16::from_be_bytes([f[4], f[5]])),
                offset: offset * 8,
                len: (total - ihl) as u16,
            }
        };
        self.transport(4, src, dst, proto, total as u32, payload, fi)
    }

    fn ipv6<'a>(&mut self, f: &'a [u8]) -> Outcome<'a> {
        if f.len() < 40 {
            return Outcome::Undecodable("truncated_ip");
        }
        let plen = u16::from_be_bytes([f[4], f[5]]) as usize;
        let mut next = f[6];
        let mut s = [0u8; 16];
        s.copy_from_slice(&f[8..24]);
        let mut d = [0u8; 16];
        d.copy_from_slice(&f[24..40]);
        let src = IpAddr::V6(Ipv6Addr::from(s));
        let dst = IpAddr::V6(Ipv6Addr::from(d));
        // Jumbogram (payload length 0 with hop-by-hop jumbo option): use what was captured.
        let ip_len = if plen == 0 { f.len() } else { 40 + plen };
        let end = ip_len.min(f.len());
        let mut rest = &f[40..end];
        let mut fi = FragInfo::NONE;
        // Extension headers, bounded in count.
        for _ in 0..16 {
            match next {
                0 | 43 | 60 | 135 | 139 | 140 => {
                    if rest.len() < 8 {
                        return Outcome::Undecodable("truncated_ip");
                    }
                    let len = (rest[1] as usize + 1) * 8;
                    if rest.len() < len {
                        return Outcome::Undecodable("truncated_ip");
                    }
                    next = rest[0];
                    rest = &rest[len..];
                }
                44 => {
                    if rest.len() < 8 {
                        return Outcome::Undecodable("truncated_ip");
                    }
                    let off_m = u16::from_be_bytes([rest[2], rest[3]]);
                    let offset = off_m & 0xfff8;
                    let more = off_m & 1 == 1;
                    let frag = match (offset, more) {
                        // (An "atomic" fragment, RFC 6946: a whole datagram.)
                        (0, false) => Frag::No,
                        (_, true) => Frag::More,
                        (_, false) => Frag::Last,
                    };
                    let id = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
                    next = rest[0];
                    rest = &rest[8..];
                    // The fragment's bytes on the wire: what follows this header.
                    let at = rest.as_ptr() as usize - f.as_ptr() as usize;
                    let len = u16::try_from(ip_len.saturating_sub(at)).unwrap_or(u16::MAX);
                    if frag != Frag::No {
                        fi = FragInfo {
                            frag,
                            id,
                            offset,
                            len,
                        };
                        // Nothing after the fragment header is decoded.
                        break;
                    }
                }
                51 => {
                    if rest.len() < 8 {
                        return Outcome::Undecodable("truncated_ip");
                    }
                    let len = (rest[1] as usize + 2) * 4;
                    if rest.len() < len {
                        return Outcome::Undecodable("truncated_ip");
                    }
                    next = rest[0];
                    rest = &rest[len..];
                }
                _ => break,
            }
        }
        self.transport(6, src, dst, next, ip_len as u32, rest, fi)
    }

    #[allow(clippy::too_many_arguments)]
    fn transport<'a>(
        &mut self,
        ip_version: u8,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        ip_len: u32,
        l4: &'a [u8],
        fi: FragInfo,
    ) -> Outcome<'a> {
        let frag = fi.frag;
        let mut pkt = Packet {
            ip_version,
            src,
            dst,
            proto,
            ip_len,
            sport: 0,
            dport: 0,
            tcp_seq: 0,
            tcp_ack: 0,
            tcp_flags: 0,
            payload: &[],
            frag,
            frag_id: fi.id,
            frag_offset: fi.offset,
            frag_len: fi.len,
            tunnels: self.depth,
        };
        if frag != Frag::No {
            // A fragment: its bytes wait for the others (crate::defrag).
            pkt.payload = l4;
            return Outcome::Ip(pkt);
        }
        match proto {
            PROTO_TCP => {
                if l4.len() < 20 {
                    return Outcome::Undecodable("truncated_transport");
                }
                let off = ((l4[12] >> 4) as usize) * 4;
                if off < 20 {
                    return Outcome::Undecodable("bad_tcp_header");
                }
                if l4.len() < off {
                    // Options cut by the snap length or a lying header.
                    return Outcome::Undecodable("truncated_transport");
                }
                pkt.sport = u16::from_be_bytes([l4[0], l4[1]]);
                pkt.dport = u16::from_be_bytes([l4[2], l4[3]]);
                pkt.tcp_seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
                pkt.tcp_ack = u32::from_be_bytes([l4[8], l4[9], l4[10], l4[11]]);
                pkt.tcp_flags = l4[13];
                pkt.payload = &l4[off..];
                Outcome::Ip(pkt)
            }
            PROTO_UDP => {
                if l4.len() < 8 {
                    return Outcome::Undecodable("truncated_transport");
                }
                pkt.sport = u16::from_be_bytes([l4[0], l4[1]]);
                pkt.dport = u16::from_be_bytes([l4[2], l4[3]]);
                let ulen = u16::from_be_bytes([l4[4], l4[5]]) as usize;
                let end = if ulen >= 8 {
                    ulen.min(l4.len())
                } else {
                    l4.len()
                };
                pkt.payload = &l4[8..end];
                if let Some(inner) = self.udp_tunnel(&pkt) {
                    return inner;
                }
                Outcome::Ip(pkt)
            }
            4 | 41 => {
                if !self.enter() {
                    return Outcome::Undecodable("tunnel_depth");
                }
                self.ip(l4, if proto == 4 { 4 } else { 6 })
            }
            47 => match self.gre(l4) {
                Some(o) => o,
                None => Outcome::Ip(pkt),
            },
            _ => Outcome::Ip(pkt),
        }
    }

    /// GRE (RFC 2784/2890), PPTP enhanced GRE, ERSPAN I/II/III. `None` = not a
    /// payload we look into: the GRE packet itself is the flow.
    fn gre<'a>(&mut self, g: &'a [u8]) -> Option<Outcome<'a>> {
        if g.len() < 4 {
            return Some(Outcome::Undecodable("truncated_tunnel"));
        }
        let flags = g[0];
        let version = g[1] & 0x07;
        let ptype = u16::from_be_bytes([g[2], g[3]]);
        let mut off = 4;
        let seq_present = flags & 0x10 != 0;
        if version == 0 {
            if flags & 0x80 != 0 {
                off += 4; // checksum + reserved
            }
            if flags & 0x20 != 0 {
                off += 4; // key
            }
            if seq_present {
                off += 4;
            }
        } else if version == 1 {
            // PPTP: key (payload length + call id) always, seq and ack optional.
            off += 4;
            if seq_present {
                off += 4;
            }
            if g[1] & 0x80 != 0 {
                off += 4;
            }
        } else {
            return None;
        }
        let rest = g.get(off..)?;
        if !self.enter() {
            return Some(Outcome::Undecodable("tunnel_depth"));
        }
        let out = match ptype {
            0x0800 => self.ip(rest, 4),
            0x86dd => self.ip(rest, 6),
            0x6558 => self.ethernet(rest),
            0x880b => self.ppp(rest),
            0x8847 | 0x8848 => self.mpls(rest),
            0x88be => {
                if seq_present {
                    // ERSPAN type II: 8-byte header.
                    match rest.get(8..) {
                        Some(r) => self.ethernet(r),
                        None => Outcome::Undecodable("truncated_tunnel"),
                    }
                } else {
                    // ERSPAN type I: Ethernet right after GRE.
                    self.ethernet(rest)
                }
            }
            0x22eb => {
                // ERSPAN type III: 12-byte header, optional 8-byte platform subheader.
                if rest.len() < 12 {
                    return Some(Outcome::Undecodable("truncated_tunnel"));
                }
                let o_bit = rest[11] & 0x01 != 0;
                let hl = if o_bit { 20 } else { 12 };
                match rest.get(hl..) {
                    Some(r) => self.ethernet(r),
                    None => Outcome::Undecodable("truncated_tunnel"),
                }
            }
            _ => return None,
        };
        Some(out)
    }

    /// UDP-borne tunnels by well-known port. Only taken when the inner frame
    /// decodes; otherwise the UDP packet itself is the flow.
    fn udp_tunnel<'a>(&mut self, pkt: &Packet<'a>) -> Option<Outcome<'a>> {
        let p = pkt.payload;
        let port = |x: u16| pkt.dport == x || pkt.sport == x;
        let depth = self.depth;
        let res = if pkt.dport == 4789 || pkt.dport == 4790 {
            // VXLAN (and VXLAN-GPE with Ethernet next protocol).
            if p.len() < 8 || p[0] & 0x08 == 0 {
                return None;
            }
            if !self.enter() {
                return Some(Outcome::Undecodable("tunnel_depth"));
            }
            if pkt.dport == 4790 && p[0] & 0x04 != 0 {
                match p[3] {
                    1 => self.ip(&p[8..], 4),
                    2 => self.ip(&p[8..], 6),
                    3 => self.ethernet(&p[8..]),
                    _ => return None,
                }
            } else {
                self.ethernet(&p[8..])
            }
        } else if pkt.dport == 6081 {
            // GENEVE.
            if p.len() < 8 || p[0] >> 6 != 0 {
                return None;
            }
            let hl = 8 + ((p[0] & 0x3f) as usize) * 4;
            let ptype = u16::from_be_bytes([p[2], p[3]]);
            let inner = p.get(hl..)?;
            if !self.enter() {
                return Some(Outcome::Undecodable("tunnel_depth"));
            }
            match ptype {
                0x6558 => self.ethernet(inner),
                0x0800 => self.ip(inner, 4),
                0x86dd => self.ip(inner, 6),
                _ => return None,
            }
        } else if port(2152) {
            // GTP-U: version 1, PT=1, message type G-PDU (0xff).
            if p.len() < 8 || p[0] >> 5 != 1 || p[0] & 0x10 == 0 || p[1] != 0xff {
                return None;
            }
            let mut off = 8;
            if p[0] & 0x07 != 0 {
                off += 4; // seq, n-pdu, next ext type
                let mut next = *p.get(11)?;
                let mut n = 0;
                while next != 0 {
                    n += 1;
                    if n > 8 {
                        return Some(Outcome::Undecodable("truncated_tunnel"));
                    }
                    let len = (*p.get(off)? as usize) * 4;
                    if len == 0 {
                        return Some(Outcome::Undecodable("truncated_tunnel"));
                    }
                    next = *p.get(off + len - 1)?;
                    off += len;
                }
            }
            let inner = p.get(off..)?;
            if !self.enter() {
                return Some(Outcome::Undecodable("tunnel_depth"));
            }
            match inner.first().map(|b| b >> 4) {
                Some(4) => self.ip(inner, 4),
                Some(6) => self.ip(inner, 6),
                _ => return None,
            }
        } else if port(5247) {
            // CAPWAP data channel (RFC 5415): 802.3 or native 802.11 frames.
            if p.len() < 8 || p[0] != 0 {
                return None;
            }
            let hl = ((p[1] >> 3) as usize) * 4;
            let wbid = (p[2] >> 1) & 0x1f;
            let native = p[2] & 0x01 != 0;
            let inner = p.get(hl..)?;
            if hl < 8 {
                return None;
            }
            if !self.enter() {
                return Some(Outcome::Undecodable("tunnel_depth"));
            }
            if !native {
                self.ethernet(inner)
            } else if wbid == 1 {
                // Frame control may be byte-swapped; use the order that reads as data.
                let swapped =
                    inner.len() >= 2 && (inner[0] >> 2) & 0x03 != 2 && (inner[1] >> 2) & 0x03 == 2;
                self.wlan(inner, swapped)
            } else {
                return None;
            }
        } else if port(3544) {
            // Teredo: optional authentication and origin indication headers.
            let mut inner = p;
            if inner.len() >= 4 && inner[0] == 0 && inner[1] == 1 {
                let id_len = inner[2] as usize;
                let au_len = inner[3] as usize;
                inner = inner.get(4 + id_len + au_len + 9..)?;
            }
            if inner.len() >= 8 && inner[0] == 0 && inner[1] == 0 {
                inner = &inner[8..];
            }
            if inner.len() < 40 || inner[0] >> 4 != 6 {
                return None;
            }
            if !self.enter() {
                return Some(Outcome::Undecodable("tunnel_depth"));
            }
            self.ip(inner, 6)
        } else {
            return None;
        };
        match res {
            Outcome::Ip(_) => Some(res),
            Outcome::Undecodable("tunnel_depth") => Some(res),
            // Inner frame not decodable: keep the outer UDP flow.
            _ => {
                self.depth = depth;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::{eth, ipv4, ipv4_udp};

    fn ipv4_tcp(
        src: [u8; 4],
        dst: [u8; 4],
        sp: u16,
        dp: u16,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        crate::testutil::ipv4_tcp(src, dst, sp, dp, 1000, flags, payload)
    }

    fn ip_of(o: Outcome<'_>) -> Packet<'_> {
        match o {
            Outcome::Ip(p) => p,
            other => panic!("not ip: {other:?}"),
        }
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let f = eth(
            0x0800,
            &ipv4_tcp([10, 0, 0, 5], [1, 2, 3, 4], 5555, 443, 0x18, b"hello"),
        );
        let p = ip_of(decode(linktype::ETHERNET, &f));
        assert_eq!(p.src, "10.0.0.5".parse::<IpAddr>().unwrap());
        assert_eq!((p.sport, p.dport, p.proto, p.ip_len), (5555, 443, 6, 45));
        assert_eq!(p.payload, b"hello");
        assert_eq!(p.tcp_flags, 0x18);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut ip = ipv4_udp([10, 0, 0, 5], [8, 8, 8, 8], 5000, 53, b"abc");
        ip.extend_from_slice(&[0; 10]);
        let f = eth(0x0800, &ip);
        let p = ip_of(decode(linktype::ETHERNET, &f));
        assert_eq!(p.payload, b"abc");
        assert_eq!(p.ip_len, 31);
    }

    #[test]
    fn qinq_mpls_pppoe() {
        let ip = ipv4_udp([10, 0, 0, 5], [8, 8, 8, 8], 5000, 53, b"x");
        // QinQ
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00]);
        f.extend_from_slice(&ip);
        assert_eq!(ip_of(decode(1, &f)).dport, 53);
        // MPLS two labels
        let mut m = vec![0, 0x10, 0x00, 0x40, 0, 0x20, 0x01, 0x40];
        m.extend_from_slice(&ip);
        assert_eq!(ip_of(decode(1, &eth(0x8847, &m))).dport, 53);
        // PPPoE session
        let mut pp = vec![0x11, 0x00, 0x00, 0x01, 0, 0, 0x00, 0x21];
        pp.extend_from_slice(&ip);
        assert_eq!(ip_of(decode(1, &eth(0x8864, &pp))).dport, 53);
    }

    #[test]
    fn vxlan_geneve_gre_erspan() {
        let inner = eth(
            0x0800,
            &ipv4_tcp([10, 1, 1, 1], [2, 2, 2, 2], 40000, 443, 2, b""),
        );
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend_from_slice(&inner);
        let outer = eth(
            0x0800,
            &ipv4_udp([172, 16, 0, 1], [172, 16, 0, 2], 1234, 4789, &vx),
        );
        let p = ip_of(decode(1, &outer));
        assert_eq!((p.dport, p.tunnels), (443, 1));
        assert_eq!(p.src, "10.1.1.1".parse::<IpAddr>().unwrap());

        let mut gv = vec![0x00, 0x00, 0x65, 0x58, 0, 0, 1, 0];
        gv.extend_from_slice(&inner);
        let outer = eth(
            0x0800,
            &ipv4_udp([172, 16, 0, 1], [172, 16, 0, 2], 1234, 6081, &gv),
        );
        assert_eq!(ip_of(decode(1, &outer)).dport, 443);

        // GRE + ERSPAN II
        let mut gre = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1];
        gre.extend_from_slice(&[0x10, 0x01, 0, 0, 0, 0, 0, 0]);
        gre.extend_from_slice(&inner);
        let ip = ipv4([1, 1, 1, 1], [2, 2, 2, 2], 47, &gre);
        let frame = eth(0x0800, &ip);
        let p = ip_of(decode(1, &frame));
        assert_eq!((p.dport, p.tunnels), (443, 1));
    }

    #[test]
    fn not_vxlan_stays_udp() {
        let outer = eth(
            0x0800,
            &ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 1234, 4789, b"junkjunkjunk"),
        );
        let p = ip_of(decode(1, &outer));
        assert_eq!((p.dport, p.tunnels), (4789, 0));
    }

    #[test]
    fn fragments() {
        let mut ip = ipv4_udp([10, 0, 0, 5], [8, 8, 8, 8], 5000, 53, b"abc");
        ip[6] = 0x00;
        ip[7] = 0x10; // offset 16*8
        let p = ip_of(decode(linktype::RAW, &ip));
        assert_eq!(p.frag, Frag::Last);
        assert_eq!(p.sport, 0);
        assert_eq!((p.frag_offset, p.frag_len, p.frag_id), (128, 11, 1));
        assert_eq!(p.payload.len(), 11);
    }

    #[test]
    fn truncations_never_panic() {
        let f = eth(
            0x0800,
            &ipv4_tcp([10, 0, 0, 5], [1, 2, 3, 4], 5555, 443, 0x18, b"hello"),
        );
        for n in 0..f.len() {
            let _ = decode(1, &f[..n]);
        }
        assert!(matches!(
            decode(1, &f[..20]),
            Outcome::Undecodable("truncated_ip")
        ));
        assert!(matches!(
            decode(1, &f[..40]),
            Outcome::Undecodable("truncated_transport")
        ));
    }

    #[test]
    fn null_and_sll() {
        let ip = ipv4_udp([10, 0, 0, 5], [8, 8, 8, 8], 5000, 53, b"x");
        let mut n = vec![2, 0, 0, 0];
        n.extend_from_slice(&ip);
        assert_eq!(ip_of(decode(linktype::NULL, &n)).dport, 53);
        let mut s = vec![0u8; 14];
        s.extend_from_slice(&[0x08, 0x00]);
        s.extend_from_slice(&ip);
        assert_eq!(ip_of(decode(linktype::LINUX_SLL, &s)).dport, 53);
        let mut s2 = vec![0x08, 0x00];
        s2.extend_from_slice(&[0u8; 18]);
        s2.extend_from_slice(&ip);
        assert_eq!(ip_of(decode(linktype::LINUX_SLL2, &s2)).dport, 53);
    }

    /// The fast path gives what the general decoder gives, whenever it answers.
    fn same_as_general(frame: &[u8]) -> bool {
        let fast = ethernet_tcp(frame);
        if let Some(f) = &fast {
            let Outcome::Ip(g) = decode_general(linktype::ETHERNET, frame) else {
                panic!("fast path decoded what the general one refuses: {frame:02x?}");
            };
            assert_eq!(format!("{f:?}"), format!("{g:?}"), "{frame:02x?}");
        }
        fast.is_some()
    }

    #[test]
    fn fast_path_takes_plain_tcp_only() {
        let v4 = crate::testutil::eth_ipv4_tcp(
            [10, 0, 0, 1],
            [1, 2, 3, 4],
            40000,
            443,
            1000,
            0x18,
            b"hello",
        );
        assert!(same_as_general(&v4));
        let udp = crate::testutil::eth_ipv4_udp([10, 0, 0, 1], [1, 2, 3, 4], 40000, 53, b"x");
        assert!(!same_as_general(&udp));
        let mut frag = v4.clone();
        frag[20] |= 0x20; // more fragments
        assert!(!same_as_general(&frag));
        let mut opts = v4.clone();
        opts[14] = 0x46; // IPv4 options
        assert!(!same_as_general(&opts));
        let mut vlan = v4[..12].to_vec();
        vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        vlan.extend_from_slice(&v4[12..]);
        assert!(!same_as_general(&vlan));
        for n in 0..v4.len() {
            same_as_general(&v4[..n]);
        }
        // IPv6: plain TCP takes the fast path; a hop-by-hop header does not.
        let mut v6 = vec![0u8; 12];
        v6.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 25, 6, 64]);
        v6.extend_from_slice(&[0x20; 32]);
        v6.extend_from_slice(&v4[34..]);
        assert_eq!(ip_of(decode(linktype::ETHERNET, &v6)).payload, b"hello");
        assert!(same_as_general(&v6));
        v6[20] = 0;
        assert!(!same_as_general(&v6));
    }

    proptest::proptest! {
        #[test]
        fn fast_path_agrees_with_general(
            flips in proptest::collection::vec((0usize..80, proptest::num::u8::ANY), 0..4),
            cut in 0usize..90,
            v6 in proptest::bool::ANY,
        ) {
            let mut f = crate::testutil::eth_ipv4_tcp([10, 0, 0, 1], [1, 2, 3, 4], 40000, 443, 1000, 0x18, b"0123456789abcdef");
            if v6 {
                let mut g = vec![0u8; 12];
                g.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 36, 6, 64]);
                g.extend_from_slice(&[0x20; 32]);
                g.extend_from_slice(&f[34..]);
                f = g;
            }
            for (at, b) in flips {
                if let Some(x) = f.get_mut(at) {
                    *x = b;
                }
            }
            f.truncate(f.len().saturating_sub(cut));
            same_as_general(&f);
        }

        #[test]
        fn random_bytes_never_panic(lt in 0u32..300, bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode(lt, &bytes);
            let _ = decode(linktype::ETHERNET, &bytes);
            let _ = decode(linktype::RAW, &bytes);
        }
    }
}
