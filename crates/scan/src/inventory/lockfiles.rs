//! Language lockfiles: Cargo.lock (crates.io), package-lock.json v1–v3
//! (npm), poetry.lock and requirements.txt `==` pins (PyPI). Go binaries'
//! build info is not read.

use serde::Deserialize;
use serde_json::Value;

use super::Package;

fn pkg(name: &str, version: &str) -> Package {
    Package {
        name: name.to_string(),
        version: version.to_string(),
        binaries: Vec::new(),
    }
}

#[derive(Deserialize)]
struct TomlLock {
    #[serde(default)]
    package: Vec<TomlPackage>,
}

#[derive(Deserialize)]
struct TomlPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<String>,
}

fn toml_lock(bytes: &[u8]) -> Result<TomlLock, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    toml::from_str(text).map_err(|e| e.to_string())
}

/// Registry packages only: path and git dependencies are not on crates.io.
pub fn cargo(bytes: &[u8]) -> Result<Vec<Package>, String> {
    Ok(toml_lock(bytes)?
        .package
        .iter()
        .filter(|p| {
            p.source
                .as_deref()
                .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"))
        })
        .map(|p| pkg(&p.name, &p.version))
        .collect())
}

pub fn poetry(bytes: &[u8]) -> Result<Vec<Package>, String> {
    Ok(toml_lock(bytes)?
        .package
        .iter()
        .map(|p| pkg(&p.name, &p.version))
        .collect())
}

pub fn npm(bytes: &[u8]) -> Result<Vec<Package>, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if let Some(pkgs) = v.get("packages").and_then(Value::as_object) {
        for (path, p) in pkgs {
            let Some(at) = path.rfind("node_modules/") else {
                continue;
            };
            if p.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&path[at + "node_modules/".len()..]);
            if let Some(ver) = p.get("version").and_then(Value::as_str) {
                out.push(pkg(name, ver));
            }
        }
    } else if let Some(deps) = v.get("dependencies").and_then(Value::as_object) {
        // v1: nested `dependencies`.
        let mut stack: Vec<&serde_json::Map<String, Value>> = vec![deps];
        while let Some(d) = stack.pop() {
            for (name, p) in d {
                if let Some(ver) = p.get("version").and_then(Value::as_str)
                    && !ver.starts_with("file:")
                {
                    out.push(pkg(name, ver));
                }
                if let Some(sub) = p.get("dependencies").and_then(Value::as_object) {
                    stack.push(sub);
                }
            }
        }
    } else {
        return Err("neither `packages` nor `dependencies`".into());
    }
    Ok(out)
}

/// `name==version` lines (extras and environment markers dropped); other
/// specifiers name no single version and are not reported.
pub fn requirements(bytes: &[u8]) -> Vec<Package> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or_default();
        let line = line.split(';').next().unwrap_or_default().trim();
        if line.starts_with('#') || line.starts_with('-') {
            continue;
        }
        let Some((name, version)) = line.split_once("==") else {
            continue;
        };
        let name = name.split('[').next().unwrap_or_default().trim();
        let version = version.trim().trim_start_matches('=');
        if !name.is_empty() && !version.is_empty() && !version.contains(['*', ',', ' ']) {
            out.push(pkg(name, version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &[Package]) -> Vec<String> {
        let mut v: Vec<String> = p
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn cargo_lock() {
        let lock = br#"
version = 3
[[package]]
name = "app"
version = "0.1.0"

[[package]]
name = "smallvec"
version = "1.6.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        assert_eq!(names(&cargo(lock).unwrap()), ["smallvec@1.6.0"]);
        assert!(cargo(b"[[package]\n").is_err());
    }

    #[test]
    fn package_lock_v1_v3() {
        let v3 = br#"{"lockfileVersion":3,"packages":{"":{"name":"app"},"node_modules/lodash":{"version":"4.17.20"},"node_modules/a/node_modules/@scope/b":{"version":"1.0.0"},"node_modules/l":{"link":true}}}"#;
        assert_eq!(
            names(&npm(v3).unwrap()),
            ["@scope/b@1.0.0", "lodash@4.17.20"]
        );
        let v1 = br#"{"lockfileVersion":1,"dependencies":{"minimist":{"version":"1.2.0","dependencies":{"x":{"version":"2.0.0"}}}}}"#;
        assert_eq!(names(&npm(v1).unwrap()), ["minimist@1.2.0", "x@2.0.0"]);
    }

    #[test]
    fn pins() {
        let req = b"# comment\nrequests==2.19.0\nDjango[argon2] == 3.2.1 ; python_version > '3'\nflask>=1.0\n-r other.txt\n";
        assert_eq!(
            names(&requirements(req)),
            ["Django@3.2.1", "requests@2.19.0"]
        );
        let poetry_lock = b"[[package]]\nname = \"urllib3\"\nversion = \"1.26.4\"\n";
        assert_eq!(names(&poetry(poetry_lock).unwrap()), ["urllib3@1.26.4"]);
    }
}
