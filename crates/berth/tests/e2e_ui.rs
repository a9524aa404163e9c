//! The web dashboard (`--ui-addr`) in a real headless browser: Debian's
//! chromium driven over WebDriver (chromedriver) through fantoccini.
//!
//! One flow, as a user goes: set up the admin account, run a container from
//! the form (after bad input that creates nothing), see it with live stats,
//! read its logs, type in its console, stop and remove it, pull an image from
//! a local `berth registry` and delete it; then a second browser without a
//! session meets the login page and the login throttle, and a forged request
//! without the CSRF token is refused. Screenshots of each page go to
//! docs/ui/. Last, the list's render time with 200 containers is printed
//! (a figure for the README, not an assertion).

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::git::git_ok as git;
use common::prometheus::{free_port, free_ports};
use common::registry::RegistryProcess;
use common::{Daemon, Kind, wait_for};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// How long a page may take to show something. Generous: five browsers and
/// their daemons run at once here, beside other builds on two cores.
const WAIT: Duration = Duration::from_secs(90);

/// chromedriver on a free loopback port in its own process group, so the
/// browsers it starts die with it (even when the test panics).
struct Driver {
    child: Child,
    port: u16,
    _profiles: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        let port = free_port();
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/deps.sh installs it)");
        let up = wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "chromedriver did not listen on {port}");
        Driver {
            child,
            port,
            _profiles: tempfile::tempdir().unwrap(),
        }
    }

    /// A new headless browser with its own profile (no shared cookies).
    async fn browser(&self, name: &str) -> Client {
        let profile = self._profiles.path().join(name);
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,800", "--force-device-scale-factor=1",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        // chromedriver speaks plain HTTP on loopback: no TLS client needed.
        let c = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a chromium session");
        // The window with its (headless) frame: a 1280x800 viewport.
        c.set_window_size(1280, 943).await.unwrap();
        c
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Runs `script` (a function body) in the page; its return value.
async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Polls `script` until it returns something truthy; returns it. A script
/// error counts as not yet: the page may be between two renders.
async fn until(c: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = c.execute(script, vec![]).await.unwrap_or(Value::Null);
        let truthy =
            !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
        if truthy {
            return v;
        }
        if Instant::now() > deadline {
            let body = js(c, "return document.body.innerText").await;
            panic!("timed out waiting for {what}; the page says:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn type_into(c: &Client, css: &str, text: &str) {
    let e = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Clicks the element `css` names. The pages redraw live (events, stats),
/// so an element found may be replaced before the click lands: find it again.
async fn click(c: &Client, css: &str) {
    for _ in 0..10 {
        let e = c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap();
        match e.click().await {
            Ok(()) => return,
            Err(fantoccini::error::CmdError::Standard(w))
                if w.error == fantoccini::error::ErrorStatus::StaleElementReference =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("click {css}: {e}"),
        }
    }
    panic!("click {css}: the element kept being replaced");
}

/// Submits the run form and waits for the message beside `field`.
async fn run_form_error(c: &Client, field: &str) -> String {
    click(c, "#run-submit").await;
    let script = format!(
        "const f = document.querySelector('#run-form [name={field}]').closest('.field'); \
         return f.classList.contains('invalid') && f.querySelector('.field-error').textContent"
    );
    let msg = until(c, &format!("the {field} field's error"), &script).await;
    msg.as_str().unwrap().to_string()
}

/// Opens a tab of the container page and waits for `ready`.
async fn tab(c: &Client, name: &str, ready: &str) {
    click(c, &format!("a[data-tab={name}]")).await;
    until(c, &format!("the {name} tab"), ready).await;
}

async fn shot(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/ui");
    std::fs::create_dir_all(&dir).unwrap();
    // Toasts of earlier steps would cover the page.
    js(c, "document.querySelector('.toasts')?.remove(); return 1").await;
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

fn container_names(d: &Daemon) -> Vec<String> {
    d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn dashboard_in_a_real_browser() {
    let ui_port = free_port();
    let d = Daemon::start_with(
        Kind::Berth,
        vec!["--ui-addr".into(), format!("127.0.0.1:{ui_port}")],
    );
    let reg = RegistryProcess::berth(&[]);
    let remote = format!("{}/e2e/pulled:v1", reg.addr);
    // A layer of its own beside busybox's, so the pull downloads something.
    d.docker_ok(&[
        "run",
        "--name",
        "ui-layer",
        "busybox",
        "sh",
        "-c",
        "head -c 2000000 /dev/urandom > /blob",
    ]);
    d.docker_ok(&["commit", "ui-layer", &remote]);
    d.docker_ok(&["rm", "ui-layer"]);
    d.docker_ok(&["push", &remote]);
    d.docker_ok(&["rmi", &remote]);
    let driver = Driver::start();
    let base = format!("http://127.0.0.1:{ui_port}");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(flow(&d, &driver, &base, &remote));
}

async fn flow(d: &Daemon, driver: &Driver, base: &str, remote: &str) {
    let c = driver.browser("admin").await;
    let result = steps(d, driver, &c, base, remote).await;
    let _ = c.close().await;
    result
}

async fn steps(d: &Daemon, driver: &Driver, c: &Client, base: &str, remote: &str) {
    // First visit: the setup page creates the admin account.
    c.goto(base).await.unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#setup-form"))
        .await
        .unwrap();
    shot(c, "setup").await;
    type_into(c, "input[name=password]", PASSWORD).await;
    type_into(c, "input[name=confirm]", PASSWORD).await;
    click(c, "#login-submit").await;
    until(
        c,
        "the overview's counts",
        "return document.querySelectorAll('#count-cards .stat').length === 4",
    )
    .await;
    until(
        c,
        "the host figures",
        "return document.getElementById('engine-version')?.textContent.startsWith('berth')",
    )
    .await;
    let users = std::fs::read_to_string(d.data_root().join("ui/users.json")).unwrap();
    assert!(
        users.contains("$argon2id$") && !users.contains(PASSWORD),
        "{users}"
    );

    // The run form refuses bad input beside the field and creates nothing.
    c.goto(&format!("{base}/#/containers")).await.unwrap();
    let before = container_names(d);
    click(c, "#run-container").await;
    type_into(c, "#run-form input[name=image]", "busybox").await;
    type_into(c, "#run-form input[name=name]", "bad name!").await;
    let msg = run_form_error(c, "name").await;
    assert!(msg.contains("Invalid container name"), "{msg}");
    shot(c, "run-form-error").await;
    type_into(c, "#run-form input[name=name]", "ui-web").await;
    type_into(c, "#run-form input[name=image]", "no-such-image:v9").await;
    let msg = run_form_error(c, "image").await;
    assert!(msg.contains("No such image"), "{msg}");
    type_into(c, "#run-form input[name=image]", "busybox").await;
    type_into(c, "#run-form input[name=memory]", "lots").await;
    let msg = run_form_error(c, "memory").await;
    assert!(msg.contains("invalid size"), "{msg}");
    assert_eq!(container_names(d), before, "bad input created nothing");

    // A container with a health check, run by the CLI: the list shows its health.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ui-health",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "1d",
    ]);
    until(
        c,
        "the healthy badge",
        "return document.querySelector('#containers tr[data-name=\"ui-health\"] .badge.h-healthy')",
    )
    .await;

    // Good input runs the container; the list shows it with live stats.
    type_into(c, "#run-form input[name=memory]", "64m").await;
    type_into(
        c,
        "#run-form input[name=cmd]",
        "sh -c 'echo hello-from-ui; while true; do echo tick; sleep 1; done'",
    )
    .await;
    type_into(c, "#run-form textarea[name=env]", "GREETING=hi").await;
    click(c, "#run-submit").await;
    until(
        c,
        "the running row",
        "return document.querySelector('#containers tr[data-name=\"ui-web\"][data-state=running]')",
    )
    .await;
    let mem = until(c, "live memory in the row", "const t = document.querySelector('#containers tr[data-name=\"ui-web\"] .mem')?.textContent; return t && t !== '' && t").await;
    assert!(mem.as_str().unwrap().contains("iB"), "{mem}");
    shot(c, "containers").await;
    d.docker_ok(&["rm", "-f", "ui-health"]);
    let inspect: Value = serde_json::from_str(&d.docker_ok(&["inspect", "ui-web"])).unwrap();
    assert_eq!(inspect[0]["HostConfig"]["Memory"], json!(64 << 20));
    assert!(
        inspect[0]["Config"]["Env"]
            .to_string()
            .contains("GREETING=hi")
    );

    // The container's page: inspect, logs with search, charts, top.
    click(c, "#containers tr[data-name=\"ui-web\"] .name a").await;
    until(c, "the container page", "return document.querySelector('.kv') && document.querySelector('h1').textContent === 'ui-web'").await;
    shot(c, "container").await;
    tab(
        c,
        "logs",
        "return document.getElementById('logs')?.textContent.includes('hello-from-ui')",
    )
    .await;
    until(
        c,
        "followed lines",
        "return document.querySelectorAll('#logs .log-line').length >= 3",
    )
    .await;
    type_into(c, "#log-search", "hello").await;
    let hits = until(
        c,
        "a highlight",
        "return document.querySelectorAll('#logs mark').length",
    )
    .await;
    assert_eq!(hits, json!(1), "one line says hello");
    shot(c, "logs").await;
    click(c, "#log-timestamps").await;
    until(
        c,
        "timestamps on the lines",
        "return document.querySelector('#logs .log-line time')?.textContent.match(/^\\d{4}-\\d\\d-\\d\\dT/)",
    )
    .await;
    // Three samples: the rates need two, the charts show lines.
    tab(
        c,
        "stats",
        "return Number(document.querySelector('.tab-body').dataset.samples || 0) >= 3",
    )
    .await;
    shot(c, "stats").await;
    tab(
        c,
        "processes",
        "return document.getElementById('top')?.textContent.includes('sleep')",
    )
    .await;

    // The console: a shell over a websocket; what is typed runs.
    tab(
        c,
        "console",
        "return document.getElementById('console-status')?.textContent.startsWith('connected')",
    )
    .await;
    until(
        c,
        "the shell's prompt",
        "return document.querySelector('.term-screen').innerText.includes('# ')",
    )
    .await;
    let input = c.find(Locator::Css(".term-input")).await.unwrap();
    input.send_keys("echo hi\u{E007}").await.unwrap();
    until(c, "`hi` in the terminal", "return document.querySelector('.term-screen').innerText.split('\\n').some(l => l.trim() === 'hi')").await;
    shot(c, "console").await;
    // Resize: the shell's terminal follows the page's.
    let first = js(
        c,
        "return document.getElementById('console-status').dataset.size",
    )
    .await;
    c.set_window_size(1000, 700).await.unwrap();
    let size = until(c, "a resized console", &format!("const s = document.getElementById('console-status').dataset.size; return s !== {first} && s")).await;
    input.send_keys("stty size\u{E007}").await.unwrap();
    let want = size.as_str().unwrap().to_string();
    until(c, "stty's size", &format!("return document.querySelector('.term-screen').innerText.split('\\n').some(l => l.trim() === '{want}')")).await;
    c.set_window_size(1280, 943).await.unwrap();

    // Stop, then remove, from the list.
    c.goto(&format!("{base}/#/containers")).await.unwrap();
    click(
        c,
        "#containers tr[data-name=\"ui-web\"] button[data-act=stop]",
    )
    .await;
    until(
        c,
        "the stopped row",
        "return document.querySelector('#containers tr[data-name=\"ui-web\"][data-state=exited]')",
    )
    .await;
    click(
        c,
        "#containers tr[data-name=\"ui-web\"] button[data-act=remove]",
    )
    .await;
    click(c, ".modal .btn.danger").await;
    until(c, "the row gone", "return document.querySelector('#containers tbody') && !document.querySelector('#containers tr[data-name=\"ui-web\"]')").await;
    assert!(!container_names(d).contains(&"ui-web".to_string()));

    // Pull from the local registry with per-layer progress, then delete.
    c.goto(&format!("{base}/#/images")).await.unwrap();
    type_into(c, "#pull-ref", remote).await;
    click(c, "#pull-submit").await;
    until(c, "the pulled image", &format!("return [...document.querySelectorAll('#images tr')].some(r => r.dataset.ref === '{remote}')")).await;
    let layers = js(
        c,
        "return [...document.querySelectorAll('#pull-progress .layer')].map(l => l.innerText)",
    )
    .await
    .to_string();
    assert!(
        layers.contains("Pull complete") && layers.contains("Already exists"),
        "per-layer progress: {layers}"
    );
    shot(c, "images").await;

    // A newer push of the same tag: the page marks it, one click pulls it.
    let old_id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", remote]);
    let old_id = old_id.trim();
    d.docker_ok(&[
        "run", "-d", "--name", "ui-old", "-e", "KEEP=me", remote, "sleep", "1d",
    ]);
    d.docker_ok(&[
        "run",
        "--name",
        "ui-layer2",
        "busybox",
        "sh",
        "-c",
        "echo v2 > /v2",
    ]);
    d.docker_ok(&["commit", "ui-layer2", remote]);
    d.docker_ok(&["rm", "ui-layer2"]);
    d.docker_ok(&["push", remote]);
    d.docker_ok(&["tag", old_id, remote]);
    c.goto(&format!("{base}/#/containers")).await.unwrap();
    c.goto(&format!("{base}/#/images")).await.unwrap();
    until(
        c,
        "the image list",
        "return document.querySelectorAll('#images tbody tr').length >= 2",
    )
    .await;
    click(c, "#check-updates").await;
    let marked = format!("return document.querySelector('[data-update=\"{remote}\"]')");
    until(c, "the update marker", &marked).await;
    // busybox was imported, never pulled: nothing to ask a registry about.
    let others = js(
        c,
        "return document.querySelectorAll('[data-update], [data-current]').length",
    )
    .await;
    assert_eq!(others, json!(1), "only the pulled tag is checked");
    shot(c, "images-update").await;
    click(
        c,
        &format!("button[data-act=pull-update][data-tag=\"{remote}\"]"),
    )
    .await;
    until(
        c,
        "up to date",
        &format!("return document.querySelector('[data-current=\"{remote}\"]')"),
    )
    .await;
    let new_id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", remote]);
    assert_ne!(new_id.trim(), old_id, "the update was pulled");

    // The container of the old image: recreated on the new one in one click.
    c.goto(&format!("{base}/#/containers/ui-old"))
        .await
        .unwrap();
    until(
        c,
        "the stale image notice",
        "return document.getElementById('stale-image')",
    )
    .await;
    shot(c, "recreate").await;
    click(c, "#recreate").await;
    until(
        c,
        "the recreated container's page",
        "return !document.getElementById('stale-image') && document.querySelector('h1')?.textContent === 'ui-old' && document.querySelector('.badge.st-running') && !location.hash.includes('ui-old')",
    )
    .await;
    let inspect: Value = serde_json::from_str(&d.docker_ok(&["inspect", "ui-old"])).unwrap();
    assert_eq!(inspect[0]["Image"], json!(new_id.trim()));
    assert_eq!(inspect[0]["State"]["Running"], json!(true));
    assert!(inspect[0]["Config"]["Env"].to_string().contains("KEEP=me"));
    let names = container_names(d);
    assert!(
        names.contains(&"ui-old".to_string()) && !names.iter().any(|n| n.starts_with("ui-old-")),
        "the old container is gone, nothing else made: {names:?}"
    );
    d.docker_ok(&["rm", "-f", "ui-old"]);
    c.goto(&format!("{base}/#/images")).await.unwrap();
    until(
        c,
        "the image list",
        "return document.querySelectorAll('#images tbody tr').length >= 2",
    )
    .await;

    // Build from a Dockerfile typed in the page, the output streamed.
    click(c, "#build-image").await;
    type_into(c, ".modal input[name=tag]", "ui-built:1").await;
    type_into(
        c,
        ".modal textarea[name=dockerfile]",
        "FROM busybox\nRUN echo built-in-the-page > /b\n",
    )
    .await;
    click(c, ".modal button[type=submit]").await;
    until(
        c,
        "the build's output",
        "return document.getElementById('build-output')?.textContent.includes('Successfully tagged ui-built:1')",
    )
    .await;
    shot(c, "build").await;
    click(c, ".modal-head .icon-btn").await;
    until(
        c,
        "the built image listed",
        "return document.querySelector('#images tr[data-ref=\"ui-built:1\"]')",
    )
    .await;
    assert_eq!(
        d.docker_ok(&["run", "--rm", "ui-built:1", "cat", "/b"])
            .trim(),
        "built-in-the-page"
    );
    // And from an uploaded context (a gzip'd tar, its Dockerfile elsewhere).
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile.ui"),
        "FROM busybox\nCOPY greeting /greeting\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("greeting"), "from-an-upload\n").unwrap();
    let tgz = ctx.path().join("context.tar.gz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .args([
            "-C",
            ctx.path().to_str().unwrap(),
            "Dockerfile.ui",
            "greeting",
        ])
        .status()
        .unwrap();
    assert!(tar.success());
    click(c, "#build-image").await;
    type_into(c, ".modal input[name=tag]", "ui-upload:1").await;
    c.find(Locator::Css(".modal input[name=context]"))
        .await
        .unwrap()
        .send_keys(tgz.to_str().unwrap())
        .await
        .unwrap();
    type_into(c, ".modal input[name=dockerfile-path]", "Dockerfile.ui").await;
    click(c, ".modal button[type=submit]").await;
    until(
        c,
        "the uploaded build's output",
        "return document.getElementById('build-output')?.textContent.includes('Successfully tagged ui-upload:1')",
    )
    .await;
    click(c, ".modal-head .icon-btn").await;
    assert_eq!(
        d.docker_ok(&["run", "--rm", "ui-upload:1", "cat", "/greeting"])
            .trim(),
        "from-an-upload"
    );
    assert!(
        d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .contains(remote)
    );
    click(
        c,
        &format!("#images tr[data-ref=\"{remote}\"] button[data-act=remove]"),
    )
    .await;
    click(c, ".modal .btn.danger").await;
    until(c, "the image gone", &format!("return document.querySelector('#images tbody tr') && ![...document.querySelectorAll('#images tr')].some(r => r.dataset.ref === '{remote}')")).await;
    assert!(
        !d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .contains(remote)
    );

    // The registry: its repositories, a tag with digest and size, deleted.
    let reg_addr = remote.split('/').next().unwrap();
    c.goto(&format!("{base}/#/registry")).await.unwrap();
    type_into(c, "#registry-addr", "not a/registry").await;
    click(c, "#registry-form button[type=submit]").await;
    until(
        c,
        "the registry field's error",
        "return document.querySelector('#registry-form .field.invalid .field-error')?.textContent.includes('invalid registry')",
    )
    .await;
    type_into(c, "#registry-addr", reg_addr).await;
    click(c, "#registry-form button[type=submit]").await;
    click(c, "a[data-repo=\"e2e/pulled\"]").await;
    let size = until(
        c,
        "the tag's row",
        "return document.querySelector('#registry-tag-table tr[data-tag=v1] td.num')?.textContent",
    )
    .await;
    assert!(size.to_string().contains("MiB"), "{size}");
    shot(c, "registry").await;
    click(
        c,
        "#registry-tag-table tr[data-tag=v1] button[data-act=delete]",
    )
    .await;
    click(c, ".modal .btn.danger").await;
    until(
        c,
        "no tags left",
        "return document.querySelector('#registry-tag-table td.empty')",
    )
    .await;
    let (_, listed) = curl(&[&format!("http://{reg_addr}/v2/e2e/pulled/tags/list")]);
    assert!(!listed.contains("v1"), "{listed}");

    // Volumes: created from the form; a bad name's message beside the field.
    c.goto(&format!("{base}/#/volumes")).await.unwrap();
    click(c, "#create-volume").await;
    type_into(c, "#volume-form input[name=name]", "bad/name").await;
    c.find(Locator::Css("#volume-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        c,
        "the volume name's error",
        "return document.querySelector('#volume-form .field.invalid .field-error')?.textContent",
    )
    .await;
    type_into(c, "#volume-form input[name=name]", "ui-data").await;
    c.find(Locator::Css("#volume-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        c,
        "the new volume",
        "return document.querySelector('#volumes tr[data-key=\"ui-data\"]')",
    )
    .await;
    shot(c, "volumes").await;
    click(
        c,
        "#volumes tr[data-key=\"ui-data\"] button[data-act=inspect]",
    )
    .await;
    until(
        c,
        "the volume's inspect",
        "return document.querySelector('.modal pre.json')?.textContent.includes('\"Mountpoint\"')",
    )
    .await;
    click(c, ".modal-head .icon-btn").await;
    assert!(d.docker_ok(&["volume", "ls", "-q"]).contains("ui-data"));
    c.goto(&format!("{base}/#/networks")).await.unwrap();
    until(
        c,
        "the networks",
        "return document.querySelectorAll('#networks tbody tr').length >= 1",
    )
    .await;
    // A bad subnet: the daemon's message beside the field, no network.
    click(c, "#create-network").await;
    type_into(c, "#network-form input[name=name]", "ui-net").await;
    type_into(c, "#network-form input[name=subnet]", "10.99.0.0/99").await;
    click(c, "#network-form button[type=submit]").await;
    let msg = until(
        c,
        "the subnet's error",
        "const f = document.querySelector('#network-form [name=subnet]').closest('.field'); return f.classList.contains('invalid') && f.querySelector('.field-error').textContent",
    )
    .await;
    assert!(msg.to_string().contains("10.99.0.0/99"), "{msg}");
    assert!(!d.docker_ok(&["network", "ls"]).contains("ui-net"));
    type_into(c, "#network-form input[name=subnet]", "10.99.7.0/24").await;
    click(c, "#network-form button[type=submit]").await;
    until(
        c,
        "the new network",
        "return document.querySelector('#networks tr[data-key=\"ui-net\"]')?.innerText.includes('10.99.7.0/24')",
    )
    .await;
    shot(c, "networks").await;
    click(
        c,
        "#networks tr[data-key=\"ui-net\"] button[data-act=remove]",
    )
    .await;
    click(c, ".modal .btn.danger").await;
    until(
        c,
        "the network gone",
        "return document.querySelector('#networks tbody tr') && !document.querySelector('#networks tr[data-key=\"ui-net\"]')",
    )
    .await;
    assert!(!d.docker_ok(&["network", "ls"]).contains("ui-net"));
    c.goto(&format!("{base}/#/cluster")).await.unwrap();
    until(
        c,
        "the cluster page",
        "return document.getElementById('not-in-cluster')",
    )
    .await;
    shot(c, "cluster").await;

    // The overview's feed shows events as they happen.
    c.goto(&format!("{base}/#/")).await.unwrap();
    until(
        c,
        "the overview",
        "return document.querySelectorAll('#count-cards .stat').length === 4",
    )
    .await;
    d.docker_ok(&["create", "--name", "ui-event", "busybox"]);
    d.docker_ok(&["rm", "ui-event"]);
    until(
        c,
        "create and destroy in the feed",
        "const t = document.getElementById('event-feed').innerText; return t.includes('create') && t.includes('destroy')",
    )
    .await;
    shot(c, "overview").await;
    click(c, "#theme").await;
    shot(c, "overview-dark").await;
    // A phone's width: the layout folds.
    c.set_window_size(420, 1000).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    shot(c, "overview-narrow").await;
    c.set_window_size(1280, 943).await.unwrap();

    // A forged request: the session cookie rides along, the CSRF token does not.
    let forged = c
        .execute_async(
            "const done = arguments[0]; fetch('/api/docker/containers/create?name=forged', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({Image: 'busybox'})}).then(r => r.text().then(t => done([r.status, t])));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(forged[0], json!(403), "{forged}");
    assert!(forged[1].as_str().unwrap().contains("CSRF"), "{forged}");
    assert!(!container_names(d).contains(&"forged".to_string()));

    // The admin adds a viewer (a short password refused beside the field).
    c.goto(&format!("{base}/#/users")).await.unwrap();
    click(c, "#add-user").await;
    type_into(c, "#user-form input[name=username]", "viewer1").await;
    type_into(c, "#user-form input[name=password]", "short").await;
    click(c, "#user-form button[type=submit]").await;
    until(
        c,
        "the password's error",
        "return document.querySelector('#user-form .field.invalid .field-error')?.textContent.includes('at least 8')",
    )
    .await;
    type_into(c, "#user-form input[name=password]", "viewer password").await;
    click(c, "#user-form button[type=submit]").await;
    until(
        c,
        "the viewer listed",
        "return document.querySelector('#users tr[data-user=viewer1]')?.innerText.includes('viewer')",
    )
    .await;
    shot(c, "users").await;

    // A second browser has no session: the login page, nothing else.
    let other = driver.browser("stranger").await;
    other.goto(base).await.unwrap();
    other
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#login-form"))
        .await
        .unwrap();
    let api = other
        .execute_async(
            "const done = arguments[0]; fetch('/api/docker/containers/json').then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(api, json!(401));
    // The viewer sees the pages and can change nothing, whatever it sends.
    type_into(&other, "#login-form input[name=username]", "viewer1").await;
    type_into(
        &other,
        "#login-form input[name=password]",
        "viewer password",
    )
    .await;
    click(&other, "#login-submit").await;
    until(
        &other,
        "the viewer's app",
        "return document.getElementById('whoami')?.textContent === 'viewer1 (viewer)'",
    )
    .await;
    other.goto(&format!("{base}/#/containers")).await.unwrap();
    until(
        &other,
        "the list without its run button",
        "return document.querySelector('#containers') && document.getElementById('run-container').offsetParent === null && !document.querySelector('.nav a[data-page=users]')",
    )
    .await;
    let refused = other
        .execute_async(
            "const done = arguments[0]; fetch('/auth/state').then(r => r.json()).then(s => fetch('/api/docker/volumes/create', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf}, body: '{\"Name\":\"by-a-viewer\"}'})).then(r => r.text().then(t => done([r.status, t])));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(refused[0], json!(403), "{refused}");
    assert!(
        refused[1].as_str().unwrap().contains("read-only"),
        "{refused}"
    );
    assert!(!d.docker_ok(&["volume", "ls", "-q"]).contains("by-a-viewer"));
    // Removed by the admin, the viewer's session ends at once.
    click(c, "#users tr[data-user=viewer1] button[data-act=remove]").await;
    click(c, ".modal .btn.danger").await;
    until(
        c,
        "the viewer gone",
        "return document.querySelector('#users tr[data-user=admin]') && !document.querySelector('#users tr[data-user=viewer1]')",
    )
    .await;
    let gone = other
        .execute_async(
            "const done = arguments[0]; fetch('/api/docker/containers/json').then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(gone, json!(401));
    click(&other, "#logout").await;
    other
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#login-form"))
        .await
        .unwrap();
    shot(&other, "login").await;
    // Wrong passwords, until the throttle answers.
    type_into(&other, "input[name=username]", "admin").await;
    let mut throttled = false;
    for _ in 0..8 {
        type_into(&other, "input[name=password]", "wrong password").await;
        click(&other, "#login-submit").await;
        let m = until(&other, "the login error", "const e = document.getElementById('login-error'); const b = document.getElementById('login-submit'); return !b.disabled && e.textContent").await;
        js(
            &other,
            "document.getElementById('login-error').textContent = ''; return 1",
        )
        .await;
        if m.as_str().unwrap().contains("too many login attempts") {
            throttled = true;
            break;
        }
        assert!(
            m.as_str().unwrap().contains("wrong user name or password"),
            "{m}"
        );
    }
    assert!(throttled, "the login throttle never answered");
    let _ = other.close().await;

    // 200 containers: how long the list takes to draw (a figure, printed).
    for i in 0..200 {
        let body = format!(r#"{{"Image":"busybox","Cmd":["true"],"Labels":{{"n":"{i}"}}}}"#);
        let r = d.request(
            "POST",
            &format!("/containers/create?name=bulk-{i}"),
            Some(("application/json", body.as_bytes())),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    c.goto(&format!("{base}/#/containers")).await.unwrap();
    until(
        c,
        "200 rows",
        "return document.querySelectorAll('#containers tbody tr').length >= 200",
    )
    .await;
    let mut draws = Vec::new();
    for _ in 0..5 {
        let v = c
            .execute_async(
                "const done = arguments[0]; window.__berthRefreshContainers().then(() => requestAnimationFrame(() => done([window.__berthListRender.ms, window.__berthListLoad.ms, window.__berthListRender.rows])));",
                vec![],
            )
            .await
            .unwrap();
        draws.push(v);
    }
    // Also the first paint of the page, from navigation to rows on screen.
    let t = c
        .execute_async(
            "const done = arguments[0]; const t0 = performance.now(); location.hash = '#/'; setTimeout(() => { location.hash = '#/containers'; const poll = () => document.querySelectorAll('#containers tbody tr').length >= 200 ? requestAnimationFrame(() => done(performance.now() - t0 - 50)) : setTimeout(poll, 2); poll(); }, 50);",
            vec![],
        )
        .await
        .unwrap();
    shot(c, "containers-200").await;
    println!(
        "200-container list: draw (ms), fetch+draw (ms), rows: {draws:?}; page open to rows painted: {t} ms"
    );

    // Search and state filter, rename from the row's menu, then bulk removal.
    type_into(c, "#container-search", "bulk-19").await;
    let rows = js(
        c,
        "return document.querySelectorAll('#containers tbody tr').length",
    )
    .await;
    assert_eq!(rows, json!(11), "bulk-19 and bulk-190..199");
    type_into(c, "#container-search", "").await;
    js(c, "const s = document.getElementById('state-filter'); s.value = 'running'; s.dispatchEvent(new Event('change')); return 1").await;
    until(
        c,
        "nothing running",
        "return document.querySelectorAll('#containers tbody tr').length === 0",
    )
    .await;
    js(c, "const s = document.getElementById('state-filter'); s.value = 'all'; s.dispatchEvent(new Event('change')); return 1").await;
    click(c, "#containers tr[data-name=\"bulk-7\"] summary").await;
    click(
        c,
        "#containers tr[data-name=\"bulk-7\"] .menu-item[data-act=rename]",
    )
    .await;
    type_into(c, ".modal input[name=value]", "renamed-7").await;
    click(c, ".modal button[type=submit]").await;
    until(
        c,
        "the renamed row",
        "return document.querySelector('#containers tr[data-name=\"renamed-7\"]')",
    )
    .await;
    assert!(container_names(d).contains(&"renamed-7".to_string()));
    click(c, "#select-all").await;
    until(
        c,
        "the bulk bar",
        "return document.querySelector('#bulk.on .bulk-count')?.textContent === '200 selected'",
    )
    .await;
    click(c, "#bulk button[data-bulk=remove]").await;
    click(c, ".modal .btn.danger").await;
    until(
        c,
        "every row gone",
        "return document.querySelectorAll('#containers tbody tr').length === 0",
    )
    .await;
    assert!(container_names(d).is_empty(), "{:?}", container_names(d));

    // The admin's own password: a wrong current one is refused beside its field.
    let before = std::fs::read_to_string(d.data_root().join("ui/users.json")).unwrap();
    click(c, "#password").await;
    type_into(c, "#password-form input[name=current]", "not the password").await;
    type_into(c, "#password-form input[name=new]", "a brand new password").await;
    type_into(
        c,
        "#password-form input[name=again]",
        "a brand new password",
    )
    .await;
    click(c, "#password-form button[type=submit]").await;
    until(
        c,
        "the current password's error",
        "return document.querySelector('#password-form .field.invalid .field-error')?.textContent.includes('current password is wrong')",
    )
    .await;
    type_into(c, "#password-form input[name=current]", PASSWORD).await;
    click(c, "#password-form button[type=submit]").await;
    until(
        c,
        "the dialog closed",
        "return !document.getElementById('password-form')",
    )
    .await;
    let after = std::fs::read_to_string(d.data_root().join("ui/users.json")).unwrap();
    assert_ne!(before, after, "the new hash is stored");
}

/// curl against the dashboard (`-k`: the test's self-signed certificate):
/// the status line and headers, and the body.
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sk", "-m", "20", "-D", "-"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) => (head.to_string(), body.to_string()),
        None => (text, String::new()),
    }
}

/// `--ui-tls-cert/--ui-tls-key` and `--ui-admin-password-file`: the
/// dashboard on https, the admin's password from the file (no setup page),
/// cookies marked Secure, logout ends the session.
#[test]
fn tls_dashboard_with_a_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key, pw) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("password"),
    );
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    std::fs::write(&pw, "from the flag file\n").unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    let _d = Daemon::start_with(
        Kind::Berth,
        vec![
            "--ui-addr".into(),
            addr.clone(),
            "--ui-tls-cert".into(),
            path(&cert),
            "--ui-tls-key".into(),
            path(&key),
            "--ui-admin-password-file".into(),
            path(&pw),
        ],
    );
    let url = |p: &str| format!("https://{addr}{p}");
    let (_, body) = curl(&[&url("/auth/state")]);
    assert_eq!(
        body, r#"{"user":null,"setup":false}"#,
        "no setup page: the file set the password"
    );
    let plain = Command::new("curl")
        .args(["-s", "-m", "10", &format!("http://{addr}/auth/state")])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&plain.stdout).contains("setup"),
        "plain http is not served"
    );

    let login = |password: &str| {
        let body = format!(r#"{{"username":"admin","password":"{password}"}}"#);
        curl(&[
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            &url("/auth/login"),
        ])
    };
    let (head, body) = login("not the password");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}\n{body}");
    let (head, body) = login("from the flag file");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    let cookie_line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie_line.contains(attr), "{cookie_line}");
    }
    let cookie = cookie_line
        .split_once(':')
        .unwrap()
        .1
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf: Value = serde_json::from_str(&body).unwrap();
    let csrf = csrf["csrf"].as_str().unwrap();
    let (head, body) = curl(&["-b", &cookie, &url("/api/docker/_ping")]);
    assert!(
        head.starts_with("HTTP/1.1 200") && body == "OK",
        "{head}\n{body}"
    );
    // One's own password: the current one must be right.
    let change = |current: &str| {
        let body = format!(r#"{{"current":"{current}","new":"a changed password"}}"#);
        let token = format!("X-CSRF-Token: {csrf}");
        curl(&[
            "-b",
            &cookie,
            "-H",
            &token,
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            &url("/api/password"),
        ])
    };
    let (head, body) = change("not it");
    assert!(
        head.starts_with("HTTP/1.1 403") && body.contains("current password"),
        "{head}\n{body}"
    );
    let (head, body) = change("from the flag file");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    let (head, _) = login("a changed password");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Logout is a change: without the token it is refused, with it the session ends.
    let (head, _) = curl(&["-b", &cookie, "-X", "POST", &url("/auth/logout")]);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let token = format!("X-CSRF-Token: {csrf}");
    let (head, _) = curl(&[
        "-b",
        &cookie,
        "-H",
        &token,
        "-X",
        "POST",
        &url("/auth/logout"),
    ]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, _) = curl(&["-b", &cookie, &url("/api/docker/_ping")]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

/// Logs in through the login form (the admin's password from a file).
async fn log_in(c: &Client, base: &str, password: &str) {
    c.goto(base).await.unwrap();
    until(
        c,
        "the login form",
        "return document.getElementById('login-form')",
    )
    .await;
    type_into(c, "#login-form input[name=username]", "admin").await;
    type_into(c, "#login-form input[name=password]", password).await;
    click(c, "#login-submit").await;
    until(c, "the app", "return document.querySelector('.nav')").await;
}

/// A swarm manager in a network namespace of its own (swarm's ports are
/// fixed) serving the dashboard with the admin's password from a file; the
/// temp dir holds that file.
fn swarm_manager_with_dashboard() -> (common::netns::TestNetns, tempfile::TempDir, Daemon, u16) {
    let ns = common::netns::TestNetns::new();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("password");
    std::fs::write(&pw, PASSWORD).unwrap();
    let ui_port = free_port();
    let d = Daemon::start_in_netns_with(
        &ns.path(),
        vec![
            "--ui-addr".into(),
            format!("127.0.0.1:{ui_port}"),
            "--ui-admin-password-file".into(),
            pw.to_str().unwrap().into(),
        ],
    );
    d.docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
    (ns, dir, d, ui_port)
}

/// Moves this test's thread into `ns`, so chromedriver, chromium and the
/// WebDriver connections it starts live there too.
fn join_netns(ns: &common::netns::TestNetns) {
    let netns = std::fs::File::open(ns.path()).unwrap();
    nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
}

/// The cluster page on a swarm manager: its node drained and activated,
/// a service scaled in place, tasks shown with their node. The daemon runs
/// in a network namespace of its own (swarm's ports are fixed); this test's
/// thread joins it, so chromedriver, chromium and the WebDriver connections
/// live there too.
#[test]
fn cluster_page_in_a_browser() {
    let (ns, _dir, d, ui_port) = swarm_manager_with_dashboard();
    d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "ui-svc",
        "--replicas",
        "1",
        "busybox:latest",
        "sleep",
        "1d",
    ]);
    join_netns(&ns);
    let driver = Driver::start();
    let base = format!("http://127.0.0.1:{ui_port}");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = driver.browser("cluster").await;
            cluster_steps(&d, &c, &base).await;
            let _ = c.close().await;
        });
}

async fn cluster_steps(d: &Daemon, c: &Client, base: &str) {
    log_in(c, base, PASSWORD).await;
    c.goto(&format!("{base}/#/cluster")).await.unwrap();
    until(
        c,
        "the service running",
        "return document.querySelector('#services tr[data-name=\"ui-svc\"] .replicas')?.textContent === '1/1'",
    )
    .await;
    // Scale in place: a bad number is refused beside the field.
    click(
        c,
        "#services tr[data-name=\"ui-svc\"] button[data-svc-act=scale]",
    )
    .await;
    type_into(c, ".modal input[name=value]", "two").await;
    click(c, ".modal button[type=submit]").await;
    until(
        c,
        "the replicas field's error",
        "return document.querySelector('.modal .field.invalid .field-error')?.textContent.includes('whole number')",
    )
    .await;
    type_into(c, ".modal input[name=value]", "2").await;
    click(c, ".modal button[type=submit]").await;
    until(
        c,
        "two running tasks",
        "return document.querySelector('#services tr[data-name=\"ui-svc\"] .replicas')?.textContent === '2/2' && document.querySelectorAll('#services tr[data-name=\"ui-svc\"] .tasks div').length === 2",
    )
    .await;
    shot(c, "cluster-active").await;
    let replicas = d.docker_ok(&[
        "service",
        "inspect",
        "-f",
        "{{.Spec.Mode.Replicated.Replicas}}",
        "ui-svc",
    ]);
    assert_eq!(replicas.trim(), "2");
    // Update the image, then roll back.
    let image = || {
        d.docker_ok(&[
            "service",
            "inspect",
            "-f",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
            "ui-svc",
        ])
    };
    click(
        c,
        "#services tr[data-name=\"ui-svc\"] button[data-svc-act=image]",
    )
    .await;
    type_into(c, ".modal input[name=value]", "e2e-busybox:latest").await;
    click(c, ".modal button[type=submit]").await;
    until(
        c,
        "the new image listed",
        "return document.querySelector('#services tr[data-name=\"ui-svc\"]')?.innerText.includes('e2e-busybox:latest')",
    )
    .await;
    assert!(image().starts_with("e2e-busybox:latest"), "{}", image());
    click(
        c,
        "#services tr[data-name=\"ui-svc\"] button[data-svc-act=rollback]",
    )
    .await;
    until(
        c,
        "the old image back",
        "const t = document.querySelector('#services tr[data-name=\"ui-svc\"]')?.innerText; return t && !t.includes('e2e-busybox') && t.includes('busybox:latest')",
    )
    .await;
    assert!(image().starts_with("busybox:latest"), "{}", image());

    // Drain, then activate, the node.
    click(c, "#nodes button[data-node-act=drain]").await;
    until(
        c,
        "the node drained",
        "return document.querySelector('#nodes tr[data-availability=drain]')",
    )
    .await;
    let availability = || d.docker_ok(&["node", "inspect", "-f", "{{.Spec.Availability}}", "self"]);
    assert_eq!(availability().trim(), "drain");
    click(c, "#nodes button[data-node-act=active]").await;
    until(
        c,
        "the node active",
        "return document.querySelector('#nodes tr[data-availability=active]')",
    )
    .await;
    assert_eq!(availability().trim(), "active");
}

/// Published ports from the run form, shown in the list as links that
/// answer (a daemon with a bridge network this time).
#[test]
fn published_ports_are_links() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("password");
    std::fs::write(&pw, PASSWORD).unwrap();
    let ui_port = free_port();
    let ui_addr = format!("127.0.0.1:{ui_port}");
    let d = Daemon::start_networked_with(&[
        "--ui-addr",
        &ui_addr,
        "--ui-admin-password-file",
        pw.to_str().unwrap(),
    ]);
    let driver = Driver::start();
    let base = format!("http://{ui_addr}");
    let host_port = free_port();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = driver.browser("ports").await;
            log_in(&c, &base, PASSWORD).await;
            c.goto(&format!("{base}/#/containers")).await.unwrap();
            click(&c, "#run-container").await;
            type_into(&c, "#run-form input[name=image]", "busybox").await;
            type_into(&c, "#run-form input[name=name]", "ui-httpd").await;
            type_into(
                &c,
                "#run-form input[name=cmd]",
                "sh -c 'mkdir -p /www && echo hello-from-httpd > /www/index.html && exec httpd -f -p 80 -h /www'",
            )
            .await;
            type_into(&c, "#run-form textarea[name=ports]", "80x").await;
            let msg = run_form_error(&c, "ports").await;
            assert!(msg.contains("invalid port mapping"), "{msg}");
            type_into(
                &c,
                "#run-form textarea[name=ports]",
                &format!("127.0.0.1:{host_port}:80"),
            )
            .await;
            click(&c, "#run-submit").await;
            let href = until(
                &c,
                "the port's link",
                "return document.querySelector('#containers tr[data-name=\"ui-httpd\"] td a[target=_blank]')?.getAttribute('href')",
            )
            .await;
            assert_eq!(href, json!(format!("http://127.0.0.1:{host_port}/")));
            shot(&c, "containers-ports").await;
            let _ = c.close().await;
        });
    let page = common::web::http_get(&format!("127.0.0.1:{host_port}")).unwrap_or_default();
    assert!(page.contains("hello-from-httpd"), "{page}");
    drop(driver);
    drop(d);
}

