//! The guide's examples are the ones the suites run: the pytest example
//! in docs/src/pytest.md is python/tests/test_readme_example.py, and the
//! README and the guide name only verbs and flags the CLI has (the
//! sessions they show run in `.ci/guide_sessions.py`).

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

/// Every `adcs-harness` command in the README's and the guide's shell
/// blocks, continuation lines joined, with what runs it as root
/// (`sudo env PATH="$PATH"`) taken off.
fn documented_commands() -> Vec<(String, String)> {
    let mut files = vec!["README.md".to_string()];
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src");
    for e in std::fs::read_dir(docs).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            files.push(format!("docs/src/{name}"));
        }
    }
    let mut out = Vec::new();
    for f in files {
        for block in blocks(&read(&f), "sh") {
            let joined = block.replace("\\\n", " ");
            for line in joined.lines() {
                let line = line
                    .trim_start()
                    .trim_start_matches("sudo env PATH=\"$PATH\" ")
                    .trim_start_matches("sudo ");
                if line.starts_with("adcs-harness ") {
                    out.push((f.clone(), line.to_string()));
                }
            }
        }
    }
    out
}

/// `adcs-harness VERB… --help`.
fn long_help(verb: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args(verb)
        .arg("--help")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The sub-verbs a help text lists under `Commands:`.
fn commands_of(help: &str) -> Vec<String> {
    let Some((_, rest)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    rest.lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn the_guide_uses_verbs_and_flags_the_cli_has() {
    let commands = documented_commands();
    assert!(commands.len() >= 40, "{commands:?}");
    for (file, line) in commands {
        let words: Vec<&str> = line.split_whitespace().collect();
        // The verb, its sub-verb (which may follow the verb's own flags,
        // as in `ca --ready-file F issue`), and every --flag in their help.
        let verb = words[1];
        let (ok, verb_help) = long_help(&[verb]);
        assert!(ok, "{file}: {line}: no verb `{verb}`: {verb_help}");
        let subs = commands_of(&verb_help);
        let mut path = vec![verb];
        let mut help = verb_help.clone();
        if !subs.is_empty() {
            let sub = words[2..]
                .iter()
                .find(|w| subs.iter().any(|s| s == *w))
                .unwrap_or_else(|| panic!("{file}: {line}: none of {subs:?}"));
            path.push(sub);
            let (ok, sub_help) = long_help(&path);
            assert!(ok, "{file}: {line}: {sub_help}");
            help.push_str(&sub_help);
        }
        for word in &words {
            let Some(at) = word.find("--") else { continue };
            let flag: String = word[at..]
                .chars()
                .take_while(|c| *c == '-' || c.is_ascii_alphanumeric())
                .collect();
            if flag.len() > 2 {
                assert!(
                    help.contains(&format!("{flag} "))
                        || help.contains(&format!("{flag}\n"))
                        || help.contains(&format!("{flag}="))
                        || help.contains(&format!("{flag},")),
                    "{file}: {line}: no {flag} in `adcs-harness {} --help`",
                    path.join(" ")
                );
            }
        }
    }
}

/// The verbs of `adcs-harness`, each followed by its sub-verbs, in `-h`'s order, as
/// they are typed (`["req", "submit"]`).
#[cfg(not(windows))]
fn verbs(prefix: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for name in commands_of(&short_help(prefix)) {
        let mut verb = prefix.to_vec();
        verb.push(name);
        let subs = verbs(&verb);
        out.push(verb);
        out.extend(subs);
    }
    out
}

#[cfg(not(windows))]
fn short_help(verb: &[String]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_adcs-harness"))
        .args(verb)
        .arg("-h")
        .output()
        .unwrap();
    assert!(out.status.success(), "{verb:?} -h");
    String::from_utf8(out.stdout).unwrap()
}

/// docs/src/cli.md is every verb's `-h`, written from the doc comments
/// the CLI is built from (one source). After a change to a flag:
/// `ADCS_UPDATE_GUIDE=1 cargo test --test it guide::`. The Linux build's
/// help is the one shown.
#[cfg(not(windows))]
#[test]
fn the_command_line_chapter_is_every_verbs_help() {
    let mut page = String::from(
        "# Every command and flag\n\n\
         What `adcs-harness VERB -h` prints (`--help` says more where a flag has\n\
         more to say). Written from the CLI's own help by the test suite, so it\n\
         cannot fall behind.\n",
    );
    let all = verbs(&[]);
    assert!(all.len() >= 20, "{all:?}");
    for verb in all {
        page.push_str(&format!(
            "\n## adcs-harness {}\n\n```text\n{}```\n",
            verb.join(" "),
            short_help(&verb)
        ));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src/cli.md");
    if std::env::var_os("ADCS_UPDATE_GUIDE").is_some() {
        std::fs::write(&path, &page).unwrap();
        return;
    }
    assert!(
        read("docs/src/cli.md") == page,
        "docs/src/cli.md is behind the CLI's help: ADCS_UPDATE_GUIDE=1 cargo test --test it guide::"
    );
}

/// The reference's serve.toml is `serve --print-defaults`, key for key.
/// After a change to the configuration: `ADCS_UPDATE_GUIDE=1 cargo test
/// --test it guide::` writes it again.
#[test]
fn the_reference_lists_every_serve_toml_key_at_its_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src/reference.md");
    let text = read("docs/src/reference.md");
    let shown = blocks(&text, "toml");
    let now = mock_ca::serve::defaults_toml();
    if std::env::var_os("ADCS_UPDATE_GUIDE").is_some() && shown.first() != Some(&now) {
        let old = format!("```toml\n{}```", shown[0]);
        std::fs::write(&path, text.replace(&old, &format!("```toml\n{now}```"))).unwrap();
        return;
    }
    assert_eq!(shown.first(), Some(&now), "docs/src/reference.md is behind");
}

#[test]
fn the_reference_names_every_control_route_and_ready_file_field() {
    let text = read("docs/src/reference.md");
    for (_, route) in mock_ca::web::control::ROUTES {
        if !route.is_empty() {
            assert!(text.contains(&format!("`{route}`")), "route {route}");
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let ready = tmp.path().join("ready.json");
    let config = mock_ca::serve::ServeConfig {
        ndes: Some(mock_ca::ndes::NdesConfig::default()),
        lab: Some(mock_ca::lab::LabConfig::from_list("esc1")),
        ..Default::default()
    };
    let _running = mock_ca::serve::start(config, Some(&ready)).unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    let mut keys: Vec<String> = Vec::new();
    for (k, v) in info.as_object().unwrap() {
        keys.push(k.clone());
        let nested = v
            .as_object()
            .or_else(|| v.get(0).and_then(|f| f.as_object()));
        keys.extend(nested.into_iter().flat_map(|o| o.keys().cloned()));
    }
    for k in keys {
        assert!(text.contains(&format!("`{k}`")), "ready file field {k}");
    }
}
