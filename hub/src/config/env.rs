//! Overlaying `HUB_`-prefixed environment variables onto the configuration table.
//!
//! `HUB_AUTH__LOCKOUT__LOCK_SECS=60` sets `[auth.lockout] lock_secs = 60`: a double
//! underscore separates levels because single underscores occur inside key names.
//! Values are inserted as strings; typed fields accept strings (see `lenient`).

use super::ConfigError;

const PREFIX: &str = "HUB_";

/// Variables with the prefix that are not configuration keys: `HUB_CONFIG` names
/// the file and `HUB_TEST_*` belong to the test suite.
fn is_reserved(name: &str) -> bool {
    name == "HUB_CONFIG" || name.starts_with("HUB_TEST_")
}

pub(super) fn overlay(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in env {
        let Some(key) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if is_reserved(&name) {
            continue;
        }
        let path: Vec<String> = key.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Parse(format!(
                "malformed variable name {name}"
            )));
        }
        insert(table, &path, value, &name)?;
    }
    Ok(())
}

fn insert(
    table: &mut toml::Table,
    path: &[String],
    value: String,
    name: &str,
) -> Result<(), ConfigError> {
    match path {
        [] => Ok(()),
        [last] => {
            table.insert(last.clone(), toml::Value::String(value));
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => insert(inner, rest, value, name),
                _ => Err(ConfigError::Parse(format!(
                    "{name}: `{first}` is not a section"
                ))),
            }
        }
    }
}
