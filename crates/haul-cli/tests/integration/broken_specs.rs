//! Broken specs: `haul validate` exits 78 and names each problem's
//! `file:line:col` with a suggestion.

use crate::{example, haul, text};

const BASE: &str = r#"version = 1
name = "gh"

[inputs.base_url]
type = "string"
default = "https://api.github.com"

[inputs.token]
type = "secret"
env = "GH_TOKEN"

[inputs.start]
type = "datetime"
default = "2024-01-01T00:00:00Z"

[source]
base_url = "{input.base_url}"
auth = { type = "bearer", token = "{input.token}" }
max_in_flight = 4

[streams.repos]
path = "/orgs/{partition.owner}/repos"
partitions = { kind = "list", values = [{ owner = "rust-lang" }] }
paginator = { style = "link_header", page_size_param = "per_page", page_size = 100 }
primary_key = ["/id"]
records = "/items"

[streams.issues]
path = "/repos/{parent.owner}/{parent.repo}/issues"
partitions = { kind = "parent", stream = "repos", fields = { repo = "/name" } }
paginator = { style = "link_header" }
incremental = { field = "/updated_at", param = "since", lookback = "5m" }
"#;

/// One broken spec: the edit, where the error must point (the first
/// occurrence of `at` in the broken text), and text the error must show.
struct Case {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    at: &'static str,
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "typo in a top-level key",
        from: "name = \"gh\"",
        to: "nmae = \"gh\"",
        at: "nmae",
        expect: &["unknown key `nmae`", "did you mean `name`?"],
    },
    Case {
        name: "typo in a stream key",
        from: "paginator = { style = \"link_header\" }",
        to: "paginatr = { style = \"link_header\" }",
        at: "paginatr",
        expect: &["unknown key `paginatr`", "did you mean `paginator`?"],
    },
    Case {
        name: "typo in a source key",
        from: "max_in_flight = 4",
        to: "max_in_fligth = 4",
        at: "max_in_fligth",
        expect: &[
            "unknown key `max_in_fligth`",
            "did you mean `max_in_flight`?",
        ],
    },
    Case {
        name: "typo in a paginator option",
        from: "page_size = 100",
        to: "page_sise = 100",
        at: "page_sise",
        expect: &["unknown key `page_sise`", "did you mean `page_size`?"],
    },
    Case {
        name: "wrong type",
        from: "max_in_flight = 4",
        to: "max_in_flight = \"four\"",
        at: "\"four\"",
        expect: &["invalid type: string \"four\""],
    },
    Case {
        name: "unknown partition value in a template",
        from: "/orgs/{partition.owner}/repos",
        to: "/orgs/{partition.ownr}/repos",
        at: "{partition.ownr}",
        expect: &[
            "`{partition.ownr}` is not a value",
            "did you mean `{partition.owner}`?",
        ],
    },
    Case {
        name: "unknown parent value in a template",
        from: "{parent.repo}/issues",
        to: "{parent.rep}/issues",
        at: "{parent.rep}",
        expect: &[
            "`{parent.rep}` is not a field the parent provides",
            "did you mean `{parent.repo}`?",
        ],
    },
    Case {
        name: "unknown input in a template",
        from: "base_url = \"{input.base_url}\"",
        to: "base_url = \"{input.base_ulr}\"",
        at: "{input.base_ulr}",
        expect: &[
            "names no declared input",
            "did you mean `{input.base_url}`?",
        ],
    },
    Case {
        name: "secret given inline",
        from: "token = \"{input.token}\"",
        to: "token = \"ghp_0123456789\"",
        at: "\"ghp_0123456789\"",
        expect: &[
            "the bearer token must be given as `\"{input.NAME}\"` of a secret input, not inline",
        ],
    },
    Case {
        name: "secret with a default",
        from: "env = \"GH_TOKEN\"",
        to: "env = \"GH_TOKEN\"\ndefault = \"ghp_x\"",
        at: "\"ghp_x\"",
        expect: &["secret input `token` cannot have a default"],
    },
    Case {
        name: "secret used in a URL",
        from: "/orgs/{partition.owner}/repos",
        to: "/orgs/{partition.owner}/repos?t={input.token}",
        at: "{input.token}",
        expect: &["secret input `token` can only be used as a credential"],
    },
    Case {
        name: "cycle in parents",
        from: "partitions = { kind = \"list\", values = [{ owner = \"rust-lang\" }] }",
        to: "partitions = { kind = \"parent\", stream = \"issues\", fields = { owner = \"/owner\" } }",
        at: "\"repos\"",
        expect: &["parent cycle: repos → issues → repos"],
    },
    Case {
        name: "paginator option of the wrong style",
        from: "paginator = { style = \"link_header\" }",
        to: "paginator = { style = \"link_header\", has_more = \"/has_more\" }",
        at: "has_more",
        expect: &[
            "unknown key `has_more`",
            "is an option of paginator style `next_url`",
        ],
    },
    Case {
        name: "unknown paginator style",
        from: "paginator = { style = \"link_header\" }",
        to: "paginator = { style = \"link_headers\" }",
        at: "\"link_headers\"",
        expect: &[
            "unknown value `link_headers`",
            "did you mean `link_header`?",
        ],
    },
    Case {
        name: "parent that is not a stream",
        from: "stream = \"repos\"",
        to: "stream = \"repo\"",
        at: "\"repo\"",
        expect: &[
            "names parent `repo`, which is not a stream",
            "did you mean `repos`?",
        ],
    },
    Case {
        name: "parent value in a stream without a parent",
        from: "/orgs/{partition.owner}/repos",
        to: "/orgs/{parent.owner}/repos",
        at: "{parent.owner}",
        expect: &["used in a stream without a parent"],
    },
    Case {
        name: "placeholder without a namespace",
        from: "/orgs/{partition.owner}/repos",
        to: "/orgs/{owner}/repos",
        at: "{owner}",
        expect: &["`{owner}` names no namespace", "{partition.owner}"],
    },
    Case {
        name: "unknown template namespace",
        from: "/orgs/{partition.owner}/repos",
        to: "/orgs/{partiton.owner}/repos",
        at: "{partiton.owner}",
        expect: &[
            "unknown template namespace `partiton`",
            "did you mean `{partition.owner}`?",
        ],
    },
    Case {
        name: "invalid duration",
        from: "lookback = \"5m\"",
        to: "lookback = \"5 minutes\"",
        at: "\"5 minutes\"",
        expect: &["is not a duration"],
    },
    Case {
        name: "datetime default that is not one",
        from: "default = \"2024-01-01T00:00:00Z\"",
        to: "default = \"yesterday\"",
        at: "\"yesterday\"",
        expect: &["\"yesterday\" is not an RFC 3339 date-time"],
    },
    Case {
        name: "records that is not a JSON pointer",
        from: "records = \"/items\"",
        to: "records = \"items\"",
        at: "\"/orgs/",
        expect: &["`records` \"items\" is not a JSON pointer", "\"/items\""],
    },
    Case {
        name: "unsupported version",
        from: "version = 1",
        to: "version = 2",
        at: "2",
        expect: &["unsupported spec version 2", "`version = 1`"],
    },
    Case {
        name: "auth option of another auth type",
        from: "auth = { type = \"bearer\", token = \"{input.token}\" }",
        to: "auth = { type = \"bearer\", token = \"{input.token}\", user = \"me\" }",
        at: "{ type = \"bearer\"",
        expect: &["`user` is not an option of auth type `bearer`"],
    },
    Case {
        name: "unknown auth type",
        from: "type = \"bearer\"",
        to: "type = \"bearr\"",
        at: "\"bearr\"",
        expect: &["unknown value `bearr`", "did you mean `bearer`?"],
    },
    Case {
        name: "invalid TOML",
        from: "max_in_flight = 4",
        to: "max_in_flight = = 4",
        at: "= 4",
        expect: &["invalid TOML"],
    },
    Case {
        name: "a typo in an input type",
        from: "type = \"datetime\"",
        to: "type = \"date_time\"",
        at: "\"date_time\"",
        expect: &["unknown value `date_time`", "did you mean `datetime`?"],
    },
];

