//! `berth scan` against real daemons: the Debian corpus image scanned with
//! OSV records written from its real dpkg status (vulnerable, already fixed,
//! unfixed, withdrawn, other ecosystems); an image with a hand-written apk
//! database and lockfiles; a malformed record skipped by name; a damaged
//! dpkg status reporting what could be read; the cache and its invalidation.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::registry::RegistryProcess;
use common::{Daemon, berth, berth_ok, code, debian, host_dir, stderr, stdout, wait_for};
use serde_json::{Value, json};

fn write_records(dir: &Path, records: &[Value]) {
    fs::create_dir_all(dir).unwrap();
    for r in records {
        let id = r["id"].as_str().unwrap();
        fs::write(
            dir.join(format!("{id}.json")),
            serde_json::to_vec_pretty(r).unwrap(),
        )
        .unwrap();
    }
}

fn record(id: &str, eco: &str, name: &str, events: Value, extra: Value) -> Value {
    let mut r = json!({
        "id": id,
        "modified": "2025-01-01T00:00:00Z",
        "summary": format!("{id} in {name}"),
        "affected": [{
            "package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
        }],
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

/// Source package -> source version, from the corpus's real dpkg status.
fn corpus_sources() -> BTreeMap<String, String> {
    let mut archive = tar::Archive::new(fs::File::open(debian::tarball()).unwrap());
    let mut status = String::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("./var/lib/dpkg/status") {
            e.read_to_string(&mut status).unwrap();
            break;
        }
    }
    assert!(!status.is_empty(), "the corpus has a dpkg status");
    let mut out = BTreeMap::new();
    for stanza in status.split("\n\n") {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .map(str::to_string)
        };
        let (Some(pkg), Some(ver)) = (field("Package"), field("Version")) else {
            continue;
        };
        let (name, v) = match field("Source") {
            Some(s) => match s.split_once(" (") {
                Some((n, v)) => (n.to_string(), v.trim_end_matches(')').to_string()),
                None => (s, ver),
            },
            None => (pkg, ver),
        };
        out.insert(name, v);
    }
    out
}

/// A root-owned entry header of `kind`, `size` bytes long.
fn entry_header(kind: tar::EntryType, size: usize, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size as u64);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(kind);
    h
}

fn tar_of(path: &Path, files: &[(&str, &[u8])]) {
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    for (name, body) in files {
        let mut h = entry_header(tar::EntryType::Regular, body.len(), 0o644);
        b.append_data(&mut h, name, *body).unwrap();
    }
    b.finish().unwrap();
}

