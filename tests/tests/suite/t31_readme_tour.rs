//! The README's tour, run as written against the real demo: `comity-node demo` on free ports,
//! then every line of the shell blocks under "## CLI tour" that run `comity` or `curl` (with the
//! other lines of those blocks, such as the `cp`/`dd` that tamper with an envelope) through `sh`,
//! from a directory laid out like the repository root (`examples/`, the demo in `comity-demo/`).
//! The blocks for other tools (grpcurl, the Python client) are left to t99_reflection and t18.
//!
//! Only the node addresses are adapted (`127.0.0.1:7700`–`7702`, `7800`–`7802` and `7900`–`7902`
//! become the demo's free ports, and the default node is passed as `COMITY_NODE`), `STATEMENT_ID`
//! becomes the id the tour's first publish printed, and a `comity watch` that follows until Ctrl-C
//! gets `--until-caught-up`; an `export` holds for the lines after it. Each command must exit as
//! its comment says (`exit N`, else 0); a verdict, licence status or gRPC code named in the
//! comment, and text quoted in it (up to a `…`), must be in its output; and each line of output the
//! README shows under a command (comment lines right below it) must be a line of its output,
//! timestamps aside and `…` standing for any text. The README's output excerpts (blocks with no
//! language) are checked the same way against the command that prints them (`EXCERPTS`). So an edit
//! to the README that the demo does not back, or a demo change that breaks the README, fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use comity_proto::pb;
use comity_tests::{bin_path, start_demo};
use regex::Regex;

/// README lines not run against the demo, by prefix, with why. Each must still match a line.
const NOT_RUN: [(&str, &str); 9] = [
    ("comity publish bafa-keys/", "your own authority's key set is for your own node; the demo's de.bafa has roots of its own"),
    ("comity keys rotate ", "rotates your own authority's key set, published above"),
    ("comity keys compromise ", "a template: KEY_ID and the root keys are yours"),
    ("comity agreement new ", "kr.kstc's key is the reader's (not in the demo)"),
    ("comity agreement withdraw ", "kr.kstc's key is the reader's (not in the demo)"),
    ("comity publish case.yaml ", "case.yaml is the reader's document; the demo publishes its confidential licence itself"),
    ("comity completion ", "writes into the shell's completion directories in $HOME"),
    ("comity-node completion ", "writes into the shell's completion directories in $HOME"),
    ("curl -s 127.0.0.1:7900/metrics | promtool ", "promtool is a test tool of t99_metrics, which checks the same metrics with it"),
];

/// The README's output excerpts, by their first line (times as `normalise` leaves them), with the
/// command that prints them, run after the tour.
const EXCERPTS: [(&str, &str); 2] = [
    ("TIME  DECISION      de.bafa/DE-2026-013248 ", "comity watch --from-start --until-caught-up"),
    ("AUTHORITY  REGIME ", "comity stats --authority uk.ecju"),
];

/// One line of a tour block, with the comment after it and the output shown below it.
#[derive(Debug)]
struct Step {
    command: String,
    comment: String,
    shown: Vec<String>,
}

/// The README's "## CLI tour" section.
fn tour_section(readme: &str) -> &str {
    let start = readme.find("\n## CLI tour").expect("README has a CLI tour");
    let section = &readme[start + 1..];
    &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)]
}

fn runs_tour_tool(step: &Step) -> bool {
    step.command.starts_with("comity ") || step.command.starts_with("curl ")
}

/// The shell blocks of the tour that run `comity` or `curl`, line by line.
fn tour(readme: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut block: Option<Vec<Step>> = None;
    let mut attach = false;
    for line in tour_section(readme).lines() {
        match (&mut block, line.trim_end()) {
            (None, "```sh") => block = Some(Vec::new()),
            (None, _) => {}
            (Some(_), "```") => {
                let done = block.take().unwrap_or_default();
                if done.iter().any(runs_tour_tool) {
                    steps.extend(done);
                }
            }
            (Some(_), "") => attach = false,
            (Some(b), l) if l.starts_with('#') => {
                if attach {
                    if let Some(last) = b.last_mut() {
                        last.shown.push(l.trim_start_matches('#').trim().to_string());
                    }
                }
            }
            (Some(b), l) => {
                let (command, comment) = l.split_once(" #").unwrap_or((l, ""));
                b.push(Step { command: command.trim().to_string(), comment: comment.trim().to_string(), shown: Vec::new() });
                attach = true;
            }
        }
    }
    steps
}

