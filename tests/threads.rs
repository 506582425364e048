//! The summary (and the facts) are byte-for-byte the same for any number of
//! worker threads: flows are sharded by a symmetric hash, the names DNS
//! answers teach reach every worker in packet order, and results are merged
//! order-independently.

mod common;

use std::path::Path;

use common::*;

fn outputs(pcap: &Path, threads: &str, dir: &Path) -> (Vec<u8>, Vec<u8>) {
    outputs_with(pcap, threads, dir, &[])
}

/// Summary and facts of a run at `threads` workers, with `extra` arguments.
fn outputs_with(pcap: &Path, threads: &str, dir: &Path, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let json = dir.join(format!("s{threads}.json"));
    let facts = dir.join(format!("f{threads}.ndjson"));
    let mut args = vec![
        "read",
        "-q",
        pcap.to_str().unwrap(),
        "--threads",
        threads,
        "--json",
        json.to_str().unwrap(),
        "--facts",
        facts.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{pcap:?}"
    );
    (
        std::fs::read(&json).unwrap(),
        std::fs::read(&facts).unwrap(),
    )
}

#[test]
fn corpus_summaries_do_not_depend_on_threads() {
    let dir = scratch("threads-corpus");
    let mut files: Vec<_> = std::fs::read_dir(data("corpus/pcap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        let one = outputs(f, "1", &dir);
        let four = outputs(f, "4", &dir);
        assert!(one.0 == four.0, "summary differs with 4 threads: {f:?}");
        assert!(one.1 == four.1, "facts differ with 4 threads: {f:?}");
    }
}

#[test]
fn dns_named_flows_do_not_depend_on_threads() {
    let dir = scratch("threads-gen");
    // Every TLS flow without SNI (named only through the client's DNS answer,
    // which another worker's flow carries), plus ECH and CNAME chains.
    let Some(p) = generate(
        &dir,
        "nosni.pcap",
        &[
            "--flows",
            "1200",
            "--duration",
            "5",
            "--seed",
            "21",
            "--modern",
            "--nosni-frac",
            "0.5",
            "--dns-frac",
            "1",
        ],
    ) else {
        return;
    };
    let one = outputs(&p, "1", &dir);
    let s: serde_json::Value = serde_json::from_slice(&one.0).unwrap();
    let via_dns: u64 = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["via"]["dns"].as_u64().unwrap())
        .sum();
    assert!(via_dns > 20, "only {via_dns} flows named through DNS");
    for t in ["2", "3", "4"] {
        let other = outputs(&p, t, &dir);
        assert!(one.0 == other.0, "summary differs with {t} threads");
        assert!(one.1 == other.1, "facts differ with {t} threads");
    }
    // Small chunks: a DNS answer and the flow it names mostly lie in
    // different chunks, routed by different workers.
    let small = outputs_with(&p, "2", &dir, &["--chunk-bytes", "1500"]);
    assert!(small.0 == one.0, "summary differs, small chunks");
    assert!(small.1 == one.1, "facts differ, small chunks");
}

