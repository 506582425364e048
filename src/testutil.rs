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
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sp.to_be_bytes());
    t.extend_from_slice(&dp.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    ipv4(src, dst, 6, &t)
}

/// IPv4 + UDP.
pub fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sp.to_be_bytes());
    u.extend_from_slice(&dp.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    ipv4(src, dst, 17, &u)
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
