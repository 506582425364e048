//! TLS ClientHello extraction (RFC 8446 §4.1.2, RFC 6066 §3 SNI, RFC 7301 ALPN,
//! draft-ietf-tls-esni ECH).
//!
//! [`parse_client_hello`] is fed the reassembled client byte stream from its
//! start and answers "need more bytes", "not TLS", or the extracted hello. A
//! ClientHello may span several TLS records (each at most 16 KiB + 256) and
//! several TCP segments: the handshake message is rebuilt from the record
//! fragments, copied only when it does span records. The message itself is
//! parsed with `tls-parser`; its extension block is walked here with bounds
//! checks on every length.
//!
//! Limits: a ClientHello larger than [`MAX_HELLO`] is refused (real ones are
//! below 3 KiB even with post-quantum key shares); at most [`MAX_NAMES`] SNI
//! names and ALPN protocols are kept.

use tls_parser::{TlsMessage, TlsMessageHandshake};

/// Largest ClientHello handshake message accepted.
pub const MAX_HELLO: usize = 16 * 1024;
/// Most names/protocols kept from one hello.
pub const MAX_NAMES: usize = 16;

/// Extension code points.
pub const EXT_SERVER_NAME: u16 = 0;
pub const EXT_ALPN: u16 = 16;
pub const EXT_ECH: u16 = 0xfe0d;
/// Encrypted SNI (draft-ietf-tls-esni up to -02), the ancestor of ECH.
pub const EXT_ESNI: u16 = 0xffce;

/// What a ClientHello told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// Host names of the server_name extension, in order.
    pub sni: Vec<String>,
    pub alpn: Vec<String>,
    /// The encrypted_client_hello (or legacy ESNI) extension is present.
    pub ech: bool,
    /// Legacy version field of the hello.
    pub version: u16,
    /// Cipher suites as sent (GREASE included), for fingerprints.
    pub ciphers: Vec<u16>,
    /// Extension types in wire order (GREASE included), for fingerprints.
    pub extensions: Vec<u16>,
    /// supported_versions (43), signature_algorithms (13), supported_groups
    /// (10) and ec_point_formats (11), in wire order, for JA4/JA3.
    pub supported_versions: Vec<u16>,
    pub sig_algs: Vec<u16>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloResult {
    NeedMore,
    NotTls,
    /// The stream is TLS but broken (bad lengths, not a ClientHello first).
    Error(&'static str),
    /// Parsed; `usize` = bytes of the stream the hello's records occupy.
    Done(ClientHello, usize),
}

/// True if `data` starts like a TLS handshake record (checked on 3 bytes).
pub fn looks_like_tls(data: &[u8]) -> bool {
    data.len() >= 3 && data[0] == 0x16 && data[1] == 3 && data[2] <= 4
}

/// Parses the ClientHello at the start of a client stream.
pub fn parse_client_hello(data: &[u8]) -> HelloResult {
    parse_client_hello_opts(data, true)
}

/// Like [`parse_client_hello`]; `fingerprints: false` skips collecting the
/// lists only JA4/JA3 need (ciphers, extension types, groups, ...).
pub fn parse_client_hello_opts(data: &[u8], fingerprints: bool) -> HelloResult {
    if data.is_empty() {
        return HelloResult::NeedMore;
    }
    if data[0] != 0x16 || (data.len() >= 2 && data[1] != 3) || (data.len() >= 3 && data[2] > 4) {
        return HelloResult::NotTls;
    }
    if data.len() < 5 {
        return HelloResult::NeedMore;
    }
    let rec_len = u16::from_be_bytes([data[3], data[4]]) as usize;
    if rec_len == 0 || rec_len > 16384 + 2048 {
        return HelloResult::Error("bad_record_length");
    }
    let first = &data[5..data.len().min(5 + rec_len)];
    // Fast path: the whole handshake message sits in the first record.
    if first.len() >= 4 {
        if first[0] != 1 {
            return HelloResult::Error("not_client_hello");
        }
        let hs_len = be24(&first[1..4]);
        if hs_len > MAX_HELLO {
            return HelloResult::Error("hello_too_large");
        }
        if 4 + hs_len <= rec_len {
            if first.len() < 4 + hs_len {
                return HelloResult::NeedMore;
            }
            return match parse_handshake_opts(&first[..4 + hs_len], fingerprints) {
                Some(h) => HelloResult::Done(h, 5 + rec_len),
                None => HelloResult::Error("malformed_client_hello"),
            };
        }
    } else if first.len() == rec_len {
        // A record with fewer than 4 handshake bytes: rare, handled by the slow path.
    } else {
        return HelloResult::NeedMore;
    }
    // Slow path: gather the handshake message from consecutive records.
    let mut msg: Vec<u8> = Vec::new();
    let mut pos = 0usize;
    loop {
        if data.len() < pos + 5 {
            return HelloResult::NeedMore;
        }
        let h = &data[pos..];
        if h[0] != 0x16 || h[1] != 3 {
            return HelloResult::Error("bad_record_sequence");
        }
        let len = u16::from_be_bytes([h[3], h[4]]) as usize;
        if len == 0 || len > 16384 + 2048 {
            return HelloResult::Error("bad_record_length");
        }
        if h.len() < 5 + len {
            return HelloResult::NeedMore;
        }
        msg.extend_from_slice(&h[5..5 + len]);
        pos += 5 + len;
        if msg.len() >= 4 {
            if msg[0] != 1 {
                return HelloResult::Error("not_client_hello");
            }
            let hs_len = be24(&msg[1..4]);
            if hs_len > MAX_HELLO {
                return HelloResult::Error("hello_too_large");
            }
            if msg.len() >= 4 + hs_len {
                return match parse_handshake_opts(&msg[..4 + hs_len], fingerprints) {
                    Some(h) => HelloResult::Done(h, pos),
                    None => HelloResult::Error("malformed_client_hello"),
                };
            }
        }
        if msg.len() > MAX_HELLO + 4 {
            return HelloResult::Error("hello_too_large");
        }
    }
}

fn be24(b: &[u8]) -> usize {
    ((b[0] as usize) << 16) | ((b[1] as usize) << 8) | b[2] as usize
}

/// Parses one complete handshake message (type + 3-byte length + body) that
/// must be a ClientHello. Also used for QUIC CRYPTO data.
pub fn parse_handshake(msg: &[u8]) -> Option<ClientHello> {
    parse_handshake_opts(msg, true)
}

/// Like [`parse_handshake`], optionally without the fingerprint lists and ALPN.
pub fn parse_handshake_opts(msg: &[u8], fingerprints: bool) -> Option<ClientHello> {
    let (_, parsed) = tls_parser::parse_tls_message_handshake(msg).ok()?;
    let ch = match parsed {
        TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) => ch,
        _ => return None,
    };
    let mut out = ClientHello {
        version: ch.version.0,
        ..ClientHello::default()
    };
    if fingerprints {
        out.ciphers = ch.ciphers.iter().map(|c| c.0).collect();
    }
    if let Some(ext) = ch.ext {
        walk_extensions(ext, &mut out, fingerprints);
    }
    Some(out)
}

