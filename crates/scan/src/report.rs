//! A scan's findings, their filters (`--severity`, `--ignore-unfixed`) and
//! their renderings: Trivy's table, JSON, SARIF 2.1.0.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::severity::{ALL, Severity};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// As the user named it.
    pub image: String,
    pub image_id: String,
    pub os: Option<String>,
    pub db_generation: u64,
    pub db_imported_at: String,
    /// True when served from the cache (same image, same database).
    #[serde(default)]
    pub cached: bool,
    pub results: Vec<TargetResult>,
    /// What could not be read (damaged databases, lockfiles, layers).
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetResult {
    pub target: String,
    pub kind: String,
    pub ecosystem: Option<String>,
    pub packages: usize,
    pub vulnerabilities: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub vulnerability_id: String,
    pub pkg_name: String,
    pub installed_version: String,
    /// Empty when no fix is known.
    pub fixed_version: String,
    pub severity: Severity,
    pub title: String,
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Empty: every severity.
    pub severities: Vec<Severity>,
    pub ignore_unfixed: bool,
}

impl Filter {
    pub fn keeps(&self, f: &Finding) -> bool {
        (self.severities.is_empty() || self.severities.contains(&f.severity))
            && !(self.ignore_unfixed && f.fixed_version.is_empty())
    }
}

pub fn parse_severities(list: &str) -> Result<Vec<Severity>, String> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

impl Report {
    pub fn filtered(mut self, f: &Filter) -> Report {
        for r in &mut self.results {
            r.vulnerabilities.retain(|v| f.keeps(v));
        }
        self
    }

    pub fn findings(&self) -> usize {
        self.results.iter().map(|r| r.vulnerabilities.len()).sum()
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let all: Vec<&Finding> = self
            .results
            .iter()
            .flat_map(|r| &r.vulnerabilities)
            .collect();
        let _ = writeln!(out, "{}", total_line(&all));
        for r in &self.results {
            let title = format!("{} ({})", self.image, r.target);
            let _ = writeln!(out, "\n{title}\n{}", "=".repeat(title.chars().count()));
            let mine: Vec<&Finding> = r.vulnerabilities.iter().collect();
            let _ = writeln!(out, "{}", total_line(&mine));
            if mine.is_empty() {
                continue;
            }
            let rows: Vec<[String; 6]> = mine
                .iter()
                .map(|f| {
                    [
                        f.pkg_name.clone(),
                        f.vulnerability_id.clone(),
                        f.severity.to_string(),
                        f.installed_version.clone(),
                        f.fixed_version.clone(),
                        f.title.clone(),
                    ]
                })
                .collect();
            out.push('\n');
            out.push_str(&table(
                [
                    "Library",
                    "Vulnerability",
                    "Severity",
                    "Installed Version",
                    "Fixed Version",
                    "Title",
                ],
                &rows,
            ));
        }
        out
    }

    pub fn to_sarif(&self) -> Value {
        let mut rules = BTreeMap::new();
        let mut results = Vec::new();
        for r in &self.results {
            for f in &r.vulnerabilities {
                rules.entry(f.vulnerability_id.clone()).or_insert_with(|| {
                    json!({
                        "id": f.vulnerability_id,
                        "name": "OsPackageVulnerability",
                        "shortDescription": {"text": f.title},
                        "properties": {"security-severity": severity_score(f.severity), "tags": ["vulnerability", "security", f.severity.as_str()]},
                    })
                });
                let level = match f.severity {
                    Severity::Critical | Severity::High => "error",
                    Severity::Medium => "warning",
                    Severity::Low | Severity::Unknown => "note",
                };
                results.push(json!({
                    "ruleId": f.vulnerability_id,
                    "level": level,
                    "message": {"text": format!(
                        "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {}\nFixed Version: {}",
                        f.pkg_name, f.installed_version, f.vulnerability_id, f.severity, f.fixed_version
                    )},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": r.target}}}],
                }));
            }
        }
        json!({
            "version": "2.1.0",
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [{
                "tool": {"driver": {
                    "name": "berth",
                    "informationUri": "https://github.com/berth",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules.into_values().collect::<Vec<_>>(),
                }},
                "results": results,
                "properties": {"imageName": self.image, "imageID": self.image_id},
            }],
        })
    }
}

/// GitHub's code scanning reads this number for its own severity bands.
fn severity_score(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Unknown => "0.0",
    }
}

pub fn total_line(findings: &[&Finding]) -> String {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let parts: Vec<String> = ALL.iter().map(|s| format!("{s}: {}", count(*s))).collect();
    format!("Total: {} ({})", findings.len(), parts.join(", "))
}

fn table<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let mut width = head.map(|h| h.chars().count());
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let rule = |l: &str, m: &str, r: &str| {
        let cells: Vec<String> = width.iter().map(|w| "─".repeat(w + 2)).collect();
        format!("{l}{}{r}\n", cells.join(m))
    };
    let line = |cells: Vec<&str>| {
        let cells: Vec<String> = cells
            .iter()
            .zip(width)
            .map(|(c, w)| format!(" {c}{} ", " ".repeat(w - c.chars().count())))
            .collect();
        format!("│{}│\n", cells.join("│"))
    };
    let mut out = rule("┌", "┬", "┐");
    out.push_str(&line(head.to_vec()));
    out.push_str(&rule("├", "┼", "┤"));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out.push_str(&rule("└", "┴", "┘"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, s: Severity, fixed: &str) -> Finding {
        Finding {
            vulnerability_id: id.into(),
            pkg_name: "p".into(),
            installed_version: "1".into(),
            fixed_version: fixed.into(),
            severity: s,
            title: "t".into(),
        }
    }

    #[test]
    fn filters_and_total() {
        let r = Report {
            image: "i".into(),
            image_id: "sha256:x".into(),
            os: None,
            db_generation: 1,
            db_imported_at: String::new(),
            cached: false,
            results: vec![TargetResult {
                target: "t".into(),
                kind: "dpkg".into(),
                ecosystem: None,
                packages: 1,
                vulnerabilities: vec![
                    finding("A", Severity::High, "2"),
                    finding("B", Severity::Low, ""),
                    finding("C", Severity::Critical, ""),
                ],
            }],
            warnings: vec![],
        };
        assert!(
            r.to_table()
                .starts_with("Total: 3 (UNKNOWN: 0, LOW: 1, MEDIUM: 0, HIGH: 1, CRITICAL: 1)")
        );
        let f = Filter {
            severities: parse_severities("HIGH,critical").unwrap(),
            ignore_unfixed: true,
        };
        let kept = r.clone().filtered(&f);
        assert_eq!(kept.findings(), 1);
        assert_eq!(
            r.to_sarif()["runs"][0]["results"].as_array().unwrap().len(),
            3
        );
        assert!(parse_severities("HIGH,SEVERE").is_err());
    }
}
