//! How internal hosts appear in the outputs (GDPR minimisation).
//!
//! - `--host-prefix 24|64`: hosts are counted per subnet (the address with
//!   its last bits cleared: /24 for IPv4, /64 for IPv6, or other lengths)
//!   and shown as `10.20.4.0/24`.
//! - `--pseudonymize KEY`: every internal address (or subnet) is replaced by
//!   a token, `host-` and 20 hexadecimal digits of HMAC-SHA256(KEY, address),
//!   in every output: summary, CSV, events, facts, metrics, terminal table.
//!   The same key gives the same token on every sensor and every run (so
//!   reports can be merged and followed over time); without the key a token
//!   cannot be turned back into the address, short of trying every internal
//!   address with the key. External addresses (the AI services' servers) are
//!   left as they are: they are not personal data.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ring::hmac;

use crate::signatures::Cidr;

/// The view of internal hosts the outputs use.
#[derive(Clone, Default)]
pub struct HostView {
    key: Option<hmac::Key>,
    /// Prefix lengths hosts are grouped by (IPv4, IPv6).
    prefix: Option<(u8, u8)>,
    internal: Vec<Cidr>,
}

impl std::fmt::Debug for HostView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostView")
            .field("pseudonymized", &self.key.is_some())
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Hexadecimal digits of a token.
const TOKEN_HEX: usize = 20;

impl HostView {
    /// `key`: pseudonymise with it; `prefix`: group IPv4 hosts by this prefix
    /// length (IPv6 by `prefix_v6`); `internal`: the internal ranges.
    pub fn new(key: Option<&[u8]>, prefix: Option<(u8, u8)>, internal: Vec<Cidr>) -> Self {
        HostView {
            key: key.map(|k| hmac::Key::new(hmac::HMAC_SHA256, k)),
            prefix: prefix.map(|(a, b)| (a.min(32), b.min(128))),
            internal,
        }
    }

    /// Whether the outputs hide internal addresses.
    pub fn pseudonymized(&self) -> bool {
        self.key.is_some()
    }

    /// Internal, IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) included.
    pub fn is_internal(&self, ip: &IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.internal.iter().any(|c| c.contains(&ip))
    }

    /// Whether internal addresses are shown other than as they are.
    fn hides(&self) -> bool {
        self.key.is_some() || self.prefix.is_some()
    }

