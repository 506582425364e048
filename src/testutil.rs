//! Frame builders for tests and benches (not part of the analysis).
#![doc(hidden)]

/// An IPv4 header (no options, checksum 0) followed by `l4`.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut v = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        proto,
        0,
        0,
    ];
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(l4);
    v
}

/// A TCP segment (20-byte header, ack 1, window 65535).
pub fn tcp(sp: u16, dp: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sp.to_be_bytes());
    t.extend_from_slice(&dp.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

/// A UDP datagram (checksum 0).
pub fn udp(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sp.to_be_bytes());
    u.extend_from_slice(&dp.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// IPv4 + TCP (20-byte header, ack 1, window 65535).
pub fn ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sp: u16,
    dp: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    ipv4(src, dst, 6, &tcp(sp, dp, seq, flags, payload))
}

/// IPv4 + UDP.
pub fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    ipv4(src, dst, 17, &udp(sp, dp, payload))
}

/// `[start, end]` of each piece of `len` bytes cut at `cuts`.
fn pieces(len: usize, cuts: &[usize]) -> impl Iterator<Item = [usize; 2]> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(len);
    (1..bounds.len()).map(move |i| [bounds[i - 1], bounds[i]])
}

/// The IPv4 fragments (Ethernet frames) of a datagram carrying `l4` of
/// protocol `proto`, cut at the offsets `cuts` (multiples of 8).
pub fn eth_ipv4_fragments(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    l4: &[u8],
    cuts: &[usize],
) -> Vec<Vec<u8>> {
    pieces(l4.len(), cuts)
        .map(|w| {
            let mut ip = ipv4(src, dst, proto, &l4[w[0]..w[1]]);
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            let more = if w[1] < l4.len() { 0x2000 } else { 0 };
            ip[6..8].copy_from_slice(&((w[0] / 8) as u16 | more).to_be_bytes());
            eth(0x0800, &ip)
        })
        .collect()
}

/// The IPv6 fragments (Ethernet frames, a fragment header each) of a
/// datagram carrying `l4` of protocol `proto`, cut at `cuts`.
pub fn eth_ipv6_fragments(
    src: [u8; 16],
    dst: [u8; 16],
    proto: u8,
    id: u32,
    l4: &[u8],
    cuts: &[usize],
) -> Vec<Vec<u8>> {
    pieces(l4.len(), cuts)
        .map(|w| {
            let part = &l4[w[0]..w[1]];
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&((8 + part.len()) as u16).to_be_bytes());
            ip.extend_from_slice(&[44, 64]);
            ip.extend_from_slice(&src);
            ip.extend_from_slice(&dst);
            let more = u16::from(w[1] < l4.len());
            ip.extend_from_slice(&[proto, 0]);
            ip.extend_from_slice(&(w[0] as u16 | more).to_be_bytes());
            ip.extend_from_slice(&id.to_be_bytes());
            ip.extend_from_slice(part);
            eth(0x86dd, &ip)
        })
        .collect()
}

/// Ethernet + IPv4 + TCP.
pub fn eth_ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sp: u16,
    dp: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    eth(0x0800, &ipv4_tcp(src, dst, sp, dp, seq, flags, payload))
}

/// Ethernet + IPv4 + UDP.
pub fn eth_ipv4_udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    eth(0x0800, &ipv4_udp(src, dst, sp, dp, payload))
}

/// An Ethernet II frame (zero MACs) with the given EtherType.
pub fn eth(ethertype: u16, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 12];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(inner);
    v
}

/// A protected QUIC client Initial packet (RFC 9001) carrying `frames`,
/// padded with PADDING frames to `pad_to` bytes of payload.
pub fn quic_initial(version: u32, dcid: &[u8], pn: u32, frames: &[u8], pad_to: usize) -> Vec<u8> {
    use crate::proto::quic::{version_params, InitialKeys};
    let params = version_params(version).expect("known version");
    let keys = InitialKeys::new(version, params, dcid);
    let mut payload = frames.to_vec();
    if payload.len() < pad_to {
        payload.resize(pad_to, 0);
    }
    let first = if params.v2 { 0xd3 } else { 0xc3 };
    let mut h = vec![first];
    h.extend_from_slice(&version.to_be_bytes());
    h.push(dcid.len() as u8);
    h.extend_from_slice(dcid);
    h.push(0); // no SCID
    h.push(0); // no token
    let len = 4 + payload.len() + 16;
    h.extend_from_slice(&(0x4000u16 | len as u16).to_be_bytes());
    h.extend_from_slice(&pn.to_be_bytes());
    keys.seal(&h, 4, &payload)
}