fn walk_extensions(mut ext: &[u8], out: &mut ClientHello, fingerprints: bool) {
    while ext.len() >= 4 {
        let typ = u16::from_be_bytes([ext[0], ext[1]]);
        let len = u16::from_be_bytes([ext[2], ext[3]]) as usize;
        let Some(body) = ext.get(4..4 + len) else {
            return;
        };
        if fingerprints && out.extensions.len() < 256 {
            out.extensions.push(typ);
        }
        match typ {
            EXT_SERVER_NAME => server_names(body, &mut out.sni),
            // ALPN only shows in events and JA4, which come with `fingerprints`.
            EXT_ALPN if fingerprints => alpn(body, &mut out.alpn),
            EXT_ECH | EXT_ESNI => out.ech = true,
            _ if !fingerprints => {}
            43 => u16_list(
                body.get(1..1 + *body.first().unwrap_or(&0) as usize),
                &mut out.supported_versions,
            ),
            13 => u16_list(body.get(2..2 + be16(body) as usize), &mut out.sig_algs),
            10 => u16_list(body.get(2..2 + be16(body) as usize), &mut out.groups),
            11 => {
                if let Some(l) = body.get(1..1 + *body.first().unwrap_or(&0) as usize) {
                    out.point_formats.extend(l.iter().take(64));
                }
            }
            _ => {}
        }
        ext = &ext[4 + len..];
    }
}

fn be16(b: &[u8]) -> u16 {
    if b.len() >= 2 {
        u16::from_be_bytes([b[0], b[1]])
    } else {
        0
    }
}

/// A list of big-endian u16 values (at most 128 kept); `None` = bad length.
fn u16_list(b: Option<&[u8]>, out: &mut Vec<u16>) {
    if let Some(b) = b {
        out.extend(
            b.chunks_exact(2)
                .take(128)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        );
    }
}

fn server_names(b: &[u8], out: &mut Vec<String>) {
    if b.len() < 2 {
        return;
    }
    let list_len = u16::from_be_bytes([b[0], b[1]]) as usize;
    let mut l = &b[2..b.len().min(2 + list_len)];
    while l.len() >= 3 && out.len() < MAX_NAMES {
        let typ = l[0];
        let n = u16::from_be_bytes([l[1], l[2]]) as usize;
        let Some(name) = l.get(3..3 + n) else {
            return;
        };
        if typ == 0 {
            out.push(crate::proto::dns::format_text(name));
        }
        l = &l[3 + n..];
    }
}

