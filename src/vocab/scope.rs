//! Scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens of `%x21 / %x23-5B / %x5D-7E`.

use std::collections::BTreeSet;
use std::fmt;

/// A set of scope tokens, kept sorted so that responses are stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Scope(BTreeSet<String>);

/// A scope string with a character RFC 6749 §3.3 does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError;

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scope token may only hold printable ASCII other than space, '\"' and '\\'")
    }
}

impl std::error::Error for ScopeError {}

/// Whether `token` is a valid scope token.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl Scope {
    /// Parses a space-delimited scope string; empty means no scope.
    pub fn parse(text: &str) -> Result<Scope, ScopeError> {
        let mut set = BTreeSet::new();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            if !is_scope_token(token) {
                return Err(ScopeError);
            }
            set.insert(token.to_string());
        }
        Ok(Scope(set))
    }

    /// Builds a scope from individual tokens, each checked.
    pub fn from_tokens<I, S>(tokens: I) -> Result<Scope, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for token in tokens {
            let token = token.as_ref();
            if !is_scope_token(token) {
                return Err(ScopeError);
            }
            set.insert(token.to_string());
        }
        Ok(Scope(set))
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The tokens in both.
    pub fn intersect(&self, other: &Scope) -> Scope {
        Scope(self.0.intersection(&other.0).cloned().collect())
    }

    /// Whether the scope holds no token.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether it holds `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// What a person may grant an app: their own scope, and the OpenID Connect scopes that
    /// only say who they are ([`IDENTITY`]), which every person may share.
    pub fn with_identity(&self) -> Scope {
        let mut s = self.clone();
        s.0.extend(IDENTITY.iter().map(|t| t.to_string()));
        s
    }
}

/// The OpenID Connect scopes (Core §5.4): about the person, not a permission. A client must
/// still be registered with them to ask.
pub const IDENTITY: [&str; 4] = ["openid", "profile", "email", "groups"];

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_sorted_without_duplicates() {
        let s = Scope::parse("write  read read").unwrap();
        assert_eq!(s.to_string(), "read write");
    }

    #[test]
    fn rejects_quote_backslash_and_control_characters() {
        assert_eq!(Scope::parse("a\"b"), Err(ScopeError));
        assert_eq!(Scope::parse("a\\b"), Err(ScopeError));
        assert_eq!(Scope::parse("a\tb"), Err(ScopeError));
        assert_eq!(Scope::parse("é"), Err(ScopeError));
    }

    #[test]
    fn subset_and_intersection() {
        let all = Scope::parse("a b c").unwrap();
        let ab = Scope::parse("a b").unwrap();
        assert!(ab.is_subset(&all));
        assert!(!all.is_subset(&ab));
        assert_eq!(
            all.intersect(&Scope::parse("b z").unwrap()).to_string(),
            "b"
        );
    }
}