fn scan_json(d: &Daemon, args: &[&str]) -> Value {
    let mut all = vec!["scan", "--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&berth_ok(d, &all)).unwrap()
}

fn ids(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["vulnerabilities"].as_array().unwrap().clone())
        .map(|f| f["vulnerability_id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn scan_of_the_debian_image_matches_real_versions_and_filters() {
    let d = Daemon::start();
    debian::import(&d);
    let sources = corpus_sources();
    let util_linux = sources["util-linux"].clone();
    let dash = sources["dash"].clone();
    let gcc = sources["gcc-12"].clone();
    let osv = host_dir(&d, "osv");

    // Before any import the scan says what is missing.
    let out = berth(&d, &["scan", debian::IMAGE]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no vulnerability database"),
        "{}",
        stderr(&out)
    );

    let fixed_above = format!("{util_linux}+berth1");
    write_records(
        &osv,
        &[
            // Vulnerable, fixed in a later version; CVSS 9.8.
            record(
                "DEBIAN-BERTH-1",
                "Debian:12",
                "util-linux",
                json!([{"introduced": "0"}, {"fixed": fixed_above}]),
                json!({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}),
            ),
            // Fixed in exactly the installed version: not reported.
            record(
                "DEBIAN-BERTH-2",
                "Debian:12",
                "dash",
                json!([{"introduced": "0"}, {"fixed": dash}]),
                json!({}),
            ),
            // No fix yet; Debian's urgency says low.
            {
                let mut r = record(
                    "DEBIAN-BERTH-3",
                    "Debian:12",
                    "gcc-12",
                    json!([{"introduced": "0"}]),
                    json!({}),
                );
                r["affected"][0]["ecosystem_specific"] = json!({"urgency": "low"});
                r
            },
            // Withdrawn: ignored.
            record(
                "DEBIAN-BERTH-4",
                "Debian:12",
                "util-linux",
                json!([{"introduced": "0"}, {"fixed": fixed_above}]),
                json!({"withdrawn": "2025-02-01T00:00:00Z"}),
            ),
            // Another Debian release and another ecosystem: not this image's.
            record(
                "DEBIAN-BERTH-5",
                "Debian:11",
                "util-linux",
                json!([{"introduced": "0"}]),
                json!({}),
            ),
            record(
                "PYSEC-BERTH-6",
                "PyPI",
                "dash",
                json!([{"introduced": "0"}]),
                json!({}),
            ),
            // An exact `versions` entry; GHSA-style severity word.
            json!({
                "id": "DEBIAN-BERTH-7",
                "summary": "listed version",
                "database_specific": {"severity": "HIGH"},
                "affected": [{"package": {"ecosystem": "Debian:12", "name": "dash"}, "versions": [dash]}],
            }),
        ],
    );
    fs::write(
        osv.join("broken-record.json"),
        b"{\"id\": \"X\", \"affected\": 7",
    )
    .unwrap();

    let out = berth(&d, &["scan", "db", "import", osv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("broken-record.json"),
        "the malformed record is named: {}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("Imported 6 records (1 withdrawn, 1 files skipped)"),
        "{}",
        stdout(&out)
    );

    let table = berth_ok(&d, &["scan", debian::IMAGE]);
    assert!(
        table.starts_with("Total: 3 (UNKNOWN: 0, LOW: 1, MEDIUM: 0, HIGH: 1, CRITICAL: 1)"),
        "{table}"
    );
    assert!(table.contains("debian 12 (dpkg)"), "{table}");
    let line = table
        .lines()
        .find(|l| l.contains("DEBIAN-BERTH-1"))
        .unwrap();
    for want in [
        "util-linux",
        "CRITICAL",
        util_linux.as_str(),
        fixed_above.as_str(),
    ] {
        assert!(line.contains(want), "{want} in {line}");
    }
    for absent in [
        "DEBIAN-BERTH-2",
        "DEBIAN-BERTH-4",
        "DEBIAN-BERTH-5",
        "PYSEC-BERTH-6",
    ] {
        assert!(!table.contains(absent), "{absent} reported:\n{table}");
    }

    let report = scan_json(&d, &[debian::IMAGE]);
    assert_eq!(
        ids(&report),
        ["DEBIAN-BERTH-1", "DEBIAN-BERTH-3", "DEBIAN-BERTH-7"]
    );
    assert_eq!(report["cached"], true, "the table scan filled the cache");
    assert_eq!(report["db_generation"], 1);
    let gcc_finding = report["results"][0]["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["vulnerability_id"] == "DEBIAN-BERTH-3")
        .unwrap()
        .clone();
    assert_eq!(gcc_finding["installed_version"], gcc.as_str());
    assert_eq!(gcc_finding["fixed_version"], "");
    assert_eq!(gcc_finding["severity"], "LOW");

    let unfixed = berth_ok(&d, &["scan", "--ignore-unfixed", debian::IMAGE]);
    assert!(
        unfixed.starts_with("Total: 1 (UNKNOWN: 0, LOW: 0, MEDIUM: 0, HIGH: 0, CRITICAL: 1)"),
        "{unfixed}"
    );
    let high = scan_json(&d, &["--severity", "HIGH,CRITICAL", debian::IMAGE]);
    assert_eq!(ids(&high), ["DEBIAN-BERTH-1", "DEBIAN-BERTH-7"]);

    assert_eq!(
        code(&berth(&d, &["scan", "--exit-code", "3", debian::IMAGE])),
        3
    );
    assert_eq!(
        code(&berth(
            &d,
            &[
                "scan",
                "--exit-code",
                "3",
                "--severity",
                "MEDIUM",
                debian::IMAGE
            ]
        )),
        0,
        "no finding left after the filter"
    );
    let out = berth(&d, &["scan", "--severity", "SEVERE", debian::IMAGE]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("SEVERE"), "{}", stderr(&out));

    let sarif: Value =
        serde_json::from_str(&berth_ok(&d, &["scan", "--format", "sarif", debian::IMAGE])).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "DEBIAN-BERTH-1" && r["level"] == "error")
    );

    // A new database generation invalidates the cached scan.
    let more = host_dir(&d, "osv-more");
    write_records(
        &more,
        &[record(
            "DEBIAN-BERTH-8",
            "Debian:12",
            "dash",
            json!([{"introduced": "0"}, {"last_affected": dash}]),
            json!({"database_specific": {"severity": "medium"}}),
        )],
    );
    berth_ok(&d, &["scan", "db", "import", more.to_str().unwrap()]);
    let status = berth_ok(&d, &["scan", "db", "status"]);
    assert!(status.contains("Generation 2"), "{status}");
    assert!(status.contains("Debian:12: 5"), "{status}");
    let report = scan_json(&d, &[debian::IMAGE]);
    assert_eq!(report["cached"], false);
    assert_eq!(report["db_generation"], 2);
    assert_eq!(
        ids(&report),
        [
            "DEBIAN-BERTH-1",
            "DEBIAN-BERTH-3",
            "DEBIAN-BERTH-7",
            "DEBIAN-BERTH-8"
        ]
    );

    // A layer on top deletes the dpkg database (a whiteout) and adds a
    // lockfile: the top-most layer wins.
    let ctx = common::context_dir(
        &d,
        &[(
            "Dockerfile",
            "FROM debian:bookworm\nRUN rm /var/lib/dpkg/status && mkdir -p /app && echo 'requests==2.19.0' > /app/requirements.txt\n",
        )],
    );
    let derived = d.name("derived").to_lowercase();
    let out = debian::build(&d, &ctx, &["--network", "none", "-t", &derived]);
    assert!(out.status.success(), "{}", stderr(&out));
    let more = host_dir(&d, "osv-py");
    write_records(
        &more,
        &[record(
            "PYSEC-BERTH-9",
            "PyPI",
            "requests",
            json!([{"introduced": "0"}, {"fixed": "2.20.0"}]),
            json!({}),
        )],
    );
    berth_ok(&d, &["scan", "db", "import", more.to_str().unwrap()]);
    let report = scan_json(&d, &[&derived]);
    let targets: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["/app/requirements.txt"], "{report}");
    assert_eq!(ids(&report), ["PYSEC-BERTH-9"]);
}

const APK_DB: &str = "C:Q1aaaa=\nP:busybox\nV:1.36.1-r15\nA:x86_64\no:busybox\n\n\
C:Q1bbbb=\nP:libcrypto3\nV:3.1.4-r5\no:openssl\n\n\
C:Q1cccc=\nP:libssl3\nV:3.1.4-r5\no:openssl\n\n\
C:Q1dddd=\nP:musl\nV:1.2.4_git20230717-r4\no:musl\n";

const CARGO_LOCK: &str = r#"version = 3

[[package]]
name = "app"
version = "0.1.0"

[[package]]
name = "smallvec"
version = "1.6.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

const PACKAGE_LOCK: &str = r#"{"name":"web","lockfileVersion":3,"packages":{"":{"name":"web"},"node_modules/lodash":{"version":"4.17.20"},"node_modules/minimist":{"version":"1.2.6"}}}"#;

const POETRY_LOCK: &str = "[[package]]\nname = \"urllib3\"\nversion = \"1.26.4\"\n";

/// Imports the hand-written Alpine image (apk database and lockfiles) as `image`.
fn import_apk_image(d: &Daemon, image: &str) {
    let dir = host_dir(d, "img");
    let tar = dir.join("rootfs.tar");
    tar_of(
        &tar,
        &[
            (
                "etc/os-release",
                b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n",
            ),
            ("lib/apk/db/installed", APK_DB.as_bytes()),
            ("app/Cargo.lock", CARGO_LOCK.as_bytes()),
            ("srv/web/package-lock.json", PACKAGE_LOCK.as_bytes()),
            ("srv/py/poetry.lock", POETRY_LOCK.as_bytes()),
            ("srv/py/requirements.txt", b"Requests==2.19.0\nflask>=2\n"),
        ],
    );
    d.docker_ok(&["import", tar.to_str().unwrap(), image]);
}

/// OSV records for the Alpine image: five of them match.
fn apk_image_records(osv: &Path) {
    let semver = |id: &str, eco: &str, name: &str, fixed: &str| {
        let mut r = record(
            id,
            eco,
            name,
            json!([{"introduced": "0"}, {"fixed": fixed}]),
            json!({}),
        );
        r["affected"][0]["ranges"][0]["type"] = json!("SEMVER");
        r
    };
    write_records(
        osv,
        &[
            // By origin: libcrypto3 and libssl3 are one finding, of openssl.
            record(
                "ALPINE-BERTH-1",
                "Alpine:v3.19",
                "openssl",
                json!([{"introduced": "0"}, {"fixed": "3.1.4-r6"}]),
                json!({}),
            ),
            // busybox's -r15 is past this fix (-r9 < -r15 numerically).
            record(
                "ALPINE-BERTH-2",
                "Alpine:v3.19",
                "busybox",
                json!([{"introduced": "0"}, {"fixed": "1.36.1-r9"}]),
                json!({}),
            ),
            record(
                "ALPINE-BERTH-3",
                "Alpine:v3.18",
                "musl",
                json!([{"introduced": "0"}]),
                json!({}),
            ),
            semver("RUSTSEC-BERTH-1", "crates.io", "smallvec", "1.6.1"),
            semver("GHSA-berth-lodash", "npm", "lodash", "4.17.21"),
            semver("GHSA-berth-minimist", "npm", "minimist", "1.2.6"),
            record(
                "PYSEC-BERTH-1",
                "PyPI",
                "requests",
                json!([{"introduced": "0"}, {"fixed": "2.20.0"}]),
                json!({}),
            ),
            record(
                "PYSEC-BERTH-2",
                "PyPI",
                "urllib3",
                json!([{"introduced": "1.26.0"}, {"fixed": "1.26.5"}]),
                json!({}),
            ),
        ],
    );
}

#[test]
fn scan_reads_an_apk_database_and_lockfiles() {
    let d = Daemon::start();
    let image = d.name("apkimg").to_lowercase();
    import_apk_image(&d, &image);
    let osv = host_dir(&d, "osv");
    apk_image_records(&osv);
    berth_ok(&d, &["scan", "db", "import", osv.to_str().unwrap()]);
    let report = scan_json(&d, &[&image]);
    assert_eq!(
        ids(&report),
        [
            "ALPINE-BERTH-1",
            "GHSA-berth-lodash",
            "PYSEC-BERTH-1",
            "PYSEC-BERTH-2",
            "RUSTSEC-BERTH-1"
        ]
    );
    let targets: BTreeMap<String, (String, usize)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_string(),
                (
                    r["ecosystem"].as_str().unwrap_or_default().to_string(),
                    r["vulnerabilities"].as_array().unwrap().len(),
                ),
            )
        })
        .collect();
    assert_eq!(
        targets["alpine 3.19.1 (apk)"],
        ("Alpine:v3.19".to_string(), 1)
    );
    assert_eq!(targets["/app/Cargo.lock"], ("crates.io".to_string(), 1));
    assert_eq!(
        targets["/srv/web/package-lock.json"],
        ("npm".to_string(), 1)
    );
    assert_eq!(targets["/srv/py/poetry.lock"], ("PyPI".to_string(), 1));
    assert_eq!(targets["/srv/py/requirements.txt"], ("PyPI".to_string(), 1));
    let openssl = &report["results"][0]["vulnerabilities"][0];
    assert_eq!(openssl["pkg_name"], "openssl");
    assert_eq!(openssl["installed_version"], "3.1.4-r5");
    assert_eq!(openssl["fixed_version"], "3.1.4-r6");
}

