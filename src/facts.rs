//! `--facts` output: one JSON object per extracted fact (DESIGN.md, corpus README).
//!
//! The line layout follows tshark's ground truth (`../shared/corpus/expected`)
//! so both can be compared field by field.

use std::io::{BufWriter, Write};

use crate::decode::{Packet, PROTO_TCP};
use crate::proto::dns;

/// One fact, borrowed from the packet being processed.
pub struct Fact<'a> {
    frame: u64,
    ts: i64,
    pkt: &'a Packet<'a>,
    kind: &'static str,
    name: &'a str,
    extra: Extra<'a>,
}

enum Extra<'a> {
    None,
    Method(&'a str),
    QuicVersion(&'a str),
    Query {
        qtype: u16,
        is_response: bool,
        id: u16,
        flavor: &'static str,
    },
    Answer {
        rtype: &'static str,
        data: &'a str,
        query: Option<&'a str>,
        id: u16,
        flavor: &'static str,
    },
}

impl<'a> Fact<'a> {
    pub fn new(
        frame: u64,
        ts: i64,
        pkt: &'a Packet<'a>,
        kind: &'static str,
        name: &'a str,
    ) -> Self {
        Fact {
            frame,
            ts,
            pkt,
            kind,
            name,
            extra: Extra::None,
        }
    }
    pub fn quic_version(mut self, v: &'a str) -> Self {
        self.extra = Extra::QuicVersion(v);
        self
    }
    pub fn method(mut self, m: &'a str) -> Self {
        self.extra = Extra::Method(m);
        self
    }
    pub fn dns_query(
        mut self,
        qtype: u16,
        is_response: bool,
        id: u16,
        flavor: &'static str,
    ) -> Self {
        self.extra = Extra::Query {
            qtype,
            is_response,
            id,
            flavor,
        };
        self
    }
    pub fn dns_answer(
        mut self,
        rtype: &'static str,
        data: &'a str,
        query: Option<&'a str>,
        id: u16,
        flavor: &'static str,
    ) -> Self {
        self.extra = Extra::Answer {
            rtype,
            data,
            query,
            id,
            flavor,
        };
        self
    }
}

/// Formats nanoseconds since the epoch as seconds with 6 decimals.
pub fn ts_seconds(ns: i64) -> String {
    let us = ns.div_euclid(1000) + i64::from(ns.rem_euclid(1000) >= 500);
    format!(
        "{}.{:06}",
        us.div_euclid(1_000_000),
        us.rem_euclid(1_000_000)
    )
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A fact kept for a later merge: (read chunk, input file, frame, line).
pub type Kept = (u64, u32, u64, String);

/// Writes facts as NDJSON; remembers the first write error.
///
/// With several workers each one keeps its facts in memory, tagged with the
/// read chunk and (input file, frame), and hands them over chunk by chunk to
/// be written in frame order (see `crate::pipeline`).
pub struct FactSink {
    out: Option<BufWriter<Box<dyn Write + Send>>>,
    memory: Vec<Kept>,
    /// Index of the input file being read (memory mode).
    pub file_index: u32,
    /// Read chunk whose packets are being handled (memory mode).
    pub chunk: u64,
    error: Option<String>,
    /// How internal addresses are shown (`--pseudonymize`, `--host-prefix`).
    pub view: crate::privacy::HostView,
}

impl FactSink {
    pub fn new(w: Box<dyn Write + Send>) -> Self {
        FactSink {
            out: Some(BufWriter::with_capacity(256 * 1024, w)),
            memory: Vec::new(),
            file_index: 0,
            chunk: 0,
            error: None,
            view: Default::default(),
        }
    }

    /// A sink that keeps lines in memory for a later merge.
    pub fn memory() -> Self {
        FactSink {
            out: None,
            memory: Vec::new(),
            file_index: 0,
            chunk: 0,
            error: None,
            view: Default::default(),
        }
    }

    /// The facts kept in memory of chunks up to `chunk`.
    pub fn take_memory_upto(&mut self, chunk: u64) -> Vec<Kept> {
        if self.memory.iter().all(|k| k.0 <= chunk) {
            return std::mem::take(&mut self.memory);
        }
        let (done, keep) = std::mem::take(&mut self.memory)
            .into_iter()
            .partition(|k| k.0 <= chunk);
        self.memory = keep;
        done
    }

    pub fn write(&mut self, f: &Fact<'_>) {
        if self.error.is_some() {
            return;
        }
        let p = f.pkt;
        let mut line = format!(
            "{{\"frame\":{},\"ts\":{},\"src\":\"{}\",\"dst\":\"{}\",\"sport\":{},\"dport\":{},\"transport\":\"{}\",\"ip_version\":{},\"kind\":\"{}\",\"name\":{}",
            f.frame,
            ts_seconds(f.ts),
            self.view.show(p.src),
            self.view.show(p.dst),
            p.sport,
            p.dport,
            if p.proto == PROTO_TCP { "tcp" } else { "udp" },
            p.ip_version,
            f.kind,
            js(&self.view.show_name(f.name))
        );
        match &f.extra {
            Extra::None => {}
            Extra::Method(m) => line.push_str(&format!(",\"method\":{}", js(m))),
            Extra::QuicVersion(v) => line.push_str(&format!(",\"quic_version\":{}", js(v))),
            Extra::Query {
                qtype,
                is_response,
                id,
                flavor,
            } => line.push_str(&format!(
                ",\"qtype\":{},\"qtype_num\":{},\"is_response\":{},\"dns_id\":{},\"dns_flavor\":\"{}\"",
                js(&dns::type_name(*qtype)),
                qtype,
                is_response,
                id,
                flavor
            )),
            Extra::Answer {
                rtype,
                data,
                query,
                id,
                flavor,
            } => line.push_str(&format!(
                ",\"rtype\":\"{}\",\"data\":{},\"query\":{},\"dns_id\":{},\"dns_flavor\":\"{}\"",
                rtype,
                js(&self.view.show_text(data)),
                query
                    .map(|q| js(&self.view.show_name(q)))
                    .unwrap_or_else(|| "null".into()),
                id,
                flavor
            )),
        }
        line.push_str("}\n");
        match self.out.as_mut() {
            Some(out) => {
                if let Err(e) = out.write_all(line.as_bytes()) {
                    self.error = Some(e.to_string());
                }
            }
            None => self
                .memory
                .push((self.chunk, self.file_index, f.frame, line)),
        }
    }

    pub fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = out.flush() {
                if self.error.is_none() {
                    self.error = Some(e.to_string());
                }
            }
        }
    }

    pub fn error(&self) -> Option<String> {
        self.error.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_format() {
        assert_eq!(ts_seconds(1_700_000_000_123_456_789), "1700000000.123457");
        assert_eq!(ts_seconds(5_000), "0.000005");
        assert_eq!(ts_seconds(0), "0.000000");
    }
}
