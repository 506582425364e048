//! QUIC Initial packets: long headers, client Initial decryption and CRYPTO
//! frames (RFC 9000, RFC 9001 §5, RFC 9369 for QUIC v2, and the drafts and
//! Google "T05x" versions browsers still send).
//!
//! A client's Initial packets are protected with keys every observer can
//! derive from the Destination Connection ID: HKDF-Extract with a
//! version-specific salt, HKDF-Expand-Label "client in", then "quic key",
//! "quic iv" and "quic hp" ("quicv2 ..." for v2). Header protection is
//! AES-128-ECB over a 16-byte sample; the payload is AES-128-GCM. All of it
//! uses `ring`; nothing cryptographic is written here.
//!
//! The ClientHello may be split over several Initial packets and CRYPTO frames,
//! in any order, with duplicates (Chrome shuffles them on purpose):
//! [`CryptoBuf`] puts the CRYPTO stream back together, bounded by
//! [`MAX_CRYPTO`].
//!
//! Panic contract: every length read from the wire is checked against the
//! buffer before use; failures are `Err(reason)` with a stable reason string.

use ring::aead::{self, quic as hp, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;

/// Largest CRYPTO stream offset accepted (a ClientHello is below 3 KiB even
/// with post-quantum key shares).
pub const MAX_CRYPTO: usize = 16 * 1024;

const SALT_V1: [u8; 20] = hex20("38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
const SALT_V2: [u8; 20] = hex20("0dede3def700a6db819381be6e269dcbf9bd2ed9");
const SALT_DRAFT22: [u8; 20] = hex20("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a");
const SALT_DRAFT23: [u8; 20] = hex20("c3eef712c72ebb5a11a7d2432bb46365bef9f502");
const SALT_DRAFT29: [u8; 20] = hex20("afbfec289993d24c9e9786f19c6111e04390a899");
const SALT_T050: [u8; 20] = hex20("7ff579e5acd072915580304c43a2367c60488310");
const SALT_T051: [u8; 20] = hex20("7a4edef4e7ccee5fa4506c19124fc8ccda6e033d");

const fn hex20(s: &str) -> [u8; 20] {
    let b = s.as_bytes();
    let mut out = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        out[i] = (nib(b[2 * i]) << 4) | nib(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nib(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("bad hex"),
    }
}

pub const VERSION_1: u32 = 0x0000_0001;
pub const VERSION_2: u32 = 0x6b33_43cf;

/// How a QUIC version protects its Initial packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionParams {
    pub salt: &'static [u8; 20],
    /// QUIC v2 labels ("quicv2 key", ...) and packet type numbers.
    pub v2: bool,
    /// Frame type of CRYPTO frames: 0x06, except Google's T05x (0x08).
    pub crypto_frame: u64,
}

/// Initial-packet parameters of a version, if we know them. Greased versions
/// (0x?a?a?a?a, used to force version negotiation) are tried with v1's.
pub fn version_params(v: u32) -> Option<VersionParams> {
    let p = |salt| {
        Some(VersionParams {
            salt,
            v2: false,
            crypto_frame: 0x06,
        })
    };
    match v {
        VERSION_1 => p(&SALT_V1),
        VERSION_2 => Some(VersionParams {
            salt: &SALT_V2,
            v2: true,
            crypto_frame: 0x06,
        }),
        0xff00_0000..=0xff00_00ff => match v & 0xff {
            0..=22 => p(&SALT_DRAFT22),
            23..=28 => p(&SALT_DRAFT23),
            29..=32 => p(&SALT_DRAFT29),
            _ => p(&SALT_V1),
        },
        0xface_b001 => p(&SALT_DRAFT22),
        0xface_b002..=0xface_b00f => p(&SALT_DRAFT23),
        0x5430_3530 | 0x5430_3531 => Some(VersionParams {
            salt: if v == 0x5430_3530 {
                &SALT_T050
            } else {
                &SALT_T051
            },
            v2: false,
            crypto_frame: 0x08,
        }),
        // Greased versions force version negotiation; clients that send them
        // (interop tests) protect their Initials like draft-29.
        _ if v & 0x0f0f_0f0f == 0x0a0a_0a0a => p(&SALT_DRAFT29),
        _ => None,
    }
}

/// Whether a version number is one QUIC implementations use (IETF versions
/// and drafts, Facebook mvfst, Google Q0xx/T0xx, greased values), known to
/// us or not. Used to tell undecryptable QUIC from other UDP.
pub fn is_quic_like_version(v: u32) -> bool {
    let b = v.to_be_bytes();
    v == VERSION_1
        || v == VERSION_2
        || v >> 8 == 0x00ff_0000
        || v & 0xffff_f000 == 0xface_b000
        || ((b[0] == b'Q' || b[0] == b'T')
            && b[1] == b'0'
            && b[2].is_ascii_digit()
            && b[3].is_ascii_digit())
        || v & 0x0f0f_0f0f == 0x0a0a_0a0a
}

/// Long-header packet types, normalised to v1 numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
    VersionNegotiation,
}

/// A parsed long header. Offsets are relative to the packet start.
#[derive(Debug, Clone)]
pub struct LongHeader<'a> {
    pub version: u32,
    pub ptype: PacketType,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    pub token: &'a [u8],
    /// Offset of the (protected) packet number.
    pub pn_offset: usize,
    /// End of this packet (start of the next coalesced one).
    pub end: usize,
}

