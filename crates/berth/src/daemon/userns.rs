//! `--userns-remap`: the user, group and subordinate id ranges that
//! remapped containers run as, resolved as dockerd resolves them.

use std::process::Command;

use anyhow::{Context, bail};
use nix::unistd::{Gid, Group, Uid, User};
use runtime::userns::{IdMappings, ranges_from_sub, sub_ranges};

/// dockerd's name for the user `--userns-remap default` makes.
const DEFAULT_USER: &str = "dockremap";
/// Where a new default range starts and how long it is (dockerd's values).
const FIRST_SUB_ID: u64 = 100_000;
const DEFAULT_RANGE: u64 = 65_536;

pub fn resolve(spec: &str) -> anyhow::Result<engine::Remap> {
    let (user, group) = if spec == "default" {
        ensure_default_user()?;
        (DEFAULT_USER.to_string(), DEFAULT_USER.to_string())
    } else {
        let (u, g) = spec.split_once(':').unwrap_or((spec, ""));
        if u.is_empty() {
            bail!("invalid --userns-remap {spec:?}: want default, USER or USER:GROUP");
        }
        let user = lookup_user(u)?;
        // dockerd: without a group, the group named as the user.
        let group = if g.is_empty() {
            user.name.clone()
        } else {
            lookup_group(g)?.name
        };
        (user.name, group)
    };
    let u = lookup_user(&user)?;
    let g = lookup_group(&group)?;
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let uid_text = u.uid.to_string();
    let gid_text = g.gid.to_string();
    let subuid = sub_ranges(&read("/etc/subuid"), &[&user, &uid_text]);
    let subgid = sub_ranges(&read("/etc/subgid"), &[&group, &gid_text]);
    if subuid.is_empty() {
        bail!("no subuid ranges found for user {user:?} in /etc/subuid");
    }
    if subgid.is_empty() {
        bail!("no subgid ranges found for group {group:?} in /etc/subgid");
    }
    Ok(engine::Remap {
        name: format!("{user}:{group}"),
        maps: IdMappings {
            uids: ranges_from_sub(&subuid),
            gids: ranges_from_sub(&subgid),
        },
    })
}

fn lookup_user(name: &str) -> anyhow::Result<User> {
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    found
        .with_context(|| format!("looking up user {name:?}"))?
        .with_context(|| format!("user {name:?} not found"))
}

fn lookup_group(name: &str) -> anyhow::Result<Group> {
    let found = match name.parse::<u32>() {
        Ok(gid) => Group::from_gid(Gid::from_raw(gid)),
        Err(_) => Group::from_name(name),
    };
    found
        .with_context(|| format!("looking up group {name:?}"))?
        .with_context(|| format!("group {name:?} not found"))
}

/// Makes the `dockremap` user and group and gives them a free subordinate
/// range of 65536 ids, as dockerd does; what exists is kept.
fn ensure_default_user() -> anyhow::Result<()> {
    // Daemons starting together (a test suite, several roots on one host)
    // must not both add the user or both append a range: one at a time.
    let lock_path = ["/run/lock", "/run", "/tmp"]
        .iter()
        .map(std::path::Path::new)
        .find(|d| d.is_dir())
        .unwrap_or(std::path::Path::new("/tmp"))
        .join("berth-userns-remap.lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}", lock_path.display()))?;
    if User::from_name(DEFAULT_USER)?.is_none() {
        run(Command::new("useradd").args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/bin/false",
            DEFAULT_USER,
        ]))?;
    }
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !sub_ranges(&text, &[DEFAULT_USER]).is_empty() {
            continue;
        }
        let start = free_range(&text, FIRST_SUB_ID, DEFAULT_RANGE);
        let range = format!("{start}-{}", start + DEFAULT_RANGE - 1);
        run(Command::new("usermod").args([flag, &range, DEFAULT_USER]))?;
    }
    Ok(())
}

/// The lowest start at or above `from` where `len` ids overlap no range
/// listed in a subordinate id file.
fn free_range(text: &str, from: u64, len: u64) -> u64 {
    let mut taken: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':').skip(1);
            let start: u64 = f.next()?.parse().ok()?;
            let count: u64 = f.next()?.parse().ok()?;
            Some((start, start + count))
        })
        .collect();
    taken.sort();
    let mut start = from;
    for (s, e) in taken {
        if start + len <= s {
            break;
        }
        if e > start {
            start = e;
        }
    }
    start
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ranges_skip_taken_ones() {
        assert_eq!(free_range("", 100000, 65536), 100000);
        assert_eq!(free_range("a:100000:65536\n", 100000, 65536), 165536);
        assert_eq!(
            free_range("a:300000:10\nb:100000:65536\n", 100000, 65536),
            165536
        );
        assert_eq!(free_range("a:170000:10\n", 100000, 65536), 100000);
        assert_eq!(free_range("a:150000:10\n", 100000, 65536), 150010);
    }
}
