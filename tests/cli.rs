//! Command-line behaviour: exit codes, bad input, several inputs, stdin,
//! outputs, the signatures subcommands.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

const AI: &str = "corpus/pcap/ai__chatgpt-browser_frames-0001-0500.pcapng";

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn capture_cut_in_the_middle_still_reports() {
    let dir = scratch("cut");
    let full = std::fs::read(data(AI)).unwrap();
    let cut = dir.join("cut.pcapng");
    std::fs::write(&cut, &full[..full.len() * 6 / 10]).unwrap();
    let json = dir.join("s.json");
    let o = run(&[
        "read",
        "-q",
        cut.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    assert!(
        err.contains("cut.pcapng: offset ") && err.contains("truncated"),
        "{err}"
    );
    let s = read_json(&json);
    let packets = s["capture"]["packets"].as_u64().unwrap();
    assert!(packets > 200 && packets < 500, "{packets}");
    assert_eq!(s["capture"]["read_errors"].as_array().unwrap().len(), 1);
}

#[test]
fn truncated_corpus_file_names_offset() {
    let o = run(&[
        "read",
        "-q",
        data("corpus/pcap/ndpi__fuzz-2021-10-13.pcap")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("ndpi__fuzz-2021-10-13.pcap: offset 24: truncated record"),
        "{err}"
    );
}

#[test]
fn unreadable_inputs_are_one_line_errors() {
    let dir = scratch("bad");
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file at all").unwrap();
    for (path, needle) in [
        (empty.to_str().unwrap().to_string(), "empty"),
        (
            junk.to_str().unwrap().to_string(),
            "not a pcap or pcapng file",
        ),
        (
            dir.join("missing.pcap").to_str().unwrap().to_string(),
            "no such file",
        ),
        (dir.to_str().unwrap().to_string(), "directory"),
    ] {
        let o = run(&["read", "-q", &path]);
        assert_eq!(o.status.code(), Some(1), "{path}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle) && err.contains(&path), "{path}: {err}");
    }
}

#[test]
fn a_bad_file_does_not_lose_the_others() {
    let dir = scratch("mixed");
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"\xd4\xc3\xb2").unwrap();
    let json = dir.join("s.json");
    let o = run(&[
        "read",
        "-q",
        data(AI).to_str().unwrap(),
        junk.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let s = read_json(&json);
    assert_eq!(s["capture"]["packets"], 500);
    assert_eq!(s["inputs"].as_array().unwrap().len(), 2);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["read"]).status.code(), Some(2));
    assert_eq!(
        run(&["read", "x.pcap", "--internal", "10.0.0.0/99"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["read", "x.pcap", "--json", "-", "--facts", "-"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn several_files_and_stdin() {
    let dir = scratch("multi");
    let a = data(AI);
    let b = data("corpus/pcap/ndpi__iphone.pcap");
    assert_eq!(
        summary_of(&[&a, &b], &[], &dir, "1")["capture"]["packets"],
        1000
    );

    // stdin
    let mut child = Command::new(bin())
        .args(["read", "-q", "-", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(&a).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let w = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let s: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is only the JSON summary");
    assert_eq!(s["capture"]["packets"], 500);
    assert_eq!(s["services"][0]["id"], "chatgpt");
}

#[test]
fn facts_and_events_to_stdout_are_machine_clean() {
    let o = run(&["read", data(AI).to_str().unwrap(), "--facts", "-"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    let n = text.lines().count();
    assert!(n >= 60, "{n}");
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["kind"].is_string() && v["frame"].is_u64());
    }
    let o = run(&["read", data(AI).to_str().unwrap(), "--events", "-"]);
    let text = String::from_utf8(o.stdout).unwrap();
    let evs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evs.len(), 3, "three ChatGPT flows in the first 500 frames");
    for e in &evs {
        assert_eq!(e["service"], "chatgpt");
        assert_eq!(e["vendor"], "OpenAI");
        assert_eq!(e["client"], "192.168.4.73");
        assert!(e["bytes_up"].as_u64().unwrap() > 0);
    }
}

#[test]
fn terminal_table_and_csv() {
    let dir = scratch("csv");
    let csv = dir.join("r.csv");
    let o = run(&[
        "read",
        data(AI).to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(
        table.contains("ChatGPT") && table.contains("192.168.4.73"),
        "{table}"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("host,service,"));
    assert!(
        lines[1].starts_with("192.168.4.73,chatgpt,ChatGPT,OpenAI,chat,false,3,"),
        "{}",
        lines[1]
    );
}

#[test]
fn internal_ranges_decide_attribution() {
    let dir = scratch("internal");
    let s = summary_of(&[&data(AI)], &["--internal", "10.0.0.0/8"], &dir, "s");
    assert_eq!(s["hosts"].as_array().unwrap().len(), 0);
    assert_eq!(s["services"].as_array().unwrap().len(), 0);
    assert_eq!(s["capture"]["flows_external"], s["capture"]["flows"]);
}

#[test]
fn signatures_match_and_check() {
    let o = run(&[
        "signatures",
        "match",
        "--format",
        "json",
        "Foo.ChatGPT.com",
        "notchatgpt.com",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["service"], "chatgpt");
    assert_eq!(lines[0]["vendor"], "OpenAI");
    assert_eq!(lines[0]["pattern"], "*.chatgpt.com");
    assert_eq!(lines[0]["name"], "Foo.ChatGPT.com");
    assert!(lines[1]["service"].is_null());
    assert_eq!(
        run(&["signatures", "match", "example.org"]).status.code(),
        Some(1)
    );
    let o = run(&["signatures", "check"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run(&["signatures", "list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().len() >= 40);
}

#[test]
fn custom_catalog_replaces_builtin() {
    let dir = scratch("catalog");
    let cat = dir.join("mine.toml");
    std::fs::write(
        &cat,
        "[[service]]\nid = \"internal-llm\"\nname = \"Internal LLM\"\nvendor = \"Us\"\ncategory = \"chat\"\ncountry = \"FR\"\ndomains = [\"*.oaistatic.com\"]\nsource = \"https://example.org\"\n",
    )
    .unwrap();
    let s = summary_of(
        &[&data(AI)],
        &["--signatures", cat.to_str().unwrap()],
        &dir,
        "s",
    );
    let ids: Vec<&str> = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["internal-llm"]);
    std::fs::write(&cat, "[[service]]\nid = 3\n").unwrap();
    let o = run(&[
        "read",
        "-q",
        data(AI).to_str().unwrap(),
        "--signatures",
        cat.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn stats_prints_latency_and_flow_distributions() {
    for threads in ["1", "3"] {
        let o = run(&[
            "read",
            "-q",
            data(AI).to_str().unwrap(),
            "--stats",
            "--threads",
            threads,
        ]);
        assert_eq!(o.status.code(), Some(0));
        let err = stderr(&o);
        assert!(err.contains("500 packets, 35 flows"), "{err}");
        for needle in [
            "per-packet processing (ns): p50=",
            "p99.9=",
            "flow duration (ms): p50=",
            "flow size (bytes): p50=",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        // With several workers: where each one's time went.
        let workers = err.lines().find(|l| l.contains("workers, seconds each"));
        if threads == "1" {
            assert!(workers.is_none(), "{err}");
        } else {
            let line = workers.unwrap_or_else(|| panic!("{err}"));
            assert!(line.trim_start().starts_with("3 workers"), "{line}");
            for phase in ["reading", "routing", "analysing", "waiting"] {
                let part = line.split(phase).nth(1).unwrap_or("");
                let values: Vec<&str> = part.split(',').next().unwrap().split(" / ").collect();
                assert_eq!(values.len(), 3, "{phase}: {line}");
            }
        }
    }
}

#[test]
fn outputs_to_devices_are_written_in_place() {
    // A summary to /dev/null must not replace the device with a file.
    let o = run(&[
        "read",
        "-q",
        data(AI).to_str().unwrap(),
        "--json",
        "/dev/null",
        "--csv",
        "/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    use std::os::unix::fs::FileTypeExt;
    let ft = std::fs::metadata("/dev/null").unwrap().file_type();
    assert!(ft.is_char_device(), "/dev/null is no longer a device");
}

/// `--lang fr`: the terminal report in French; the JSON does not change.
#[test]
fn terminal_report_in_french() {
    let dir = scratch("lang");
    let pcap = data("corpus/pcap/ai__chatgpt-browser_frames-0001-0500.pcapng");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "sanctioned = []\n").unwrap();
    let (fr_json, en_json) = (dir.join("fr.json"), dir.join("en.json"));
    let p = pcap.to_str().unwrap();
    let fr = run(&[
        "read",
        p,
        "--lang",
        "fr",
        "--policy",
        policy.to_str().unwrap(),
        "--json",
        fr_json.to_str().unwrap(),
    ]);
    let en = run(&[
        "read",
        p,
        "--policy",
        policy.to_str().unwrap(),
        "--json",
        en_json.to_str().unwrap(),
    ]);
    assert_exit(&fr, 0);
    assert_exit(&en, 0);
    let fr = String::from_utf8(fr.stdout).unwrap();
    let en = String::from_utf8(en.stdout).unwrap();
    for want in [
        "500 paquets",
        "visibilité : ",
        "IA fantôme (non autorisée par la politique) : 1 service(s)",
        "ÉDITEUR",
        "élevé",
        "POSTE",
        "ko",
    ] {
        assert!(fr.contains(want), "{want:?} not in:\n{fr}");
    }
    for want in [
        "500 packets",
        "visibility: ",
        "Shadow AI",
        "VENDOR",
        "high",
        "HOST",
    ] {
        assert!(en.contains(want), "{want:?} not in:\n{en}");
    }
    assert_eq!(
        std::fs::read(&fr_json).unwrap(),
        std::fs::read(&en_json).unwrap()
    );
    assert_exit(&run(&["read", p, "--lang", "de"]), 2);
}

/// The CSV follows RFC 4180: fields with commas, quotes or line breaks are
/// quoted (quotes doubled), UTF-8 kept, CRLF line ends; a reader gets the
/// fields back.
#[test]
fn csv_quotes_fields_per_rfc_4180() {
    let dir = scratch("csv-quote");
    let s = summary_of(&[&data(AI)], &[], &dir, "s");
    let mut s = s;
    let tricky = "Chat, « \"GPT\" »\nplus";
    s["services"][0]["name"] = tricky.into();
    s["hosts"][0]["services"][0]["names"] = serde_json::json!(["a,b.example", "c\"d.example"]);
    let src = dir.join("tricky.json");
    std::fs::write(&src, serde_json::to_string(&s).unwrap()).unwrap();
    let csv = dir.join("t.csv");
    assert_exit(
        &run(&[
            "report",
            "-q",
            src.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
        ]),
        0,
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.ends_with("\r\n"));
    // A small RFC 4180 reader.
    let mut rows: Vec<Vec<String>> = vec![vec![String::new()]];
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        let field = rows.last_mut().unwrap().last_mut().unwrap();
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => rows.last_mut().unwrap().push(String::new()),
            (false, '\r') => {}
            (false, '\n') => rows.push(vec![String::new()]),
            (false, c) => field.push(c),
        }
    }
    rows.pop(); // after the last CRLF
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].len(), 13);
    assert_eq!(rows[1][2], tricky);
    assert_eq!(rows[1][11], "a,b.example c\"d.example");
}

/// Every file lanterne creates is readable by its owner and group only
/// (summaries, events and facts name internal hosts).
#[test]
fn output_files_are_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("modes");
    let outs: Vec<(&str, std::path::PathBuf)> = ["json", "csv", "html", "events", "facts"]
        .iter()
        .map(|k| (*k, dir.join(format!("out.{k}"))))
        .collect();
    let mut args = vec!["read".to_string(), "-q".to_string()];
    args.push(data(AI).to_str().unwrap().to_string());
    for (k, p) in &outs {
        args.push(format!("--{k}"));
        args.push(p.to_str().unwrap().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_exit(&run(&args), 0);
    // (What the umask takes away from 0640; the umask of this test process
    // is the child's.)
    // SAFETY: umask only reads and sets the process's file mode mask.
    let mask = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    } as u32;
    for (k, p) in &outs {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640 & !mask, "--{k}: {mode:o}");
    }
    // `report` writes the same way.
    let html = dir.join("merged.html");
    let o = run(&[
        "report",
        outs[0].1.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let mode = std::fs::metadata(&html).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640 & !mask);
}

/// A record too large for the memory budget (an eighth of --max-memory) is
/// a bad record, reported in one line with its offset, not an allocation;
/// what came before it is reported. Within the budget it is read.
#[test]
fn records_over_the_memory_budget_are_refused() {
    let dir = scratch("bigrecord");
    let rec = |caplen: usize, data: &[u8]| {
        let mut r = vec![1, 0, 0, 0, 0, 0, 0, 0];
        r.extend_from_slice(&(caplen as u32).to_le_bytes());
        r.extend_from_slice(&(caplen as u32).to_le_bytes());
        r.extend_from_slice(data);
        r
    };
    let mut f = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    f.extend(rec(60, &[0u8; 60]));
    let big = 9 << 20;
    f.extend(rec(big, &vec![0u8; big]));
    let path = dir.join("big.pcap");
    std::fs::write(&path, &f).unwrap();
    let json = dir.join("s.json");
    let p = path.to_str().unwrap();
    let o = run(&[
        "read",
        "-q",
        p,
        "--max-memory",
        "64M",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        format!("lanterne: {p}: offset 100: caplen 9437184 exceeds the limit of 8388608 bytes per record")
    );
    assert_eq!(read_json(&json)["capture"]["packets"], 1);
    let o = run(&["read", "-q", p, "--json", json.to_str().unwrap()]);
    assert_exit(&o, 0);
    assert_eq!(read_json(&json)["capture"]["packets"], 2);
}
