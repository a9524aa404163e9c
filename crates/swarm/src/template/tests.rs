use super::*;

fn ctx() -> Context {
    let mut c = Context {
        service_id: "svc1".into(),
        service_name: "web".into(),
        node_id: "node1".into(),
        node_hostname: "host-a".into(),
        node_os: "linux".into(),
        node_architecture: "x86_64".into(),
        task_id: "task1".into(),
        task_name: "web.2.task1".into(),
        task_slot: "2".into(),
        env: vec![
            "GREETING=hello=world".into(),
            "EMPTY=".into(),
            "BARE".into(),
        ],
        ..Default::default()
    };
    c.service_labels.insert("tier".into(), "front".into());
    c.service_labels.insert("a.b".into(), "dotted".into());
    c.secrets.insert("pw".into(), b"hunter2".to_vec());
    c.configs
        .insert("/etc/app.conf".into(), b"{{.Task.Name}}".to_vec());
    c
}

fn run(src: &str) -> Result<String, TemplateError> {
    expand(GOLANG, src.as_bytes(), &ctx()).map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn fields_of_the_context() {
    assert_eq!(
        run(
            "{{.Service.ID}} {{.Service.Name}} {{.Node.ID}} {{.Node.Hostname}} \
             {{.Node.Platform.OS}}/{{.Node.Platform.Architecture}} \
             {{.Task.ID}} {{.Task.Name}} {{.Task.Slot}}"
        )
        .unwrap(),
        "svc1 web node1 host-a linux/x86_64 task1 web.2.task1 2"
    );
    assert_eq!(run("{{$.Service.Name}}").unwrap(), "web");
}

#[test]
fn text_outside_actions_is_copied_byte_for_byte() {
    let data = b"a\xffb {{.Task.Slot}} }} { c\n";
    assert_eq!(expand(GOLANG, data, &ctx()).unwrap(), b"a\xffb 2 }} { c\n");
    assert_eq!(run("no actions at all").unwrap(), "no actions at all");
    assert_eq!(run("").unwrap(), "");
}

#[test]
fn labels_by_field_and_by_index() {
    assert_eq!(run("{{.Service.Labels.tier}}").unwrap(), "front");
    assert_eq!(run(r#"{{index .Service.Labels "a.b"}}"#).unwrap(), "dotted");
    // index yields "" for a missing key; a field is an error (missingkey=error).
    assert_eq!(run(r#"[{{index .Service.Labels "nope"}}]"#).unwrap(), "[]");
    let e = run("{{.Service.Labels.nope}}").unwrap_err();
    assert!(
        e.to_string().contains("map has no entry for key \"nope\""),
        "{e}"
    );
    assert_eq!(
        run("{{.Service.Labels}}").unwrap(),
        "map[a.b:dotted tier:front]"
    );
}

#[test]
fn env_secret_and_config() {
    assert_eq!(run(r#"{{env "GREETING"}}"#).unwrap(), "hello=world");
    assert_eq!(
        run(r#"[{{env "MISSING"}}][{{env "BARE"}}][{{env "EMPTY"}}]"#).unwrap(),
        "[][][]"
    );
    assert_eq!(run(r#"pw={{secret "pw"}}"#).unwrap(), "pw=hunter2");
    // Another config's data comes unexpanded, as swarmkit's getter gives it.
    assert_eq!(
        run(r#"{{config "/etc/app.conf"}}"#).unwrap(),
        "{{.Task.Name}}"
    );
    let e = run(r#"{{secret "other"}}"#).unwrap_err();
    assert!(
        e.to_string().contains("secret target other not found"),
        "{e}"
    );
    let e = run(r#"{{env}}"#).unwrap_err();
    assert!(
        e.to_string()
            .contains("wrong number of args for env: want 1 got 0"),
        "{e}"
    );
}

#[test]
fn pipelines_parens_join_and_print() {
    assert_eq!(run(r#"{{"GREETING" | env}}"#).unwrap(), "hello=world");
    assert_eq!(
        run(r#"{{join "-" .Service.Name .Task.Slot}}"#).unwrap(),
        "web-2"
    );
    assert_eq!(
        run(r#"{{index .Service.Labels (print "ti" "er")}}"#).unwrap(),
        "front"
    );
    assert_eq!(run(r#"{{print "a" "b"}}"#).unwrap(), "ab");
    assert_eq!(run(r#"{{println "a" "b"}}"#).unwrap(), "a b\n");
    assert_eq!(run(r#"{{.Service.Name | print "x"}}"#).unwrap(), "xweb");
}

#[test]
fn strings_and_escapes() {
    assert_eq!(
        run(r#"{{"a\tb\n\x41\u00e9\101\"\\"}}"#).unwrap(),
        "a\tb\nAéA\"\\"
    );
    assert_eq!(run("{{`raw \\n }}`}}").unwrap(), "raw \\n }}");
    assert_eq!(run(r#"{{"}}"}}"#).unwrap(), "}}");
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(run("a  \n {{- .Task.Slot -}} \n\t b").unwrap(), "a2b");
    assert_eq!(run("a {{.Task.Slot -}}   b").unwrap(), "a 2b");
    assert_eq!(run("a {{/* note */}}b").unwrap(), "a b");
    assert_eq!(run("a {{- /* note */ -}} b").unwrap(), "ab");
    assert_eq!(run("{{\n.Task.Slot\n}}").unwrap(), "2");
}

#[test]
fn unsupported_constructs_are_named_at_check_time() {
    for (src, named) in [
        ("{{if .Task.Slot}}x{{end}}", "{{if}}"),
        ("{{range .Service.Labels}}{{end}}", "{{range}}"),
        ("{{with .Node}}{{end}}", "{{with}}"),
        ("{{template \"x\"}}", "{{template}}"),
        ("{{define \"x\"}}{{end}}", "{{define}}"),
        ("{{$x := 1}}", "variable"),
        ("{{printf \"%s\" .Task.Slot}}", "\"printf\""),
        ("{{len .Service.Labels}}", "\"len\""),
        ("{{eq .Task.Slot \"1\"}}", "\"eq\""),
        ("{{3}}", "number constant"),
        ("{{true}}", "boolean constant"),
        ("{{.Node}}", "printing a whole struct (.Node)"),
        ("{{.}}", "printing a whole struct (.)"),
        ("line1\n{{.Node.Platform}}", "(.Node.Platform)"),
    ] {
        let e = check(GOLANG, src.as_bytes()).unwrap_err();
        assert!(e.is_unsupported(), "{src}: {e:?}");
        assert!(e.to_string().contains(named), "{src}: {e}");
    }
    let e = check(GOLANG, b"a\nb\n{{if 1}}").unwrap_err();
    assert!(e.to_string().starts_with("template: expansion:3:"), "{e}");
}

#[test]
fn go_errors_are_not_berths_refusals() {
    // What Go itself rejects is accepted at create time, as dockerd does,
    // and fails the task on the node.
    for src in [
        "{{nosuchfunc}}",
        "{{",
        "{{}}",
        "{{.Task.Slot",
        "{{(env \"A\"}}",
        "{{\"x}}",
    ] {
        let e = check(GOLANG, src.as_bytes()).unwrap_err();
        assert!(!e.is_unsupported(), "{src}: {e:?}");
    }
    let e = run("{{nosuchfunc}}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "template: expansion:1: function \"nosuchfunc\" not defined"
    );
    let e = run("{{.Service.Nope}}").unwrap_err();
    assert!(e.to_string().contains("can't evaluate field Nope"), "{e}");
    let e = run("{{.Task.Slot.X}}").unwrap_err();
    assert!(e.to_string().contains("in type string"), "{e}");
    let e = run("{{.Task.Slot \"x\"}}").unwrap_err();
    assert!(
        e.to_string()
            .contains("can't give argument to non-function"),
        "{e}"
    );
}

#[test]
fn other_drivers() {
    assert!(check("other", b"{{if}}").is_ok());
    assert_eq!(
        expand("other", b"x", &ctx()).unwrap_err(),
        TemplateError::UnknownDriver
    );
    assert_eq!(
        TemplateError::UnknownDriver.to_string(),
        "unrecognized template type"
    );
}