/// Reads a QUIC variable-length integer.
pub fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let first = *b.get(*pos)?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(*pos..*pos + len)?;
    let mut v = (first & 0x3f) as u64;
    for &x in &bytes[1..] {
        v = (v << 8) | x as u64;
    }
    *pos += len;
    Some(v)
}

/// Parses the long header at the start of `p`.
pub fn parse_long_header(p: &[u8]) -> Result<LongHeader<'_>, &'static str> {
    if p.len() < 7 {
        return Err("quic_truncated_header");
    }
    let first = p[0];
    if first & 0x80 == 0 {
        return Err("quic_short_header");
    }
    let version = u32::from_be_bytes([p[1], p[2], p[3], p[4]]);
    let mut pos = 5;
    let dl = p[pos] as usize;
    pos += 1;
    if dl > 20 {
        return Err("quic_bad_cid_length");
    }
    let dcid = p.get(pos..pos + dl).ok_or("quic_truncated_header")?;
    pos += dl;
    let sl = *p.get(pos).ok_or("quic_truncated_header")? as usize;
    pos += 1;
    if sl > 20 {
        return Err("quic_bad_cid_length");
    }
    let scid = p.get(pos..pos + sl).ok_or("quic_truncated_header")?;
    pos += sl;
    if version == 0 {
        return Ok(LongHeader {
            version,
            ptype: PacketType::VersionNegotiation,
            dcid,
            scid,
            token: &[],
            pn_offset: pos,
            end: p.len(),
        });
    }
    let bits = (first >> 4) & 0x03;
    let ptype = if version == VERSION_2 {
        match bits {
            1 => PacketType::Initial,
            2 => PacketType::ZeroRtt,
            3 => PacketType::Handshake,
            _ => PacketType::Retry,
        }
    } else {
        match bits {
            0 => PacketType::Initial,
            1 => PacketType::ZeroRtt,
            2 => PacketType::Handshake,
            _ => PacketType::Retry,
        }
    };
    if ptype == PacketType::Retry {
        return Ok(LongHeader {
            version,
            ptype,
            dcid,
            scid,
            token: &[],
            pn_offset: pos,
            end: p.len(),
        });
    }
    let mut token: &[u8] = &[];
    if ptype == PacketType::Initial {
        let tl = varint(p, &mut pos).ok_or("quic_truncated_header")? as usize;
        token = p
            .get(pos..pos.saturating_add(tl))
            .ok_or("quic_bad_token_length")?;
        pos += tl;
    }
    let len = varint(p, &mut pos).ok_or("quic_truncated_header")?;
    let end = pos.checked_add(len as usize).ok_or("quic_bad_length")?;
    if end > p.len() || len > p.len() as u64 {
        return Err("quic_bad_length");
    }
    Ok(LongHeader {
        version,
        ptype,
        dcid,
        scid,
        token,
        pn_offset: pos,
        end,
    })
}

