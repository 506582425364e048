//! HTTP/2 frame layer (RFC 9113 §4), for cleartext HTTP/2 ("h2c", prior
//! knowledge) only: enough to find DNS messages carried in DATA frames by
//! DNS-over-HTTPS servers reached without TLS. Headers are not decoded (no
//! HPACK state is kept); a DATA payload is taken as DNS when it passes the
//! strict DNS content check.

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Largest frame accepted (the protocol's default SETTINGS_MAX_FRAME_SIZE is
/// 16 KiB; DoH messages are far smaller).
pub const MAX_FRAME: usize = 64 * 1024;

pub const TYPE_DATA: u8 = 0;
pub const FLAG_PADDED: u8 = 0x08;

/// Is `data` the preface, or a prefix of it? `Some(true)`: complete preface.
pub fn preface(data: &[u8]) -> Option<bool> {
    let n = data.len().min(PREFACE.len());
    if data[..n] != PREFACE[..n] {
        return Some(false);
    }
    if n == PREFACE.len() {
        Some(true)
    } else {
        None
    }
}

/// Calls `f(type, flags, stream_id, payload)` for every complete frame at the
/// start of `buf` and returns the bytes consumed, or `Err` for a frame larger
/// than [`MAX_FRAME`]. DATA payloads are given without their padding.
pub fn split_frames<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(u8, u8, u32, &'a [u8]),
) -> Result<usize, &'static str> {
    let mut pos = 0;
    while buf.len() >= pos + 9 {
        let h = &buf[pos..pos + 9];
        let len = ((h[0] as usize) << 16) | ((h[1] as usize) << 8) | h[2] as usize;
        if len > MAX_FRAME {
            return Err("h2_frame_too_large");
        }
        if buf.len() < pos + 9 + len {
            break;
        }
        let (typ, flags) = (h[3], h[4]);
        let sid = u32::from_be_bytes([h[5] & 0x7f, h[6], h[7], h[8]]);
        let mut payload = &buf[pos + 9..pos + 9 + len];
        if typ == TYPE_DATA && flags & FLAG_PADDED != 0 {
            let pad = payload.first().copied().unwrap_or(0) as usize;
            payload = payload
                .get(1..payload.len().saturating_sub(pad))
                .unwrap_or(&[]);
        }
        f(typ, flags, sid, payload);
        pos += 9 + len;
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(typ: u8, flags: u8, sid: u32, p: &[u8]) -> Vec<u8> {
        let mut v = vec![
            (p.len() >> 16) as u8,
            (p.len() >> 8) as u8,
            p.len() as u8,
            typ,
            flags,
        ];
        v.extend_from_slice(&sid.to_be_bytes());
        v.extend_from_slice(p);
        v
    }

    #[test]
    fn frames_and_padding() {
        let mut b = frame(4, 0, 0, &[0; 6]);
        b.extend(frame(0, FLAG_PADDED | 1, 3, &[2, b'h', b'i', 0, 0]));
        b.extend(&frame(0, 0, 5, b"partial")[..8]);
        let mut seen = Vec::new();
        let used = split_frames(&b, |t, _, s, p| seen.push((t, s, p.to_vec()))).unwrap();
        assert_eq!(used, 15 + 14);
        assert_eq!(seen, vec![(4, 0, vec![0; 6]), (0, 3, b"hi".to_vec())]);
        assert!(split_frames(&[0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0], |_, _, _, _| {}).is_err());
    }

    #[test]
    fn preface_detection() {
        assert_eq!(preface(b"PRI * HT"), None);
        assert_eq!(preface(PREFACE), Some(true));
        assert_eq!(preface(b"GET / HTTP/1.1\r\n"), Some(false));
    }

    proptest::proptest! {
        #[test]
        fn random_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = split_frames(&b, |_, _, _, _| {});
            if !b.is_empty() { let _ = preface(&b); }
        }
    }
}
