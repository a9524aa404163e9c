//! The HTTP router (`--router-addr`, issue 18): routes from containers'
//! `berth.http.*` labels to busybox httpd containers on the daemon's
//! bridge, live as containers start, stop (drained from the stop signal on)
//! and change health; balancing,
//! ejection of a failing backend under load, a POST with a body sent on
//! past a dead backend, refused labels, TLS by SNI,
//! WebSocket frames echoed by a busybox `nc` container. (Forwarded headers,
//! body limits, timeouts and streaming are tested against loopback
//! backends in crates/router/tests/proxy.rs.)

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::prometheus::{free_port, free_ports};
use common::{Daemon, SharedSlot, berth_ok, wait_for};

static PORTS: OnceLock<(u16, u16)> = OnceLock::new();

/// The router's and the metrics' ports of the shared daemon.
fn ports() -> (u16, u16) {
    *PORTS.get_or_init(|| {
        let [a, b] = free_ports();
        (a, b)
    })
}

fn shared() -> Arc<Daemon> {
    static SLOT: SharedSlot = OnceLock::new();
    fn make() -> Daemon {
        let (router, metrics) = ports();
        Daemon::start_networked_with(&[
            "--router-addr",
            &format!("127.0.0.1:{router}"),
            "--metrics-addr",
            &format!("127.0.0.1:{metrics}"),
        ])
    }
    Daemon::shared_in(&SLOT, make)
}

