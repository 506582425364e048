//! The HTML audit report: self-contained (nothing fetched), escaped, and
//! rendered by a real browser (Debian's chromium, headless, no network):
//! the DOM holds the summary's services and figures, and a screenshot is
//! saved (target/artifacts/report-*.png, a CI artifact).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn report(dir: &Path, lang: &str) -> Option<(Value, PathBuf)> {
    // The usual AI services, and two names the catalog does not know
    // (candidates).
    let domains = dir.join("ai-domains.tsv");
    std::fs::write(
        &domains,
        "chatgpt.com\topenai\t22\napi.openai.com\topenai\t10\nclaude.ai\tanthropic\t12\n\
         gemini.google.com\tgoogle\t10\nchat.mistral.ai\tmistral\t4\nchat.deepseek.com\tdeepseek\t5\n\
         newbot.ai\tcand-a\t8\napi.gpt-relay.example\tcand-b\t8\n",
    )
    .unwrap();
    let pcap = generate(
        dir,
        "h.pcap",
        &[
            "--flows",
            "600",
            "--seed",
            "51",
            "--modern",
            "--ai-frac",
            "0.3",
            "--ai-domains",
            domains.to_str().unwrap(),
        ],
    )?;
    let json = dir.join(format!("s-{lang}.json"));
    let html = dir.join(format!("r-{lang}.html"));
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "sanctioned = [\"openai-api\"]\n").unwrap();
    let o = run(&[
        "read",
        "-q",
        pcap.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--lang",
        lang,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    Some((read_json(&json), html))
}

#[test]
fn report_is_self_contained_and_escaped() {
    let dir = scratch("html");
    let Some((summary, html)) = report(&dir, "en") else {
        return;
    };
    let page = std::fs::read_to_string(&html).unwrap();
    for banned in ["<script src", "<link", "url(", "@import", "<img", "<iframe"] {
        assert!(!page.contains(banned), "{banned:?} in the report");
    }
    for s in summary["services"].as_array().unwrap() {
        assert!(page.contains(&format!("data-id=\"{}\"", s["id"].as_str().unwrap())));
    }
    // Hostile text in a summary (a merged file from elsewhere) stays text.
    let mut evil = summary.clone();
    evil["services"][0]["name"] = "<script>alert(1)</script>".into();
    evil["hosts"][0]["host"] = "\"><img src=x>".into();
    let evil_json = dir.join("evil.json");
    std::fs::write(&evil_json, serde_json::to_string(&evil).unwrap()).unwrap();
    let evil_html = dir.join("evil.html");
    let o = run(&[
        "report",
        "-q",
        evil_json.to_str().unwrap(),
        "--html",
        evil_html.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let page = std::fs::read_to_string(&evil_html).unwrap();
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<img src=x>"));
}

/// Chromium, or None with a SKIPPED line (a failure when
/// LANTERNE_BROWSER_TESTS=1, as `.ci/run` sets).
fn chromium() -> Option<&'static str> {
    for b in ["chromium", "chromium-browser"] {
        if Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(b);
        }
    }
    if std::env::var("LANTERNE_BROWSER_TESTS").is_ok_and(|v| v == "1") {
        panic!("LANTERNE_BROWSER_TESTS=1 but chromium is not installed");
    }
    eprintln!("SKIPPED: chromium is not installed");
    None
}

/// Headless chromium on a file, with no network (every name resolves to
/// nothing) and no profile left behind.
fn headless(bin: &str, profile: &Path, args: &[&str], html: &Path) -> std::process::Output {
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium")
}

#[test]
fn browser_renders_the_report() {
    let Some(bin) = chromium() else { return };
    let dir = scratch("html-browser");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for lang in ["en", "fr"] {
        let Some((summary, html)) = report(&dir, lang) else {
            return;
        };
        let o = headless(
            bin,
            &dir.join(format!("profile-{lang}")),
            &["--dump-dom"],
            &html,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let dom = String::from_utf8_lossy(&o.stdout).to_string();
        // Every service is a row of the services table, in the summary's order.
        let services = summary["services"].as_array().unwrap();
        let rows: Vec<&str> = dom
            .split("<tr data-id=\"")
            .skip(1)
            .filter_map(|r| r.split('"').next())
            .collect();
        let ids: Vec<&str> = services.iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(rows, ids);
        // The candidates, apart, in the summary's order.
        let cands: Vec<&str> = summary["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(cands.len(), 2, "{cands:?}");
        let table = dom
            .split("id=\"candidates-table\"")
            .nth(1)
            .and_then(|t| t.split("</table>").next())
            .expect("candidates table");
        let shown: Vec<&str> = table
            .split("<tr><td>")
            .skip(1)
            .filter_map(|r| r.split("</td>").next())
            .collect();
        assert_eq!(shown, cands);
        // The headline figures are the summary's.
        let fig = |i: usize| {
            dom.split(&format!("id=\"fig-{i}\"><b>"))
                .nth(1)
                .and_then(|r| r.split("</b>").next())
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(fig(0), services.len().to_string());
        assert_eq!(
            fig(1),
            summary["hosts"].as_array().unwrap().len().to_string()
        );
        let flows: u64 = services.iter().map(|s| s["flows"].as_u64().unwrap()).sum();
        assert_eq!(fig(2), flows.to_string());
        let shadow = summary["policy"]["shadow_services"].as_u64().unwrap();
        assert_eq!(fig(4), shadow.to_string());
        // Charts: the two bar charts and one sparkline per timeline series.
        let series = summary["timeline"]["series"]
            .as_array()
            .unwrap()
            .len()
            .min(15);
        assert_eq!(dom.matches("<svg class=\"chart\"").count(), 2);
        assert_eq!(dom.matches("<svg class=\"spark\"").count(), series);
        let title = if lang == "fr" {
            "Services d'IA générative utilisés"
        } else {
            "Generative-AI services in use"
        };
        assert!(dom.contains(title), "{lang}: title");
        // A screenshot, kept as a CI artifact.
        let png = artifacts.join(format!("report-{lang}.png"));
        let _ = std::fs::remove_file(&png);
        let shot = format!("--screenshot={}", png.display());
        let o = headless(
            bin,
            &dir.join(format!("profile-shot-{lang}")),
            &[&shot, "--window-size=1280,2400"],
            &html,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let bytes = std::fs::read(&png).expect("screenshot");
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
            "{} bytes",
            bytes.len()
        );
        // Printed: A4 pages (the hosts start a new page).
        let pdf = dir.join(format!("report-{lang}.pdf"));
        let print = format!("--print-to-pdf={}", pdf.display());
        let profile = dir.join(format!("profile-pdf-{lang}"));
        let o = headless(bin, &profile, &[&print, "--no-pdf-header-footer"], &html);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let doc = std::fs::read(&pdf).expect("pdf");
        assert!(doc.starts_with(b"%PDF"));
        let text = String::from_utf8_lossy(&doc);
        let pages = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
        assert!(pages >= 2, "{pages} page(s)");
        // A4: 595 x 842 points (Chromium writes 594.96 x 841.92).
        assert!(
            text.contains("/MediaBox [0 0 594.9") || text.contains("/MediaBox [0 0 595"),
            "not A4"
        );
    }
}