/// A registry with a password: pulls and browsing fail beside the field
/// without credentials and work with them.
#[test]
fn registry_with_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("password");
    std::fs::write(&pw, PASSWORD).unwrap();
    let htpasswd = common::registry::write_htpasswd(dir.path(), "alice", "s3cret");
    let reg = RegistryProcess::berth(&["--htpasswd", htpasswd.to_str().unwrap()]);
    let ui_addr = format!("127.0.0.1:{}", free_port());
    let d = Daemon::start_with(
        Kind::Berth,
        vec![
            "--ui-addr".into(),
            ui_addr.clone(),
            "--ui-admin-password-file".into(),
            pw.to_str().unwrap().into(),
        ],
    );
    let target = format!("{}/auth/ui:v1", reg.addr);
    let login = d.docker_stdin(
        &[
            "login",
            "--username",
            "alice",
            "--password-stdin",
            &reg.addr,
        ],
        b"s3cret",
    );
    assert!(login.status.success(), "{}", common::stderr(&login));
    d.docker_ok(&["tag", "busybox", &target]);
    d.docker_ok(&["push", &target]);
    d.docker_ok(&["rmi", &target]);
    d.docker_ok(&["logout", &reg.addr]);
    let driver = Driver::start();
    let base = format!("http://{ui_addr}");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = driver.browser("auth").await;
            log_in(&c, &base, PASSWORD).await;
            c.goto(&format!("{base}/#/images")).await.unwrap();
            type_into(&c, "#pull-ref", &target).await;
            click(&c, "#pull-submit").await;
            until(
                &c,
                "the pull's refusal",
                "return document.querySelector('#pull-form .field.invalid .field-error')?.textContent",
            )
            .await;
            click(&c, "#pull-form .creds summary").await;
            type_into(&c, "#pull-form input[name=pull-user]", "alice").await;
            type_into(&c, "#pull-form input[name=pull-password]", "s3cret").await;
            click(&c, "#pull-submit").await;
            until(
                &c,
                "the pulled image",
                &format!("return document.querySelector('#images tr[data-ref=\"{target}\"]')"),
            )
            .await;
            c.goto(&format!("{base}/#/registry")).await.unwrap();
            type_into(&c, "#registry-addr", &reg.addr).await;
            click(&c, "#registry-form button[type=submit]").await;
            let msg = until(
                &c,
                "the registry's refusal",
                "return document.querySelector('#registry-form .field.invalid .field-error')?.textContent",
            )
            .await;
            assert!(msg.to_string().contains("user and password"), "{msg}");
            click(&c, "#registry-form .creds summary").await;
            type_into(&c, "#registry-form input[name=registry-user]", "alice").await;
            type_into(&c, "#registry-form input[name=registry-password]", "s3cret").await;
            click(&c, "#registry-form button[type=submit]").await;
            click(&c, "a[data-repo=\"auth/ui\"]").await;
            until(
                &c,
                "the tag",
                "return document.querySelector('#registry-tag-table tr[data-tag=v1]')",
            )
            .await;
            let _ = c.close().await;
        });
    assert!(
        d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .contains(&target)
    );
}

