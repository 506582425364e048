//! Human-facing text in English and French (`--lang en|fr`). Machine outputs
//! (JSON, CSV, events, facts, metrics) do not change with the language.

/// A language of the reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Fr,
}

/// The texts of the terminal report.
pub struct Texts {
    /// "lanterne — {packets} packets, {flows} flows, {start} to {end}"
    pub header: fn(&str, &str, &str, &str) -> String,
    /// "visibility: {named} of {total} flows named ({f}% of flows, {b}% of bytes)"
    pub visibility: fn(u64, u64, &str, &str) -> String,
    /// ECH, DoH/DoT and undecryptable QUIC: flows and byte shares.
    pub hidden: fn(&str, &str, &str, &str, &str, &str) -> String,
    pub no_service: &'static str,
    pub shadow: &'static str,
    pub sanctioned: &'static str,
    /// "{title}: {n} service(s)"
    pub group: fn(&str, usize) -> String,
    pub service_columns: [&'static str; 9],
    pub host_columns: [&'static str; 4],
    /// "… and {n} more hosts (see --json / --csv)"
    pub more_hosts: fn(usize) -> String,
    /// "{n} packets could not be decoded (see capture.undecodable)"
    pub undecodable: fn(u64) -> String,
    /// "Possibly AI, not in the catalog — review: {n} name(s)"
    pub candidates: fn(usize) -> String,
    /// What a candidate is, under the heading.
    pub candidates_note: &'static str,
    pub candidate_columns: [&'static str; 6],
    /// "… and {n} more names (see --json)"
    pub more_candidates: fn(usize) -> String,
}

const EN: Texts = Texts {
    header: |p, f, s, e| format!("lanterne — {p} packets, {f} flows, {s} to {e}"),
    visibility: |n, t, f, b| {
        format!("visibility: {n} of {t} flows named ({f}% of flows, {b}% of bytes)")
    },
    hidden: |e, eb, d, db, q, qb| {
        format!(
            "  hidden or indirect: ECH {e} flows ({eb}% of bytes), DoH/DoT {d} ({db}%), QUIC not decryptable {q} ({qb}%)"
        )
    },
    no_service: "No generative-AI service seen.",
    shadow: "Shadow AI (not sanctioned by the policy)",
    sanctioned: "Sanctioned",
    group: |t, n| format!("{t}: {n} service(s)"),
    service_columns: [
        "SERVICE", "VENDOR", "CATEGORY", "CC", "RISK", "HOSTS", "FLOWS", "SENT", "RECEIVED",
    ],
    host_columns: ["HOST", "FLOWS", "SENT", "SERVICES"],
    more_hosts: |n| format!("… and {n} more hosts (see --json / --csv)"),
    undecodable: |n| format!("{n} packets could not be decoded (see capture.undecodable)"),
    candidates: |n| format!("Possibly AI, not in the catalog — review: {n} name(s)"),
    candidates_note: "  Names that match no catalog entry but look like generative-AI services; not counted as AI above. `lanterne signatures suggest` turns them into catalog entries to complete.",
    candidate_columns: ["NAME", "CLUE", "HOSTS", "FLOWS", "SENT", "RECEIVED"],
    more_candidates: |n| format!("… and {n} more names (see --json)"),
};

const FR: Texts = Texts {
    header: |p, f, s, e| format!("lanterne — {p} paquets, {f} connexions, du {s} au {e}"),
    visibility: |n, t, f, b| {
        format!(
            "visibilité : {n} connexions nommées sur {t} ({f} % des connexions, {b} % des octets)"
        )
    },
    hidden: |e, eb, d, db, q, qb| {
        format!(
            "  masquées ou indirectes : ECH {e} connexions ({eb} % des octets), DoH/DoT {d} ({db} %), QUIC non déchiffrable {q} ({qb} %)"
        )
    },
    no_service: "Aucun service d'IA générative vu.",
    shadow: "IA fantôme (non autorisée par la politique)",
    sanctioned: "Autorisés",
    group: |t, n| format!("{t} : {n} service(s)"),
    service_columns: [
        "SERVICE",
        "ÉDITEUR",
        "CATÉGORIE",
        "PAYS",
        "RISQUE",
        "POSTES",
        "CONNEX.",
        "ENVOYÉ",
        "REÇU",
    ],
    host_columns: ["POSTE", "CONNEX.", "ENVOYÉ", "SERVICES"],
    more_hosts: |n| format!("… et {n} autres postes (voir --json / --csv)"),
    undecodable: |n| format!("{n} paquets n'ont pas pu être décodés (voir capture.undecodable)"),
    candidates: |n| format!("Peut-être de l'IA, absent du catalogue — à examiner : {n} nom(s)"),
    candidates_note: "  Noms qui ne correspondent à aucun service du catalogue mais ressemblent à des services d'IA générative ; non comptés comme IA ci-dessus. `lanterne signatures suggest` en fait des fiches de catalogue à compléter.",
    candidate_columns: ["NOM", "INDICE", "POSTES", "CONNEX.", "ENVOYÉ", "REÇU"],
    more_candidates: |n| format!("… et {n} autres noms (voir --json)"),
};

/// Human-readable byte count.
pub fn human_bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i < U.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

impl Lang {
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }

    /// A byte count as [`human_bytes`] writes it, in this
    /// language: "26.8 MB", or "26,8 Mo" in French.
    pub fn bytes(self, b: u64) -> String {
        let s = human_bytes(b);
        match self {
            Lang::En => s,
            Lang::Fr => {
                let (num, unit) = s.split_once(' ').unwrap_or((&s, ""));
                let unit = match unit {
                    "B" => "o",
                    "KB" => "ko",
                    "MB" => "Mo",
                    "GB" => "Go",
                    "TB" => "To",
                    u => u,
                };
                format!("{} {unit}", num.replace('.', ","))
            }
        }
    }

    /// A percentage with one decimal, in this language ("12.5" / "12,5").
    pub fn pct(self, v: f64) -> String {
        let s = format!("{v:.1}");
        match self {
            Lang::En => s,
            Lang::Fr => s.replace('.', ","),
        }
    }

    /// A catalog data-use value ("yes", "opt-out", "long"...) in this language.
    pub fn data_use(self, v: &str) -> String {
        match (self, v) {
            (Lang::Fr, "yes") => "oui".into(),
            (Lang::Fr, "no") => "non".into(),
            (Lang::Fr, "opt-out") => "oui, sauf refus (opt-out)".into(),
            (Lang::Fr, "unknown") => "inconnu".into(),
            (Lang::Fr, "none") => "aucune".into(),
            (Lang::Fr, "short") => "courte".into(),
            (Lang::Fr, "long") => "longue".into(),
            _ => v.to_string(),
        }
    }

    /// A risk level's word ("high", "medium", "low", or as given).
    pub fn risk(self, level: &str) -> String {
        match (self, level) {
            (Lang::Fr, "high") => "élevé".into(),
            (Lang::Fr, "medium") => "moyen".into(),
            (Lang::Fr, "low") => "faible".into(),
            (Lang::Fr, "unknown") => "inconnu".into(),
            _ => level.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_numbers() {
        assert_eq!(Lang::Fr.bytes(26_800_000), "26,8 Mo");
        assert_eq!(Lang::Fr.bytes(512), "512 o");
        assert_eq!(Lang::En.bytes(26_800_000), "26.8 MB");
        assert_eq!(Lang::Fr.pct(12.25), "12,2");
        assert_eq!(Lang::Fr.risk("high"), "élevé");
    }
}