    /// A name seen on the wire (SNI, HTTP Host, DNS question or answer) as it
    /// may be shown: an internal address written as a name (`10.20.4.7`,
    /// `[fd00::1]:8080`, or a reverse lookup `7.4.20.10.in-addr.arpa`) is
    /// replaced by its label; other names stay.
    pub fn show_name(&self, name: &str) -> String {
        if !self.hides() {
            return name.to_string();
        }
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(ip) = reverse_lookup(&lower) {
            if self.is_internal(&ip) {
                let zone = if ip.is_ipv4() {
                    "in-addr.arpa"
                } else {
                    "ip6.arpa"
                };
                return format!("{}.{zone}", self.show(ip));
            }
            return name.to_string();
        }
        // `host`, `host:port`, `[v6]`, `[v6]:port`.
        let host = match lower.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => match lower.rsplit_once(':') {
                Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
                    h
                }
                _ => lower.as_str(),
            },
        };
        match host.parse::<IpAddr>() {
            Ok(ip) if self.is_internal(&ip) => self.show(ip),
            _ => name.to_string(),
        }
    }

    /// What the outputs record of this view, so that summaries made with
    /// different views are not merged: pseudonymised or not (with a short
    /// identifier of the key, which does not reveal it) and the prefixes.
    pub fn describe(&self) -> serde_json::Value {
        let key_id = self.key.as_ref().map(|k| {
            let tag = hmac::sign(k, b"lanterne key id");
            tag.as_ref()[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        });
        serde_json::json!({
            "pseudonymized": self.key.is_some(),
            "key_id": key_id,
            "prefix": self.prefix.map(|(a, b)| [a, b]),
        })
    }

    /// The address hosts are counted under: the host, or its subnet.
    pub fn group(&self, ip: IpAddr) -> IpAddr {
        let Some((p4, p6)) = self.prefix else {
            return ip;
        };
        match ip {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(p4)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(p6)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }

    /// How a host (already grouped, see [`HostView::group`]) is shown.
    pub fn label(&self, ip: IpAddr) -> String {
        let plain = match (self.prefix, ip) {
            (Some((p4, _)), IpAddr::V4(_)) => format!("{ip}/{p4}"),
            (Some((_, p6)), IpAddr::V6(_)) => format!("{ip}/{p6}"),
            (None, _) => ip.to_string(),
        };
        match &self.key {
            None => plain,
            Some(k) => {
                let tag = hmac::sign(k, plain.as_bytes());
                let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                format!("host-{}", &hex[..TOKEN_HEX])
            }
        }
    }

    /// Any address as it may be shown: internal ones grouped and labelled,
    /// external ones as they are.
    pub fn show(&self, ip: IpAddr) -> String {
        if self.hides() && self.is_internal(&ip) {
            self.label(self.group(ip.to_canonical()))
        } else {
            ip.to_string()
        }
    }

    /// [`HostView::show`] for an address written as text (a DNS answer):
    /// [`HostView::show_name`], which also takes names.
    pub fn show_text(&self, text: &str) -> String {
        self.show_name(text)
    }
}

/// The address a reverse-lookup name stands for (`4.3.2.1.in-addr.arpa`,
/// or the 32 nibbles of an `ip6.arpa` name), lower case.
fn reverse_lookup(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<u8> = rest
            .split('.')
            .map(|p| p.parse::<u8>().ok())
            .collect::<Option<_>>()?;
        let [d, c, b, a] = <[u8; 4]>::try_from(parts).ok()?;
        return Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = rest
        .split('.')
        .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 1))
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let v = nibbles
        .iter()
        .rev()
        .fold(0u128, |acc, n| (acc << 4) | u128::from(*n));
    Some(IpAddr::V6(Ipv6Addr::from(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal() -> Vec<Cidr> {
        crate::report::default_internal()
    }

    #[test]
    fn tokens_are_keyed_and_stable() {
        let a = HostView::new(Some(b"k1"), None, internal());
        let b = HostView::new(Some(b"k1"), None, internal());
        let c = HostView::new(Some(b"k2"), None, internal());
        let ip: IpAddr = "10.20.4.50".parse().unwrap();
        let t = a.show(ip);
        assert!(t.starts_with("host-") && t.len() == 5 + TOKEN_HEX, "{t}");
        assert!(t[5..].bytes().all(|x| x.is_ascii_hexdigit()));
        assert_eq!(t, b.show(ip));
        assert_ne!(t, c.show(ip));
        assert_ne!(t, a.show("10.20.4.51".parse().unwrap()));
        // External addresses stay.
        assert_eq!(a.show("104.18.32.47".parse().unwrap()), "104.18.32.47");
        assert_eq!(a.show_text("10.20.4.50"), t);
        assert_eq!(a.show_text("chatgpt.com"), "chatgpt.com");
        // Names that are internal addresses, and reverse lookups of them.
        assert_eq!(a.show_name("10.20.4.50:8080"), t);
        assert_eq!(
            a.show_name("50.4.20.10.in-addr.arpa"),
            format!("{t}.in-addr.arpa")
        );
        assert_eq!(
            a.show_name("47.32.18.104.in-addr.arpa"),
            "47.32.18.104.in-addr.arpa"
        );
        let v6: IpAddr = "fd00::1".parse().unwrap();
        let ptr6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
        assert_eq!(a.show_name(ptr6), format!("{}.ip6.arpa", a.show(v6)));
        assert_eq!(a.show_name("[fd00::1]:443"), a.show(v6));
        assert_eq!(a.show_name("::ffff:10.20.4.50"), t);
        assert_eq!(a.show("::ffff:10.20.4.50".parse().unwrap()), t);
        // Plain view: names as they are.
        let plain = HostView::new(None, None, internal());
        assert_eq!(
            plain.show_name("50.4.20.10.in-addr.arpa"),
            "50.4.20.10.in-addr.arpa"
        );
        assert_ne!(a.describe(), c.describe());
        assert_eq!(a.describe(), b.describe());
        assert_eq!(plain.describe()["pseudonymized"], false);
    }

    #[test]
    fn subnets() {
        let v = HostView::new(None, Some((24, 64)), internal());
        let ip: IpAddr = "10.20.4.50".parse().unwrap();
        assert_eq!(v.group(ip), "10.20.4.0".parse::<IpAddr>().unwrap());
        assert_eq!(v.show(ip), "10.20.4.0/24");
        assert_eq!(
            v.show("fd00:1:2:3:4:5:6:7".parse().unwrap()),
            "fd00:1:2:3::/64"
        );
        let z = HostView::new(None, Some((0, 0)), internal());
        assert_eq!(z.show(ip), "0.0.0.0/0");
        let both = HostView::new(Some(b"k"), Some((24, 64)), internal());
        assert_eq!(both.show(ip), both.show("10.20.4.9".parse().unwrap()));
        assert_ne!(both.show(ip), both.show("10.20.5.9".parse().unwrap()));
    }
}