/// The raw client Initial secrets (for tests against the RFC vectors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKeys {
    pub client_secret: [u8; 32],
    pub key: [u8; 16],
    pub iv: [u8; 12],
    pub hp: [u8; 16],
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(prk: &hkdf::Prk, label: &[u8], out: &mut [u8]) {
    let len = (out.len() as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF output lengths are fixed and valid");
}

/// HKDF-Extract with a version's salt, whose HMAC key is set up once per
/// thread (a version's salt never changes; setting the key up costs two
/// SHA-256 blocks).
fn extract(s: &'static [u8; 20], dcid: &[u8]) -> hkdf::Prk {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(usize, hkdf::Salt)>> =
            const { std::cell::RefCell::new(None) };
    }
    let id = s.as_ptr() as usize;
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((p, salt)) if *p == id => salt.extract(dcid),
            _ => {
                let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, s);
                let prk = salt.extract(dcid);
                *last = Some((id, salt));
                prk
            }
        }
    })
}

/// Derives the client Initial key material for a Destination Connection ID.
pub fn derive_raw(params: VersionParams, dcid: &[u8]) -> RawKeys {
    let initial = extract(params.salt, dcid);
    let mut client_secret = [0u8; 32];
    expand_label(&initial, b"client in", &mut client_secret);
    let secret = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &client_secret);
    let (lk, li, lh): (&[u8], &[u8], &[u8]) = if params.v2 {
        (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")
    } else {
        (b"quic key", b"quic iv", b"quic hp")
    };
    let mut k = RawKeys {
        client_secret,
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand_label(&secret, lk, &mut k.key);
    expand_label(&secret, li, &mut k.iv);
    expand_label(&secret, lh, &mut k.hp);
    k
}

/// Ready-to-use client Initial keys.
pub struct InitialKeys {
    pub version: u32,
    aead: LessSafeKey,
    iv: [u8; 12],
    hp: hp::HeaderProtectionKey,
}

impl std::fmt::Debug for InitialKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InitialKeys({:#010x})", self.version)
    }
}

impl InitialKeys {
    pub fn new(version: u32, params: VersionParams, dcid: &[u8]) -> InitialKeys {
        let raw = derive_raw(params, dcid);
        InitialKeys {
            version,
            aead: LessSafeKey::new(
                UnboundKey::new(&aead::AES_128_GCM, &raw.key).expect("16-byte key"),
            ),
            iv: raw.iv,
            hp: hp::HeaderProtectionKey::new(&hp::AES_128, &raw.hp).expect("16-byte key"),
        }
    }

    fn nonce(&self, pn: u64) -> Nonce {
        let mut n = self.iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            n[4 + i] ^= b;
        }
        Nonce::assume_unique_for_key(n)
    }

    /// Removes header and packet protection of one long-header packet
    /// (`packet` = this packet only, `pn_offset` from its header). The
    /// plaintext payload is left in `out[range]`.
    pub fn open(
        &self,
        packet: &[u8],
        pn_offset: usize,
        out: &mut Vec<u8>,
    ) -> Result<std::ops::Range<usize>, &'static str> {
        if packet.len() < pn_offset + 4 + 16 {
            return Err("quic_too_short_to_decrypt");
        }
        let sample = &packet[pn_offset + 4..pn_offset + 20];
        let mask = self
            .hp
            .new_mask(sample)
            .map_err(|_| "quic_header_protection")?;
        out.clear();
        out.extend_from_slice(packet);
        out[0] ^= mask[0] & 0x0f;
        let pn_len = (out[0] & 0x03) as usize + 1;
        let mut pn = 0u64;
        for i in 0..pn_len {
            out[pn_offset + i] ^= mask[1 + i];
            pn = (pn << 8) | out[pn_offset + i] as u64;
        }
        let hdr_end = pn_offset + pn_len;
        if out.len() < hdr_end + 16 {
            return Err("quic_too_short_to_decrypt");
        }
        let (header, payload) = out.split_at_mut(hdr_end);
        let plain = self
            .aead
            .open_in_place(self.nonce(pn), Aad::from(&*header), payload)
            .map_err(|_| "quic_decrypt_failed")?;
        let n = plain.len();
        Ok(hdr_end..hdr_end + n)
    }

    /// Protects a packet (for tests and benches): `header` ends with the
    /// packet number (of `pn_len` bytes), `payload` is the plaintext.
    pub fn seal(&self, header: &[u8], pn_len: usize, payload: &[u8]) -> Vec<u8> {
        let pn_offset = header.len() - pn_len;
        let mut pn = 0u64;
        for &b in &header[pn_offset..] {
            pn = (pn << 8) | b as u64;
        }
        let mut body = payload.to_vec();
        self.aead
            .seal_in_place_append_tag(self.nonce(pn), Aad::from(header), &mut body)
            .expect("seal");
        let mut pkt = header.to_vec();
        pkt.extend_from_slice(&body);
        let mask = self
            .hp
            .new_mask(&pkt[pn_offset + 4..pn_offset + 20])
            .expect("sample");
        pkt[0] ^= mask[0] & 0x0f;
        for i in 0..pn_len {
            pkt[pn_offset + i] ^= mask[1 + i];
        }
        pkt
    }
}

