//! The HTML audit report (`--html FILE`): one self-contained file (inline
//! CSS, SVG and a few lines of JavaScript; nothing fetched, so it opens
//! offline and from a USB stick), readable on screen and printed on A4.
//!
//! It is drawn from a summary document (so a merged or pseudonymised summary
//! gives its report alike) and from the catalog, for what each service does
//! with the data it receives.

use std::fmt::Write as _;

use serde_json::Value;

use crate::i18n::Lang;
use crate::signatures::Catalog;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The texts of the report.
struct T {
    title: &'static str,
    subtitle: &'static str,
    figures: [&'static str; 5],
    services: &'static str,
    services_intro: &'static str,
    cols: [&'static str; 11],
    none: &'static str,
    policy: &'static str,
    policy_none: &'static str,
    sanctioned: &'static str,
    shadow: &'static str,
    split_cols: [&'static str; 5],
    hosts: &'static str,
    hosts_intro: &'static str,
    host_cols: [&'static str; 4],
    candidates: &'static str,
    candidates_intro: &'static str,
    candidate_cols: [&'static str; 6],
    more_candidates: &'static str,
    timeline: &'static str,
    timeline_intro: &'static str,
    visibility: &'static str,
    vis_rows: [&'static str; 4],
    vis_intro: &'static str,
    method: &'static str,
    method_text: &'static str,
    inputs: &'static str,
    range: &'static str,
    catalog: &'static str,
    tool: &'static str,
    packets: &'static str,
    yes: &'static str,
    no: &'static str,
    trains: &'static str,
    retention: &'static str,
    enterprise: &'static str,
    source: &'static str,
    more_hosts: &'static str,
}

const EN: T = T {
    title: "Generative-AI services in use",
    subtitle: "Audit report from network traffic",
    figures: [
        "AI services in use",
        "internal hosts using them",
        "connections to them",
        "data sent to them",
        "not sanctioned (shadow AI)",
    ],
    services: "Services",
    services_intro: "Every generative-AI service seen, by data sent to it (the data-leak signal). Risk combines what the service does with inputs (training, retention) and whether a business offer excludes training.",
    cols: ["Service", "Vendor", "Country", "Category", "Risk", "Status", "Hosts", "Connections", "Sent", "Received", "Data use"],
    none: "No generative-AI service was seen.",
    policy: "Sanctioned and shadow use",
    policy_none: "No policy was given: every service counts as shadow use.",
    sanctioned: "sanctioned",
    shadow: "shadow",
    split_cols: ["", "Services", "Hosts", "Connections", "Sent"],
    hosts: "Hosts by data sent to AI services",
    hosts_intro: "Internal hosts (or subnets, or pseudonyms) that used AI services, by data sent.",
    host_cols: ["Host", "Connections", "Sent", "Services"],
    candidates: "Possibly AI, not in the catalog — review",
    candidates_intro: "Names that match no catalog entry but look like generative-AI services (the clue says why). They are not counted as AI use anywhere in this report. Review them: `lanterne signatures suggest` turns them into catalog entries to complete.",
    candidate_cols: ["Name", "Clue", "Hosts", "Connections", "Sent", "Received"],
    more_candidates: "more names in the summary JSON",
    timeline: "Timeline",
    timeline_intro: "Data sent to each service over time.",
    visibility: "What could not be seen",
    vis_rows: [
        "Connections named (SNI, HTTP Host or DNS)",
        "Encrypted Client Hello (name hidden)",
        "DNS over HTTPS/TLS (lookups hidden)",
        "QUIC that could not be decrypted",
    ],
    vis_intro: "A connection is attributed when its server name is visible. ECH, encrypted DNS and some QUIC hide it; these shares bound what this report may miss.",
    method: "Method and inputs",
    method_text: "lanterne reads packet headers and the first bytes of each connection (TLS and QUIC ClientHello, HTTP request head, DNS), names each connection, and matches the name against a catalog of AI services. No payload is stored. Bytes are IP-layer bytes.",
    inputs: "Inputs",
    range: "Time range",
    catalog: "Catalog",
    tool: "Tool",
    packets: "packets",
    yes: "yes",
    no: "no",
    trains: "trains on inputs",
    retention: "retention",
    enterprise: "business offer without training",
    source: "source",
    more_hosts: "more hosts in the JSON and CSV outputs",
};

const FR: T = T {
    title: "Services d'IA générative utilisés",
    subtitle: "Rapport d'audit à partir du trafic réseau",
    figures: [
        "services d'IA utilisés",
        "postes internes concernés",
        "connexions vers ces services",
        "données envoyées",
        "non autorisés (IA fantôme)",
    ],
    services: "Services",
    services_intro: "Tous les services d'IA générative vus, par volume de données envoyées (le signal de fuite de données). Le risque combine l'usage que le service fait des données (entraînement, conservation) et l'existence d'une offre entreprise sans entraînement.",
    cols: ["Service", "Éditeur", "Pays", "Catégorie", "Risque", "Statut", "Postes", "Connexions", "Envoyé", "Reçu", "Usage des données"],
    none: "Aucun service d'IA générative n'a été vu.",
    policy: "Usage autorisé et IA fantôme",
    policy_none: "Aucune politique fournie : tout usage compte comme IA fantôme.",
    sanctioned: "autorisé",
    shadow: "fantôme",
    split_cols: ["", "Services", "Postes", "Connexions", "Envoyé"],
    hosts: "Postes par volume envoyé aux services d'IA",
    hosts_intro: "Postes internes (ou sous-réseaux, ou pseudonymes) ayant utilisé des services d'IA, par volume envoyé.",
    host_cols: ["Poste", "Connexions", "Envoyé", "Services"],
    candidates: "Peut-être de l'IA, absent du catalogue — à examiner",
    candidates_intro: "Noms qui ne correspondent à aucun service du catalogue mais ressemblent à des services d'IA générative (l'indice dit pourquoi). Ils ne sont comptés nulle part comme usage de l'IA dans ce rapport. À examiner : `lanterne signatures suggest` en fait des fiches de catalogue à compléter.",
    candidate_cols: ["Nom", "Indice", "Postes", "Connexions", "Envoyé", "Reçu"],
    more_candidates: "autres noms dans le résumé JSON",
    timeline: "Chronologie",
    timeline_intro: "Données envoyées à chaque service au fil du temps.",
    visibility: "Ce qui n'a pas pu être vu",
    vis_rows: [
        "Connexions nommées (SNI, HTTP Host ou DNS)",
        "Encrypted Client Hello (nom masqué)",
        "DNS sur HTTPS/TLS (résolutions masquées)",
        "QUIC non déchiffrable",
    ],
    vis_intro: "Une connexion est attribuée quand le nom du serveur est visible. ECH, le DNS chiffré et une partie de QUIC le masquent ; ces parts bornent ce que ce rapport peut manquer.",
    method: "Méthode et données",
    method_text: "lanterne lit les en-têtes des paquets et les premiers octets de chaque connexion (ClientHello TLS et QUIC, en-tête de requête HTTP, DNS), nomme chaque connexion et compare le nom à un catalogue de services d'IA. Aucun contenu n'est conservé. Les octets sont comptés au niveau IP.",
    inputs: "Sources",
    range: "Période",
    catalog: "Catalogue",
    tool: "Outil",
    packets: "paquets",
    yes: "oui",
    no: "non",
    trains: "entraînement sur les données",
    retention: "conservation",
    enterprise: "offre entreprise sans entraînement",
    source: "source",
    more_hosts: "autres postes dans les sorties JSON et CSV",
};

const CSS: &str = r#"
:root{--ink:#1d2433;--muted:#5b6475;--line:#dfe3ea;--accent:#2f5fd0;--high:#c0392b;--medium:#d68910;--low:#1e8449;--bg:#f6f7f9}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:28px 32px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid var(--line);padding-bottom:4px}
.sub{color:var(--muted);margin:0 0 20px}.intro{color:var(--muted);margin:4px 0 12px}
.figures{display:grid;grid-template-columns:repeat(5,1fr);gap:12px}
.fig{background:var(--bg);border-radius:8px;padding:12px 14px}.fig b{display:block;font-size:24px}.fig span{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--bg);cursor:pointer;user-select:none}td.n,th.n{text-align:right;white-space:nowrap}
.risk{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px}
.risk.high{background:var(--high)}.risk.medium{background:var(--medium)}.risk.low{background:var(--low)}.risk.unknown{background:var(--muted)}
.tag{font-size:12px;padding:1px 6px;border-radius:4px;border:1px solid var(--line)}.tag.shadow{border-color:var(--high);color:var(--high)}.tag.sanctioned{border-color:var(--low);color:var(--low)}
.use{font-size:12px;color:var(--muted);min-width:300px}.use a{color:var(--accent)}
.bar{fill:var(--accent)}.axis{stroke:var(--line)}svg text{font-size:11px;fill:var(--muted)}
.tl{display:grid;grid-template-columns:180px 1fr 90px;gap:6px;align-items:center;margin:2px 0}.tl span{font-size:13px}.tl .n{text-align:right}
.vis td.n{width:120px}.meter{height:8px;background:var(--bg);border-radius:4px;overflow:hidden;width:200px;display:inline-block;vertical-align:middle}.meter i{display:block;height:100%;background:var(--accent)}
footer{color:var(--muted);font-size:12px;margin-top:28px}
@page{size:A4;margin:14mm}
@media print{main{max-width:none;padding:0}h2{break-after:avoid}section{break-inside:avoid-page}section.page{break-before:page}tr{break-inside:avoid}th{cursor:auto}.figures{grid-template-columns:repeat(5,1fr)}}
"#;

/// Sorting a table by a header click (numbers by their data-v value).
const JS: &str = r#"
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var rows=Array.prototype.slice.call(t.tBodies[0].rows);
      var dir=th.dataset.dir==='asc'?-1:1;th.dataset.dir=dir===1?'asc':'desc';
      rows.sort(function(a,b){
        var x=a.cells[i],y=b.cells[i];
        var vx=x.dataset.v!==undefined?parseFloat(x.dataset.v):x.textContent;
        var vy=y.dataset.v!==undefined?parseFloat(y.dataset.v):y.textContent;
        return (vx>vy?1:vx<vy?-1:0)*dir;
      });
      rows.forEach(function(r){t.tBodies[0].appendChild(r);});
    });
  });
});
"#;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `<table ATTRS><thead>` with `cols`, up to the opening `<tbody>`; columns
/// for which `numeric` holds are right-aligned.
fn table_head(attrs: &str, cols: &[&str], numeric: impl Fn(usize) -> bool) -> String {
    let mut o = if attrs.is_empty() {
        "<table><thead><tr>".to_string()
    } else {
        format!("<table {attrs}><thead><tr>")
    };
    for (i, c) in cols.iter().enumerate() {
        let class = if numeric(i) { " class=\"n\"" } else { "" };
        let _ = write!(o, "<th{class}>{}</th>", esc(c));
    }
    o.push_str("</tr></thead><tbody>");
    o
}

