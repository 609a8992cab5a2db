//! Untrusted request bodies and headers turned into typed values.
//!
//! The token, introspection and revocation endpoints take their parameters either as
//! `application/x-www-form-urlencoded` (RFC 6749 §3.2) or, because many small device SDKs
//! only speak it, as a flat `application/json` object of strings. Both become [`Params`],
//! which refuses repeated parameters (RFC 6749 §3.1) and treats empty values as omitted.
//! Nothing here touches a socket; the HTTP adapter hands in the header and body bytes.

use crate::vocab::oauth_error::OAuthError;
use percent_encoding::percent_decode;
use serde::de::{Deserializer, MapAccess, Visitor};
use std::fmt;

/// Request parameters, in the order they came, each name at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

const DUPLICATE: OAuthError = OAuthError::invalid_request("a parameter was given more than once");

/// Most parameters a request may carry: an OAuth request has about a dozen at most, and
/// every one past that is work done before the client is even authenticated.
pub const MAX_PARAMS: usize = 64;

impl Params {
    /// Builds parameters from pairs, refusing a name that repeats and more than
    /// [`MAX_PARAMS`] of them.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Params, OAuthError> {
        if pairs.len() > MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        if !pairs.iter().all(|(name, _)| seen.insert(name.as_str())) {
            return Err(DUPLICATE);
        }
        Ok(Params(pairs))
    }

    /// The value of `name`; an empty value counts as omitted (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or `invalid_request` saying it is missing.
    pub fn require(&self, name: &str, missing: &'static str) -> Result<&str, OAuthError> {
        self.get(name).ok_or(OAuthError::invalid_request(missing))
    }
}

/// The body encodings the endpoints accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`, the RFC 6749 encoding.
    Form,
    /// `application/json`, a flat object of string values.
    Json,
}

impl BodyKind {
    /// Reads the media type of a `Content-Type` header, ignoring parameters such as charset.
    pub fn from_content_type(value: Option<&str>) -> Result<BodyKind, OAuthError> {
        let value = value.ok_or(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded or application/json",
        ))?;
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            Ok(BodyKind::Form)
        } else if media.eq_ignore_ascii_case("application/json") {
            Ok(BodyKind::Json)
        } else {
            Err(OAuthError::invalid_request(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            ))
        }
    }
}

/// Parses a request body of the given kind into parameters.
pub fn parse_body(kind: BodyKind, body: &[u8]) -> Result<Params, OAuthError> {
    match kind {
        BodyKind::Form => parse_form(body),
        BodyKind::Json => parse_json(body),
    }
}

/// Decodes one form-urlencoded component: `+` is a space, `%XX` a byte, and the result
/// must be UTF-8.
pub fn form_decode(raw: &[u8]) -> Result<String, OAuthError> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = percent_decode(&plus).collect();
    String::from_utf8(bytes).map_err(|_| OAuthError::invalid_request("the body is not valid UTF-8"))
}

fn parse_form(body: &[u8]) -> Result<Params, OAuthError> {
    let mut pairs = Vec::new();
    for part in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match part.iter().position(|&b| b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        if pairs.len() == MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        pairs.push((form_decode(name)?, form_decode(value)?));
    }
    Params::from_pairs(pairs)
}

fn parse_json(body: &[u8]) -> Result<Params, OAuthError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| OAuthError::invalid_request("the body is not valid UTF-8"))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let pairs = de
        .deserialize_map(PairsVisitor)
        .and_then(|pairs| de.end().map(|()| pairs))
        .map_err(|_| {
            OAuthError::invalid_request("the JSON body must be one object whose values are strings")
        })?;
    Params::from_pairs(pairs)
}

/// Collects a JSON object's members in order, keeping repeated names so that they can be
/// refused, which `serde_json::Map` would silently collapse.
struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, String>()? {
            pairs.push((k, v));
        }
        Ok(pairs)
    }
}

/// The part of an address that counts as one asker: the address, or an IPv6 /64 (one
/// machine may take any address of its /64, so counting whole addresses would count
/// nothing).
pub type Asker = [u8; 8];

/// The [`Asker`] of a request from `peer`.
pub fn asker(peer: Option<std::net::IpAddr>) -> Option<Asker> {
    match peer?.to_canonical() {
        std::net::IpAddr::V4(v4) => {
            let mut k = [0u8; 8];
            k[..4].copy_from_slice(&v4.octets());
            Some(k)
        }
        std::net::IpAddr::V6(v6) => v6.octets()[..8].try_into().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_parameters_are_refused_before_any_pairwise_work() {
        let many = |n: usize| {
            (0..n)
                .map(|i| format!("p{i}=v"))
                .collect::<Vec<_>>()
                .join("&")
        };
        // 8 KiB of distinct names, the body that cost 280 times a normal request.
        let e = parse_body(BodyKind::Form, many(2730).as_bytes()).unwrap_err();
        assert_eq!(e.description, "too many parameters");
        let json = format!(
            "{{{}}}",
            (0..100)
                .map(|i| format!("\"p{i}\":\"v\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            parse_body(BodyKind::Json, json.as_bytes())
                .unwrap_err()
                .description,
            "too many parameters"
        );
        assert!(parse_body(BodyKind::Form, many(MAX_PARAMS).as_bytes()).is_ok());
        let twice = format!("{}&p3=again", many(10));
        assert_eq!(parse_body(BodyKind::Form, twice.as_bytes()), Err(DUPLICATE));
    }
    use crate::vocab::oauth_error::ErrorCode;

    fn form(body: &str) -> Result<Params, OAuthError> {
        parse_body(BodyKind::Form, body.as_bytes())
    }

    #[test]
    fn decodes_form_with_plus_and_percent() {
        let p = form("grant_type=client_credentials&scope=read+write%3Aall").unwrap();
        assert_eq!(p.get("grant_type"), Some("client_credentials"));
        assert_eq!(p.get("scope"), Some("read write:all"));
    }

    #[test]
    fn rejects_repeated_parameters_in_form_and_json() {
        assert_eq!(form("a=1&a=2").unwrap_err().code, ErrorCode::InvalidRequest);
        let e = parse_body(BodyKind::Json, br#"{"a":"1","a":"2"}"#).unwrap_err();
        assert_eq!(e, DUPLICATE);
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let p = form("scope=&grant_type=password").unwrap();
        assert_eq!(p.get("scope"), None);
    }

    #[test]
    fn rejects_bad_utf8_in_form_and_json() {
        assert_eq!(
            parse_body(BodyKind::Form, b"a=%ff%fe").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            parse_body(BodyKind::Json, b"{\"a\":\"\xff\"}")
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn rejects_json_that_is_not_a_flat_object_of_strings() {
        for body in [
            &b"[1,2]"[..],
            b"{\"a\":1}",
            b"{\"a\":{}}",
            b"{",
            b"{} x",
            b"",
        ] {
            assert_eq!(
                parse_body(BodyKind::Json, body).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn content_type_accepts_charset_and_refuses_others() {
        assert_eq!(
            BodyKind::from_content_type(Some("application/json; charset=utf-8")),
            Ok(BodyKind::Json)
        );
        assert_eq!(
            BodyKind::from_content_type(Some("Application/X-WWW-Form-Urlencoded")),
            Ok(BodyKind::Form)
        );
        assert!(BodyKind::from_content_type(Some("text/plain")).is_err());
        assert!(BodyKind::from_content_type(None).is_err());
    }
}