/// A busybox httpd container answering `hello-from-NAME` on `/` and
/// `api-NAME` on `/api/`, and a POST to `/cgi-bin/echo` with its body.
/// httpd runs under a shell, so killing it leaves the container running
/// with nothing on port 80.
fn web(d: &Daemon, name: &str, labels: &[String], extra: &[&str]) {
    let mut args: Vec<String> = ["run", "-d", "--name", name].map(String::from).to_vec();
    for l in labels {
        args.push("--label".into());
        args.push(l.clone());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let script = format!(
        "trap 'exit 0' TERM; mkdir -p /www/api; echo hello-from-{name} > /www/index.html; \
         echo api-{name} > /www/api/index.html; mkdir -p /www/cgi-bin; \
         printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\nexec head -c \"$CONTENT_LENGTH\"\\n' \
         > /www/cgi-bin/echo; chmod +x /www/cgi-bin/echo; \
         httpd -f -p 80 -h /www & wait; sleep 3600 & wait"
    );
    args.extend(["busybox".into(), "sh".into(), "-c".into(), script]);
    d.docker_ok(&args);
}

fn host_labels(host: &str) -> Vec<String> {
    vec![
        format!("berth.http.host={host}"),
        "berth.http.port=80".to_string(),
    ]
}

fn get(port: u16, host: &str, path: &str) -> Option<(u16, String)> {
    common::web::get_host(port, host, path)
}

fn body_of(port: u16, host: &str, path: &str) -> String {
    match get(port, host, path) {
        Some((200, body)) => body.trim().to_string(),
        other => format!("{other:?}"),
    }
}

/// Waits until `host``path` answers `want` (status 200 body, or e.g. "503").
fn wait_body(port: u16, host: &str, path: &str, want: &str, within: Duration) -> Option<Duration> {
    let begun = Instant::now();
    wait_for(within, || {
        let got = match get(port, host, path) {
            Some((200, body)) => body.trim().to_string(),
            Some((status, _)) => status.to_string(),
            None => "no answer".into(),
        };
        (got == want).then(|| begun.elapsed())
    })
}

/// Three web containers behind one host, once all three answer; their
/// names and the host.
fn three_behind_one_host(d: &Daemon, prefix: &str, extra_labels: &[&str]) -> (Vec<String>, String) {
    let (port, _) = ports();
    let names: Vec<String> = (0..3).map(|_| d.name(prefix)).collect();
    let host = format!("{}.test", names[0]);
    let mut labels = host_labels(&host);
    labels.extend(extra_labels.iter().map(|l| l.to_string()));
    for n in &names {
        web(d, n, &labels, &[]);
    }
    let all = wait_for(Duration::from_secs(10), || {
        let seen: std::collections::HashSet<String> =
            (0..6).map(|_| body_of(port, &host, "/")).collect();
        (seen.len() == 3 && seen.iter().all(|b| b.starts_with("hello-from-"))).then_some(())
    });
    assert!(all.is_some(), "not all three joined\n{}", d.log_tail());
    (names, host)
}

/// `host`'s route as `berth router ls --format json` shows it.
fn route_of(d: &Daemon, host: &str) -> serde_json::Value {
    let report: serde_json::Value =
        serde_json::from_str(&berth_ok(d, &["router", "ls", "--format", "json"])).unwrap();
    report["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == host)
        .unwrap()
        .clone()
}

fn rm_all(d: &Daemon, names: &[String]) {
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    d.docker_ok(&rm);
}

#[test]
fn routes_by_host_and_path_follow_containers_as_they_stop_and_start() {
    let d = shared();
    if !d.is_berth() {
        return;
    }
    let (port, metrics) = ports();
    let root = d.name("root");
    let api = d.name("api");
    let host = format!("{root}.test");
    web(&d, &root, &host_labels(&host), &[]);
    let mut api_labels = host_labels(&host.to_uppercase());
    api_labels.push("berth.http.path=/api".into());
    web(&d, &api, &api_labels, &[]);
    let want_root = format!("hello-from-{root}");
    assert!(
        wait_body(port, &host, "/", &want_root, Duration::from_secs(10)).is_some(),
        "{}\n{}",
        body_of(port, &host, "/"),
        d.log_tail()
    );
    let want_api = format!("api-{api}");
    assert!(wait_body(port, &host, "/api/", &want_api, Duration::from_secs(10)).is_some());
    // Prefixes match whole segments: /apiary is the root container's (its
    // httpd's own 404, not the router's).
    let (status, body) = get(port, &host, "/apiary").unwrap();
    assert_eq!(status, 404);
    assert!(!body.contains("berth router"), "{body}");
    let (status, body) = get(port, "nobody.test", "/").unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("no route for host \"nobody.test\""), "{body}");

    // Leaves when it stops: /api/ falls back to the root container.
    d.docker_ok(&["stop", &api]);
    let left = wait_body(
        port,
        &host,
        "/api/",
        &format!("api-{root}"),
        Duration::from_secs(5),
    );
    assert!(
        left.is_some_and(|t| t < Duration::from_millis(1500)),
        "left after {left:?}"
    );
    d.docker_ok(&["start", &api]);
    let joined = wait_body(port, &host, "/api/", &want_api, Duration::from_secs(5));
    assert!(
        joined.is_some_and(|t| t < Duration::from_secs(2)),
        "joined after {joined:?}"
    );
    // A host whose containers all stopped is unknown again.
    d.docker_ok(&["stop", &root, &api]);
    assert!(wait_body(port, &host, "/", "404", Duration::from_secs(3)).is_some());

    let scrape = common::prometheus::get(&format!("http://127.0.0.1:{metrics}/metrics"))
        .unwrap()
        .1;
    let series = format!("berth_router_requests_total{{route=\"{host}/api\",code=\"200\"}}");
    assert!(scrape.contains(&series), "no {series} in the scrape");
    let log = std::fs::read_to_string(d.tmp().join("daemon.log")).unwrap();
    assert!(
        log.contains(&format!("\"GET {host}/api/\" 200")),
        "no access log line for {host}/api/"
    );
    d.docker_ok(&["rm", "-f", &root, &api]);
}

#[test]
fn round_robin_spreads_requests_over_every_container() {
    let d = shared();
    if !d.is_berth() {
        return;
    }
    let (port, _) = ports();
    let (names, host) = three_behind_one_host(&d, "rr", &[]);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..30 {
        *counts.entry(body_of(port, &host, "/")).or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|&n| n == 10), "{counts:?}");
    rm_all(&d, &names);
}

