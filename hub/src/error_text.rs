//! Describing deserialization errors without the rejected value.
//!
//! serde's messages quote what they refused (`invalid type: string "…"`,
//! `unknown variant `…``), and a refused value can be a password, a token or
//! clinical text that must not come back in a response or reach a log. These
//! helpers keep what a client needs (where, and what was expected) and drop
//! the value.

/// Where the problem is, then what it is: `display_name: wrong type, expected a
/// string`. `path` is serde_path_to_error's (`.` for the whole document).
pub fn describe(path: &str, message: &str) -> String {
    let problem = problem(message);
    match path {
        "" | "." | "?" => problem,
        path if is_safe_path(path) => format!("{path}: {problem}"),
        _ => problem,
    }
}

/// A serde_json error: the problem and its line and column.
pub fn describe_json(path: &str, error: &serde_json::Error) -> String {
    let described = describe(path, &error.to_string());
    if error.line() == 0 {
        return described;
    }
    format!(
        "{described} at line {} column {}",
        error.line(),
        error.column()
    )
}

/// Deserializes a parsed JSON value (a WebSocket frame), describing a failure
/// with [`describe`].
pub fn from_json_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, String> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| describe(&e.path().to_string(), &e.inner().to_string()))
}

/// A path made of field names and indexes (`items[0].name`), nothing a client
/// could use to smuggle text into the answer.
fn is_safe_path(path: &str) -> bool {
    path.len() <= 128
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']' | b'-'))
}

fn problem(message: &str) -> String {
    // serde_json appends the position; it is added back from the error itself.
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    // What was expected comes last and is written by the target type, never
    // by the client (`rfind`: a quoted value may itself contain ", expected ").
    let expected = message
        .rfind(", expected ")
        .map(|i| &message[i + 2..])
        .filter(|e| !e.contains('"'));
    let with_expected = |what: &str| match expected {
        Some(e) => format!("{what}, {e}"),
        None => what.to_owned(),
    };
    if message.starts_with("invalid type") {
        with_expected("wrong type")
    } else if message.starts_with("invalid value") {
        with_expected("invalid value")
    } else if message.starts_with("invalid length") {
        with_expected("wrong number of elements")
    } else if message.starts_with("unknown variant") {
        with_expected("unknown value")
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        // The name is the client's: repeat it only if it is a plain identifier.
        match rest.split_once('`') {
            Some((name, _)) if is_identifier(name) => format!("unknown field `{name}`"),
            _ => "unknown field".to_owned(),
        }
    } else if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
        // The field names here are the target type's own.
        message.to_owned()
    } else if let Some(fixed) = SYNTAX.iter().find(|s| message.starts_with(**s)) {
        (*fixed).to_owned()
    } else {
        "invalid value".to_owned()
    }
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// serde_json's syntax messages: fixed texts that never quote the input.
const SYNTAX: &[&str] = &[
    "EOF while parsing a list",
    "EOF while parsing an object",
    "EOF while parsing a string",
    "EOF while parsing a value",
    "expected `:`",
    "expected `,` or `]`",
    "expected `,` or `}`",
    "expected ident",
    "expected value",
    "expected `\"`",
    "invalid escape",
    "invalid number",
    "number out of range",
    "invalid unicode code point",
    "control character (\\u0000-\\u001F) found while parsing a string",
    "key must be a string",
    "lone leading surrogate in hex escape",
    "trailing comma",
    "trailing characters",
    "unexpected end of hex escape",
    "recursion limit exceeded",
    "invalid digit found in string",
    "cannot parse integer from empty string",
    "number too large to fit in target type",
    "number too small to fit in target type",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        count: u32,
        role: Role,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Role {
        Admin,
    }

    fn message(json: &str) -> String {
        let mut de = serde_json::Deserializer::from_str(json);
        let err = serde_path_to_error::deserialize::<_, Input>(&mut de).unwrap_err();
        describe_json(&err.path().to_string(), err.inner())
    }

    #[test]
    fn messages_name_the_field_and_never_the_value() {
        let secret = "hunter2-secret, expected nothing";
        let cases = [
            (
                r#"{"name": 5, "count": 1, "role": "admin"}"#.to_owned(),
                "name: wrong type, expected a string",
            ),
            (
                format!(r#"{{"name": "a", "count": "{secret}", "role": "admin"}}"#),
                "count: wrong type, expected u32",
            ),
            (
                format!(r#"{{"name": "a", "count": 1, "role": "{secret}"}}"#),
                "role: unknown value, expected `admin`",
            ),
            (
                r#"{"name": "a", "count": -1, "role": "admin"}"#.to_owned(),
                "count: invalid value, expected u32",
            ),
            (
                r#"{"name": "a", "count": 1, "role": "admin", "extra": 1}"#.to_owned(),
                "extra: unknown field `extra`",
            ),
            (
                format!(r#"{{"name": "a", "count": 1, "role": "admin", "{secret}": 1}}"#),
                "unknown field",
            ),
            (r#"{"name": "a"}"#.to_owned(), "missing field `count`"),
        ];
        for (json, expected) in cases {
            let got = message(&json);
            assert!(got.starts_with(expected), "{json} → {got}");
            assert!(!got.contains("hunter2"), "{got}");
        }
        let eof = message(r#"{"name": "#);
        assert!(
            eof.starts_with("name: EOF while parsing a value at line 1"),
            "{eof}"
        );
    }
}