/// A `fetch` from the page with the session's CSRF token: status and body.
async fn page_post(c: &Client, path: &str, body: &str) -> Value {
    let script = format!(
        "const done = arguments[0]; fetch('/auth/state').then(r => r.json()).then(s => fetch({path:?}, {{method: 'POST', headers: {{'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf}}, body: {body:?}}})).then(r => r.text().then(t => done([r.status, t])));"
    );
    c.execute_async(&script, vec![]).await.unwrap()
}

/// The app's containers of process `web` (name, release), from the CLI.
fn app_webs(d: &Daemon, app: &str) -> Vec<String> {
    d.docker_ok(&[
        "ps",
        "--filter",
        &format!("label=berth.app={app}"),
        "--filter",
        "label=berth.app.process=web",
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// Routes and apps through the dashboard (the API's /berth/v1 endpoints
/// nested behind the session): the router's table with a backend and a
/// refused label; an app created from the form (a bad name refused beside
/// the field), deployed by a real `git push`, then its config set, scaled,
/// rolled back and restarted from its page (each a checked rollout, as
/// `berth app` does), a domain added and removed, served by the router
/// throughout; a viewer sees it and changes nothing; removed from the page.
#[test]
fn routes_and_apps_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("password");
    std::fs::write(&pw, PASSWORD).unwrap();
    let [ui_port, router_port] = free_ports();
    let ui_addr = format!("127.0.0.1:{ui_port}");
    let d = Daemon::start_networked_with(&[
        "--ui-addr",
        &ui_addr,
        "--ui-admin-password-file",
        pw.to_str().unwrap(),
        "--router-addr",
        &format!("127.0.0.1:{router_port}"),
    ]);
    let httpd =
        "mkdir -p /www && echo routed-page > /www/index.html && exec httpd -f -p 80 -h /www";
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ui-routed",
        "--label",
        "berth.http.host=routed.test",
        "--label",
        "berth.http.port=80",
        "busybox",
        "sh",
        "-c",
        httpd,
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ui-refused",
        "--label",
        "berth.http.host=refused.test",
        "--label",
        "berth.http.port=http",
        "busybox",
        "sleep",
        "1d",
    ]);
    let driver = Driver::start();
    let base = format!("http://{ui_addr}");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = driver.browser("apps").await;
            log_in(&c, &base, PASSWORD).await;
            apps_steps(&d, &driver, &c, &base, router_port).await;
            let _ = c.close().await;
        });
}