/// Line and column of `needle`, searched from the edit at `from` onwards
/// (the error is in or after the edit), else from the start.
fn line_col(text: &str, from: usize, needle: &str) -> (usize, usize) {
    let at = text[from..]
        .find(needle)
        .map(|i| i + from)
        .or_else(|| text.find(needle))
        .expect("needle in the broken spec");
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

#[test]
fn the_base_spec_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.toml"), BASE).unwrap();
    let out = haul(dir.path(), &["validate", "base.toml"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn every_broken_spec_exits_78_naming_line_col_and_a_suggestion() {
    assert!(CASES.len() >= 20);
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        assert!(
            BASE.contains(case.from),
            "{}: edit does not apply",
            case.name
        );
        let broken = BASE.replacen(case.from, case.to, 1);
        let file = format!("case{i}.toml");
        std::fs::write(dir.path().join(&file), &broken).unwrap();
        let out = haul(dir.path(), &["validate", &file], &[]);
        let stderr = text(&out.stderr);
        let edit = BASE.find(case.from).unwrap();
        let (line, col) = line_col(&broken, edit, case.at);
        let place = format!("{file}:{line}:{col}: ");
        let mut problems = Vec::new();
        if out.status.code() != Some(78) {
            problems.push(format!("exit {:?}", out.status.code()));
        }
        if !stderr.contains(&place) {
            problems.push(format!("no {place}"));
        }
        for e in case.expect {
            if !stderr.contains(e) {
                problems.push(format!("no {e:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{stderr}", case.name, problems.join(", ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn all_errors_are_reported_not_just_the_first() {
    let broken = BASE
        .replacen("name = \"gh\"", "nmae = \"gh\"", 1)
        .replacen("{parent.repo}", "{parent.rep}", 1)
        .replacen("lookback = \"5m\"", "lookback = \"5x\"", 1)
        .replacen("max_in_flight = 4", "max_in_flight = \"4\"", 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("many.toml"), broken).unwrap();
    let out = haul(dir.path(), &["validate", "many.toml"], &[]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = text(&out.stderr);
    // The missing `name` is a problem of its own, found alongside the typo.
    assert!(stderr.contains("5 errors found"), "{stderr}");
}

#[test]
fn every_example_spec_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["github", "stripe", "hubspot", "zendesk", "salesforce"] {
        let out = haul(dir.path(), &["validate", &example(name)], &[]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
    }
}

#[test]
fn a_secret_given_with_set_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.toml"), BASE).unwrap();
    let out = haul(
        dir.path(),
        &["validate", "base.toml", "--set", "token=ghp_secret"],
        &[],
    );
    assert_eq!(out.status.code(), Some(78));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("secret input `token` cannot be given with --set"),
        "{stderr}"
    );
    assert!(!stderr.contains("ghp_secret"), "{stderr}");
}
