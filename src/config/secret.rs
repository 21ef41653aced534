//! `Secret`: a configuration value (a bearer token) that `Debug`, `Display` and `--print-config` never show.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value (a bearer token): never printed by `Debug` or `Display`, nor by a configuration error.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

/// What a configuration error says of a secret that is not a string: never the value (serde's own message would
/// be `invalid type: integer 98765432109`).
pub const NOT_A_STRING: &str =
    "a secret must be a quoted string (the value is not shown; quote it: \"…\")";

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_string(SecretVisitor)
    }
}

/// Takes a string; refuses every other type with [`NOT_A_STRING`], which shows nothing of the value.
struct SecretVisitor;

macro_rules! refuse {
    ($($name:ident: $t:ty),*) => {
        $(fn $name<E: serde::de::Error>(self, _: $t) -> Result<Secret, E> {
            Err(E::custom(NOT_A_STRING))
        })*
    };
}

impl<'de> serde::de::Visitor<'de> for SecretVisitor {
    type Value = Secret;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quoted string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret(v))
    }
    refuse!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128, visit_u128: u128,
        visit_f64: f64, visit_char: char, visit_bytes: &[u8]);
    fn visit_unit<E: serde::de::Error>(self) -> Result<Secret, E> {
        Err(E::custom(NOT_A_STRING))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Secret, E> {
        Err(E::custom(NOT_A_STRING))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(serde::de::Error::custom(NOT_A_STRING))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(serde::de::Error::custom(NOT_A_STRING))
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[allow(dead_code)]
        token: Secret,
    }

    #[test]
    fn a_secret_of_another_type_is_refused_without_showing_it() {
        for text in [
            "token = 98765432109",
            "token = -98765432109",
            "token = 98765.4321",
            "token = true",
            "token = [98765432109]",
            "token = { a = 98765432109 }",
            "token = 1979-05-27T07:32:00Z",
        ] {
            // The message (what the configuration error shows; toml's Display adds the source line).
            let err = toml::from_str::<Holder>(text)
                .unwrap_err()
                .message()
                .to_string();
            assert!(err.contains("must be a quoted string"), "{text}: {err}");
            for shown in ["98765", "4321", "true", "1979"] {
                assert!(!err.contains(shown), "{text}: {err}");
            }
        }
        let ok: Holder = toml::from_str("token = \"98765432109\"").unwrap();
        assert_eq!(ok.token.expose(), "98765432109");
        let ok: Holder = serde_json::from_str("{\"token\": \"abc\"}").unwrap();
        assert_eq!(ok.token.expose(), "abc");
    }
}
