use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest logical name a resource may have within its stack.
pub const LOGICAL_NAME_MAX: usize = 48;

/// The stable address of a resource: `<stack>.<logical-name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    stack: String,
    name: String,
}

impl Address {
    /// Builds an address from its parts; they are checked when the stack is built.
    pub fn new(stack: impl Into<String>, name: impl Into<String>) -> Self {
        Self { stack: stack.into(), name: name.into() }
    }

    /// The stack part.
    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// The logical name within the stack.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Parses `stack.name`.
    pub fn parse(text: &str) -> Option<Self> {
        let (stack, name) = text.split_once('.')?;
        (!stack.is_empty() && !name.is_empty() && !name.contains('.')).then(|| Self::new(stack, name))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.stack, self.name)
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Address::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not an address (stack.name)")))
    }
}

/// A deployment environment such as `dev`, `staging` or `prod`.
///
/// The set of environments is data: any name of lower-case letters and digits is an environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Env(String);

impl Env {
    /// Checks and wraps an environment name: 1 to 16 lower-case letters or digits, starting with a letter.
    pub fn new(name: impl Into<String>) -> Result<Self, String> {
        let name = name.into();
        let ok = (1..=16).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if ok {
            Ok(Self(name))
        } else {
            Err(format!(
                "`{name}` is not a valid environment name: use 1 to 16 lower-case letters or digits, starting with a letter"
            ))
        }
    }

    /// The environment's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_addresses() {
        let a = Address::parse("foundation.vpc").unwrap();
        assert_eq!(a.stack(), "foundation");
        assert_eq!(a.name(), "vpc");
        assert_eq!(a.to_string(), "foundation.vpc");
        assert!(Address::parse("novpc").is_none());
        assert!(Address::parse("a.b.c").is_none());
    }

    #[test]
    fn environment_names_are_checked() {
        assert!(Env::new("dev").is_ok());
        assert!(Env::new("prod2").is_ok());
        assert!(Env::new("Prod").is_err());
        assert!(Env::new("").is_err());
        assert!(Env::new("my-env").is_err());
    }
}
