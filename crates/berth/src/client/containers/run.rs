//! Attached sessions: create, run, start (-a/-i) and exec, with docker's
//! ordering (attach, register the wait, start) and exit statuses.

use super::super::args::{ExecArgs, RunArgs, StartArgs};
use super::super::connect::{self, Client, ClientError, empty, q, read_all};
use super::super::stream;
use super::super::{CmdResult, Failure, images, opts};
use hyper::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn run_usage(verb: &str, msg: &str) -> Failure {
    Failure::new(
        125,
        format!("berth: {msg}\n\nRun 'berth {verb} --help' for more information"),
    )
}

/// docker's mapping of start failures to exit statuses (126/127 as a shell).
fn start_error_code(msg: &str) -> i32 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") || msg.contains("exec format error") {
        126
    } else {
        125
    }
}

fn print_warnings(resp: &Value) {
    if let Some(ws) = resp.get("Warnings").and_then(Value::as_array) {
        for w in ws.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
}

/// POST /containers/create, pulling a missing image once like docker does.
async fn create(client: &Client, a: &RunArgs, verb: &str) -> Result<String, Failure> {
    let image = &a.args[0];
    if image.starts_with('-') {
        return Err(Failure::new(
            125,
            super::super::usage_error(&format!("{verb} "), &format!("unknown flag: {image}")),
        ));
    }
    if a.tty && a.interactive && !a.detach && !stream::is_terminal(0) {
        return Err(Failure::new(1, "the input device is not a TTY"));
    }
    let body = opts::create_body(a, image, &a.args[1..]).map_err(|e| {
        if e.starts_with("invalid argument ") {
            // A bad flag value: docker reports it as a usage error.
            Failure::new(125, super::super::usage_error(&format!("{verb} "), &e))
        } else {
            run_usage(verb, &e)
        }
    })?;
    let path = match &a.name {
        Some(n) => format!("/containers/create?name={}", q(n)),
        None => "/containers/create".to_string(),
    };
    let resp = match client.post_json(&path, Some(&body)).await {
        Ok(r) => r,
        Err(ClientError::Daemon {
            status: 404,
            message,
        }) if message.to_lowercase().contains("image") => {
            eprintln!(
                "Unable to find image '{}' locally",
                opts::familiar_tagged(image)
            );
            images::pull_image(client, image, true)
                .await
                .map_err(|e| run_usage(verb, &e))?;
            client
                .post_json(&path, Some(&body))
                .await
                .map_err(|e| run_usage(verb, &e.to_string()))?
        }
        Err(e) => return Err(run_usage(verb, &e.to_string())),
    };
    print_warnings(&resp);
    resp.get("Id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| run_usage(verb, "daemon returned no container ID"))
}

pub async fn create_cmd(client: &Client, a: RunArgs) -> CmdResult {
    let id = create(client, &a, "create").await?;
    outln!("{id}");
    Ok(0)
}

/// Registers a wait before the container starts, so a fast exit is not
/// missed; returns the task answering the exit status.
pub(super) async fn register_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> tokio::task::JoinHandle<Result<i32, ClientError>> {
    let c = client.clone();
    let path = format!("/containers/{id}/wait?condition={condition}");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let resp = c.request(Method::POST, &path, empty(), None).await;
        let _ = tx.send(());
        let body = read_all(resp?).await?;
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| ClientError::Http(e.to_string()))?;
        if let Some(m) = v
            .pointer("/Error/Message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            eprintln!("berth: {m}");
        }
        Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0) as i32)
    });
    // A daemon may hold the headers until the exit; go on after a moment.
    let _ = connect::with_timeout(Duration::from_secs(2), rx).await;
    task
}

pub(super) fn attach_path(id: &str, stdin: bool, stdout: bool, stderr: bool) -> String {
    let mut p = format!("/containers/{id}/attach?stream=1");
    for (on, name) in [(stdin, "stdin"), (stdout, "stdout"), (stderr, "stderr")] {
        if on {
            p.push_str(&format!("&{name}=1"));
        }
    }
    p
}

