//! dpkg's status database (`var/lib/dpkg/status`, and distroless images'
//! `var/lib/dpkg/status.d/*`): installed packages, reported by source package
//! and source version as Debian's advisories name them.

use super::Package;

/// Packages read, and a warning per stanza that could not be read.
pub fn parse(name: &str, bytes: &[u8], out: &mut Vec<Package>, warnings: &mut Vec<String>) {
    let text = String::from_utf8_lossy(bytes);
    let mut bad = 0;
    for stanza in text.split("\n\n") {
        if stanza.trim().is_empty() {
            continue;
        }
        let mut package = None;
        let mut version = None;
        let mut source = None;
        let mut status = None;
        for line in stanza.lines() {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k {
                "Package" => package = Some(v),
                "Version" => version = Some(v),
                "Source" => source = Some(v),
                "Status" => status = Some(v),
                _ => {}
            }
        }
        // status.d entries have no Status: being there means installed.
        if let Some(s) = status {
            match s.rsplit(' ').next() {
                Some("installed") => {}
                Some(
                    "not-installed" | "config-files" | "half-installed" | "unpacked"
                    | "half-configured" | "triggers-awaited" | "triggers-pending",
                ) => continue,
                // A status cut short or garbled: the stanza is damaged.
                _ => {
                    bad += 1;
                    continue;
                }
            }
        }
        let (Some(package), Some(version)) = (package, version) else {
            bad += 1;
            continue;
        };
        if version.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
            bad += 1;
            continue;
        }
        let (src, src_version) = match source {
            Some(s) => match s.split_once('(') {
                Some((n, v)) => (n.trim(), v.trim_end_matches(')').trim()),
                None => (s, version),
            },
            None => (package, version),
        };
        out.push(Package {
            name: src.to_string(),
            version: src_version.to_string(),
            binaries: vec![package.to_string()],
        });
    }
    if bad > 0 {
        warnings.push(format!("{name}: {bad} damaged package entries skipped"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_packages() {
        let status = b"Package: bsdutils\nStatus: install ok installed\nSource: util-linux (2.38.1-5+deb12u3)\nVersion: 1:2.38.1-5+deb12u3\nDescription: x\n continued: line\n\n\
Package: gcc-12-base\nStatus: install ok installed\nSource: gcc-12\nVersion: 12.2.0-14+deb12u1\n\n\
Package: dash\nStatus: install ok installed\nVersion: 0.5.12-2\n\n\
Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
Package: \x00\x01garbage\nVersion\n\nPackage: sed\nStatus: install ok inst";
        let (mut out, mut w) = (Vec::new(), Vec::new());
        parse("status", status, &mut out, &mut w);
        let got: Vec<(&str, &str)> = out
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("util-linux", "2.38.1-5+deb12u3"),
                ("gcc-12", "12.2.0-14+deb12u1"),
                ("dash", "0.5.12-2")
            ]
        );
        assert_eq!(w, ["status: 2 damaged package entries skipped"]);
    }
}
