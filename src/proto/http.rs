//! HTTP/1.x request heads (RFC 9112): the method and the Host header.
//!
//! [`parse_request_head`] is fed the client byte stream at a request
//! boundary. It answers quickly "not HTTP" on the first bytes (a method token
//! followed by a space, then a request line ending in `HTTP/1.x`), or waits
//! for the end of the header block (bounded by [`MAX_HEAD`]).

/// Largest request head we buffer.
pub const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The Host header value as sent (port kept), whitespace trimmed.
    pub host: Option<String>,
    /// Bytes of the head, up to and including the empty line.
    pub head_len: usize,
    /// Content-Length of the body, if given.
    pub content_length: Option<u64>,
    /// Transfer-Encoding: chunked (body length unknown to us).
    pub chunked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadResult {
    NeedMore,
    NotHttp,
    Done(RequestHead),
}

/// Quick check on the first bytes: an upper-case method token then a space.
pub fn looks_like_request(data: &[u8]) -> Option<bool> {
    for (i, &b) in data.iter().enumerate().take(18) {
        if b == b' ' {
            return Some(i >= 3);
        }
        if !(b.is_ascii_uppercase() || b == b'-' || b == b'_') {
            return Some(false);
        }
    }
    if data.len() >= 18 {
        Some(false)
    } else {
        None
    }
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}

/// Parses a request head at the start of `data`.
pub fn parse_request_head(data: &[u8]) -> HeadResult {
    match looks_like_request(data) {
        None => return HeadResult::NeedMore,
        Some(false) => return HeadResult::NotHttp,
        Some(true) => {}
    }
    // Request line must end in HTTP/1.x.
    let line_end = match find(&data[..data.len().min(MAX_HEAD)], b"\n") {
        Some(p) => p,
        None => {
            return if data.len() >= MAX_HEAD {
                HeadResult::NotHttp
            } else {
                HeadResult::NeedMore
            }
        }
    };
    let line = trim_cr(&data[..line_end]);
    let Some(sp) = line.iter().rposition(|&b| b == b' ') else {
        return HeadResult::NotHttp;
    };
    let ver = &line[sp + 1..];
    if !(ver.len() == 8 && ver.starts_with(b"HTTP/1.")) {
        return HeadResult::NotHttp;
    }
    let method_end = line.iter().position(|&b| b == b' ').unwrap_or(0);
    // End of head: an empty line.
    let mut pos = line_end + 1;
    let mut host = None;
    let mut content_length = None;
    let mut chunked = false;
    loop {
        if pos >= MAX_HEAD {
            return HeadResult::NotHttp;
        }
        let Some(rel) = find(&data[pos..data.len().min(MAX_HEAD)], b"\n") else {
            return HeadResult::NeedMore;
        };
        let l = trim_cr(&data[pos..pos + rel]);
        pos += rel + 1;
        if l.is_empty() {
            break;
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            continue;
        };
        let (k, v) = (&l[..colon], trim_ws(&l[colon + 1..]));
        if k.eq_ignore_ascii_case(b"host") {
            if host.is_none() {
                host = Some(crate::proto::dns::format_text(v));
            }
        } else if k.eq_ignore_ascii_case(b"content-length") {
            content_length = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
        } else if k.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = v.to_ascii_lowercase().windows(7).any(|w| w == b"chunked");
        }
    }
    HeadResult::Done(RequestHead {
        method: String::from_utf8_lossy(&line[..method_end]).into_owned(),
        host,
        head_len: pos,
        content_length,
        chunked,
    })
}

fn trim_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn trim_ws(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = v {
        v = rest;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic() {
        let r =
            b"GET /index.html HTTP/1.1\r\nUser-Agent: x\r\nhost:  example.com:8080 \r\n\r\nBODY";
        match parse_request_head(r) {
            HeadResult::Done(h) => {
                assert_eq!(h.method, "GET");
                assert_eq!(h.host.as_deref(), Some("example.com:8080"));
                assert_eq!(&r[h.head_len..], b"BODY");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn split_and_not_http() {
        let r = b"POST /v1/chat HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 5\r\n\r\nhello";
        for n in 0..r.len() - 5 {
            assert_eq!(parse_request_head(&r[..n]), HeadResult::NeedMore, "{n}");
        }
        match parse_request_head(r) {
            HeadResult::Done(h) => assert_eq!(h.content_length, Some(5)),
            o => panic!("{o:?}"),
        }
        assert_eq!(parse_request_head(b"\x16\x03\x01"), HeadResult::NotHttp);
        assert_eq!(parse_request_head(b"GET / FOO\r\n"), HeadResult::NotHttp);
        assert_eq!(parse_request_head(b"SSH-2.0-OpenSSH"), HeadResult::NotHttp);
    }

    proptest::proptest! {
        #[test]
        fn random_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_request_head(&bytes);
            let mut v = b"GET / HTTP/1.1\r\n".to_vec();
            v.extend_from_slice(&bytes);
            let _ = parse_request_head(&v);
        }
    }
}