/// The tour's output excerpts: the lines of each block fenced with no language.
fn excerpts(readme: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut fence: Option<(bool, Vec<String>)> = None;
    for line in tour_section(readme).lines() {
        let line = line.trim_end();
        match &mut fence {
            None if line.starts_with("```") => fence = Some((line == "```", Vec::new())),
            None => {}
            Some(_) if line == "```" => {
                let (plain, lines) = fence.take().unwrap();
                if plain {
                    blocks.push(lines);
                }
            }
            Some((_, lines)) => lines.push(line.to_string()),
        }
    }
    blocks
}

/// Dates follow the day the demo runs; everything else in shown output must match.
fn normalise(text: &str) -> String {
    let time = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    time.replace_all(text.trim(), "TIME").to_string()
}

/// A line of output the README shows, as a pattern for a whole printed line: `…` is any text.
fn shown_pattern(shown: &str) -> Regex {
    let parts: Vec<String> = normalise(shown).split('…').map(regex::escape).collect();
    Regex::new(&format!("^{}$", parts.join(".*"))).unwrap()
}

/// Excerpt lines are compared with runs of spaces as one, since column widths follow the values.
fn excerpt_line(text: &str) -> String {
    normalise(text).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a line of an excerpt is one of the `printed` lines (see `excerpt_line`), `…` being any
/// text. Processing times (`46.1d`) follow the day the demo runs: a decision falling on a weekend
/// moves to Monday, at most 2 days later, so each must be within 2 days of the one printed.
fn in_excerpt(shown: &str, printed: &[String]) -> bool {
    let days = Regex::new(r"(\d+\.\d)d\b").unwrap();
    let line = excerpt_line(shown);
    let expected: Vec<f64> = days.captures_iter(&line).map(|c| c[1].parse().unwrap()).collect();
    let parts: Vec<String> = line.split('…').map(|part| days.split(part).map(regex::escape).collect::<Vec<_>>().join(r"(\d+\.\d)d")).collect();
    let pattern = Regex::new(&format!("^{}$", parts.join(".*"))).unwrap();
    printed.iter().filter_map(|p| pattern.captures(p)).any(|c| {
        let got = c.iter().skip(1).map(|m| m.unwrap().as_str().parse::<f64>().unwrap());
        got.zip(&expected).all(|(got, want)| (got - want).abs() <= 2.05)
    })
}

/// Verdicts, licence statuses and gRPC codes, as the CLI prints them.
fn vocabulary() -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for i in 1..64 {
        if let Ok(v) = pb::Verdict::try_from(i) {
            words.insert(v.as_str_name().trim_start_matches("VERDICT_").to_string());
        }
        if let Ok(s) = pb::LicenceStatus::try_from(i) {
            words.insert(s.as_str_name().to_string());
        }
    }
    for i in 1..=16 {
        // InvalidArgument -> INVALID_ARGUMENT
        let camel = format!("{:?}", tonic::Code::from_i32(i));
        let snake: String =
            camel.chars().enumerate().flat_map(|(j, c)| if j > 0 && c.is_uppercase() { vec!['_', c] } else { vec![c.to_ascii_uppercase()] }).collect();
        words.insert(snake);
    }
    words
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Runs `line` with `sh` in `cwd`, `comity` being the built CLI, with the README's `exports`;
/// (exit code, stdout + stderr).
fn run(line: &str, cwd: &Path, default_node: &str, exports: &[(String, String)]) -> (i32, String) {
    let script = format!("comity() {{ \"$TOUR_COMITY\" \"$@\"; }}\n{line}\n");
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).current_dir(cwd).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("COMITY_")) {
        command.env_remove(key);
    }
    command.env("TOUR_COMITY", bin_path("comity")).env("COMITY_NODE", default_node).env("NO_COLOR", "1").envs(exports.iter().cloned());
    let mut child = command.spawn().expect("spawn sh");
    // A bound against a command that never ends, not a performance check.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`{line}` did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn every_command_of_the_readme_tour_works_against_the_demo_as_the_readme_says() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let steps = tour(&readme);
    let commands = steps.iter().filter(|s| runs_tour_tool(s)).count();
    assert!(commands >= 40, "only {commands} commands found in the README's tour: {steps:#?}");
    for (prefix, why) in NOT_RUN {
        assert!(steps.iter().any(|s| s.command.starts_with(prefix)), "NOT_RUN lists `{prefix}` ({why}), which the tour no longer has");
    }

    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    copy_dir(&root.join("examples"), &cwd.join("examples"));
    let (_demo, nodes) = start_demo(cwd);
    let adapt = |line: &str| {
        let mut line = line.to_string();
        for (i, node) in nodes.iter().enumerate() {
            line = line
                .replace(&format!("http://127.0.0.1:770{i}"), &node.url)
                .replace(&format!("127.0.0.1:780{i}"), &node.web)
                .replace(&format!("127.0.0.1:790{i}"), &node.metrics);
        }
        line
    };

    let vocabulary = vocabulary();
    let exit = Regex::new(r"\bexit (\d+)").unwrap();
    let quoted = Regex::new(r#""([^"]+)""#).unwrap();
    let word = Regex::new(r"\b[A-Z][A-Z_]*[A-Z]\b").unwrap();
    let statement = Regex::new(r"published .* as statement ([0-9a-f]{64})").unwrap();
    let mut first_statement: Option<String> = None;
    let mut exports = Vec::new();
    let mut ran = 0;
    for step in &steps {
        if step.command.starts_with("alias ") || NOT_RUN.iter().any(|(prefix, _)| step.command.starts_with(prefix)) {
            continue;
        }
        if let Some(assignment) = step.command.strip_prefix("export ") {
            let (key, value) = assignment.split_once('=').expect("export KEY=VALUE");
            exports.push((key.to_string(), value.to_string()));
            continue;
        }
        let mut line = adapt(&step.command);
        if line.contains("STATEMENT_ID") {
            line = line.replace("STATEMENT_ID", first_statement.as_deref().expect("a publish before `log prove`"));
        }
        if line.starts_with("comity watch") && !line.contains("--until-caught-up") {
            line.push_str(" --until-caught-up");
        }
        let (code, output) = run(&line, cwd, &nodes[0].url, &exports);
        eprintln!("$ {line}\n{output}");
        let context = format!("`{line}` (README: `{}  # {}`) exited {code}:\n{output}", step.command, step.comment);
        let expected = exit.captures(&step.comment).map_or(0, |c| c[1].parse().unwrap());
        assert_eq!(code, expected, "{context}");
        if first_statement.is_none() {
            first_statement = statement.captures(&output).map(|c| c[1].to_string());
        }
        for w in word.find_iter(&step.comment).map(|m| m.as_str()).filter(|w| vocabulary.contains(*w)) {
            assert!(output.contains(w), "{w} is not in the output of {context}");
        }
        for q in quoted.captures_iter(&step.comment) {
            let text = q[1].split('…').next().unwrap().trim();
            assert!(output.contains(text), "\"{text}\" is not in the output of {context}");
        }
        let printed: Vec<String> = output.lines().map(normalise).collect();
        for shown in &step.shown {
            let pattern = shown_pattern(shown);
            assert!(printed.iter().any(|p| pattern.is_match(p)), "the README shows `{shown}`, which is not a line of the output of {context}");
        }
        ran += usize::from(runs_tour_tool(step));
    }
    assert!(ran + NOT_RUN.len() <= commands && ran >= 35, "ran {ran} of {commands} commands");

    // The output excerpts, against their commands as they print after the tour.
    let blocks = excerpts(&readme);
    assert_eq!(blocks.len(), EXCERPTS.len(), "every output excerpt of the tour needs its command in EXCERPTS: {blocks:#?}");
    for (first, command) in EXCERPTS {
        let block =
            blocks.iter().find(|b| b.first().is_some_and(|l| normalise(l).starts_with(first))).unwrap_or_else(|| panic!("no excerpt starts with `{first}`"));
        let (code, output) = run(command, cwd, &nodes[0].url, &exports);
        eprintln!("$ {command}\n{output}");
        assert_eq!(code, 0, "`{command}` exited {code}:\n{output}");
        let printed: Vec<String> = output.lines().map(excerpt_line).collect();
        for shown in block.iter().filter(|l| l.trim() != "…") {
            assert!(in_excerpt(shown, &printed), "the README shows `{shown}`, which is not a line of the output of `{command}`:\n{output}");
        }
    }
}