async fn apps_steps(d: &Daemon, driver: &Driver, c: &Client, base: &str, router_port: u16) {
    // The router's table: a request through it counts on its backend.
    let served = wait_for(WAIT, || {
        common::web::get_host(router_port, "routed.test", "/").filter(|(s, _)| *s == 200)
    });
    assert!(served.is_some(), "routed.test not served");
    c.goto(&format!("{base}/#/routes")).await.unwrap();
    let backend = until(
        c,
        "the route and its backend",
        "const b = document.querySelector('#routes tr[data-host=\"routed.test\"] .backend[data-container=\"ui-routed\"]'); return b && Number(b.querySelector('.requests').textContent) >= 1 && b.innerText",
    )
    .await;
    assert!(backend.as_str().unwrap().contains("in flight"), "{backend}");
    let reason = until(
        c,
        "the refused label and its reason",
        "return document.querySelector('#refused tr[data-container=\"ui-refused\"] .reason')?.textContent",
    )
    .await;
    assert!(reason.as_str().unwrap().contains("port"), "{reason}");
    shot(c, "routes").await;

    // Create an app: a bad name is refused beside its field.
    c.goto(&format!("{base}/#/apps")).await.unwrap();
    click(c, "#create-app").await;
    type_into(c, "#app-form input[name=name]", "Bad_Name").await;
    click(c, "#app-form button[type=submit]").await;
    let msg = until(
        c,
        "the name's error",
        "return document.querySelector('#app-form input[name=name]').closest('.field').querySelector('.field-error').textContent",
    )
    .await;
    assert!(msg.as_str().unwrap().contains("invalid app name"), "{msg}");
    type_into(c, "#app-form input[name=name]", "demo").await;
    type_into(c, "#app-form input[name=domains]", "demo.apps.test").await;
    click(c, "#app-form button[type=submit]").await;
    until(
        c,
        "the app listed",
        "return document.querySelector('#apps tr[data-name=demo]')?.innerText.includes('demo.apps.test')",
    )
    .await;
    click(c, "#apps tr[data-name=demo] a").await;
    let remote = until(
        c,
        "the app's remote",
        "return document.getElementById('remote')?.textContent",
    )
    .await;
    let repo = d.data_root().join("apps/demo/repo.git");
    assert_eq!(remote, json!(format!("git push {} main", repo.display())));

    // A real push deploys v1.
    let src = common::host_dir(d, "src");
    git(&src, &["init", "-q", "-b", "main"]);
    std::fs::write(
        src.join("Dockerfile"),
        "FROM busybox\nRUN mkdir -p /www && echo version-one > /www/index.html\n\
         CMD [\"sh\", \"-c\", \"echo \\\"$GREETING\\\" > /www/greeting; exec httpd -f -p 80 -h /www\"]\n",
    )
    .unwrap();
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "one"]);
    git(&src, &["push", "-q", repo.to_str().unwrap(), "main"]);
    let page = |path: &str| {
        common::web::get_host(router_port, "demo.apps.test", path)
            .map(|(s, b)| (s, b.trim().to_string()))
    };
    assert_eq!(page("/"), Some((200, "version-one".into())));
    c.refresh().await.unwrap();
    until(
        c,
        "release v1 shown",
        "return document.getElementById('current')?.textContent === 'v1'",
    )
    .await;

    // Config set from the page: a checked rollout to v2 with the variable.
    type_into(c, "#config-form input", "GREETING=bonjour").await;
    click(c, "#config-form button[type=submit]").await;
    let log = until(
        c,
        "v2 rolled out",
        "return document.getElementById('current')?.textContent === 'v2' && document.getElementById('rollout-log').textContent",
    )
    .await;
    assert!(
        log.as_str().unwrap().contains("Switching demo to v2"),
        "{log}"
    );
    assert_eq!(page("/greeting"), Some((200, "bonjour".into())));
    until(
        c,
        "the setting listed",
        "return document.querySelector('#config tr[data-key=GREETING]')",
    )
    .await;
    // A malformed setting is refused beside the field, nothing rolled out.
    type_into(c, "#config-form input", "NOEQUALS").await;
    click(c, "#config-form button[type=submit]").await;
    until(
        c,
        "the setting's error",
        "return document.querySelector('#config-form .field.invalid .field-error')?.textContent.includes('KEY=VALUE')",
    )
    .await;

    // Domains: added (routed at once) and removed.
    type_into(c, "#domain-form input", "www.apps.test").await;
    click(c, "#domain-form button[type=submit]").await;
    until(
        c,
        "the domain listed",
        "return document.querySelector('#domains [data-domain=\"www.apps.test\"]')",
    )
    .await;
    let www = wait_for(WAIT, || {
        common::web::get_host(router_port, "www.apps.test", "/").filter(|(s, _)| *s == 200)
    });
    assert!(www.is_some(), "www.apps.test not routed");
    click(c, "button[data-remove-domain=\"www.apps.test\"]").await;
    until(
        c,
        "the domain gone",
        "return document.querySelector('#domains [data-domain=\"demo.apps.test\"]') && !document.querySelector('#domains [data-domain=\"www.apps.test\"]')",
    )
    .await;

    // Scale web to 2: v3 with two web containers.
    type_into(c, "#scale-form input[name=scale-web]", "2").await;
    click(c, "#scale-form button[type=submit]").await;
    until(
        c,
        "v3 with two web processes",
        "return document.getElementById('current')?.textContent === 'v3' && document.querySelectorAll('#processes tr[data-container]').length === 2",
    )
    .await;
    assert_eq!(app_webs(d, "demo").len(), 2, "{:?}", app_webs(d, "demo"));
    js(
        c,
        "document.getElementById('main').scrollTop = 0; window.scrollTo(0, 0); return 1",
    )
    .await;
    shot(c, "app").await;

    // Roll back to v1 (no GREETING then): v4 runs v1's image, processes
    // and config, which is the app's again, as `berth app rollback` does.
    click(c, "#releases button[data-rollback=v1]").await;
    until(
        c,
        "v4 current, GREETING gone with v1's config",
        "return document.getElementById('current')?.textContent === 'v4' && !document.querySelector('.busy') && !document.querySelector('#config tr[data-key=GREETING]') && document.querySelector('#releases tr[data-release=v4]')?.innerText.includes('Rollback to v1') && document.querySelector('#releases tr[data-release=v3]')?.innerText.includes('Scale web=2') && document.querySelector('#releases tr[data-release=v2]')?.innerText.includes('Set GREETING')",
    )
    .await;
    assert_eq!(page("/"), Some((200, "version-one".into())));
    assert_eq!(page("/greeting"), Some((200, String::new())));
    // Restart: v5, the same release again.
    click(c, "#app-restart").await;
    until(
        c,
        "v5 current",
        "return document.getElementById('current')?.textContent === 'v5' && !document.querySelector('.busy')",
    )
    .await;
    let webs = app_webs(d, "demo");
    assert!(
        webs.len() == 2 && webs.iter().all(|n| n.ends_with(".v5")),
        "{webs:?}"
    );

    // A viewer sees the app and changes nothing.
    let added = page_post(
        c,
        "/api/users",
        "{\"username\":\"watcher\",\"password\":\"viewer password\",\"role\":\"viewer\"}",
    )
    .await;
    assert!(added[0].as_u64().unwrap() < 300, "{added}");
    let other = driver.browser("apps-viewer").await;
    log_in_as(&other, base, "watcher", "viewer password").await;
    other.goto(&format!("{base}/#/apps/demo")).await.unwrap();
    until(
        &other,
        "the app without its buttons",
        "return document.getElementById('current')?.textContent === 'v5' && document.getElementById('app-restart').offsetParent === null && document.getElementById('config-form').offsetParent === null",
    )
    .await;
    let refused = page_post(&other, "/api/apps/demo/restart", "{}").await;
    assert_eq!(refused[0], json!(403), "{refused}");
    let refused = page_post(
        &other,
        "/api/docker/berth/v1/apps/demo/domains",
        "{\"Add\":[\"x.apps.test\"]}",
    )
    .await;
    assert_eq!(refused[0], json!(403), "{refused}");
    let _ = other.close().await;

    // Removed from its page: containers, route and record gone.
    click(c, "#app-remove").await;
    click(c, ".modal .btn.danger").await;
    until(
        c,
        "the app gone from the list",
        "return document.querySelector('#apps') && !document.querySelector('#apps tr[data-name=demo]')",
    )
    .await;
    assert!(app_webs(d, "demo").is_empty());
    let gone = wait_for(WAIT, || page("/").filter(|(s, _)| *s == 404));
    assert!(gone.is_some(), "demo.apps.test still routed");
}