/// Small read chunks: many chunk boundaries, records cut by them, and
/// several workers racing for the input; gzip and stdin inputs too. The
/// summary still equals one worker's.
#[test]
fn small_chunks_gzip_and_stdin_do_not_change_the_summary() {
    let dir = scratch("threads-chunks");
    let Some(p) = generate(
        &dir,
        "chunks.pcap",
        &[
            "--flows",
            "600",
            "--duration",
            "20",
            "--seed",
            "5",
            "--modern",
        ],
    ) else {
        return;
    };
    let one = outputs(&p, "1", &dir);
    let summary = |args: &[&str], stdin: Option<&Path>| -> Vec<u8> {
        let json = dir.join("chunked.json");
        let mut all = vec!["read", "-q", "--json", json.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = match stdin {
            Some(f) => run_stdin(&all, f),
            None => run(&all),
        };
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        std::fs::read(&json).unwrap()
    };
    let p_s = p.to_str().unwrap();
    for chunk in ["100", "2000", "70000"] {
        for threads in ["2", "3"] {
            let got = summary(&[p_s, "--threads", threads, "--chunk-bytes", chunk], None);
            assert!(
                got == one.0,
                "summary differs: {threads} threads, chunks of {chunk} bytes"
            );
        }
    }
    let gz = dir.join("chunks.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &std::fs::read(&p).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let got = summary(
        &[
            gz.to_str().unwrap(),
            "--threads",
            "2",
            "--chunk-bytes",
            "5000",
        ],
        None,
    );
    let one_gz = summary(&[gz.to_str().unwrap(), "--threads", "1"], None);
    assert!(got == one_gz, "gzip input: summary differs with 2 threads");
    let got = summary(&["-", "--threads", "2", "--chunk-bytes", "3000"], Some(&p));
    let one_stdin = summary(&["-", "--threads", "1"], Some(&p));
    assert!(
        got == one_stdin,
        "stdin input: summary differs with 2 threads"
    );
}

/// Several inputs in one run (pcap and pcapng, one missing in the middle):
/// the workers go from file to file together; the summary and the facts
/// (ordered by file, then frame) equal one worker's, and the missing file is
/// one error line.
#[test]
fn several_files_do_not_depend_on_threads() {
    let dir = scratch("threads-files");
    let files = [
        data("corpus/pcap/ai__chatgpt-browser_frames-0001-0500.pcapng"),
        data("corpus/pcap/ndpi__1kxun.pcap"),
        dir.join("missing.pcap"),
        data("corpus/pcap/ndpi__dns.pcap"),
        data("corpus/pcap/ndpi__chrome.pcap"),
    ];
    let run_with = |threads: &str| {
        let json = dir.join(format!("m{threads}.json"));
        let facts = dir.join(format!("m{threads}.ndjson"));
        let mut args = vec!["read", "-q", "--threads", threads, "--chunk-bytes", "4096"];
        let names: Vec<String> = files
            .iter()
            .map(|f| f.to_str().unwrap().to_string())
            .collect();
        args.extend(names.iter().map(|s| s.as_str()));
        args.extend([
            "--json",
            json.to_str().unwrap(),
            "--facts",
            facts.to_str().unwrap(),
        ]);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "a missing input is exit code 1");
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("missing.pcap: cannot open"), "{err}");
        (
            std::fs::read(&json).unwrap(),
            std::fs::read(&facts).unwrap(),
        )
    };
    let one = run_with("1");
    let facts: Vec<serde_json::Value> = one
        .1
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert!(facts.len() > 100, "{} facts", facts.len());
    for threads in ["2", "3"] {
        let got = run_with(threads);
        assert!(got.0 == one.0, "summary differs with {threads} threads");
        assert!(got.1 == one.1, "facts differ with {threads} threads");
    }
}

/// DNS responses in IP fragments name flows that any worker may own: every
/// worker reassembles them and learns their names, in packet order.
#[test]
fn fragmented_dns_names_flows_on_every_worker() {
    use lanterne::decode::tcpflag::{ACK, SYN};
    use lanterne::testutil::{eth_ipv4_fragments, eth_ipv4_tcp, udp, write_pcap};
    let dir = scratch("threads-frag");
    let client = [10, 0, 0, 5];
    let server = [104, 18, 32, 47];
    let mut answer = vec![0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    for l in ["chatgpt", "com"] {
        answer.push(l.len() as u8);
        answer.extend_from_slice(l.as_bytes());
    }
    answer.extend_from_slice(&[0, 0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4]);
    answer.extend_from_slice(&server);
    answer.resize(answer.len() + 2000, 0);
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    let frags = eth_ipv4_fragments(
        [10, 0, 0, 53],
        client,
        17,
        9,
        &udp(53, 33000, &answer),
        &[1480],
    );
    for f in frags.into_iter().rev() {
        frames.push((1_000_000, f));
    }
    let hello = lanterne::proto::tls::build_client_hello(None, &[], false, 0);
    for i in 0..40u16 {
        let (p, t) = (40000 + i, 2_000_000 + u64::from(i) * 1000);
        frames.push((t, eth_ipv4_tcp(client, server, p, 443, 1, SYN, &[])));
        frames.push((
            t + 1,
            eth_ipv4_tcp(server, client, 443, p, 9, SYN | ACK, &[]),
        ));
        frames.push((t + 2, eth_ipv4_tcp(client, server, p, 443, 2, ACK, &hello)));
    }
    let pcap = dir.join("frag.pcap");
    write_pcap(
        std::fs::File::create(&pcap).unwrap(),
        frames.iter().map(|(t, f)| (*t, f.as_slice())),
    )
    .unwrap();
    let one = outputs(&pcap, "1", &dir);
    for n in ["2", "3"] {
        let other = outputs(&pcap, n, &dir);
        assert!(one.0 == other.0, "summary differs with {n} threads");
        assert!(one.1 == other.1, "facts differ with {n} threads");
    }
    let s: serde_json::Value = serde_json::from_slice(&one.0).unwrap();
    assert_eq!(s["capture"]["reassembled_datagrams"], 1);
    let chatgpt = &s["services"][0];
    assert_eq!(
        (chatgpt["id"].as_str(), chatgpt["flows"].as_u64()),
        (Some("chatgpt"), Some(40))
    );
    assert_eq!(chatgpt["via"]["dns"], 40);
}