/// The bar chart of the first `n` of `items` (services or hosts) by bytes
/// sent, labelled by their `label` field, values shown with `bytes`.
fn upload_bars(items: &[Value], label: &str, n: usize, bytes: &dyn Fn(u64) -> String) -> String {
    let rows: Vec<(String, u64, String)> = items
        .iter()
        .take(n)
        .map(|x| {
            let up = u(&x["bytes_up"]);
            (s(&x[label]).to_string(), up, bytes(up))
        })
        .collect();
    bars(&rows, 720)
}

/// A horizontal bar chart (inline SVG) of `(label, value, text)`.
fn bars(rows: &[(String, u64, String)], width: u32) -> String {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let h = 22;
    let label_w = 190;
    let bar_w = width.saturating_sub(label_w + 90);
    let mut o = format!(
        "<svg class=\"chart\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\" role=\"img\">",
        rows.len() as u32 * h + 4,
        rows.len() as u32 * h + 4
    );
    for (i, (label, v, text)) in rows.iter().enumerate() {
        let y = i as u32 * h;
        let w = ((*v as f64 / max as f64) * f64::from(bar_w))
            .round()
            .max(1.0);
        let _ = write!(
            o,
            "<text x=\"0\" y=\"{}\">{}</text><rect class=\"bar\" x=\"{label_w}\" y=\"{}\" width=\"{w}\" height=\"14\" rx=\"2\"/><text x=\"{}\" y=\"{}\">{}</text>",
            y + 14,
            esc(&crate::report::trunc(label, 28)),
            y + 3,
            label_w as f64 + w + 6.0,
            y + 14,
            esc(text)
        );
    }
    o.push_str("</svg>");
    o
}

