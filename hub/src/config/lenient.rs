//! Serde helpers that accept numbers and booleans written as strings.
//!
//! Environment variables are always strings, while the same keys in the TOML file
//! are typed; these helpers let one field accept `8080` from the file and `"8080"`
//! from `HUB_...` without guessing types when reading the environment.

use std::{fmt::Display, str::FromStr};

use serde::{Deserialize, Deserializer, de::Error};

#[derive(Deserialize)]
#[serde(untagged)]
enum ValueOrString<T> {
    Value(T),
    String(String),
}

/// Deserializes a `T` given natively or as a string that parses into `T`.
pub fn value<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr,
    <T as FromStr>::Err: Display,
{
    match ValueOrString::<T>::deserialize(deserializer)? {
        ValueOrString::Value(v) => Ok(v),
        ValueOrString::String(s) => s.trim().parse().map_err(D::Error::custom),
    }
}
