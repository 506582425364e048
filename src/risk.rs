//! The risk rubric: turns a service's data-use facts and its vendor's country
//! into a risk level shown in reports. The rubric is written down in
//! docs/RISK.md; this file is its only implementation.
//!
//! Points:
//! - training on user inputs: `yes` 3, `opt-out` 2, `unknown` 2, `no` 0;
//! - retention: `long` 1, `unknown` 1, `short` 0, `none` 0;
//! - no enterprise offer that contractually excludes training: 1;
//! - jurisdiction of the vendor: EU/EEA or a country with an EU adequacy
//!   decision 0, United States 1 (adequacy only for companies certified under
//!   the EU-US Data Privacy Framework), any other country 2.
//!
//! Level: 0-1 `low`, 2-3 `medium`, 4 and more `high`. A service added by the
//! organisation's own policy file (an internal tool) is `low`.

use crate::signatures::Service;

/// EU/EEA member states.
const EEA: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// Countries and territories with an EU adequacy decision (GDPR art. 45),
/// the United States excepted (see the module documentation).
const ADEQUATE: &[&str] = &[
    "AD", "AR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ", "UY",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

/// Points for each criterion, for explanations in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    pub training: u8,
    pub retention: u8,
    pub no_enterprise_offer: u8,
    pub jurisdiction: u8,
}

impl Score {
    pub fn total(&self) -> u8 {
        self.training + self.retention + self.no_enterprise_offer + self.jurisdiction
    }
}

pub fn jurisdiction_points(country: &str) -> u8 {
    if EEA.contains(&country) || ADEQUATE.contains(&country) {
        0
    } else if country == "US" {
        1
    } else {
        2
    }
}

pub fn score(s: &Service) -> Score {
    Score {
        training: match s.trains_on_inputs.as_deref() {
            Some("yes") => 3,
            Some("no") => 0,
            Some("opt-out") => 2,
            _ => 2,
        },
        retention: match s.retention.as_deref() {
            Some("none") | Some("short") => 0,
            _ => 1,
        },
        no_enterprise_offer: u8::from(s.enterprise_offer != Some(true)),
        jurisdiction: jurisdiction_points(&s.country),
    }
}

pub fn level(s: &Service) -> Level {
    if s.internal {
        return Level::Low;
    }
    match score(s).total() {
        0..=1 => Level::Low,
        2..=3 => Level::Medium,
        _ => Level::High,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(train: &str, ret: &str, ent: bool, cc: &str) -> Service {
        Service {
            id: "x".into(),
            name: "x".into(),
            vendor: "x".into(),
            category: "chat".into(),
            country: cc.into(),
            domains: vec![],
            cidrs: vec![],
            notes: None,
            source: None,
            trains_on_inputs: Some(train.into()),
            retention: Some(ret.into()),
            enterprise_offer: Some(ent),
            file: String::new(),
            internal: false,
            local: false,
        }
    }

    #[test]
    fn rubric() {
        // A consumer chat app from the US that trains unless the user opts out.
        assert_eq!(level(&svc("opt-out", "long", true, "US")), Level::High);
        // An API that does not train, keeps 30 days, US vendor.
        assert_eq!(level(&svc("no", "short", true, "US")), Level::Low);
        // A French consumer app with opt-out training.
        assert_eq!(level(&svc("opt-out", "long", true, "FR")), Level::Medium);
        // Trains by default, Chinese vendor.
        assert_eq!(level(&svc("yes", "long", false, "CN")), Level::High);
        // Unknown facts are not low.
        assert_eq!(level(&svc("unknown", "unknown", false, "DE")), Level::High);
        assert_eq!(level(&svc("no", "none", true, "CN")), Level::Medium);
        let mut internal = svc("yes", "long", false, "CN");
        internal.internal = true;
        assert_eq!(level(&internal), Level::Low);
    }
}
