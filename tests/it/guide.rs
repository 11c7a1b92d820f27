//! The guide's examples are the ones the suites run: the pytest example
//! in docs/src/pytest.md is python/tests/test_readme_example.py, and the
//! README's tour names only verbs and flags the CLI has.

use std::path::Path;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fenced blocks of `lang` in a Markdown text.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}\n");
    text.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(b, _)| b.to_string()))
        .collect()
}

#[test]
fn the_pytest_example_is_the_one_the_python_suite_runs() {
    let guide = blocks(&read("docs/src/pytest.md"), "python");
    assert_eq!(guide.len(), 1, "one Python example in the guide");
    let test = read("python/tests/test_readme_example.py");
    let body = test
        .split_once("\"\"\"\n\n")
        .map_or(test.as_str(), |(_, b)| b);
    assert_eq!(guide[0].trim(), body.trim());
}

#[test]
fn the_readme_tour_uses_verbs_and_flags_the_cli_has() {
    let readme = read("README.md");
    let tour = blocks(&readme, "sh");
    let lines: Vec<&str> = tour
        .iter()
        .flat_map(|b| b.lines())
        .filter(|l| l.trim_start().starts_with("adcs-harness "))
        .collect();
    assert!(lines.len() >= 7, "{lines:?}");
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        // The verb (and sub-verb) and every --flag must be in their --help.
        let verbs: Vec<&str> = words[1..]
            .iter()
            .take_while(|w| !w.starts_with('-'))
            .take(2)
            .copied()
            .collect();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
            .args(&verbs)
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{line}: {help}");
        for flag in words.iter().filter(|w| w.starts_with("--")) {
            let flag = flag.split('=').next().unwrap();
            assert!(
                help.contains(flag),
                "{line}: no {flag} in `{}` --help",
                verbs.join(" ")
            );
        }
    }
}