/// A sparkline of `values` (one bar per bucket), as inline SVG.
fn spark(values: &[u64], width: u32, height: u32) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = values.len().max(1) as f64;
    let bw = f64::from(width) / n;
    let mut o = format!(
        "<svg class=\"spark\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" preserveAspectRatio=\"none\" role=\"img\"><line class=\"axis\" x1=\"0\" y1=\"{height}\" x2=\"{width}\" y2=\"{height}\"/>"
    );
    for (i, v) in values.iter().enumerate() {
        if *v == 0 {
            continue;
        }
        let h = (*v as f64 / max as f64) * f64::from(height - 2);
        let _ = write!(
            o,
            "<rect class=\"bar\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\"/>",
            i as f64 * bw,
            f64::from(height) - h,
            (bw * 0.85).max(0.5),
            h
        );
    }
    o.push_str("</svg>");
    o
}

/// Sums buckets into groups of `k` (hours into days).
fn regroup(v: &[u64], k: usize) -> Vec<u64> {
    v.chunks(k.max(1)).map(|c| c.iter().sum()).collect()
}

/// The report of a summary.
pub fn render(summary: &Value, catalog: &Catalog, lang: Lang) -> String {
    let t = match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    };
    let b = |n: u64| lang.bytes(n);
    let pct = |x: f64| format!("{} %", lang.pct(x * 100.0));
    let html_lang = match lang {
        Lang::En => "en",
        Lang::Fr => "fr",
    };
    let cap = &summary["capture"];
    let services = summary["services"].as_array().cloned().unwrap_or_default();
    let hosts = summary["hosts"].as_array().cloned().unwrap_or_default();
    let has_policy = !summary["policy"]["file"].is_null();
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{html_lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body><main>",
        esc(t.title)
    );
    let range = format!("{} → {}", s(&cap["start"]), s(&cap["end"]));
    let _ = write!(
        o,
        "<header><h1>{}</h1><p class=\"sub\">{} · {}</p></header>",
        esc(t.title),
        esc(t.subtitle),
        esc(&range)
    );
    // Headline figures.
    let sent: u64 = services.iter().map(|x| u(&x["bytes_up"])).sum();
    let flows: u64 = services.iter().map(|x| u(&x["flows"])).sum();
    let shadow = services.iter().filter(|x| x["sanctioned"] != true).count();
    let figs = [
        services.len().to_string(),
        hosts.len().to_string(),
        flows.to_string(),
        b(sent),
        shadow.to_string(),
    ];
    o.push_str("<section id=\"figures\" class=\"figures\">");
    for (i, (v, label)) in figs.iter().zip(t.figures).enumerate() {
        let _ = write!(
            o,
            "<div class=\"fig\" id=\"fig-{i}\"><b>{}</b><span>{}</span></div>",
            esc(v),
            esc(label)
        );
    }
    o.push_str("</section>");
    // Services.
    let _ = write!(
        o,
        "<section id=\"services\"><h2>{}</h2><p class=\"intro\">{}</p>",
        esc(t.services),
        esc(t.services_intro)
    );
    if services.is_empty() {
        let _ = write!(o, "<p>{}</p>", esc(t.none));
    } else {
        o.push_str(&upload_bars(&services, "name", 12, &b));
        o.push_str(&table_head(
            "class=\"sortable\" id=\"services-table\"",
            &t.cols,
            |i| (6..10).contains(&i),
        ));
        for x in &services {
            let id = s(&x["id"]);
            let svc = catalog.services.iter().find(|c| c.id == id);
            let risk = s(&x["risk"]);
            let (status, class) = if x["sanctioned"] == true {
                (t.sanctioned, "sanctioned")
            } else {
                (t.shadow, "shadow")
            };
            let mut usecell = String::new();
            if let Some(c) = svc {
                let mut parts = Vec::new();
                // (French puts a space before the colon.)
                let colon = if lang == Lang::Fr { "\u{a0}:" } else { ":" };
                if let Some(v) = &c.trains_on_inputs {
                    parts.push(format!("{}{colon} {}", t.trains, esc(&lang.data_use(v))));
                }
                if let Some(v) = &c.retention {
                    parts.push(format!("{}{colon} {}", t.retention, esc(&lang.data_use(v))));
                }
                if let Some(v) = c.enterprise_offer {
                    let yes_no = if v { t.yes } else { t.no };
                    parts.push(format!("{}{colon} {yes_no}", t.enterprise));
                }
                if let Some(n) = &c.notes {
                    parts.push(esc(n));
                }
                if let Some(src) = c
                    .source
                    .as_deref()
                    .filter(|s| s.starts_with("https://") || s.starts_with("http://"))
                {
                    parts.push(format!(
                        "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                        esc(src),
                        esc(t.source)
                    ));
                }
                usecell = parts.join(" · ");
            }
            let _ = write!(
                o,
                "<tr data-id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td data-v=\"{}\"><span class=\"risk {}\">{}</span></td><td><span class=\"tag {class}\">{}</span></td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"use\">{}</td></tr>",
                esc(id),
                esc(s(&x["name"])),
                esc(s(&x["vendor"])),
                esc(s(&x["country"])),
                esc(s(&x["category"])),
                match risk { "high" => 3, "medium" => 2, "low" => 1, _ => 0 },
                esc(risk),
                esc(&lang.risk(risk)),
                esc(status),
                u(&x["hosts"]),
                u(&x["hosts"]),
                u(&x["flows"]),
                u(&x["flows"]),
                u(&x["bytes_up"]),
                esc(&b(u(&x["bytes_up"]))),
                u(&x["bytes_down"]),
                esc(&b(u(&x["bytes_down"]))),
                usecell
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</section>");
    // Sanctioned vs shadow.
    let _ = write!(o, "<section id=\"policy\"><h2>{}</h2>", esc(t.policy));
    if !has_policy {
        let _ = write!(o, "<p class=\"intro\">{}</p>", esc(t.policy_none));
    }
    o.push_str(&table_head("", &t.split_cols, |i| i > 0));
    for (key, label) in [("sanctioned", t.sanctioned), ("shadow", t.shadow)] {
        let p = &summary["policy"][key];
        let _ = write!(
            o,
            "<tr id=\"policy-{key}\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(label),
            u(&p["services"]),
            u(&p["hosts"]),
            u(&p["flows"]),
            esc(&b(u(&p["bytes_up"])))
        );
    }
    o.push_str("</tbody></table></section>");
    // Hosts.
    let _ = write!(
        o,
        "<section id=\"hosts\" class=\"page\"><h2>{}</h2><p class=\"intro\">{}</p>",
        esc(t.hosts),
        esc(t.hosts_intro)
    );
    if !hosts.is_empty() {
        o.push_str(&upload_bars(&hosts, "host", 10, &b));
        o.push_str(&table_head(
            "class=\"sortable\" id=\"hosts-table\"",
            &t.host_cols,
            |i| i == 1 || i == 2,
        ));
        for h in hosts.iter().take(50) {
            let names: Vec<&str> = h["services"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| s(&x["id"]))
                .collect();
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td>{}</td></tr>",
                esc(s(&h["host"])),
                u(&h["flows"]),
                u(&h["flows"]),
                u(&h["bytes_up"]),
                esc(&b(u(&h["bytes_up"]))),
                esc(&names.join(", "))
            );
        }
        o.push_str("</tbody></table>");
        if hosts.len() > 50 {
            let _ = write!(
                o,
                "<p class=\"intro\">+ {} {}</p>",
                hosts.len() - 50,
                esc(t.more_hosts)
            );
        }
    }
    o.push_str("</section>");
    // Candidates: possibly AI, not in the catalog.
    let cands = summary["candidates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !cands.is_empty() {
        let _ = write!(
            o,
            "<section id=\"candidates\"><h2>{}</h2><p class=\"intro\">{}</p>",
            esc(t.candidates),
            esc(t.candidates_intro)
        );
        o.push_str(&table_head(
            "class=\"sortable\" id=\"candidates-table\"",
            &t.candidate_cols,
            |i| i >= 2,
        ));
        for c in cands.iter().take(50) {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td></tr>",
                esc(s(&c["name"])),
                esc(s(&c["clue"])),
                u(&c["hosts"]),
                u(&c["hosts"]),
                u(&c["flows"]),
                u(&c["flows"]),
                u(&c["bytes_up"]),
                esc(&b(u(&c["bytes_up"]))),
                u(&c["bytes_down"]),
                esc(&b(u(&c["bytes_down"])))
            );
        }
        o.push_str("</tbody></table>");
        let total = (u(&summary["visibility"]["candidate_names"]) as usize).max(cands.len());
        if total > 50 {
            let _ = write!(
                o,
                "<p class=\"intro\">+ {} {}</p>",
                total - 50,
                esc(t.more_candidates)
            );
        }
        o.push_str("</section>");
    }
    // Timeline: hourly buckets, by day when they are many.
    let tl = &summary["timeline"];
    let bucket_s = tl["bucket_seconds"].as_u64().unwrap_or(3600).max(1);
    let series = tl["series"].as_array().cloned().unwrap_or_default();
    let longest = series
        .iter()
        .map(|x| x["bytes_up"].as_array().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    let per = if bucket_s < 86_400 && longest as u64 * bucket_s > 3 * 86_400 {
        (86_400 / bucket_s) as usize
    } else {
        1
    };
    let _ = write!(
        o,
        "<section id=\"timeline\"><h2>{}</h2><p class=\"intro\">{} ({} s{})</p>",
        esc(t.timeline),
        esc(t.timeline_intro),
        bucket_s * per as u64,
        match (per > 1, lang) {
            (false, _) => "",
            (true, Lang::Fr) => ", 1 j",
            (true, Lang::En) => ", 1 d",
        }
    );
    for x in series.iter().take(15) {
        let id = s(&x["service"]);
        let name = services
            .iter()
            .find(|v| s(&v["id"]) == id)
            .map_or(id, |v| s(&v["name"]));
        let vals: Vec<u64> = x["bytes_up"]
            .as_array()
            .into_iter()
            .flatten()
            .map(u)
            .collect();
        let vals = regroup(&vals, per);
        let total: u64 = vals.iter().sum();
        let _ = write!(
            o,
            "<div class=\"tl\" data-id=\"{}\"><span>{}<br><small>{}</small></span>{}<span class=\"n\">{}</span></div>",
            esc(id),
            esc(name),
            esc(s(&x["start"])),
            spark(&vals, 600, 28),
            esc(&b(total))
        );
    }
    o.push_str("</section>");
    // Visibility.
    let v = &summary["visibility"];
    let _ = write!(
        o,
        "<section id=\"visibility\"><h2>{}</h2><p class=\"intro\">{}</p><table class=\"vis\"><tbody>",
        esc(t.visibility),
        esc(t.vis_intro)
    );
    let rows = [
        (
            t.vis_rows[0],
            u(&v["flows_named"]),
            v["named_byte_share"].as_f64().unwrap_or(0.0),
        ),
        (
            t.vis_rows[1],
            u(&v["ech"]),
            v["ech_byte_share"].as_f64().unwrap_or(0.0),
        ),
        (
            t.vis_rows[2],
            u(&v["doh_dot"]),
            v["doh_dot_byte_share"].as_f64().unwrap_or(0.0),
        ),
        (
            t.vis_rows[3],
            u(&v["quic_undecryptable"]),
            v["quic_undecryptable_byte_share"].as_f64().unwrap_or(0.0),
        ),
    ];
    for (label, n, share) in rows {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{n}</td><td><span class=\"meter\"><i style=\"width:{:.1}%\"></i></span> {}</td></tr>",
            esc(label),
            (share * 100.0).clamp(0.0, 100.0),
            esc(&pct(share))
        );
    }
    o.push_str("</tbody></table></section>");
    // Method and inputs.
    let inputs: Vec<&str> = summary["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    let _ = write!(
        o,
        "<section id=\"method\"><h2>{}</h2><p>{}</p><table><tbody><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{} · {} {}</td></tr><tr><th>{}</th><td>{} ({} services)</td></tr><tr><th>{}</th><td>lanterne {}</td></tr></tbody></table></section>",
        esc(t.method),
        esc(t.method_text),
        esc(t.inputs),
        esc(&inputs.join(", ")),
        esc(t.range),
        esc(&range),
        u(&cap["packets"]),
        esc(t.packets),
        esc(t.catalog),
        esc(s(&summary["catalog"]["version"])),
        u(&summary["catalog"]["services"]),
        esc(t.tool),
        esc(s(&summary["tool"]["version"]))
    );
    let _ = writeln!(
        o,
        "<footer>{} · lanterne</footer></main><script>{JS}</script></body></html>",
        esc(s(&summary["schema"]))
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn regroups_hours_into_days() {
        assert_eq!(regroup(&[1, 2, 3, 4, 5], 2), vec![3, 7, 5]);
    }
}
