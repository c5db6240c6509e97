//! docs/CONFIGURATION.md names every setting of the node: every key the config file may hold
//! (as serde's derive lists them, so a new field fails here until it is documented), every
//! default as the node serialises it, and every flag and environment variable of the binary.

use std::collections::BTreeSet;
use std::path::PathBuf;

use comity_node::config::{AuthorityConfig, Config, Limits, PeerConfig};
use comity_node::net::tls::TlsConfig;
use comity_tests::bin_path;
use serde::de::{DeserializeOwned, Visitor};

fn reference() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/CONFIGURATION.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A deserializer that only records the field names a derived `Deserialize` asks for.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(serde::de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// Every key of `T`'s TOML table: its fields as renamed, without skipped ones.
fn keys_of<T: DeserializeOwned>() -> Vec<&'static str> {
    let mut fields = None;
    let _ = T::deserialize(FieldNames(&mut fields));
    fields.expect("a struct with named fields").to_vec()
}

/// The tables inside the config file: `[name]` or `[[name]]`, with their keys.
fn sections() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("tls", keys_of::<TlsConfig>()),
        ("limits", keys_of::<Limits>()),
        ("authority", keys_of::<AuthorityConfig>()),
        ("peer", keys_of::<PeerConfig>()),
        ("trusted", keys_of::<AuthorityConfig>()),
    ]
}

/// Every key path of the config file: `listen`, `limits.max_message_bytes`, `peer.url`, …
fn key_paths() -> Vec<String> {
    let sections = sections();
    let mut paths = Vec::new();
    for key in keys_of::<Config>() {
        match sections.iter().find(|(name, _)| *name == key) {
            Some((name, keys)) => paths.extend(keys.iter().map(|k| format!("{name}.{k}"))),
            None => paths.push(key.to_string()),
        }
    }
    paths
}

#[test]
fn every_config_key_is_in_the_reference() {
    let doc = reference();
    let paths = key_paths();
    assert!(paths.len() > 30, "the field names were not all found: {paths:?}");
    let missing: Vec<&String> = paths.iter().filter(|p| !doc.contains(&format!("| `{p}` |"))).collect();
    assert!(missing.is_empty(), "config keys without a row in docs/CONFIGURATION.md: {missing:?}");
}

#[test]
fn every_table_in_the_default_config_is_a_known_section_and_every_default_is_documented() {
    let doc = reference();
    let default: toml::Table = toml::from_str(&Config::default().to_toml()).unwrap();
    let sections = sections();
    let mut checked = 0;
    for (key, value) in &default {
        let is_section = sections.iter().any(|(name, _)| name == key);
        let scalars: Vec<(String, &toml::Value)> = match value {
            toml::Value::Table(table) => {
                assert!(is_section, "[{key}] is a table the reference's sections do not know");
                table.iter().map(|(k, v)| (format!("{key}.{k}"), v)).collect()
            }
            // An empty list of [[tables]] (no authority hosted by default).
            toml::Value::Array(items) if is_section && items.is_empty() => Vec::new(),
            _ => vec![(key.clone(), value)],
        };
        for (path, value) in scalars {
            let row = doc.lines().find(|l| l.starts_with(&format!("| `{path}` |"))).unwrap_or_else(|| panic!("no row for `{path}`"));
            let shown = format!("`{value}`");
            assert!(row.contains(&shown), "the row of `{path}` does not give its default {shown}: {row}");
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} defaults checked");
}

#[test]
fn the_example_config_in_the_reference_loads() {
    let doc = reference();
    let example = doc.split("```toml\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a ```toml example");
    let config = Config::from_toml(example, "docs/CONFIGURATION.md").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((config.peers.len(), config.authorities.len(), config.tls.is_some()), (2, 1, true));
}

fn help(args: &[&str]) -> String {
    let out = std::process::Command::new(bin_path("comity-node")).args(args).arg("--help").output().expect("run comity-node --help");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The `--flags` and `COMITY_*` variables a help text names.
fn options(help: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let words = help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    let flags = words.clone().filter(|w| w.starts_with("--") && w.len() > 2 && *w != "--help" && *w != "--version").map(String::from).collect();
    let env = words.filter(|w| w.starts_with("COMITY_")).map(String::from).collect();
    (flags, env)
}

/// Subcommand names listed under `Commands:` in a help text.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn every_flag_and_variable_of_run_is_in_the_reference() {
    let doc = reference();
    let table = doc.split("## Command line of `comity-node run`").nth(1).and_then(|rest| rest.split("\n## ").next()).expect("a section on run's command line");
    let (flags, env) = options(&help(&["run"]));
    for expected in ["--config", "--listen", "--insecure-plaintext", "--log-format"] {
        assert!(flags.contains(expected), "run --help lists {expected}: {flags:?}");
    }
    for flag in &flags {
        assert!(table.contains(&format!("\n| `{flag}")), "`comity-node run {flag}` has no row under Command line in docs/CONFIGURATION.md");
    }
    for var in &env {
        assert!(table.contains(&format!("`{var}`")), "{var} is not under Command line in docs/CONFIGURATION.md");
    }
}

#[test]
fn every_other_command_and_its_flags_are_in_the_reference() {
    let doc = reference();
    let mut commands: Vec<Vec<String>> = Vec::new();
    for command in subcommands(&help(&[])) {
        let nested = subcommands(&help(&[&command]));
        if nested.is_empty() {
            commands.push(vec![command]);
        } else {
            commands.extend(nested.into_iter().map(|n| vec![command.clone(), n]));
        }
    }
    assert!(commands.len() >= 10, "{commands:?}");
    for command in commands.iter().filter(|c| c[0] != "run") {
        let name = command.join(" ");
        let row = doc.lines().find(|l| l.starts_with(&format!("| `{name}` |"))).unwrap_or_else(|| panic!("`{name}` has no row under Other commands"));
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let (flags, env) = options(&help(&args));
        // --log-format is global: documented once, with run's flags.
        for flag in flags.iter().filter(|f| *f != "--log-format") {
            assert!(row.contains(&format!("`{flag}")), "`comity-node {name} {flag}` is not in its row: {row}");
        }
        for var in env.iter().filter(|v| *v != "COMITY_LOG_FORMAT") {
            assert!(doc.contains(&format!("`{var}`")), "{var} ({name}) is not in docs/CONFIGURATION.md");
        }
    }
}
