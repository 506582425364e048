//! JA4 and JA3 in `--events` equal published reference values for the
//! captures they cover.
//!
//! Sources of the expected values:
//! - `sv__ja4-quic__input.pcap`: OISF/suricata-verify `tests/ja4-quic/README.md`,
//!   "Reference output" of FoxIO's own `ja4` binary: all 11 QUIC flows
//!   `q13d0310h3_55b375c5d22e_cd85d2d88918` (also checked by its `test.yaml`).
//! - `ndpi__chrome.pcap`, `ndpi__tls_ech.pcapng`: ntop/nDPI
//!   `tests/cfgs/default/result/chrome.pcap.out` and `tls_ech.pcapng.out`
//!   (the `[JA3C: ...][JA4: ...]` of each flow).
//! - FoxIO's specification example and the salesforce/ja3 README examples are
//!   unit tests in `src/proto/fingerprint.rs`.

mod common;

use std::collections::BTreeMap;

use common::*;

fn events(file: &str) -> Vec<serde_json::Value> {
    let dir = scratch(&format!("fp-{file}"));
    let ev = dir.join("ev.ndjson");
    let o = run(&[
        "read",
        "-q",
        data(&format!("corpus/pcap/{file}")).to_str().unwrap(),
        "--events",
        ev.to_str().unwrap(),
        "--events-all",
    ]);
    assert_eq!(o.status.code(), Some(0));
    read_ndjson(&ev)
}

#[test]
fn quic_ja4_matches_foxio_reference() {
    let ev = events("sv__ja4-quic__input.pcap");
    let quic: Vec<_> = ev.iter().filter(|e| e["ja4"].is_string()).collect();
    assert_eq!(quic.len(), 11);
    for e in quic {
        assert_eq!(e["transport"], "udp");
        assert_eq!(e["via"], "quic-sni");
        assert_eq!(
            e["ja4"], "q13d0310h3_55b375c5d22e_cd85d2d88918",
            "{}",
            e["server_name"]
        );
    }
}

#[test]
fn tls_ja4_ja3_match_ndpi_reference() {
    // client port -> (JA4, JA3C) from nDPI's chrome.pcap.out
    let chrome: BTreeMap<u64, (&str, &str)> = [
        (
            64410,
            (
                "t13d1516h2_8daaf6152771_e5627efa2ab1",
                "aa50c12a5dfa717d9d6ab34e97de79d5",
            ),
        ),
        (
            64409,
            (
                "t13d1516h2_8daaf6152771_9b887d9acb53",
                "1b73862eae8f1711440a446b1ef357fd",
            ),
        ),
        (
            64394,
            (
                "t13d1516h2_8daaf6152771_9b887d9acb53",
                "1b73862eae8f1711440a446b1ef357fd",
            ),
        ),
        (
            64393,
            (
                "t13d1516h2_8daaf6152771_e5627efa2ab1",
                "aa50c12a5dfa717d9d6ab34e97de79d5",
            ),
        ),
        (
            64411,
            (
                "t13d1516h2_8daaf6152771_e5627efa2ab1",
                "aa50c12a5dfa717d9d6ab34e97de79d5",
            ),
        ),
        (
            64408,
            (
                "t13d1516h2_8daaf6152771_9b887d9acb53",
                "1b73862eae8f1711440a446b1ef357fd",
            ),
        ),
    ]
    .into_iter()
    .collect();
    let ev = events("ndpi__chrome.pcap");
    let got: BTreeMap<u64, (String, String)> = ev
        .iter()
        .filter(|e| e["ja4"].is_string())
        .map(|e| {
            (
                e["client_port"].as_u64().unwrap(),
                (
                    e["ja4"].as_str().unwrap().to_string(),
                    e["ja3"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(got.len(), chrome.len());
    for (port, (ja4, ja3)) in &chrome {
        assert_eq!(got[port].0, *ja4, "port {port}");
        assert_eq!(got[port].1, *ja3, "port {port}");
    }

    let ev = events("ndpi__tls_ech.pcapng");
    let e = ev
        .iter()
        .find(|e| e["ja4"].is_string())
        .expect("one TLS flow");
    assert_eq!(e["ja4"], "t13d1516h2_8daaf6152771_02713d6af862");
    assert_eq!(e["ja3"], "6820f114cf3b0809ffdcb30cb277848a");
    // Chrome's ECH extension next to the real name: offered (GREASE), not in use.
    assert_eq!(e["ech_offered"], true);
    assert_eq!(e["ech"], false);
    assert_eq!(e["via"], "tls-sni");
}
