//! The distribution an image is built on, from os-release, and the OSV
//! ecosystem its OS packages are published under.

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Os {
    pub id: String,
    pub version_id: String,
}

pub fn parse(bytes: &[u8]) -> Option<Os> {
    let text = String::from_utf8_lossy(bytes);
    let mut id = None;
    let mut version_id = String::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => id = Some(v),
            "VERSION_ID" => version_id = v,
            _ => {}
        }
    }
    Some(Os {
        id: id?,
        version_id,
    })
}

impl Os {
    /// "debian 12", as Trivy names the target.
    pub fn display(&self) -> String {
        format!("{} {}", self.id, self.version_id)
            .trim()
            .to_string()
    }

    /// "Debian:12" for Debian 12.x; "Alpine:v3.19" for Alpine 3.19.x.
    pub fn ecosystem(&self) -> Option<String> {
        let major_minor = |n: usize| {
            self.version_id
                .split('.')
                .take(n)
                .collect::<Vec<_>>()
                .join(".")
        };
        match self.id.as_str() {
            "debian" if self.version_id.is_empty() => Some("Debian".into()),
            "debian" => Some(format!("Debian:{}", major_minor(1))),
            "alpine" if self.version_id.is_empty() => Some("Alpine".into()),
            "alpine" => Some(format!("Alpine:v{}", major_minor(2))),
            _ if self.version_id.is_empty() => None,
            "almalinux" => Some(format!("AlmaLinux:{}", major_minor(1))),
            "rocky" => Some(format!("Rocky Linux:{}", major_minor(1))),
            // Red Hat's records name streams below the release
            // (`…:9::appstream`); lookups cover them.
            "rhel" => Some(format!("Red Hat:enterprise_linux:{}", major_minor(1))),
            "opensuse-leap" => Some(format!("openSUSE:Leap {}", major_minor(2))),
            "sles" => {
                let mut v = self.version_id.split('.');
                let major = v.next().unwrap_or_default();
                Some(match v.next().filter(|sp| *sp != "0") {
                    Some(sp) => format!("SUSE:Linux Enterprise Server {major} SP{sp}"),
                    None => format!("SUSE:Linux Enterprise Server {major}"),
                })
            }
            "mageia" => Some(format!("Mageia:{}", major_minor(1))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems() {
        let d = parse(
            b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        assert_eq!(d.ecosystem().as_deref(), Some("Debian:12"));
        let a = parse(b"ID=alpine\nVERSION_ID=3.19.1\n").unwrap();
        assert_eq!(a.ecosystem().as_deref(), Some("Alpine:v3.19"));
        assert_eq!(parse(b"ID=plan9\n").unwrap().ecosystem(), None);
        let eco = |id: &str, v: &str| {
            parse(format!("ID=\"{id}\"\nVERSION_ID=\"{v}\"\n").as_bytes())
                .unwrap()
                .ecosystem()
        };
        assert_eq!(eco("rocky", "9.3").as_deref(), Some("Rocky Linux:9"));
        assert_eq!(eco("almalinux", "8.9").as_deref(), Some("AlmaLinux:8"));
        assert_eq!(
            eco("rhel", "9.4").as_deref(),
            Some("Red Hat:enterprise_linux:9")
        );
        assert_eq!(
            eco("opensuse-leap", "15.5").as_deref(),
            Some("openSUSE:Leap 15.5")
        );
        assert_eq!(
            eco("sles", "15.5").as_deref(),
            Some("SUSE:Linux Enterprise Server 15 SP5")
        );
        assert_eq!(
            eco("sles", "15").as_deref(),
            Some("SUSE:Linux Enterprise Server 15")
        );
        assert_eq!(eco("fedora", "40"), None, "OSV has no Fedora data");
    }
}