#[test]
fn a_damaged_dpkg_status_reports_what_could_be_read() {
    let d = Daemon::start();
    let sources = corpus_sources();
    let dash = sources["dash"].clone();
    let grep = sources["grep"].clone();
    let status = format!(
        "Package: dash\nStatus: install ok installed\nVersion: {dash}\n\n\
Package: grep\nStatus: install ok installed\nVersion: {grep}\n\n\
Package: \u{1}\u{2}\u{3}\nVersion\n\n\
Package: sed\nStatus: install ok inst"
    );
    let mut bytes = status.into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x00, 0x9c]);
    let dir = host_dir(&d, "img");
    let tar = dir.join("rootfs.tar");
    tar_of(
        &tar,
        &[
            ("usr/lib/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
            ("var/lib/dpkg/status", &bytes),
        ],
    );
    let image = d.name("damaged").to_lowercase();
    d.docker_ok(&["import", tar.to_str().unwrap(), &image]);
    let osv: PathBuf = host_dir(&d, "osv");
    write_records(
        &osv,
        &[
            record(
                "DEBIAN-BERTH-DASH",
                "Debian:12",
                "dash",
                json!([{"introduced": "0"}]),
                json!({}),
            ),
            record(
                "DEBIAN-BERTH-GREP",
                "Debian:12",
                "grep",
                json!([{"introduced": "0"}]),
                json!({}),
            ),
        ],
    );
    berth_ok(&d, &["scan", "db", "import", osv.to_str().unwrap()]);
    let out = berth(&d, &["scan", "--format", "json", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(ids(&report), ["DEBIAN-BERTH-DASH", "DEBIAN-BERTH-GREP"]);
    assert!(
        stderr(&out).contains("/var/lib/dpkg/status: 2 damaged package entries skipped"),
        "{}",
        stderr(&out)
    );

    let out = berth(&d, &["scan", "no-such-image:latest"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("No such image"), "{}", stderr(&out));
}

fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-m",
            "10",
            "-D",
            "/dev/stderr",
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (
        status.trim().parse().unwrap(),
        body.to_string(),
        stderr(&out),
    )
}

#[test]
fn registry_scans_pushed_images_and_answers_harbor() {
    let d = Daemon::start();
    let image = d.name("apkimg").to_lowercase();
    import_apk_image(&d, &image);
    let reg = RegistryProcess::berth(&["--scan"]);
    let store = reg.root.path().join("store");
    let osv = host_dir(&d, "osv");
    apk_image_records(&osv);
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["registry", "scan-db-import", "--root"])
        .arg(&store)
        .arg(&osv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let target = format!("{}/scanned/app:1", reg.addr);
    d.docker_ok(&["tag", &image, &target]);
    let pushed = d.docker_ok(&["push", &target]);
    let digest = pushed
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_string();

    // The push queued a scan; its report appears once done.
    let report: Value = wait_for(std::time::Duration::from_secs(30), || {
        let (status, body, _) = curl(&[&format!("http://{}/berth/v1/scans/{digest}", reg.addr)]);
        (status == 200).then(|| serde_json::from_str(&body).unwrap())
    })
    .expect("the pushed manifest is scanned");
    assert_eq!(
        ids(&report),
        [
            "ALPINE-BERTH-1",
            "GHSA-berth-lodash",
            "PYSEC-BERTH-1",
            "PYSEC-BERTH-2",
            "RUSTSEC-BERTH-1"
        ]
    );

    let (status, body, _) = curl(&[&format!("http://{}/api/v1/metadata", reg.addr)]);
    assert_eq!(status, 200, "{body}");
    let meta: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(meta["scanner"]["name"], "berth");
    assert_eq!(
        meta["capabilities"][0]["produces_mime_types"][0],
        "application/vnd.security.vulnerability.report; version=1.1"
    );

    let request = json!({
        "registry": {"url": format!("http://{}", reg.addr), "authorization": ""},
        "artifact": {"repository": "scanned/app", "digest": digest, "mime_type": "application/vnd.oci.image.manifest.v1+json"},
    })
    .to_string();
    let (status, body, _) = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/vnd.scanner.adapter.scan.request+json; version=1.0",
        "--data",
        &request,
        &format!("http://{}/api/v1/scan", reg.addr),
    ]);
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let harbor: Value = wait_for(std::time::Duration::from_secs(30), || {
        let (status, body, headers) = curl(&[
            "-H",
            "Accept: application/vnd.security.vulnerability.report; version=1.1",
            &format!("http://{}/api/v1/scan/{id}/report", reg.addr),
        ]);
        if status == 302 {
            assert!(
                headers.to_lowercase().contains("refresh-after"),
                "{headers}"
            );
        }
        (status == 200).then(|| serde_json::from_str(&body).unwrap())
    })
    .expect("harbor report");
    assert_eq!(harbor["artifact"]["digest"], digest.as_str());
    assert_eq!(harbor["artifact"]["repository"], "scanned/app");
    let vulns = harbor["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 5);
    let openssl = vulns.iter().find(|v| v["id"] == "ALPINE-BERTH-1").unwrap();
    assert_eq!(openssl["package"], "openssl");
    assert_eq!(openssl["version"], "3.1.4-r5");
    assert_eq!(openssl["fix_version"], "3.1.4-r6");

    // An artifact this registry does not hold is refused.
    let other = request.replace("scanned/app", "not/here");
    let (status, body, _) = curl(&[
        "-X",
        "POST",
        "--data",
        &other,
        &format!("http://{}/api/v1/scan", reg.addr),
    ]);
    assert_eq!(status, 400, "{body}");
}

/// A Go binary's build information: the docker CLI of this machine (a Go
/// program) in an image is scanned as Go's `stdlib` at the toolchain
/// version the CLI itself reports, and its modules.
#[test]
fn scan_reads_go_binaries_build_information() {
    let d = Daemon::start();
    let cli = std::env::var("DOCKER_CLI").unwrap_or_else(|_| "/usr/local/bin/docker".into());
    let go = Command::new(&cli)
        .args(["version", "--format", "{{.Client.GoVersion}}"])
        .env("DOCKER_HOST", d.host())
        .output()
        .unwrap();
    let go = stdout(&go).trim().trim_start_matches("go").to_string();
    assert!(!go.is_empty(), "the docker CLI reports no Go version");
    let dir = host_dir(&d, "goimg");
    let tar_path = dir.join("rootfs.tar");
    let mut b = tar::Builder::new(fs::File::create(&tar_path).unwrap());
    let body = fs::read(&cli).unwrap();
    let mut h = entry_header(tar::EntryType::Regular, body.len(), 0o755);
    b.append_data(&mut h, "usr/local/bin/docker", body.as_slice())
        .unwrap();
    b.finish().unwrap();
    drop(b);
    let image = d.name("goimg").to_lowercase();
    d.docker_ok(&["import", tar_path.to_str().unwrap(), &image]);
    let osv = host_dir(&d, "go-osv");
    let mut affected = record(
        "GO-BERTH-1",
        "Go",
        "stdlib",
        json!([{"introduced": "0"}, {"fixed": "999.0.0"}]),
        json!({}),
    );
    affected["affected"][0]["ranges"][0]["type"] = json!("SEMVER");
    let mut fixed = record(
        "GO-BERTH-2",
        "Go",
        "stdlib",
        json!([{"introduced": "0"}, {"fixed": "1.0.0"}]),
        json!({}),
    );
    fixed["affected"][0]["ranges"][0]["type"] = json!("SEMVER");
    write_records(&osv, &[affected, fixed]);
    berth_ok(&d, &["scan", "db", "import", osv.to_str().unwrap()]);
    let report = scan_json(&d, &[&image]);
    assert_eq!(ids(&report), ["GO-BERTH-1"], "{report}");
    let result = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == "/usr/local/bin/docker")
        .unwrap_or_else(|| panic!("no target for the binary: {report}"));
    assert_eq!(result["ecosystem"], "Go");
    let finding = &result["vulnerabilities"][0];
    assert_eq!(finding["pkg_name"], "stdlib");
    assert_eq!(finding["installed_version"], go.as_str());
}

