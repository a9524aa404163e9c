//! The OSV schema fields a scan uses (https://ossf.github.io/osv-schema/),
//! and the severity a record gives each affected package.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::severity::Severity;

#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeverityEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    pub package: Option<Package>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One of `introduced`, `fixed`, `last_affected`, `limit` (OSV allows one per event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl Record {
    /// Trivy's title: the summary, else the details' first line, shortened.
    pub fn title(&self) -> String {
        let text = self
            .summary
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .or(self.details.as_deref())
            .unwrap_or_default();
        let line = text.lines().next().unwrap_or_default().trim();
        if line.chars().count() > 100 {
            let cut: String = line.chars().take(97).collect();
            format!("{cut}...")
        } else {
            line.to_string()
        }
    }

    /// Most specific first: the affected entry's own severity words, the
    /// record's, then a CVSS score (the affected entry's, then the record's).
    pub fn severity_of(&self, a: &Affected) -> Severity {
        let words = [
            a.ecosystem_specific.as_ref(),
            a.database_specific.as_ref(),
            self.database_specific.as_ref(),
        ];
        for v in words.into_iter().flatten() {
            for field in ["severity", "urgency"] {
                if let Some(s) = v
                    .get(field)
                    .and_then(Value::as_str)
                    .and_then(Severity::from_word)
                {
                    return s;
                }
            }
        }
        a.severity
            .iter()
            .chain(&self.severity)
            .filter_map(|e| crate::severity::cvss_score(&e.kind, &e.score))
            .map(Severity::from_score)
            .next()
            .unwrap_or(Severity::Unknown)
    }
}
