//! The informational verbs: `--version`, `--help`, `schema`, `completions`.

use crate::{haul, text};

#[test]
fn version_help_schema_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let version = haul(dir.path(), &["--version"], &[]);
    assert_eq!(
        text(&version.stdout).trim(),
        format!("haul {}", env!("CARGO_PKG_VERSION"))
    );

    let help = text(&haul(dir.path(), &["--help"], &[]).stdout);
    for verb in [
        "validate",
        "check",
        "run",
        "list",
        "state",
        "schema",
        "completions",
    ] {
        assert!(
            help.contains(&format!("haul {verb}")),
            "no example for {verb}: {help}"
        );
        let own = haul(dir.path(), &[verb, "--help"], &[]);
        assert!(
            text(&own.stdout).contains("Example"),
            "{verb} --help has no example"
        );
    }

    let schema = haul(dir.path(), &["schema"], &[]);
    let schema: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown top-level keys are refused"
    );
    assert!(schema["properties"]["streams"].is_object());

    let bash = haul(dir.path(), &["completions", "bash"], &[]);
    assert!(text(&bash.stdout).contains("_haul()"));
}
