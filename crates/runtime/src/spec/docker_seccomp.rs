//! Docker's seccomp profile format (`--security-opt seccomp=profile.json`) ->
//! OCI `linux.seccomp`: an OCI profile plus `archMap` and per-rule
//! `includes`/`excludes` filters on capabilities, architectures and kernel
//! version, resolved here for this host and this container.

use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, Capabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompBuilder,
    LinuxSeccompFilterFlag, LinuxSyscall, LinuxSyscallBuilder,
};
use serde::Deserialize;

use super::spec_err;
use crate::error::RuntimeError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<Arch>>,
    arch_map: Option<Vec<ArchMap>>,
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    syscalls: Option<Vec<Rule>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    name: Option<String>,
    names: Option<Vec<String>>,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Option<Vec<LinuxSeccompArg>>,
    includes: Option<Filter>,
    excludes: Option<Filter>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    caps: Option<Vec<String>>,
    arches: Option<Vec<String>>,
    min_kernel: Option<String>,
}

fn invalid(msg: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidSetting(msg.into())
}

/// What the filters of a rule are evaluated against.
pub struct Host {
    /// Go's name of the architecture ("amd64", "arm64"), as profiles use it.
    pub arch: &'static str,
    pub native: Arch,
    /// (major, minor) of the running kernel.
    pub kernel: (u32, u32),
}

impl Host {
    pub fn current() -> Self {
        let (arch, native) = match std::env::consts::ARCH {
            "aarch64" => ("arm64", Arch::ScmpArchAarch64),
            "x86" => ("386", Arch::ScmpArchX86),
            "riscv64" => ("riscv64", Arch::ScmpArchRiscv64),
            "s390x" => ("s390x", Arch::ScmpArchS390x),
            "powerpc64" => ("ppc64le", Arch::ScmpArchPpc64le),
            _ => ("amd64", Arch::ScmpArchX86_64),
        };
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            arch,
            native,
            kernel: kernel_version(&release).unwrap_or((0, 0)),
        }
    }
}

/// "6.18.0-foo" -> (6, 18).
fn kernel_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

fn cap_name(c: &oci_spec::runtime::Capability) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Parses a Docker seccomp profile and resolves it for `caps` on `host`.
pub fn convert(json: &str, caps: &Capabilities, host: &Host) -> Result<LinuxSeccomp, RuntimeError> {
    let p: Profile = serde_json::from_str(json)
        .map_err(|e| invalid(format!("decoding seccomp profile failed: {e}")))?;
    let have: Vec<String> = caps.iter().map(cap_name).collect();
    let architectures = match (p.architectures, p.arch_map) {
        (Some(a), Some(m)) if !a.is_empty() && !m.is_empty() => {
            return Err(invalid(
                "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
            ));
        }
        (_, Some(map)) if !map.is_empty() => map
            .into_iter()
            .filter(|m| m.architecture == host.native)
            .flat_map(|m| {
                std::iter::once(m.architecture).chain(m.sub_architectures.unwrap_or_default())
            })
            .collect(),
        (a, _) => a.unwrap_or_default(),
    };
    let mut syscalls = Vec::new();
    for rule in p.syscalls.unwrap_or_default() {
        if let Some(s) = syscall(rule, &have, host)? {
            syscalls.push(s);
        }
    }
    let mut b = LinuxSeccompBuilder::default()
        .default_action(p.default_action)
        .architectures(architectures)
        .syscalls(syscalls);
    if let Some(e) = p.default_errno_ret {
        b = b.default_errno_ret(e);
    }
    if let Some(f) = p.flags {
        b = b.flags(f);
    }
    if let Some(l) = p.listener_path {
        b = b.listener_path(l);
    }
    if let Some(m) = p.listener_metadata {
        b = b.listener_metadata(m);
    }
    b.build().map_err(spec_err)
}

fn syscall(rule: Rule, caps: &[String], host: &Host) -> Result<Option<LinuxSyscall>, RuntimeError> {
    let names = match (rule.name, rule.names) {
        (Some(n), Some(ns)) if !n.is_empty() && !ns.is_empty() => {
            return Err(invalid(
                "use either 'name' or 'names' in the seccomp profile, not both",
            ));
        }
        (Some(n), _) if !n.is_empty() => vec![n],
        (_, ns) => ns.unwrap_or_default(),
    };
    let inc = rule.includes.unwrap_or_default();
    let exc = rule.excludes.unwrap_or_default();
    let included = inc
        .arches
        .as_ref()
        .is_none_or(|a| a.is_empty() || a.iter().any(|a| a == host.arch))
        && inc
            .caps
            .as_ref()
            .is_none_or(|c| c.iter().all(|c| caps.contains(c)))
        && match &inc.min_kernel {
            None => true,
            Some(v) => {
                host.kernel
                    >= kernel_version(v)
                        .ok_or_else(|| invalid(format!("invalid kernel version: {v}")))?
            }
        };
    let excluded = exc
        .arches
        .as_ref()
        .is_some_and(|a| a.iter().any(|a| a == host.arch))
        || exc
            .caps
            .as_ref()
            .is_some_and(|c| c.iter().any(|c| caps.contains(c)))
        || match &exc.min_kernel {
            None => false,
            Some(v) => kernel_version(v).is_some_and(|v| host.kernel >= v),
        };
    if !included || excluded || names.is_empty() {
        return Ok(None);
    }
    let mut b = LinuxSyscallBuilder::default()
        .names(names)
        .action(rule.action);
    if let Some(e) = rule.errno_ret {
        b = b.errno_ret(e);
    }
    if let Some(a) = rule.args.filter(|a| !a.is_empty()) {
        b = b.args(a);
    }
    b.build().map(Some).map_err(spec_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Capability;

    fn host() -> Host {
        Host {
            arch: "amd64",
            native: Arch::ScmpArchX86_64,
            kernel: (5, 10),
        }
    }

    #[test]
    fn filters_rules_by_caps_arch_and_kernel() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": null},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["arm_only"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["new_one"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6.1"}},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_KILL"]}},
                {"name": "personality", "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
            ]
        }"#;
        let caps: Capabilities = [Capability::Kill].into_iter().collect();
        let s = convert(json, &caps, &host()).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        let names: Vec<String> = s
            .syscalls()
            .clone()
            .unwrap()
            .iter()
            .flat_map(|s| s.names().clone())
            .collect();
        assert_eq!(names, ["read", "write", "arch_prctl", "personality"]);
        let personality = s.syscalls().clone().unwrap().pop().unwrap();
        assert_eq!(personality.args().clone().unwrap()[0].value(), 8);
    }

    #[test]
    fn rejects_malformed_profiles() {
        let caps = Capabilities::new();
        for json in [
            "{",
            r#"{"syscalls": []}"#,
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
            r#"{"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}"#,
        ] {
            let err = convert(json, &caps, &host()).unwrap_err();
            assert!(
                matches!(err, RuntimeError::InvalidSetting(_)),
                "{json}: {err}"
            );
        }
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(kernel_version("6.18.0-rc1"), Some((6, 18)));
        assert_eq!(kernel_version("4.8"), Some((4, 8)));
        assert_eq!(kernel_version("x"), None);
    }
}
