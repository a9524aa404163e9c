//! apk's installed database (`lib/apk/db/installed`): `P:` name, `V:`
//! version, `o:` origin (the source package Alpine's advisories name).

use super::Package;

pub fn parse(name: &str, bytes: &[u8], out: &mut Vec<Package>, warnings: &mut Vec<String>) {
    let text = String::from_utf8_lossy(bytes);
    let mut bad = 0;
    for stanza in text.split("\n\n") {
        let (mut p, mut v, mut o) = (None, None, None);
        for line in stanza.lines() {
            match line.split_at_checked(2) {
                Some(("P:", x)) => p = Some(x.trim()),
                Some(("V:", x)) => v = Some(x.trim()),
                Some(("o:", x)) => o = Some(x.trim()),
                _ => {}
            }
        }
        match (p, v) {
            (Some(p), Some(v)) if !p.is_empty() && !v.is_empty() => out.push(Package {
                name: o.filter(|o| !o.is_empty()).unwrap_or(p).to_string(),
                version: v.to_string(),
                binaries: vec![p.to_string()],
            }),
            (None, None) if stanza.trim().is_empty() => {}
            _ => bad += 1,
        }
    }
    if bad > 0 {
        warnings.push(format!("{name}: {bad} damaged package entries skipped"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_origin() {
        let db = b"C:Q1abc=\nP:libcrypto3\nV:3.1.4-r5\no:openssl\n\nP:busybox\nV:1.36.1-r15\n\nP:broken\n";
        let (mut out, mut w) = (Vec::new(), Vec::new());
        parse("installed", db, &mut out, &mut w);
        let got: Vec<(&str, &str)> = out
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(got, [("openssl", "3.1.4-r5"), ("busybox", "1.36.1-r15")]);
        assert_eq!(w.len(), 1);
    }
}