/// A CRYPTO frame (offset and length as 2-byte varints).
pub fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend_from_slice(&(0x4000u16 | offset as u16).to_be_bytes());
    f.extend_from_slice(&(0x4000u16 | data.len() as u16).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// How much of each kind of hostile traffic [`attack_pcap`] writes.
#[derive(Debug, Clone, Copy)]
pub struct AttackMix {
    /// SYNs from random internal sources to random servers: one flow each.
    pub syn_flood: u32,
    /// Connections that send a ClientHello that never ends...
    pub partial_hellos: u32,
    /// ...in this many segments of 1000 bytes each.
    pub hello_segments: u32,
    /// DNS responses with random 180-byte names...
    pub dns_messages: u32,
    /// ...and this many A records each.
    pub dns_answers: u32,
    /// QUIC Initials with random connection IDs whose CRYPTO data starts at
    /// offset 8000 (held until the rest comes): one flow each.
    pub quic_initials: u32,
    /// IPv4 fragments (not first ones) with random addresses.
    pub fragments: u32,
    /// Capture time each phase's packets are spread over, in microseconds
    /// (at most 1.9 s: phases start 2 s apart).
    pub spread_us: u64,
    pub seed: u64,
}

impl AttackMix {
    /// The mix scaled by `k` (1: about 200 k packets, 43 MB).
    pub fn scaled(k: u32) -> Self {
        AttackMix {
            syn_flood: 150_000 * k,
            partial_hellos: 600 * k,
            hello_segments: 15,
            dns_messages: 4000 * k,
            dns_answers: 50,
            quic_initials: 10_000 * k,
            fragments: 20_000 * k,
            spread_us: 1_800_000,
            seed: 0x1a47_e7e5,
        }
    }
}

/// What an [`attack_pcap`] holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttackTruth {
    pub packets: u64,
    /// Flows, the legitimate ones included.
    pub flows: u64,
    pub fragments: u64,
    /// Legitimate connections to chatgpt.com (from 10.0.0.5).
    pub legit_flows: u64,
    pub dns_names: u64,
    pub quic_initials: u64,
}

/// A pcap being written (microsecond timestamps, Ethernet).
struct PcapOut<W: std::io::Write> {
    w: std::io::BufWriter<W>,
    packets: u64,
}

impl<W: std::io::Write> PcapOut<W> {
    fn new(out: W) -> std::io::Result<Self> {
        use std::io::Write;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
        w.write_all(&[
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0,
        ])?;
        Ok(PcapOut { w, packets: 0 })
    }

    fn rec(&mut self, ts_us: u64, f: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.packets += 1;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(f.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(f.len() as u32).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(f)
    }

    /// A connection from 10.0.0.5 to chatgpt.com: handshake and ClientHello.
    fn legit(&mut self, ts: u64, port: u16) -> std::io::Result<()> {
        use crate::decode::tcpflag::{ACK, SYN};
        let hello = crate::proto::tls::build_client_hello(Some("chatgpt.com"), &["h2"], false, 0);
        let (c, s, p) = ([10, 0, 0, 5], [104, 18, 32, 47], port);
        self.rec(ts, &eth_ipv4_tcp(c, s, p, 443, 100, SYN, &[]))?;
        self.rec(ts + 10, &eth_ipv4_tcp(s, c, 443, p, 900, SYN | ACK, &[]))?;
        self.rec(ts + 20, &eth_ipv4_tcp(c, s, p, 443, 101, ACK, &hello))?;
        self.rec(
            ts + 30,
            &eth_ipv4_tcp(s, c, 443, p, 901, ACK, &[0x16, 3, 3, 0, 0]),
        )
    }
}

/// Writes a pcap file (Ethernet, microsecond timestamps) of `frames`:
/// (capture time in µs, frame).
pub fn write_pcap<'a>(
    out: impl std::io::Write,
    frames: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = PcapOut::new(out)?;
    for (ts, f) in frames {
        o.rec(ts, f)?;
    }
    o.w.flush()
}