/// A real rpm database: packages built with rpmbuild and recorded with
/// `rpm --justdb` into a fresh sqlite database, as rpm ≥ 4.16 keeps it.
fn rpm_database(dir: &Path, packages: &[(&str, Option<u32>, &str, &str)]) -> PathBuf {
    let top = dir.join("rpmbuild");
    let db = dir.join("rpmdb");
    fs::create_dir_all(top.join("SPECS")).unwrap();
    fs::create_dir_all(&db).unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
    };
    run(Command::new("rpm").arg("--dbpath").arg(&db).arg("--initdb"));
    for (name, epoch, version, release) in packages {
        let spec = top.join("SPECS").join(format!("{name}.spec"));
        let epoch = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
        fs::write(
            &spec,
            format!(
                "Name: {name}\nVersion: {version}\nRelease: {release}\n{epoch}Summary: t\n\
License: MIT\nBuildArch: noarch\n%description\nt\n%files\n"
            ),
        )
        .unwrap();
        run(Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("-bb")
            .arg(&spec));
        let rpm = top
            .join("RPMS/noarch")
            .join(format!("{name}-{version}-{release}.noarch.rpm"));
        run(Command::new("rpm")
            .arg("--dbpath")
            .arg(&db)
            .args(["-i", "--justdb", "--nodeps"])
            .arg(&rpm));
    }
    db
}

