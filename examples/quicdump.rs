//! Debug helper: decrypts the first client QUIC Initial of each UDP datagram
//! in a capture and prints the start of the plaintext.
use lanterne::decode::{decode, Outcome};
use lanterne::proto::quic;
use lanterne::source::PcapReader;

fn main() {
    let path = std::env::args().nth(1).expect("usage: quicdump FILE");
    let mut r = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut buf = Vec::new();
    while let Ok(Some(p)) = r.next_packet() {
        let Outcome::Ip(ip) = decode(p.linktype, p.data) else {
            continue;
        };
        let d = ip.payload;
        if ip.proto != 17 || d.is_empty() || d[0] & 0x80 == 0 {
            continue;
        }
        let Ok(h) = quic::parse_long_header(d) else {
            continue;
        };
        let Some(params) = quic::version_params(h.version) else {
            continue;
        };
        let k = quic::InitialKeys::new(h.version, params, h.dcid);
        match k.open(&d[..h.end], h.pn_offset, &mut buf) {
            Ok(r) => {
                let pl = &buf[r];
                let hex: String = pl.iter().take(48).map(|b| format!("{b:02x}")).collect();
                println!(
                    "frame {} v={:#x} {:?} plain {} bytes: {hex}",
                    p.frame,
                    h.version,
                    h.ptype,
                    pl.len()
                );
            }
            Err(e) => println!("frame {} v={:#x} {:?}: {e}", p.frame, h.version, h.ptype),
        }
    }
}