#[test]
fn a_container_joins_when_healthy_and_leaves_when_unhealthy() {
    let d = shared();
    if !d.is_berth() {
        return;
    }
    let (port, _) = ports();
    let name = d.name("health");
    let host = format!("{name}.test");
    web(
        &d,
        &name,
        &host_labels(&host),
        &[
            "--health-cmd",
            "test -f /www/ok",
            "--health-interval",
            "300ms",
            "--health-retries",
            "1",
        ],
    );
    // Running but not yet healthy: the route exists, without a backend.
    assert_eq!(get(port, &host, "/").map(|r| r.0), Some(503));
    d.docker_ok(&["exec", &name, "busybox", "touch", "/www/ok"]);
    let want = format!("hello-from-{name}");
    assert!(wait_body(port, &host, "/", &want, Duration::from_secs(10)).is_some());
    d.docker_ok(&["exec", &name, "busybox", "rm", "/www/ok"]);
    let left = wait_body(port, &host, "/", "503", Duration::from_secs(10));
    assert!(left.is_some(), "still routed while unhealthy");
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn failing_backends_are_ejected_or_leave_while_requests_keep_succeeding() {
    let d = shared();
    if !d.is_berth() {
        return;
    }
    let (port, _) = ports();
    let (names, host) = three_behind_one_host(
        &d,
        "ej",
        &["berth.http.max_fails=2", "berth.http.fail_timeout=60s"],
    );
    // A bounded load on loopback; one backend's server dies (its container
    // runs on: ejection), another's whole container is killed (it leaves).
    let load_host = host.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_load = stop.clone();
    let load = std::thread::spawn(move || {
        let (mut sent, mut failures) = (0, Vec::new());
        let begun = Instant::now();
        while !stop_load.load(std::sync::atomic::Ordering::Relaxed)
            && sent < 20_000
            && begun.elapsed() < Duration::from_secs(60)
        {
            sent += 1;
            match get(port, &load_host, "/") {
                Some((200, _)) => {}
                other => failures.push((sent, other)),
            }
        }
        (sent, failures)
    });
    std::thread::sleep(Duration::from_millis(300));
    d.docker_ok(&["exec", &names[0], "busybox", "killall", "httpd"]);
    std::thread::sleep(Duration::from_millis(300));
    d.docker_ok(&["kill", &names[1]]);
    // The load goes on past both failures before it is judged.
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, failures) = load.join().unwrap();
    assert!(sent > 50, "only {sent} requests");
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    let route = route_of(&d, &host);
    let backends = route["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 2, "the killed container left: {route}");
    let dead = backends
        .iter()
        .find(|b| b["container"] == names[0].as_str())
        .unwrap();
    assert_eq!(dead["ejected"], true, "{route}");
    let table = berth_ok(&d, &["router", "ls"]);
    assert!(
        table.contains(&names[0]) && table.contains("ejected"),
        "{table}"
    );
    rm_all(&d, &names);
}

#[test]
fn a_post_with_a_body_goes_past_a_backend_whose_server_died() {
    let d = shared();
    if !d.is_berth() {
        return;
    }
    let (port, _) = ports();
    // Never ejected: requests keep meeting the dead one.
    let (names, host) = three_behind_one_host(&d, "post", &["berth.http.max_fails=1000"]);
    // Its container runs on, nothing listens: connects are refused, so
    // nothing of a POST reached it and the router sends it on, body and all.
    d.docker_ok(&["exec", &names[0], "busybox", "killall", "httpd"]);
    let body: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let head = format!(
        "POST /cgi-bin/echo HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    for i in 0..9 {
        let got = common::web::request(port, &head, &body);
        assert!(
            matches!(&got, Some((200, echoed)) if echoed.as_bytes() == body),
            "POST {i}: {:?}\n{}",
            got.map(|(status, echoed)| (
                status,
                echoed.len(),
                echoed.chars().take(200).collect::<String>()
            )),
            d.log_tail()
        );
    }
    let route = route_of(&d, &host);
    let dead = route["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["container"] == names[0].as_str())
        .unwrap();
    assert!(
        dead["requests"].as_u64().unwrap() >= 2,
        "round robin sent some to the dead one: {route}"
    );
    rm_all(&d, &names);
}

#[test]
fn a_stopping_container_gets_no_new_request_while_it_still_runs() {
    let d = shared();
    if !d.is_berth() {
        return;
    }
    let (port, _) = ports();
    let slow = d.name("slowstop");
    let other = d.name("other");
    let host = format!("{slow}.test");
    // Its shell and httpd ignore SIGTERM: `docker stop` waits out its timeout.
    let labels = host_labels(&host);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &slow,
        "--label",
        &labels[0],
        "--label",
        &labels[1],
        "busybox",
        "sh",
        "-c",
        &format!(
            "trap '' TERM; mkdir -p /www; echo hello-from-{slow} > /www/index.html; exec httpd -f -p 80 -h /www"
        ),
    ]);
    web(&d, &other, &labels, &[]);
    let both = wait_for(Duration::from_secs(10), || {
        let seen: std::collections::HashSet<String> =
            (0..4).map(|_| body_of(port, &host, "/")).collect();
        (seen.len() == 2).then_some(())
    });
    assert!(both.is_some(), "both did not join");
    let stopping = {
        let d = d.clone();
        let slow = slow.clone();
        std::thread::spawn(move || d.docker_ok(&["stop", "-t", "4", &slow]))
    };
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", &slow])
            .trim(),
        "running",
        "still in its stop timeout"
    );
    let want = format!("hello-from-{other}");
    for _ in 0..10 {
        assert_eq!(body_of(port, &host, "/"), want);
    }
    stopping.join().unwrap();
    rm_all(&d, &[slow, other]);
}