/// An image whose rpm database sits under /usr/lib/sysimage/rpm with
/// /var/lib/rpm linked to it (Fedora's and SUSE's layout), with `os_release`.
fn import_rpm_image(d: &Daemon, image: &str, db: &Path, os_release: &str) {
    let tar_path = host_dir(d, "rpmimg").join("rootfs.tar");
    let mut b = tar::Builder::new(fs::File::create(&tar_path).unwrap());
    let mut file = |path: &str, body: &[u8]| {
        let mut h = entry_header(tar::EntryType::Regular, body.len(), 0o644);
        b.append_data(&mut h, path, body).unwrap();
    };
    file("etc/os-release", os_release.as_bytes());
    for f in fs::read_dir(db).unwrap() {
        let f = f.unwrap();
        let name = f.file_name().into_string().unwrap();
        if name.starts_with("rpmdb.sqlite") {
            file(
                &format!("usr/lib/sysimage/rpm/{name}"),
                &fs::read(f.path()).unwrap(),
            );
        }
    }
    let mut h = entry_header(tar::EntryType::Symlink, 0, 0o777);
    b.append_link(&mut h, "var/lib/rpm", "../../usr/lib/sysimage/rpm")
        .unwrap();
    b.finish().unwrap();
    drop(b);
    d.docker_ok(&["import", tar_path.to_str().unwrap(), image]);
}

