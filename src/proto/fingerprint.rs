//! Client fingerprints of TLS and QUIC ClientHellos: JA4 (FoxIO's
//! specification, `technical_details/JA4.md` in FoxIO-LLC/ja4) and JA3
//! (salesforce/ja3), so an auditor can tell a desktop AI app from a browser.
//!
//! GREASE values (RFC 8701: 0x?a?a with both bytes equal) are ignored
//! everywhere, as both specifications require.

use std::fmt::Write as _;

use md5::{Digest, Md5};

use crate::proto::tls::ClientHello;

/// RFC 8701 GREASE value.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 | 0x0200 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn sha256_12(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let mut out = String::with_capacity(12);
    for b in &d.as_ref()[..6] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn hex_list(v: impl Iterator<Item = u16>) -> String {
    let mut s = String::new();
    for (i, x) in v.enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{x:04x}");
    }
    s
}

/// JA4 of a ClientHello; `quic` selects the `q` (else `t`) prefix.
pub fn ja4(h: &ClientHello, quic: bool) -> String {
    let version = h
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(h.version);
    let sni = if h.extensions.contains(&0) { 'd' } else { 'i' };
    let mut ciphers: Vec<u16> = h
        .ciphers
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let exts: Vec<u16> = h
        .extensions
        .iter()
        .copied()
        .filter(|e| !is_grease(*e))
        .collect();
    let alpn = match h
        .alpn
        .first()
        .map(|a| a.as_bytes())
        .filter(|a| !a.is_empty())
    {
        None => "00".to_string(),
        Some(a) => {
            let (f, l) = (a[0], a[a.len() - 1]);
            if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                format!("{}{}", f as char, l as char)
            } else {
                let hex = format!("{f:02x}{l:02x}");
                format!("{}{}", &hex[..1], &hex[3..])
            }
        }
    };
    let a = format!(
        "{}{}{}{:02}{:02}{}",
        if quic { 'q' } else { 't' },
        version_code(version),
        sni,
        ciphers.len().min(99),
        exts.len().min(99),
        alpn
    );
    ciphers.sort_unstable();
    let b = if ciphers.is_empty() {
        "000000000000".to_string()
    } else {
        sha256_12(&hex_list(ciphers.into_iter()))
    };
    let mut sorted: Vec<u16> = exts
        .into_iter()
        .filter(|e| *e != 0x0000 && *e != 0x0010)
        .collect();
    sorted.sort_unstable();
    let c = if sorted.is_empty() {
        "000000000000".to_string()
    } else {
        let mut s = hex_list(sorted.into_iter());
        let sig: Vec<u16> = h
            .sig_algs
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        if !sig.is_empty() {
            s.push('_');
            s.push_str(&hex_list(sig.into_iter()));
        }
        sha256_12(&s)
    };
    format!("{a}_{b}_{c}")
}

/// The JA3 string (before hashing).
pub fn ja3_string(h: &ClientHello) -> String {
    fn join<T: std::fmt::Display>(v: impl Iterator<Item = T>) -> String {
        v.map(|x| x.to_string()).collect::<Vec<_>>().join("-")
    }
    format!(
        "{},{},{},{},{}",
        h.version,
        join(h.ciphers.iter().filter(|c| !is_grease(**c))),
        join(h.extensions.iter().filter(|e| !is_grease(**e))),
        join(h.groups.iter().filter(|g| !is_grease(**g))),
        join(h.point_formats.iter()),
    )
}

/// MD5 of a JA3 string, lowercase hex.
pub fn ja3_hash(s: &str) -> String {
    let d = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in d {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// JA3 of a ClientHello.
pub fn ja3(h: &ClientHello) -> String {
    ja3_hash(&ja3_string(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of FoxIO's JA4 specification (technical_details/JA4.md):
    /// JA4_r = t13d1516h2_002f,0035,...,cca9_0005,000a,...,ff01_0403,0804,...,0601
    /// and JA4 = t13d1516h2_8daaf6152771_e5627efa2ab1.
    #[test]
    fn ja4_spec_example() {
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let exts = [
            0x0a0a, 0x0000, 0x0033, 0x000d, 0x0023, 0x000b, 0xff01, 0x0010, 0x0005, 0x000a, 0x0012,
            0x0015, 0x0017, 0x001b, 0x002b, 0x002d, 0x4469, 0x1a1a,
        ];
        let h = ClientHello {
            sni: vec!["example.com".into()],
            alpn: vec!["h2".into(), "http/1.1".into()],
            version: 0x0303,
            ciphers: [0x2a2a].iter().chain(ciphers.iter()).copied().collect(),
            extensions: exts.to_vec(),
            supported_versions: vec![0x3a3a, 0x0304, 0x0303],
            sig_algs: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            ..ClientHello::default()
        };
        assert_eq!(ja4(&h, false), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert!(ja4(&h, true).starts_with("q13d1516h2_"));
    }

    #[test]
    fn ja4_alpn_and_empty_cases() {
        let mut h = ClientHello {
            version: 0x0303,
            ..ClientHello::default()
        };
        assert_eq!(ja4(&h, false), "t12i000000_000000000000_000000000000");
        h.alpn = vec!["h".into()];
        assert!(ja4(&h, false).starts_with("t12i0000hh_"));
        // Non-alphanumeric ALPN: first and last hex digits of the bytes.
        h.alpn = vec!["\u{1}x\u{2}".into()];
        assert!(
            ja4(&h, false).starts_with("t12i000002_"),
            "{}",
            ja4(&h, false)
        );
    }

    /// The two examples of the salesforce/ja3 README.
    #[test]
    fn ja3_readme_examples() {
        let h = ClientHello {
            version: 769,
            ciphers: vec![47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4],
            extensions: vec![0, 10, 11],
            groups: vec![23, 24, 25],
            point_formats: vec![0],
            ..ClientHello::default()
        };
        assert_eq!(
            ja3_string(&h),
            "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
        );
        assert_eq!(ja3(&h), "ada70206e40642a3e4461f35503241d5");
        let bare = ClientHello {
            version: 769,
            ciphers: vec![4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99],
            ..ClientHello::default()
        };
        assert_eq!(ja3_string(&bare), "769,4-5-10-9-100-98-3-6-19-18-99,,,");
        assert_eq!(ja3(&bare), "de350869b8c85de67a350c8d186f11e6");
    }

    #[test]
    fn grease() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x3a3a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }
}