fn alpn(b: &[u8], out: &mut Vec<String>) {
    if b.len() < 2 {
        return;
    }
    let list_len = u16::from_be_bytes([b[0], b[1]]) as usize;
    let mut l = &b[2..b.len().min(2 + list_len)];
    while !l.is_empty() && out.len() < MAX_NAMES {
        let n = l[0] as usize;
        let Some(p) = l.get(1..1 + n) else {
            return;
        };
        out.push(String::from_utf8_lossy(p).into_owned());
        l = &l[1 + n..];
    }
}

/// Builds a ClientHello record for tests and benches.
pub fn build_client_hello(sni: Option<&str>, alpn: &[&str], ech: bool, pad_to: usize) -> Vec<u8> {
    let mut ext = Vec::new();
    let mut push_ext = |t: u16, body: &[u8]| {
        ext.extend_from_slice(&t.to_be_bytes());
        ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
        ext.extend_from_slice(body);
    };
    push_ext(0x0a0a, &[]);
    if let Some(s) = sni {
        let mut b = Vec::new();
        b.extend_from_slice(&((s.len() + 3) as u16).to_be_bytes());
        b.push(0);
        b.extend_from_slice(&(s.len() as u16).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
        push_ext(EXT_SERVER_NAME, &b);
    }
    if !alpn.is_empty() {
        let mut l = Vec::new();
        for a in alpn {
            l.push(a.len() as u8);
            l.extend_from_slice(a.as_bytes());
        }
        let mut b = (l.len() as u16).to_be_bytes().to_vec();
        b.extend_from_slice(&l);
        push_ext(EXT_ALPN, &b);
    }
    if ech {
        push_ext(EXT_ECH, &[0u8; 64]);
    }
    let mut body = Vec::new();
    body.extend_from_slice(&[3, 3]);
    body.extend_from_slice(&[7u8; 32]);
    body.push(32);
    body.extend_from_slice(&[9u8; 32]);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02]);
    body.extend_from_slice(&[1, 0]);
    // padding extension to reach the requested size
    let cur = body.len() + 2 + ext.len() + 4;
    if pad_to > cur + 4 {
        let n = pad_to - cur - 4;
        ext.extend_from_slice(&21u16.to_be_bytes());
        ext.extend_from_slice(&(n as u16).to_be_bytes());
        ext.extend(std::iter::repeat(0).take(n));
    }
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![
        1,
        (body.len() >> 16) as u8,
        (body.len() >> 8) as u8,
        body.len() as u8,
    ];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_hello() {
        let r = build_client_hello(Some("chatgpt.com"), &["h2", "http/1.1"], false, 0);
        match parse_client_hello(&r) {
            HelloResult::Done(h, n) => {
                assert_eq!(h.sni, vec!["chatgpt.com"]);
                assert_eq!(h.alpn, vec!["h2", "http/1.1"]);
                assert!(!h.ech);
                assert_eq!(n, r.len());
                assert_eq!(h.ciphers, vec![0x1301, 0x1302]);
                assert_eq!(h.extensions[..3], [0x0a0a, 0, 16]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_prefix_needs_more_then_done() {
        let r = build_client_hello(Some("claude.ai"), &["h2"], true, 1800);
        assert!(r.len() > 1700);
        for n in 0..r.len() {
            assert_eq!(
                parse_client_hello(&r[..n]),
                HelloResult::NeedMore,
                "prefix {n}"
            );
        }
        match parse_client_hello(&r) {
            HelloResult::Done(h, _) => {
                assert_eq!(h.sni, vec!["claude.ai"]);
                assert!(h.ech);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hello_split_over_records() {
        let r = build_client_hello(Some("api.openai.com"), &[], false, 600);
        let hs = &r[5..];
        let mut s = Vec::new();
        for chunk in hs.chunks(100) {
            s.extend_from_slice(&[0x16, 3, 3]);
            s.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            s.extend_from_slice(chunk);
        }
        match parse_client_hello(&s) {
            HelloResult::Done(h, n) => {
                assert_eq!(h.sni, vec!["api.openai.com"]);
                assert_eq!(n, s.len());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_tls_and_errors() {
        assert_eq!(
            parse_client_hello(b"GET / HTTP/1.1\r\n"),
            HelloResult::NotTls
        );
        assert_eq!(parse_client_hello(&[0x17, 3, 3, 0, 5]), HelloResult::NotTls);
        assert_eq!(
            parse_client_hello(&[0x16, 3, 3, 0, 4, 2, 0, 0, 0]),
            HelloResult::Error("not_client_hello")
        );
        assert_eq!(
            parse_client_hello(&[0x16, 3, 3, 0, 8, 1, 0, 0, 2, 3, 3, 0, 0]),
            HelloResult::Error("malformed_client_hello")
        );
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
            let _ = parse_client_hello(&bytes);
            if bytes.len() > 5 { bytes[0] = 0x16; bytes[1] = 3; bytes[2] = 1; bytes[5] = 1; }
            let _ = parse_client_hello(&bytes);
            let _ = parse_handshake(&bytes[bytes.len().min(5)..]);
        }
    }
}