#[test]
fn invalid_labels_refuse_the_route_but_not_the_container() {
    let d = shared();
    if !d.is_berth() {
        return;
    }
    let bad_port = d.name("badport");
    let bad_host = d.name("badhost");
    web(
        &d,
        &bad_port,
        &[
            format!("berth.http.host={bad_port}.test"),
            "berth.http.port=http".into(),
        ],
        &[],
    );
    web(&d, &bad_host, &["berth.http.host=not a host!".into()], &[]);
    let bad_scheme = d.name("badscheme");
    let mut scheme_labels = host_labels(&format!("{bad_scheme}.test"));
    scheme_labels.push("berth.http.scheme=h2".into());
    web(&d, &bad_scheme, &scheme_labels, &[]);
    for n in [&bad_port, &bad_host, &bad_scheme] {
        assert_eq!(
            d.docker_ok(&["inspect", "-f", "{{.State.Status}}", n])
                .trim(),
            "running"
        );
    }
    let listed = wait_for(Duration::from_secs(5), || {
        let t = berth_ok(&d, &["router", "ls"]);
        (t.contains(&format!(
            "REFUSED {bad_port}: label berth.http.port=\"http\""
        )) && t.contains(&format!("REFUSED {bad_host}: label berth.http.host"))
            && t.contains(&format!(
                "REFUSED {bad_scheme}: label berth.http.scheme=\"h2\": http (HTTP/1.1) or h2c"
            )))
        .then_some(t)
    });
    assert!(listed.is_some(), "{}", berth_ok(&d, &["router", "ls"]));
    let log = std::fs::read_to_string(d.tmp().join("daemon.log")).unwrap();
    let warning = format!("router: container {bad_port} gets no route: label berth.http.port");
    assert!(log.contains(&warning), "no warning {warning:?} in the log");
    d.docker_ok(&["rm", "-f", &bad_port, &bad_host, &bad_scheme]);
}

