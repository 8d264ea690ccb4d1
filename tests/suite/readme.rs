//! The README's command reference against the binary: every flag the README gives a command is a
//! flag of that command (`sbn COMMAND --help` lists it), so the documentation cannot drift from
//! the command line unnoticed.

use std::collections::BTreeSet;
use std::process::Command;

fn help(command: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sbn")).args([command, "--help"]).output().unwrap();
    assert!(out.status.success(), "sbn {command} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The `--flags` in `text` (stopping at characters that cannot be in a flag).
fn flags(text: &str) -> BTreeSet<String> {
    text.match_indices("--")
        .map(|(i, _)| text[i + 2..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '-').collect::<String>())
        .filter(|f| f.len() > 1)
        .map(|f| format!("--{f}"))
        .collect()
}

#[test]
fn every_flag_the_readme_names_exists() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## Commands").nth(1).expect("a Commands section").split("\n## ").next().unwrap();
    let mut checked = 0;
    // The table: `| \`sbn COMMAND …\` | what it does, maybe naming more flags |`.
    for row in section.lines().filter(|l| l.starts_with("| `sbn ")) {
        let command = row["| `sbn ".len()..].split([' ', '`']).next().unwrap();
        let listed = help(command);
        for flag in flags(row) {
            assert!(listed.contains(&flag), "README: `sbn {command}` takes {flag}, but `sbn {command} --help` does not list it");
            checked += 1;
        }
    }
    // The paragraph on the commands that predict.
    let predicting = ["evaluate", "calibrate", "uncertainty", "report", "predict", "bench-predict"];
    assert!(
        section.contains("`evaluate`, `calibrate`, `uncertainty`, `report`, `predict`,\n`bench-predict`) takes"),
        "the paragraph on predicting commands changed; update this test"
    );
    for command in predicting {
        let listed = help(command);
        for flag in ["--weight-samples", "--noise-samples", "--seed", "--engine", "--posterior-temperature"] {
            assert!(listed.contains(flag), "README: `sbn {command}` takes {flag}");
            checked += 1;
        }
    }
    for command in ["evaluate", "calibrate", "uncertainty", "report", "predict", "fit"] {
        assert!(help(command).contains("--label"), "README: `sbn {command}` takes --label");
    }
    assert!(checked > 40, "only {checked} flags found in the README's Commands section");
}