#[test]
fn scan_reads_an_rpm_sqlite_database() {
    let d = Daemon::start();
    let db = rpm_database(
        &host_dir(&d, "rpm"),
        &[
            ("openssl-libs", Some(1), "3.0.7", "27.el9"),
            ("bash", None, "5.1.8", "9.el9"),
            ("tzdata", None, "2024a", "1.el9"),
        ],
    );
    let rocky = d.name("rocky").to_lowercase();
    import_rpm_image(
        &d,
        &rocky,
        &db,
        "NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\n",
    );
    let rhel = d.name("rhel").to_lowercase();
    import_rpm_image(
        &d,
        &rhel,
        &db,
        "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.4\"\n",
    );
    let osv = host_dir(&d, "rpm-osv");
    write_records(
        &osv,
        &[
            // The epoch decides: 1:3.0.7-27 is below 1:3.0.7-28.
            record(
                "RLSA-BERTH-1",
                "Rocky Linux:9",
                "openssl-libs",
                json!([{"introduced": "0"}, {"fixed": "1:3.0.7-28.el9"}]),
                json!({}),
            ),
            // Without its epoch the fix would look lower than what is installed.
            record(
                "RLSA-BERTH-2",
                "Rocky Linux:9",
                "openssl-libs",
                json!([{"introduced": "0"}, {"fixed": "3.0.8-1.el9"}]),
                json!({}),
            ),
            // Already fixed: the release is the fix's own.
            record(
                "RLSA-BERTH-3",
                "Rocky Linux:9",
                "bash",
                json!([{"introduced": "0"}, {"fixed": "5.1.8-9.el9"}]),
                json!({}),
            ),
            // rpm's ordering: 2024a-1 is below 2024a-1.el9_3 (a longer release).
            record(
                "RLSA-BERTH-4",
                "Rocky Linux:9",
                "tzdata",
                json!([{"introduced": "0"}, {"fixed": "2024a-1.el9_3"}]),
                json!({}),
            ),
            record(
                "ALSA-BERTH-1",
                "AlmaLinux:9",
                "bash",
                json!([{"introduced": "0"}]),
                json!({}),
            ),
            // Red Hat names streams below the release; both are looked up.
            record(
                "RHSA-BERTH-1",
                "Red Hat:enterprise_linux:9::baseos",
                "bash",
                json!([{"introduced": "0"}, {"fixed": "5.1.8-10.el9"}]),
                json!({}),
            ),
            record(
                "RHSA-BERTH-2",
                "Red Hat:enterprise_linux:9::appstream",
                "tzdata",
                json!([{"introduced": "0"}, {"fixed": "2024b-1.el9"}]),
                json!({}),
            ),
            record(
                "RHSA-BERTH-3",
                "Red Hat:enterprise_linux:8::baseos",
                "bash",
                json!([{"introduced": "0"}]),
                json!({}),
            ),
        ],
    );
    berth_ok(&d, &["scan", "db", "import", osv.to_str().unwrap()]);

    let report = scan_json(&d, &[&rocky]);
    assert_eq!(ids(&report), ["RLSA-BERTH-1", "RLSA-BERTH-4"], "{report}");
    let result = &report["results"][0];
    assert_eq!(result["target"], "rocky 9.3 (rpm)");
    assert_eq!(result["ecosystem"], "Rocky Linux:9");
    assert_eq!(result["packages"], 3);
    let openssl = result["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vulnerability_id"] == "RLSA-BERTH-1")
        .unwrap();
    assert_eq!(openssl["pkg_name"], "openssl-libs");
    assert_eq!(openssl["installed_version"], "1:3.0.7-27.el9");
    assert_eq!(openssl["fixed_version"], "1:3.0.7-28.el9");

    let report = scan_json(&d, &[&rhel]);
    assert_eq!(ids(&report), ["RHSA-BERTH-1", "RHSA-BERTH-2"], "{report}");
    assert_eq!(
        report["results"][0]["ecosystem"],
        "Red Hat:enterprise_linux:9"
    );
}