/// A self-signed certificate for `host`, written as DIR/<host>.crt/.key;
/// its PEM, which a client trusts as the CA.
fn write_cert(dir: &std::path::Path, host: &str) -> String {
    let ck = rcgen::generate_simple_self_signed(vec![host.to_string()]).unwrap();
    let pem = ck.cert.pem();
    // The key first: the reload must not see a certificate without its key.
    std::fs::write(
        dir.join(format!("{host}.key.tmp")),
        ck.signing_key.serialize_pem(),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{host}.crt.tmp")), &pem).unwrap();
    std::fs::rename(
        dir.join(format!("{host}.key.tmp")),
        dir.join(format!("{host}.key")),
    )
    .unwrap();
    std::fs::rename(
        dir.join(format!("{host}.crt.tmp")),
        dir.join(format!("{host}.crt")),
    )
    .unwrap();
    pem
}

/// curl over HTTPS with SNI `host`, trusting `ca`; the HTTP version and body.
fn curl_tls(port: u16, host: &str, ca: &std::path::Path, http2: bool) -> Option<(String, String)> {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "--fail", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(if http2 { "--http2" } else { "--http1.1" })
        .args(["-w", "\n%{http_version}"])
        .arg(format!("https://{host}:{port}/"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, version) = text.rsplit_once('\n')?;
    Some((version.to_string(), body.trim().to_string()))
}

#[test]
fn tls_chooses_each_hosts_certificate_by_sni_and_reloads_it() {
    let certs = tempfile::tempdir().unwrap();
    let (one, two) = ("one.router.test", "two.router.test");
    let pem_one = write_cert(certs.path(), one);
    let pem_two = write_cert(certs.path(), two);
    let tls_port = free_port();
    let d = Daemon::start_networked_with(&[
        "--router-tls-addr",
        &format!("127.0.0.1:{tls_port}"),
        "--router-cert-dir",
        certs.path().to_str().unwrap(),
    ]);
    if !d.is_berth() {
        return;
    }
    let cas = tempfile::tempdir().unwrap();
    let ca = |name: &str, pem: &str| {
        let p = cas.path().join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };
    let (ca_one, ca_two) = (ca("one.pem", &pem_one), ca("two.pem", &pem_two));
    let (w1, w2) = (d.name("tls1"), d.name("tls2"));
    web(&d, &w1, &host_labels(one), &[]);
    web(&d, &w2, &host_labels(two), &[]);
    let served = wait_for(Duration::from_secs(10), || {
        curl_tls(tls_port, one, &ca_one, true)
    });
    assert_eq!(
        served,
        Some(("2".to_string(), format!("hello-from-{w1}"))),
        "h2 by ALPN, one's certificate\n{}",
        d.log_tail()
    );
    assert_eq!(
        curl_tls(tls_port, two, &ca_two, false),
        Some(("1.1".to_string(), format!("hello-from-{w2}")))
    );
    assert_eq!(
        curl_tls(tls_port, two, &ca_one, false),
        None,
        "two is not served one's certificate"
    );
    // A renewed certificate is served without a restart.
    std::thread::sleep(Duration::from_millis(1100));
    let renewed = write_cert(certs.path(), one);
    let ca_new = ca("one-new.pem", &renewed);
    let reloaded = wait_for(Duration::from_secs(5), || {
        curl_tls(tls_port, one, &ca_new, false)
    });
    assert!(reloaded.is_some(), "the renewed certificate was not served");
    assert_eq!(curl_tls(tls_port, one, &ca_one, false), None);
    d.docker_ok(&["rm", "-f", &w1, &w2]);
}

/// A WebSocket endpoint in busybox: `nc -ll` runs this per connection; it
/// answers RFC 6455's handshake (the accept key from sha1sum and base64)
/// and then echoes every byte, so a client's frames come back as sent.
const WS_ECHO: &str = r#"key=""
while read -r line; do
  line=$(printf '%s' "$line" | busybox tr -d '\r')
  [ -z "$line" ] && break
  case "$line" in [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) key=$(printf '%s' "${line#*:}" | busybox tr -d ' ') ;; esac
done
hex=$(printf '%s' "${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | busybox sha1sum | busybox cut -c1-40 | busybox sed 's/../\\x&/g')
accept=$(printf "$hex" | busybox base64)
printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' "$accept"
exec busybox cat
"#;

#[test]
fn websocket_frames_echo_through_the_router() {
    let d = shared();
    if !d.is_berth() {
        return;
    }
    let (port, _) = ports();
    let name = d.name("ws");
    let host = format!("{name}.test");
    let labels = host_labels(&host);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &labels[0],
        "--label",
        &labels[1],
        "-e",
        &format!("WS_ECHO={WS_ECHO}"),
        "busybox",
        "sh",
        "-c",
        "printf '%s' \"$WS_ECHO\" > /ws.sh && busybox chmod +x /ws.sh && exec busybox nc -ll -p 80 -e /bin/sh /ws.sh",
    ]);
    let handshake = |s: &mut TcpStream| -> Option<String> {
        write!(
            s,
            "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .ok()?;
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).ok()?;
            head.push(b[0]);
        }
        Some(String::from_utf8_lossy(&head).into_owned())
    };
    let connected = wait_for(Duration::from_secs(10), || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let head = handshake(&mut s)?;
        head.starts_with("HTTP/1.1 101").then_some((s, head))
    });
    let (mut s, head) = connected.expect("no 101 from the WebSocket container");
    // RFC 6455's own example key and answer.
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    for text in ["hello", "a second message through the tunnel"] {
        // A masked text frame, as a client sends it.
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        s.write_all(&frame).unwrap();
        let mut back = vec![0u8; frame.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back[0], 0x81);
        let payload: Vec<u8> = back[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ back[2 + i % 4])
            .collect();
        assert_eq!(String::from_utf8(payload).unwrap(), text);
    }
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn daemon_json_router_addr_serves_the_router() {
    let conf = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = conf.path().join("daemon.json");
    std::fs::write(&file, format!("{{\"router-addr\": \"127.0.0.1:{port}\"}}")).unwrap();
    let d = Daemon::start_networked_with(&["--config-file", file.to_str().unwrap()]);
    if !d.is_berth() {
        return;
    }
    let name = d.name("json");
    let host = format!("{name}.test");
    web(&d, &name, &host_labels(&host), &[]);
    let want = format!("hello-from-{name}");
    assert!(wait_body(port, &host, "/", &want, Duration::from_secs(10)).is_some());
    d.docker_ok(&["rm", "-f", &name]);
}
