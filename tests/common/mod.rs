//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lanterne")
}

pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// A fresh scratch directory under the target dir (no extra crates needed).
pub fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run lanterne")
}

/// Runs lanterne with `stdin` read from a file.
pub fn run_stdin(args: &[&str], stdin: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(std::fs::File::open(stdin).expect("stdin file"))
        .output()
        .expect("run lanterne")
}

/// Asserts a run's exit code, showing its stderr otherwise.
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn read_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn read_ndjson(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Runs the traffic generator (tests/tools/gen_bench_pcap.py) into `dir`.
/// Returns None (and says so) when python3 is missing.
pub fn generate(dir: &Path, name: &str, args: &[&str]) -> Option<PathBuf> {
    let out = dir.join(name);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/gen_bench_pcap.py");
    let st = Command::new("python3")
        .arg(script)
        .arg("--out")
        .arg(&out)
        .args(args)
        .output();
    match st {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => panic!("generator failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("SKIPPED: python3 not available ({e})");
            None
        }
    }
}

/// The generator's ground-truth sidecar of a capture it wrote.
pub fn truth_of(pcap: &Path) -> serde_json::Value {
    read_json(Path::new(&format!("{}.truth.json", pcap.display())))
}

/// `lanterne read -q INPUT... ARGS... --json DIR/NAME.json`, which must succeed;
/// returns the summary.
pub fn summary_of(inputs: &[&Path], args: &[&str], dir: &Path, name: &str) -> serde_json::Value {
    let json = dir.join(format!("{name}.json"));
    let mut all: Vec<&str> = vec!["read", "-q"];
    all.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    all.extend_from_slice(args);
    all.extend(["--json", json.to_str().unwrap()]);
    let o = run(&all);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    read_json(&json)
}
