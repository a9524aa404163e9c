//! `docker top`: the host's `ps` with the client's arguments, cut to the
//! container's processes, as dockerd does it.

use crate::{Engine, EngineError, Result};

/// The body of `GET /containers/{id}/top`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopOutput {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// What `docker top` runs without arguments.
pub const DEFAULT_PS_ARGS: &str = "-ef";

impl Engine {
    /// Runs `ps <ps_args> -q <pids>` (plain `ps <ps_args>` when ps refuses
    /// the combination, as `f` does) and keeps the rows of the container's
    /// processes, wherever the PID column is.
    pub async fn top(&self, name_or_id: &str, ps_args: &str) -> Result<TopOutput> {
        let ps_args = if ps_args.trim().is_empty() {
            DEFAULT_PS_ARGS
        } else {
            ps_args
        };
        validate_ps_args(ps_args)?;
        let pids = self.pids(name_or_id).await?;
        let args: Vec<&str> = ps_args.split_whitespace().collect();
        let mut output = run_ps(&args, Some(&pids)).await?;
        if !output.status.success() {
            output = run_ps(&args, None).await?;
        }
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr.lines().next().unwrap_or_default().trim();
            let why = if first.is_empty() {
                output.status.to_string()
            } else {
                first.to_string()
            };
            return Err(EngineError::Internal(format!("ps: {why}")));
        }
        parse_ps_output(&String::from_utf8_lossy(&output.stdout), &pids)
    }
}

async fn run_ps(args: &[&str], pids: Option<&[u32]>) -> Result<std::process::Output> {
    let mut cmd = tokio::process::Command::new("ps");
    cmd.args(args);
    if let Some(pids) = pids {
        cmd.arg(ps_pids_arg(pids));
    }
    cmd.output()
        .await
        .map_err(|e| EngineError::internal("Error running ps", e))
}

/// `-q1,2,3`: ps lists exactly these processes whatever session or terminal
/// they have (without it `ps -o …` shows only the caller's session).
fn ps_pids_arg(pids: &[u32]) -> String {
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    format!("-q{}", list.join(","))
}

/// dockerd refuses to let a client rename a column to `PID` (which would
/// fool the search for the real one).
fn validate_ps_args(ps_args: &str) -> Result<()> {
    for word in ps_args.split_whitespace() {
        if let Some((key, value)) = word.split_once('=')
            && value.trim_start().starts_with("PID")
            && key != "pid"
        {
            return Err(EngineError::InvalidParameter(format!(
                "specifying \"{key}={value}\" is not allowed"
            )));
        }
    }
    Ok(())
}

/// The header's fields are the titles; rows whose PID column names one of
/// `pids` are kept, the overhanging fields merged into the last column (the
/// command keeps its spaces).
pub fn parse_ps_output(text: &str, pids: &[u32]) -> Result<TopOutput> {
    let mut lines = text.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_index = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| EngineError::Internal("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid_field) = fields.get(pid_index) else {
            continue;
        };
        let pid: u32 = pid_field
            .parse()
            .map_err(|e| EngineError::Internal(format!("Unexpected pid '{pid_field}': {e}")))?;
        if !pids.contains(&pid) {
            continue;
        }
        let last = titles.len() - 1;
        let mut row: Vec<String> = fields.iter().take(last).map(|f| f.to_string()).collect();
        row.push(fields.get(last..).map(|f| f.join(" ")).unwrap_or_default());
        processes.push(row);
    }
    Ok(TopOutput { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_column_is_found_wherever_it_is() {
        let out = "USER       PID COMMAND\nroot        12 sleep 100\nroot        13 sh -c echo hi\nroot        99 other\n";
        let top = parse_ps_output(out, &[12, 13]).unwrap();
        assert_eq!(top.titles, ["USER", "PID", "COMMAND"]);
        assert_eq!(
            top.processes,
            [
                vec!["root", "12", "sleep 100"],
                vec!["root", "13", "sh -c echo hi"]
            ]
        );
        let top = parse_ps_output("    PID\n     12\n     14\n", &[12]).unwrap();
        assert_eq!(top.processes, [vec!["12"]]);
    }

    #[test]
    fn output_without_a_pid_column_is_refused_with_dockers_message() {
        let err = parse_ps_output("USER COMMAND\nroot sleep\n", &[1]).unwrap_err();
        assert_eq!(err.to_string(), "Couldn't find PID field in ps output");
        let err = parse_ps_output("", &[1]).unwrap_err();
        assert_eq!(err.to_string(), "Couldn't find PID field in ps output");
    }

    #[test]
    fn renaming_a_column_to_pid_is_refused() {
        assert!(validate_ps_args("-o pid=PID,args").is_ok());
        assert!(validate_ps_args("-ef").is_ok());
        let err = validate_ps_args("-o user=PID,args").unwrap_err();
        assert_eq!(
            err.to_string(),
            "specifying \"user=PID,args\" is not allowed"
        );
    }

    #[test]
    fn pids_are_passed_as_one_q_argument() {
        assert_eq!(ps_pids_arg(&[1, 20, 300]), "-q1,20,300");
    }
}