async fn log_in_as(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(base).await.unwrap();
    until(
        c,
        "the login form",
        "return document.getElementById('login-form')",
    )
    .await;
    type_into(c, "#login-form input[name=username]", user).await;
    type_into(c, "#login-form input[name=password]", password).await;
    click(c, "#login-submit").await;
    until(c, "the app", "return document.querySelector('.nav')").await;
}

/// The compose file the stacks test deploys: two services on a named
/// overlay and the default one, a named volume, deploy settings, labels.
fn stack_file(replicas: u32) -> String {
    format!(
        r#"version: "3.8"
services:
  web:
    image: busybox:latest
    command: sleep 1d
    environment:
      ROLE: web
    labels: [tier=front]
    networks: [front]
    volumes: ["data:/data"]
    secrets: [token]
    healthcheck:
      test: ["CMD", "true"]
      interval: 5s
    deploy:
      replicas: {replicas}
      labels: {{com.example.team: ui}}
      resources:
        limits: {{memory: 64M}}
      restart_policy: {{condition: on-failure}}
      update_config: {{parallelism: 1, delay: 1s}}
  worker:
    image: busybox:latest
    command: ["sleep", "1d"]
networks:
  front:
    attachable: true
volumes:
  data:
secrets:
  token:
    content: from-the-page
"#
    )
}

