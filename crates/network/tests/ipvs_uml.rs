//! The IPVS balancer against a real kernel's IPVS. This host's kernel has
//! none (no ip_vs module), so the test boots User-Mode Linux (Debian's
//! `user-mode-linux`, installed by `scripts/deps.sh`), a Linux kernel run as
//! a process, with the host's root as its root (hostfs) and an init script
//! that loads ip_vs and runs this same test binary inside it. Everything the
//! kernel inside does (namespaces, links, IPVS, iptables) is its own; on the
//! host the test writes only below its temporary directory, and the kernel
//! is gone when the test ends, passed, failed or timed out.
//!
//! Its kernel has iptables but no nftables for IPv4, so the balancer runs
//! with `iptables-legacy`, the program dockerd's own rules use there.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use network::ipvs::{Dest, Ipvs};
use network::lb::{IpvsVips, VipBalancer, VirtualService};

const INSIDE: &str = "BERTH_IN_UML";
const UML: &str = "/usr/bin/linux";
const MODULES: &str = "/usr/lib/uml/modules";

#[test]
fn ipvs_balances_service_vips_in_a_real_kernel() {
    if std::env::var_os(INSIDE).is_some() {
        inside();
        return;
    }
    assert!(
        Path::new(UML).exists(),
        "{UML} is missing: scripts/deps.sh installs user-mode-linux"
    );
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let version = std::fs::read_dir(MODULES)
        .unwrap()
        .next()
        .expect("the UML package ships its modules")
        .unwrap()
        .file_name();
    let mods = dir.path().join("mods/lib/modules");
    std::fs::create_dir_all(&mods).unwrap();
    std::os::unix::fs::symlink(Path::new(MODULES).join(&version), mods.join(&version)).unwrap();
    let me = std::env::current_exe().unwrap();
    let d = dir.path().display();
    let init = dir.path().join("init.sh");
    std::fs::write(
        &init,
        format!(
            "#!/bin/sh\n\
             export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n\
             mount -t proc proc /proc\n\
             mount -t sysfs sys /sys\n\
             mount -t tmpfs tmpfs /run\n\
             printf '#!/bin/sh\\nexec /sbin/modprobe -d {d}/mods \"$@\"\\n' > {d}/modprobe\n\
             chmod +x {d}/modprobe\n\
             echo {d}/modprobe > /proc/sys/kernel/modprobe\n\
             if /sbin/modprobe -d {d}/mods -a ip_vs ip_vs_rr veth bridge nf_conntrack ip_tables \
                iptable_mangle iptable_filter xt_mark ipt_REJECT > {d}/out 2>&1; then\n\
               {INSIDE}=1 {me} --exact ipvs_balances_service_vips_in_a_real_kernel --nocapture \
                 --test-threads=1 >> {d}/out 2>&1\n\
               echo $? > {d}/status\n\
             else\n\
               echo modules > {d}/status\n\
             fi\n\
             /bin/busybox poweroff -f\n",
            me = me.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&init, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut uml = Command::new(UML)
        .args([
            "mem=512M",
            "rootfstype=hostfs",
            "rootflags=/",
            "rw",
            &format!("init={}", init.display()),
            "con=null",
            "con0=null,fd:1",
            &format!("uml_dir={d}"),
            "umid=berth-ipvs-test",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(dir.path().join("console")).unwrap(),
        ))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _kill = KillOnDrop(uml.id());
    let deadline = Instant::now() + Duration::from_secs(300);
    while uml.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "UML did not finish in 300 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert_eq!(
        read("status").trim(),
        "0",
        "the test inside UML failed:\n{}\n--- console:\n{}",
        read("out"),
        read("console")
    );
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // UML's kernel threads are processes of its own group.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);
const BACKENDS: [(&str, Ipv4Addr); 3] = [
    ("b1", Ipv4Addr::new(10, 77, 0, 11)),
    ("b2", Ipv4Addr::new(10, 77, 0, 12)),
    ("b3", Ipv4Addr::new(10, 77, 0, 13)),
];

fn netns(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

fn ip(args: &str) {
    let ok = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .unwrap()
        .success();
    assert!(ok, "ip {args}");
}

/// Runs `f` on a thread of its own in the namespace `name`.
fn within<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = std::fs::File::open(netns(name)).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// The client's view: who answers `n` connections to the VIP.
fn ask(n: usize) -> Vec<Result<String, std::io::ErrorKind>> {
    within("client", move || {
        (0..n)
            .map(|_| {
                let mut s = TcpStream::connect_timeout(
                    &SocketAddrV4::new(VIP, 80).into(),
                    Duration::from_secs(3),
                )
                .map_err(|e| e.kind())?;
                let mut name = String::new();
                s.read_to_string(&mut name).map_err(|e| e.kind())?;
                Ok(name)
            })
            .collect()
    })
}

fn counts(answers: &[Result<String, std::io::ErrorKind>]) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for a in answers {
        *c.entry(format!("{a:?}")).or_default() += 1;
    }
    c
}

fn ipvs_state() -> Vec<(u32, Vec<Dest>)> {
    within("client", || {
        let mut ipvs = Ipvs::open().unwrap();
        let marks = ipvs.fwmark_services().unwrap();
        marks
            .into_iter()
            .map(|m| (m, ipvs.dests(m).unwrap()))
            .collect()
    })
}

fn inside() {
    ip("link add br0 type bridge");
    ip("link set br0 up");
    let mut hosts = vec![("client", CLIENT)];
    hosts.extend(BACKENDS);
    for (name, addr) in &hosts {
        ip(&format!("netns add {name}"));
        ip(&format!(
            "link add v-{name} type veth peer name eth0 netns {name}"
        ));
        ip(&format!("link set v-{name} master br0 up"));
        ip(&format!("-n {name} addr add {addr}/24 dev eth0"));
        ip(&format!("-n {name} link set eth0 up"));
        ip(&format!("-n {name} link set lo up"));
    }
    for (name, _) in BACKENDS {
        let listener = within(name, || TcpListener::bind("0.0.0.0:80").unwrap());
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let _ = conn.write_all(name.as_bytes());
            }
        });
    }
    // Another IPVS user's service, outside the network's marks: never touched.
    within("client", || Ipvs::open().unwrap().add_service(7).unwrap());

    let lb = IpvsVips {
        iptables: "iptables-legacy".into(),
    };
    let subnet = "10.77.0.0/24".parse().unwrap();
    let apply = |backends: Option<&[Ipv4Addr]>| {
        let services: Vec<VirtualService> = backends
            .map(|b| {
                vec![VirtualService {
                    vip: VIP,
                    backends: b.to_vec(),
                }]
            })
            .unwrap_or_default();
        lb.apply(&netns("client"), "berth-lb-test", subnet, &services)
            .unwrap();
    };
    let all: Vec<Ipv4Addr> = BACKENDS.iter().map(|(_, a)| *a).collect();
    let mark = u32::from(VIP);

    apply(Some(&all));
    let answers = ask(6);
    assert_eq!(
        counts(&answers),
        BTreeMap::from([
            ("Ok(\"b1\")".to_string(), 2),
            ("Ok(\"b2\")".to_string(), 2),
            ("Ok(\"b3\")".to_string(), 2)
        ]),
        "round robin over the three backends"
    );
    let dests = |addrs: &[Ipv4Addr]| -> Vec<Dest> {
        addrs.iter().map(|a| Dest { addr: *a, port: 0 }).collect()
    };
    assert_eq!(ipvs_state(), vec![(7, vec![]), (mark, dests(&all))]);

    // A scale-down: the leaving backends go, the staying one keeps serving.
    apply(Some(&all[1..2]));
    assert_eq!(
        counts(&ask(3)),
        BTreeMap::from([("Ok(\"b2\")".to_string(), 3)])
    );
    assert_eq!(ipvs_state(), vec![(7, vec![]), (mark, dests(&all[1..2]))]);

    // No backend: refused at once, not left to time out.
    apply(Some(&[]));
    let started = Instant::now();
    assert_eq!(ask(1), vec![Err(std::io::ErrorKind::ConnectionRefused)]);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(ipvs_state(), vec![(7, vec![])]);

    // The service is gone: no rule, chain or IPVS service of ours is left.
    apply(None);
    for table in ["mangle", "filter"] {
        let rules = within("client", move || {
            Command::new("iptables-legacy")
                .args(["-w", "-t", table, "-S"])
                .output()
                .unwrap()
        });
        let text = String::from_utf8_lossy(&rules.stdout).to_string();
        assert!(!text.contains("BERTH-LB-TEST"), "{table}: {text}");
    }
    assert_eq!(ipvs_state(), vec![(7, vec![])]);
}
