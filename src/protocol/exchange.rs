//! Requests and replies as plain values: what the HTTP adapter converts to and from.

use crate::vocab::oauth_error::{ErrorCode, OAuthError};
use serde_json::{json, Value};

/// An HTTP request as plain values.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Upper-case method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The query, without the `?` (empty when there is none).
    pub query: String,
    /// Headers as sent (names compared case-insensitively).
    pub headers: Vec<(String, String)>,
    /// The body, at most the limit.
    pub body: Vec<u8>,
    /// Whether the body was longer than the limit (and so was cut, or never read).
    pub body_too_large: bool,
    /// The address it came from, when known.
    pub peer: Option<std::net::IpAddr>,
}

impl Request {
    /// The first header of that name, if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many headers of that name were sent.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// An HTTP response as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// A page for the pages adapter to render as the body.
    pub page: Option<Box<crate::protocol::page::Page>>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: value.to_string().into_bytes(),
            page: None,
        }
    }

    /// A page, rendered by the pages adapter.
    pub fn page(status: u16, page: crate::protocol::page::Page) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            page: Some(Box::new(page)),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// Marks a reply that holds tokens or token data: no cache may keep it (RFC 6749 §5.1).
    pub fn no_store(self) -> Reply {
        self.with_header("Cache-Control", "no-store")
            .with_header("Pragma", "no-cache")
    }

    /// An OAuth error as JSON (RFC 6749 §5.2). A 401 names the Basic scheme, as HTTP
    /// requires and RFC 6749 §5.2 asks for when Basic was tried.
    pub fn oauth_error(e: &OAuthError) -> Reply {
        let r = Reply::json(
            e.code.status(),
            &json!({"error": e.code.as_str(), "error_description": e.description}),
        )
        .no_store();
        match e.code {
            ErrorCode::InvalidClient => r.with_header("WWW-Authenticate", "Basic realm=\"piauth\""),
            ErrorCode::TemporarilyUnavailable => r.with_header("Retry-After", "5"),
            _ => r,
        }
    }

    /// `429`: too many failed attempts; try again in `wait` seconds.
    pub fn too_many_attempts(wait: u64) -> Reply {
        Reply::json(
            429,
            &json!({"error": "temporarily_unavailable",
                    "error_description": "too many failed attempts: try again later"}),
        )
        .no_store()
        .with_header("Retry-After", &wait.to_string())
    }

    /// The value of a header, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json_body(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}