/// Pastes `text` into the stack form's textarea (send_keys would type it
/// through the editor key by key: slow, and auto-indent would mangle it).
async fn paste_compose(c: &Client, text: &str) {
    c.execute(
        "document.querySelector('#stack-form textarea[name=compose]').value = arguments[0]; return 1",
        vec![json!(text)],
    )
    .await
    .unwrap();
}

/// Services from the cluster page's form and stacks from a compose file, on
/// a swarm manager in a network namespace of its own (as the cluster test):
/// the form's syntax errors and the daemon's beside their fields with
/// nothing made; a service created (inspect agrees) and removed; a stack
/// refused whole for an unknown key, deployed, seen by the docker CLI's
/// `stack ls/services/ps`, redeployed as an update, removed by
/// `docker stack rm`; another removed from the dashboard.
#[test]
fn services_and_stacks_in_a_browser() {
    let (ns, _dir, d, ui_port) = swarm_manager_with_dashboard();
    join_netns(&ns);
    let driver = Driver::start();
    let base = format!("http://127.0.0.1:{ui_port}");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = driver.browser("stacks").await;
            log_in(&c, &base, PASSWORD).await;
            service_form_steps(&d, &c, &base).await;
            stack_steps(&d, &c, &base).await;
            let _ = c.close().await;
        });
}