pub async fn run(client: &Client, a: RunArgs) -> CmdResult {
    let id = create(client, &a, "run").await?;
    if a.detach {
        client
            .call(Method::POST, &format!("/containers/{id}/start"), None)
            .await
            .map_err(|e| {
                let m = e.to_string();
                Failure::new(
                    start_error_code(&m),
                    format!("berth: {m}\n\nRun 'berth run --help' for more information"),
                )
            })?;
        outln!("{id}");
        return Ok(0);
    }
    let inspect = client.get_json(&format!("/containers/{id}/json")).await?;
    let cfg = |k: &str| {
        inspect
            .pointer(&format!("/Config/{k}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let (stdin, stdout, stderr) = (cfg("AttachStdin"), cfg("AttachStdout"), cfg("AttachStderr"));
    let tty = cfg("Tty");
    // Raw mode before attaching: input sent early must not be cooked.
    let raw = if tty && stdin {
        stream::RawTerminal::enable(0)
    } else {
        None
    };
    let io = if stdin || stdout || stderr {
        Some(
            client
                .hijack(
                    &match &a.detach_keys {
                        Some(k) => format!(
                            "{}&detachKeys={}",
                            attach_path(&id, stdin, stdout, stderr),
                            q(k)
                        ),
                        None => attach_path(&id, stdin, stdout, stderr),
                    },
                    None,
                )
                .await
                .map_err(|e| run_usage("run", &e.to_string()))?,
        )
    } else {
        None
    };
    let condition = if a.rm { "removed" } else { "next-exit" };
    let waiter = register_wait(client, &id, condition).await;
    if let Err(e) = client
        .call(Method::POST, &format!("/containers/{id}/start"), None)
        .await
    {
        let m = e.to_string();
        waiter.abort();
        return Err(Failure::new(
            start_error_code(&m),
            format!("berth: {m}\n\nRun 'berth run --help' for more information"),
        ));
    }
    // With a tty, Ctrl-C travels through the pty, not as our signal.
    let proxy = (a.sig_proxy && !tty).then(|| stream::proxy_signals(client.clone(), id.clone()));
    let resize = if tty {
        stream::follow_resize(client.clone(), format!("/containers/{id}"))
    } else {
        None
    };
    if let Some(io) = io {
        stream::pump(io, stdin, tty).await;
    }
    drop(raw);
    let code = finish_wait(client, &id, waiter).await;
    for t in [proxy, resize].into_iter().flatten() {
        t.abort();
    }
    Ok(code)
}

pub(super) async fn finish_wait(
    client: &Client,
    id: &str,
    waiter: tokio::task::JoinHandle<Result<i32, ClientError>>,
) -> i32 {
    match waiter.await {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            // The wait may fail once the container is gone; its state still knows.
            match client.get_json(&format!("/containers/{id}/json")).await {
                Ok(v) => v
                    .pointer("/State/ExitCode")
                    .and_then(Value::as_i64)
                    .unwrap_or(125) as i32,
                Err(_) => {
                    eprintln!("berth: {e}");
                    125
                }
            }
        }
        Err(_) => 125,
    }
}

pub async fn start(client: &Client, a: StartArgs) -> CmdResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(Failure::new(
                1,
                "Error: you cannot start and attach multiple containers at once",
            ));
        }
        let name = &a.containers[0];
        let inspect = client
            .get_json(&format!("/containers/{}/json", q(name)))
            .await?;
        let id = inspect
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        let tty = inspect
            .pointer("/Config/Tty")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let stdin = a.interactive
            && inspect
                .pointer("/Config/OpenStdin")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let raw = if tty && stdin {
            stream::RawTerminal::enable(0)
        } else {
            None
        };
        let io = client
            .hijack(&attach_path(&id, stdin, true, true), None)
            .await?;
        let waiter = register_wait(client, &id, "next-exit").await;
        if let Err(e) = client
            .call(Method::POST, &format!("/containers/{id}/start"), None)
            .await
        {
            waiter.abort();
            return Err(Failure::new(
                1,
                format!("{e}\nError: failed to start containers: {name}"),
            ));
        }
        let proxy = (!tty).then(|| stream::proxy_signals(client.clone(), id.clone()));
        let resize = if tty {
            stream::follow_resize(client.clone(), format!("/containers/{id}"))
        } else {
            None
        };
        stream::pump(io, stdin, tty).await;
        drop(raw);
        let code = finish_wait(client, &id, waiter).await;
        for t in [proxy, resize].into_iter().flatten() {
            t.abort();
        }
        return Ok(code);
    }
    let mut failed = Vec::new();
    for c in &a.containers {
        match client
            .call(Method::POST, &format!("/containers/{}/start", q(c)), None)
            .await
        {
            Ok(_) => outln!("{c}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(c.as_str());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(
            1,
            format!("Error: failed to start containers: {}", failed.join(", ")),
        ))
    }
}

pub async fn exec(client: &Client, a: ExecArgs) -> CmdResult {
    let container = &a.args[0];
    if container.starts_with('-') {
        return Err(Failure::new(
            125,
            super::super::usage_error("exec ", &format!("unknown flag: {container}")),
        ));
    }
    if a.tty && a.interactive && !a.detach && !stream::is_terminal(0) {
        return Err(Failure::new(1, "the input device is not a TTY"));
    }
    let env =
        opts::env_list(&a.process.env, &a.process.env_file).map_err(|e| Failure::new(125, e))?;
    let body = json!({
        "User": a.process.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": a.tty,
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Detach": a.detach,
        "Env": env,
        "WorkingDir": a.process.workdir.clone().unwrap_or_default(),
        "Cmd": &a.args[1..],
    });
    let created = client
        .post_json(&format!("/containers/{}/exec", q(container)), Some(&body))
        .await?;
    let id = created
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::new(1, "daemon returned no exec ID"))?
        .to_string();
    let start = json!({"Detach": a.detach, "Tty": a.tty});
    if a.detach {
        client
            .post_json(&format!("/exec/{id}/start"), Some(&start))
            .await?;
        return Ok(0);
    }
    let raw = if a.tty && a.interactive {
        stream::RawTerminal::enable(0)
    } else {
        None
    };
    let io = client
        .hijack(&format!("/exec/{id}/start"), Some(&start))
        .await?;
    let resize = if a.tty {
        stream::follow_resize(client.clone(), format!("/exec/{id}"))
    } else {
        None
    };
    stream::pump(io, a.interactive, a.tty).await;
    drop(raw);
    if let Some(r) = resize {
        r.abort();
    }
    // The stream can end a moment before the exit code is recorded.
    for _ in 0..50 {
        let v = client.get_json(&format!("/exec/{id}/json")).await?;
        if !v.get("Running").and_then(Value::as_bool).unwrap_or(false) {
            return Ok(v.get("ExitCode").and_then(Value::as_i64).unwrap_or(0) as i32);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_shell_statuses() {
        assert_eq!(
            start_error_code("exec: \"x\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_error_code("stat /x: no such file or directory"), 127);
        assert_eq!(
            start_error_code("exec: \"/etc/passwd\": permission denied"),
            126
        );
        assert_eq!(start_error_code("cgroup failure"), 125);
    }
}