/// Walks the frames of a decrypted Initial payload and hands every CRYPTO
/// frame's (offset, data) to `f`. PADDING, PING, ACK and CONNECTION_CLOSE are
/// skipped; any other frame type is an error (not allowed in Initials).
pub fn crypto_frames(
    plain: &[u8],
    crypto_type: u64,
    mut f: impl FnMut(u64, &[u8]),
) -> Result<(), &'static str> {
    let mut pos = 0;
    while pos < plain.len() {
        let t = varint(plain, &mut pos).ok_or("quic_bad_frame")?;
        let t = if t == crypto_type { 0x06 } else { t };
        match t {
            0x00 => {
                // PADDING runs are long (clients pad Initials to 1200 bytes):
                // skip the whole run at once.
                pos += plain[pos..]
                    .iter()
                    .position(|&b| b != 0)
                    .unwrap_or(plain.len() - pos);
            }
            0x01 => {}
            0x02 | 0x03 => {
                let _largest = varint(plain, &mut pos).ok_or("quic_bad_frame")?;
                let _delay = varint(plain, &mut pos).ok_or("quic_bad_frame")?;
                let count = varint(plain, &mut pos).ok_or("quic_bad_frame")?;
                let _first = varint(plain, &mut pos).ok_or("quic_bad_frame")?;
                if count > plain.len() as u64 {
                    return Err("quic_bad_frame");
                }
                for _ in 0..count * 2 {
                    varint(plain, &mut pos).ok_or("quic_bad_frame")?;
                }
                if t == 0x03 {
                    for _ in 0..3 {
                        varint(plain, &mut pos).ok_or("quic_bad_frame")?;
                    }
                }
            }
            0x06 => {
                let off = varint(plain, &mut pos).ok_or("quic_bad_frame")?;
                let len = varint(plain, &mut pos).ok_or("quic_bad_frame")? as usize;
                let data = plain
                    .get(pos..pos.saturating_add(len))
                    .ok_or("quic_bad_frame")?;
                pos += len;
                f(off, data);
            }
            0x1c => {
                let _code = varint(plain, &mut pos).ok_or("quic_bad_frame")?;
                let _ftype = varint(plain, &mut pos).ok_or("quic_bad_frame")?;
                let rl = varint(plain, &mut pos).ok_or("quic_bad_frame")? as usize;
                pos = pos
                    .checked_add(rl)
                    .filter(|p| *p <= plain.len())
                    .ok_or("quic_bad_frame")?;
            }
            _ => return Err("quic_unexpected_frame"),
        }
    }
    Ok(())
}

/// Reassembles the client's CRYPTO stream from out-of-order, overlapping
/// pieces, up to [`MAX_CRYPTO`] bytes.
#[derive(Debug, Default, Clone)]
pub struct CryptoBuf {
    data: Vec<u8>,
    /// Filled ranges, sorted and merged.
    filled: Vec<(usize, usize)>,
}