fn service_names(d: &Daemon) -> Vec<String> {
    d.docker_ok(&["service", "ls", "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

async fn service_form_error(c: &Client, field: &str) -> String {
    click(c, "#service-submit").await;
    let script = format!(
        "const f = document.querySelector('#service-form [name={field}]').closest('.field'); \
         return f.classList.contains('invalid') && f.querySelector('.field-error').textContent"
    );
    until(c, &format!("the {field} field's error"), &script)
        .await
        .as_str()
        .unwrap()
        .to_string()
}

async fn service_form_steps(d: &Daemon, c: &Client, base: &str) {
    c.goto(&format!("{base}/#/cluster")).await.unwrap();
    click(c, "#create-service").await;
    type_into(c, "#service-form input[name=name]", "ui-made").await;
    type_into(c, "#service-form input[name=image]", "busybox:latest").await;
    type_into(c, "#service-form input[name=replicas]", "two").await;
    type_into(c, "#service-form input[name=memory]", "lots").await;
    assert!(
        service_form_error(c, "replicas")
            .await
            .contains("whole number")
    );
    assert!(
        service_form_error(c, "memory")
            .await
            .contains("invalid size")
    );
    type_into(c, "#service-form input[name=replicas]", "2").await;
    type_into(c, "#service-form input[name=memory]", "64m").await;
    type_into(c, "#service-form input[name=cmd]", "sleep 1d").await;
    type_into(c, "#service-form textarea[name=env]", "GREETING=hi").await;
    type_into(
        c,
        "#service-form textarea[name=constraints]",
        "node.role==manager",
    )
    .await;
    // The daemon's own refusal, beside the field it concerns: a network
    // that does not exist.
    type_into(c, "#service-form input[name=networks]", "no-such-net").await;
    let msg = service_form_error(c, "networks").await;
    assert!(msg.contains("no-such-net"), "{msg}");
    assert!(!service_names(d).contains(&"ui-made".to_string()));
    shot(c, "service-form").await;
    c.find(Locator::Css("#service-form input[name=networks]"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    click(c, "#service-submit").await;
    until(
        c,
        "the service running twice",
        "return document.querySelector('#services tr[data-name=\"ui-made\"] .replicas')?.textContent === '2/2'",
    )
    .await;
    let spec = d.docker_ok(&[
        "service",
        "inspect",
        "-f",
        "{{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}} {{.Spec.TaskTemplate.ContainerSpec.Env}} {{.Spec.TaskTemplate.Placement.Constraints}} {{.Spec.TaskTemplate.ContainerSpec.Args}}",
        "ui-made",
    ]);
    assert_eq!(
        spec,
        "2 67108864 [GREETING=hi] [node.role==manager] [sleep 1d]"
    );
    // The same name again: the daemon's conflict beside the name.
    click(c, "#create-service").await;
    type_into(c, "#service-form input[name=name]", "ui-made").await;
    type_into(c, "#service-form input[name=image]", "busybox:latest").await;
    let msg = service_form_error(c, "name").await;
    assert!(!msg.is_empty());
    let same: Vec<String> = service_names(d)
        .into_iter()
        .filter(|n| n == "ui-made")
        .collect();
    assert_eq!(same.len(), 1, "{msg}");
    click(c, ".modal .icon-btn").await;
    // Removed from its row.
    click(
        c,
        "#services tr[data-name=\"ui-made\"] button[data-svc-act=remove]",
    )
    .await;
    click(c, ".modal .btn.danger").await;
    until(
        c,
        "the service gone",
        "return document.querySelector('#services') && !document.querySelector('#services tr[data-name=\"ui-made\"]')",
    )
    .await;
    assert!(!service_names(d).contains(&"ui-made".to_string()));
}

async fn stack_steps(d: &Daemon, c: &Client, base: &str) {
    let networks = || d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    c.goto(&format!("{base}/#/stacks")).await.unwrap();
    until(
        c,
        "the stacks page",
        "return document.getElementById('stacks')",
    )
    .await;
    // An unknown key refuses the whole file: nothing is made.
    click(c, "#deploy-stack").await;
    type_into(c, "#stack-form input[name=name]", "app").await;
    paste_compose(
        c,
        &stack_file(2).replace(
            "    command: sleep 1d\n",
            "    command: sleep 1d\n    foo: 1\n",
        ),
    )
    .await;
    click(c, "#stack-submit").await;
    let msg = until(
        c,
        "the compose file's error",
        "return document.querySelector('#stack-form textarea[name=compose]').closest('.field').querySelector('.field-error').textContent",
    )
    .await;
    assert_eq!(
        msg,
        json!("services.web Additional property foo is not allowed")
    );
    assert!(service_names(d).is_empty());
    assert!(!networks().contains("app_"), "{}", networks());
    // The daemon refuses the second service (a constraint without an
    // operator): what this deploy made before it (a service, the network)
    // is removed again.
    type_into(c, "#stack-form input[name=name]", "half").await;
    paste_compose(
        c,
        "services:\n  a:\n    image: busybox:latest\n    command: sleep 1d\n  b:\n    image: busybox:latest\n    deploy:\n      placement:\n        constraints: [\"node.role\"]\n",
    )
    .await;
    click(c, "#stack-submit").await;
    let msg = until(
        c,
        "the daemon's refusal",
        "const t = document.querySelector('#stack-form textarea[name=compose]').closest('.field').querySelector('.field-error').textContent; return t.includes('operator') && t",
    )
    .await;
    assert!(msg.as_str().unwrap().contains("half_b"), "{msg}");
    assert!(service_names(d).is_empty(), "{:?}", service_names(d));
    assert!(!networks().contains("half_"), "{}", networks());
    type_into(c, "#stack-form input[name=name]", "app").await;
    // The good file: two services, on their networks.
    paste_compose(c, &stack_file(2)).await;
    click(c, "#stack-submit").await;
    until(
        c,
        "the stack listed",
        "return document.querySelector('#stacks tr[data-stack=app] .services')?.textContent === '2'",
    )
    .await;
    shot(c, "stacks").await;
    // What the docker CLI sees of it.
    assert_eq!(
        d.docker_ok(&["stack", "ls", "--format", "{{.Name}} {{.Services}}"]),
        "app 2"
    );
    let mut svcs: Vec<String> = d
        .docker_ok(&[
            "stack",
            "services",
            "app",
            "--format",
            "{{.Name}} {{.Replicas}}",
        ])
        .lines()
        .map(str::to_string)
        .collect();
    svcs.sort();
    assert_eq!(svcs.len(), 2, "{svcs:?}");
    assert!(svcs[0].starts_with("app_web "), "{svcs:?}");
    assert!(svcs[1].starts_with("app_worker "), "{svcs:?}");
    let inspect = d.docker_ok(&[
        "service",
        "inspect",
        "-f",
        "{{index .Spec.Labels \"com.docker.stack.namespace\"}} {{index .Spec.Labels \"com.docker.stack.image\"}} {{index .Spec.Labels \"com.example.team\"}} {{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}} {{range .Spec.TaskTemplate.ContainerSpec.Mounts}}{{.Type}}:{{.Source}}{{end}}",
        "app_web",
    ]);
    assert_eq!(inspect, "app busybox:latest ui 67108864 volume:app_data");
    let nets = networks();
    assert!(
        nets.contains("app_front") && nets.contains("app_default"),
        "{nets}"
    );
    // The inline secret: made with the stack's label, mounted in the tasks.
    assert_eq!(
        d.docker_ok(&["secret", "ls", "--format", "{{.Name}}"]),
        "app_token"
    );
    // Its page: services and their running tasks (what `docker stack ps` lists).
    click(c, "#stacks tr[data-stack=app] a").await;
    until(
        c,
        "the stack's tasks running",
        "return document.querySelector('#stack-services tr[data-name=app_web] .replicas')?.textContent === '2/2' && document.querySelector('#stack-services tr[data-name=app_worker] .replicas')?.textContent === '1/1'",
    )
    .await;
    shot(c, "stack").await;
    let web_task = d.docker_ok(&["ps", "-q", "--filter", "name=app_web", "--latest"]);
    assert_eq!(
        d.docker_ok(&["exec", &web_task, "cat", "/run/secrets/token"]),
        "from-the-page"
    );
    let ps = d.docker_ok(&[
        "stack",
        "ps",
        "app",
        "--format",
        "{{.Name}} {{.DesiredState}}",
    ]);
    assert_eq!(
        ps.lines().filter(|l| l.ends_with("Running")).count(),
        3,
        "{ps}"
    );
    // A redeploy updates the services (their version moves on), not fails.
    let version = || {
        d.docker_ok(&["service", "inspect", "-f", "{{.Version.Index}}", "app_web"])
            .parse::<u64>()
            .unwrap()
    };
    let before = version();
    c.goto(&format!("{base}/#/stacks")).await.unwrap();
    click(c, "#deploy-stack").await;
    type_into(c, "#stack-form input[name=name]", "app").await;
    paste_compose(c, &stack_file(3)).await;
    click(c, "#stack-submit").await;
    until(
        c,
        "the form closed",
        "return !document.querySelector('#stack-form') && document.getElementById('stacks')",
    )
    .await;
    assert!(version() > before);
    assert_eq!(
        d.docker_ok(&[
            "service",
            "inspect",
            "-f",
            "{{.Spec.Mode.Replicated.Replicas}}",
            "app_web"
        ]),
        "3"
    );
    // The docker CLI removes what the dashboard deployed.
    d.docker_ok(&["stack", "rm", "app"]);
    let gone = wait_for(WAIT, || {
        (service_names(d).is_empty() && !networks().contains("app_")).then_some(())
    });
    assert!(
        gone.is_some(),
        "left: {:?} {}",
        service_names(d),
        networks()
    );
    assert_eq!(d.docker_ok(&["secret", "ls", "-q"]), "");
    // And the dashboard removes a stack too.
    click(c, "#deploy-stack").await;
    type_into(c, "#stack-form input[name=name]", "two").await;
    paste_compose(
        c,
        "services:\n  only:\n    image: busybox:latest\n    command: sleep 1d\n",
    )
    .await;
    click(c, "#stack-submit").await;
    until(
        c,
        "stack two listed",
        "return document.querySelector('#stacks tr[data-stack=two]')",
    )
    .await;
    click(c, "#stacks tr[data-stack=two] button[data-act=remove]").await;
    click(c, ".modal .btn.danger").await;
    until(
        c,
        "stack two gone",
        "return document.getElementById('stacks') && !document.querySelector('#stacks tr[data-stack=two]')",
    )
    .await;
    let gone = wait_for(WAIT, || {
        (d.docker_ok(&["stack", "ls", "--format", "{{.Name}}"])
            .is_empty()
            && !networks().contains("two_"))
        .then_some(())
    });
    assert!(gone.is_some(), "two left: {}", networks());
}

/// A registry with token authentication (Docker's token flow): browsing
/// without credentials is refused beside the field; with them the daemon
/// fetches a token from the test's token server (Basic credentials) and
/// lists the repository and its tag, and deletes the tag.
#[test]
fn registry_with_token_auth() {
    let dir = tempfile::tempdir().unwrap();
    let key = b"e2e-ui-shared-hs256-key-0123456";
    let (tokens, reg) = RegistryProcess::berth_behind_tokens(dir.path(), "bob", "hunter22", key);
    let pw = dir.path().join("password");
    std::fs::write(&pw, PASSWORD).unwrap();
    let ui_addr = format!("127.0.0.1:{}", free_port());
    let d = Daemon::start_with(
        Kind::Berth,
        vec![
            "--ui-addr".into(),
            ui_addr.clone(),
            "--ui-admin-password-file".into(),
            pw.to_str().unwrap().into(),
        ],
    );
    let target = format!("{}/tok/ui:v1", reg.addr);
    let login = d.docker_stdin(
        &["login", "--username", "bob", "--password-stdin", &reg.addr],
        b"hunter22",
    );
    assert!(login.status.success(), "{}", common::stderr(&login));
    d.docker_ok(&["tag", "busybox", &target]);
    d.docker_ok(&["push", &target]);
    d.docker_ok(&["logout", &reg.addr]);
    let driver = Driver::start();
    let base = format!("http://{ui_addr}");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = driver.browser("token").await;
            log_in(&c, &base, PASSWORD).await;
            c.goto(&format!("{base}/#/registry")).await.unwrap();
            type_into(&c, "#registry-addr", &reg.addr).await;
            click(&c, "#registry-form button[type=submit]").await;
            let msg = until(
                &c,
                "the registry's refusal",
                "return document.querySelector('#registry-form .field.invalid .field-error')?.textContent",
            )
            .await;
            assert!(msg.to_string().contains("user and password"), "{msg}");
            let refused_before = tokens.refused.load(std::sync::atomic::Ordering::SeqCst);
            assert!(refused_before >= 1, "the token server was not asked");
            let issued_before = tokens.issued.load(std::sync::atomic::Ordering::SeqCst);
            click(&c, "#registry-form .creds summary").await;
            type_into(&c, "#registry-form input[name=registry-user]", "bob").await;
            type_into(&c, "#registry-form input[name=registry-password]", "hunter22").await;
            click(&c, "#registry-form button[type=submit]").await;
            click(&c, "a[data-repo=\"tok/ui\"]").await;
            until(
                &c,
                "the tag with its size",
                "return document.querySelector('#registry-tag-table tr[data-tag=v1]')?.innerText.includes('B')",
            )
            .await;
            assert!(
                tokens.issued.load(std::sync::atomic::Ordering::SeqCst) > issued_before,
                "no token issued for the browse"
            );
            shot(&c, "registry-token").await;
            // Delete the tag (a DELETE scope's token).
            click(&c, "#registry-tag-table tr[data-tag=v1] button[data-act=delete]").await;
            click(&c, ".modal .btn.danger").await;
            until(
                &c,
                "the tag gone",
                "return document.querySelector('#registry-tag-table td.empty')",
            )
            .await;
            let _ = c.close().await;
        });
}