/// Writes a pcap (Ethernet) of the attack mix: phases one after another,
/// 2 s of capture time each, with a legitimate connection to chatgpt.com
/// from 10.0.0.5 before the first and after each one.
pub fn attack_pcap(mix: &AttackMix, out: impl std::io::Write) -> std::io::Result<AttackTruth> {
    use crate::decode::tcpflag::{ACK, SYN};
    use std::io::Write;
    let mut rng = mix.seed | 1;
    let mut next = move || {
        // xorshift64*
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut o = PcapOut::new(out)?;
    let mut truth = AttackTruth::default();
    let t0: u64 = 1_750_000_000 * 1_000_000; // µs
    let phase = |i: u64| t0 + i * 2_000_000;
    let spread_us = mix.spread_us.min(1_900_000);
    let spread = |i: u64, n: u64, k: u64| phase(k) + 100 + i * spread_us / n.max(1);
    let mut legit_port = 50_000u16;
    let mut legit = |o: &mut PcapOut<_>, ts: u64| {
        legit_port += 1;
        o.legit(ts, legit_port)
    };
    legit(&mut o, t0)?;

    // 1. SYN flood: random internal sources (10/8) to random servers.
    let n = mix.syn_flood as u64;
    for i in 0..n {
        let r = next();
        let src = [10, (r >> 8) as u8, (r >> 16) as u8, (r >> 24) as u8];
        let dst = [(r >> 32) as u8 | 1, (r >> 40) as u8, 7, 9];
        let f = eth_ipv4_tcp(src, dst, (r >> 48) as u16 | 1024, 443, r as u32, SYN, &[]);
        o.rec(spread(i, n, 0), &f)?;
    }
    truth.flows += n;
    legit(&mut o, phase(1) - 50)?;

    // 2. ClientHellos that never end: a record announcing 16 KiB, sent
    // 1000 bytes at a time on every connection in turn.
    let n = mix.partial_hellos as u64;
    let conn = |i: u64| {
        (
            [10, 1, (i >> 8) as u8, i as u8],
            [151, 101, 0, (i % 200) as u8 + 1],
        )
    };
    let segs = mix.hello_segments as u64;
    let steps = n * (segs + 2);
    let mut step = 0;
    for i in 0..n {
        let (c, s) = conn(i);
        o.rec(
            spread(step, steps, 1),
            &eth_ipv4_tcp(c, s, 40000, 443, 1000, SYN, &[]),
        )?;
        o.rec(
            spread(step + 1, steps, 1),
            &eth_ipv4_tcp(s, c, 443, 40000, 7, SYN | ACK, &[]),
        )?;
        step += 2;
    }
    for k in 0..segs {
        for i in 0..n {
            let (c, s) = conn(i);
            let mut p = vec![0u8; 1000];
            if k == 0 {
                p[..9].copy_from_slice(&[0x16, 3, 1, 0x40, 0, 1, 0, 0x3f, 0xfc]);
            }
            let seq = 1001 + (k * 1000) as u32;
            o.rec(
                spread(step, steps, 1),
                &eth_ipv4_tcp(c, s, 40000, 443, seq, ACK, &p),
            )?;
            step += 1;
        }
    }
    truth.flows += n;
    legit(&mut o, phase(2) - 50)?;

    // 3. DNS answers: random long names, many addresses each.
    let n = mix.dns_messages as u64;
    for i in 0..n {
        let mut m = vec![(i >> 8) as u8, i as u8, 0x81, 0x80, 0, 1];
        m.extend_from_slice(&(mix.dns_answers as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        for _ in 0..3 {
            let label: Vec<u8> = (0..59).map(|_| b'a' + (next() % 26) as u8).collect();
            m.push(label.len() as u8);
            m.extend_from_slice(&label);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        for _ in 0..mix.dns_answers {
            let r = next();
            m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
            m.extend_from_slice(&(r as u32).to_be_bytes());
        }
        let client = [10, 2, (i >> 8) as u8, i as u8];
        let f = eth_ipv4_udp([10, 0, 0, 53], client, 53, 20000 + (i % 40000) as u16, &m);
        o.rec(spread(i, n, 2), &f)?;
    }
    truth.flows += n;
    truth.dns_names += n * mix.dns_answers as u64;
    legit(&mut o, phase(3) - 50)?;

    // 4. QUIC Initials: a new connection ID each (a key derivation and a
    // decryption each), CRYPTO data at offset 8000.
    let n = mix.quic_initials as u64;
    let frame = crypto_frame(8000, &[0x5a; 1000]);
    for i in 0..n {
        let dcid = next().to_be_bytes();
        let p = quic_initial(1, &dcid, 0, &frame, 1160);
        let c = [10, 3, (i >> 8) as u8, i as u8];
        let f = eth_ipv4_udp(c, [142, 250, 0, 1], 30000 + (i % 30000) as u16, 443, &p);
        o.rec(spread(i, n, 3), &f)?;
    }
    truth.flows += n;
    truth.quic_initials += n;
    legit(&mut o, phase(4) - 50)?;

    // 5. Fragments (later ones: no transport header).
    let n = mix.fragments as u64;
    for i in 0..n {
        let r = next();
        let mut ip = ipv4(
            [10, 4, (r >> 8) as u8, r as u8],
            [8, 8, (r >> 16) as u8, 1],
            17,
            &[0x77; 80],
        );
        let off = 1 + (r >> 32) as u16 % 1000; // in 8-byte units, MF set
        ip[6..8].copy_from_slice(&(0x2000 | off).to_be_bytes());
        ip[4..6].copy_from_slice(&((r >> 48) as u16).to_be_bytes());
        o.rec(spread(i, n, 4), &eth(0x0800, &ip))?;
    }
    truth.fragments += n;
    legit(&mut o, phase(5) - 50)?;
    truth.flows += 6;
    truth.legit_flows = 6;
    o.w.flush()?;
    truth.packets = o.packets;
    Ok(truth)
}

/// An ended TLS flow from `client` to a server named `name` (`service`:
/// its catalog index, if it matched), for aggregator tests.
pub fn flow_record(
    client: &str,
    name: &str,
    service: Option<u16>,
    ts_ns: i64,
    up: u64,
    down: u64,
) -> crate::engine::FlowRecord {
    crate::engine::FlowRecord {
        serial: 1,
        ts_start: ts_ns,
        ts_end: ts_ns + 1_000_000,
        client: client.parse().expect("client address"),
        server: "198.51.100.7".parse().expect("server address"),
        client_port: 50000,
        server_port: 443,
        proto: 6,
        server_name: Some(name.into()),
        via: Some(crate::flow::Via::TlsSni),
        service,
        pattern: None,
        bytes_up: up,
        bytes_down: down,
        packets_up: 1,
        packets_down: 1,
        ech: false,
        ech_offered: false,
        alpn: Vec::new(),
        sni: Vec::new(),
        ja4: None,
        ja3: None,
        past_buckets: Vec::new(),
        bucket: Default::default(),
        end: crate::engine::EndReason::Closed,
        quic: false,
        quic_undecryptable: false,
    }
}

/// Names as a sensor sees them, for lookup benches: mostly ordinary
/// traffic (CDNs, deep names, misses), some AI hosts, a glob, a lookalike.
pub const LOOKUP_MIX: &[&str] = &[
    "www.google.com",
    "fonts.gstatic.com",
    "rr3---sn-4g5e6nzz.googlevideo.com",
    "outlook.office365.com",
    "login.microsoftonline.com",
    "e1234.dsce9.akamaiedge.net.globalredir.akadns.net",
    "d111111abcdef8.cloudfront.net",
    "s3.eu-west-1.amazonaws.com",
    "www.lemonde.fr",
    "api.github.com",
    "chatgpt.com",
    "ab.chatgpt.com",
    "cdn.oaistatic.com",
    "api.anthropic.com",
    "claude.ai",
    "gemini.google.com",
    "us-central1-aiplatform.googleapis.com",
    "chat.mistral.ai",
    "notchatgpt.com",
    "a.b.c.d.e.f.example.org",
];

/// A catalog of services `(id, domains)` with only the fields the format
/// requires (name, vendor and category from the id), for tests and benches.
pub fn catalog_of(services: &[(&str, &[&str])]) -> crate::signatures::Catalog {
    let mut t = String::new();
    for (id, domains) in services {
        t.push_str(&format!(
            "[[service]]\nid = {id:?}\nname = {id:?}\nvendor = {id:?}\ncategory = \"chat\"\n\
             country = \"US\"\ndomains = {domains:?}\nsource = \"https://example.org\"\n\n"
        ));
    }
    crate::signatures::Catalog::from_sources(&[("test.toml".to_string(), t)])
        .expect("a test catalog parses")
}