impl CryptoBuf {
    pub fn insert(&mut self, offset: u64, bytes: &[u8]) -> Result<(), &'static str> {
        if bytes.is_empty() {
            return Ok(());
        }
        let start = usize::try_from(offset).map_err(|_| "quic_crypto_too_large")?;
        let end = start
            .checked_add(bytes.len())
            .ok_or("quic_crypto_too_large")?;
        if end > MAX_CRYPTO {
            return Err("quic_crypto_too_large");
        }
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[start..end].copy_from_slice(bytes);
        self.filled.push((start, end));
        self.filled.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.filled.len());
        for &(s, e) in &self.filled {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.filled = merged;
        Ok(())
    }

    /// Bytes available from offset 0 without a gap.
    pub fn contiguous(&self) -> &[u8] {
        match self.filled.first() {
            Some(&(0, e)) => &self.data[..e],
            _ => &[],
        }
    }

    /// The complete first handshake message (type, 3-byte length, body), once
    /// every byte of it has arrived.
    pub fn handshake_message(&self) -> Option<&[u8]> {
        let c = self.contiguous();
        if c.len() < 4 {
            return None;
        }
        let n = 4 + (((c[1] as usize) << 16) | ((c[2] as usize) << 8) | c[3] as usize);
        (c.len() >= n).then(|| &c[..n])
    }

    /// Heap bytes held.
    pub fn mem(&self) -> usize {
        self.data.capacity() + self.filled.capacity() * std::mem::size_of::<(usize, usize)>()
    }

    /// Whether the announced message cannot fit in the buffer limit.
    pub fn too_large(&self) -> bool {
        let c = self.contiguous();
        c.len() >= 4
            && 4 + (((c[1] as usize) << 16) | ((c[2] as usize) << 8) | c[3] as usize) > MAX_CRYPTO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DCID: &str = "8394c8f03e515708";

    /// RFC 9001 Appendix A.2: the CRYPTO frame of the client Initial.
    const A2_CRYPTO: &str = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868\
        04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578\
        616d706c652e636f6dff01000100000a00080006001d00170018001000070005\
        04616c706e000500050100000000003300260024001d00209370b2c9caa47fba\
        baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400\
        0d0010000e0403050306030203080408050806002d00020101001c0002400100\
        3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000\
        75300901100f088394c8f03e51570806048000ffff";

    /// RFC 9001 Appendix A.2: the protected packet (1200 bytes).
    const A2_PROTECTED: &str = "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11\
        d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399\
        1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c\
        8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212\
        30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5\
        457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208\
        4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec\
        4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3\
        485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db\
        059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c\
        7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8\
        9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556\
        be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74\
        68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a\
        c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00\
        f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632\
        291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964\
        25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd\
        14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff\
        ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198\
        e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd\
        c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73\
        203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f\
        cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e\
        fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade\
        a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047\
        90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2\
        162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4\
        40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0\
        6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e\
        8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0\
        be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400\
        54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab\
        760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9\
        f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4\
        056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064\
        7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241\
        e221af44860018ab0856972e194cd934";

    fn a2_plaintext() -> Vec<u8> {
        let mut p = hex(A2_CRYPTO);
        assert_eq!(p.len(), 245);
        p.resize(1162, 0);
        p
    }

    #[test]
    fn rfc9001_a1_keys() {
        let k = derive_raw(version_params(VERSION_1).unwrap(), &hex(DCID));
        assert_eq!(
            k.client_secret.to_vec(),
            hex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea")
        );
        assert_eq!(k.key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(k.iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(k.hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
    }

    #[test]
    fn rfc9369_a1_keys() {
        let k = derive_raw(version_params(VERSION_2).unwrap(), &hex(DCID));
        assert_eq!(
            k.client_secret.to_vec(),
            hex("14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b")
        );
        assert_eq!(k.key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(k.iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(k.hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
    }

    #[test]
    fn rfc9001_a2_client_initial_protect_and_unprotect() {
        let keys = InitialKeys::new(VERSION_1, version_params(VERSION_1).unwrap(), &hex(DCID));
        let protected = keys.seal(
            &hex("c300000001088394c8f03e5157080000449e00000002"),
            4,
            &a2_plaintext(),
        );
        assert_eq!(
            protected,
            hex(A2_PROTECTED),
            "sealing reproduces RFC 9001 A.2"
        );
        let pkt = hex(A2_PROTECTED);
        let h = parse_long_header(&pkt).unwrap();
        assert_eq!(
            (h.version, h.ptype, h.pn_offset, h.end),
            (1, PacketType::Initial, 18, 1200)
        );
        assert_eq!(h.dcid, &hex(DCID)[..]);
        let mut out = Vec::new();
        let r = keys.open(&pkt, h.pn_offset, &mut out).unwrap();
        assert_eq!(
            &out[..22],
            &hex("c300000001088394c8f03e5157080000449e00000002")[..]
        );
        assert_eq!(&out[r.clone()], &a2_plaintext()[..]);
        let mut buf = CryptoBuf::default();
        crypto_frames(&out[r], 0x06, |o, d| buf.insert(o, d).unwrap()).unwrap();
        let hello = crate::proto::tls::parse_handshake(buf.handshake_message().unwrap()).unwrap();
        assert_eq!(hello.sni, vec!["example.com"]);
        assert_eq!(hello.alpn, vec!["alpn"]);
    }

    #[test]
    fn rfc9369_a2_client_initial_header_and_sample() {
        let keys = InitialKeys::new(VERSION_2, version_params(VERSION_2).unwrap(), &hex(DCID));
        let protected = keys.seal(
            &hex("d36b3343cf088394c8f03e5157080000449e00000002"),
            4,
            &a2_plaintext(),
        );
        // RFC 9369 A.2: protected header then the first ciphertext bytes (the sample).
        assert_eq!(
            &protected[..32],
            &hex("d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485")[..]
        );
        let h = parse_long_header(&protected).unwrap();
        assert_eq!(h.ptype, PacketType::Initial);
        let mut out = Vec::new();
        let r = keys.open(&protected, h.pn_offset, &mut out).unwrap();
        assert_eq!(&out[r], &a2_plaintext()[..]);
    }

    #[test]
    fn tampering_fails_authentication() {
        let keys = InitialKeys::new(VERSION_1, version_params(VERSION_1).unwrap(), &hex(DCID));
        let mut pkt = hex(A2_PROTECTED);
        pkt[600] ^= 1;
        let mut out = Vec::new();
        assert_eq!(keys.open(&pkt, 18, &mut out), Err("quic_decrypt_failed"));
        assert_eq!(
            keys.open(&pkt[..30], 18, &mut out),
            Err("quic_too_short_to_decrypt")
        );
    }

    #[test]
    fn crypto_reassembly_out_of_order_with_duplicates() {
        let hello = hex(A2_CRYPTO)[4..].to_vec(); // the ClientHello message
        let mut b = CryptoBuf::default();
        let pieces = [(150, 241), (0, 50), (40, 100), (150, 241), (100, 150)];
        for (i, (s, e)) in pieces.iter().enumerate() {
            assert!(b.handshake_message().is_none(), "complete too early at {i}");
            b.insert(*s as u64, &hello[*s..*e]).unwrap();
        }
        assert_eq!(b.handshake_message().unwrap(), &hello[..]);
        assert!(b.insert(MAX_CRYPTO as u64, b"x").is_err());
        assert!(b.insert(u64::MAX, b"x").is_err());
    }

    #[test]
    fn versions() {
        assert!(version_params(0xff00_001d).is_some());
        assert!(version_params(0xfaceb001).is_some());
        assert!(version_params(0x5430_3530).is_some());
        assert!(version_params(0x1a2a3a4a).is_some());
        assert!(version_params(0x5130_3436).is_none()); // gQUIC Q046: not TLS
        assert!(version_params(0x1234_5678).is_none());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_long_header(&b);
            let _ = crypto_frames(&b, 0x06, |_, _| {});
            let keys = InitialKeys::new(VERSION_1, version_params(VERSION_1).unwrap(), b"12345678");
            let mut out = Vec::new();
            if let Ok(h) = parse_long_header(&b) {
                let _ = keys.open(&b[..h.end], h.pn_offset, &mut out);
            }
            let mut c = CryptoBuf::default();
            let mut pos = 0;
            while let Some(v) = varint(&b, &mut pos) {
                let _ = c.insert(v % 20000, &b[pos.min(b.len())..]);
                let _ = c.handshake_message();
            }
        }
    }
}
