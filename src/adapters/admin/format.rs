//! How admin command results are printed.

use super::AdminRequest;
use serde_json::Value;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The output of an admin command: JSON when asked for, otherwise text for people.
pub fn render(req: &AdminRequest, v: &Value, json: bool) -> String {
    if json {
        format!("{v}\n")
    } else {
        match req {
            AdminRequest::ClientAdd(_) if v["auth"] == "none" => format!(
                "client_id:     {}\nauth:          none (a public client: PKCE, no secret)\n",
                text(&v["client_id"]),
            ),
            AdminRequest::ClientAdd(_) if v.get("client_secret").is_none() => format!(
                "client_id:     {}\nauth:          private_key_jwt, {}\n",
                text(&v["client_id"]),
                match v["jwks_uri"].as_str() {
                    Some(uri) => format!("keys published at {uri}"),
                    None => format!("keys {}", v["keys"]),
                }
            ),
            AdminRequest::ClientAdd(_) | AdminRequest::ClientRotateSecret { .. } => format!(
                "client_id:     {}\nclient_secret: {}\nThe secret is shown only this once: store it now.\n",
                text(&v["client_id"]),
                text(&v["client_secret"])
            ),
            AdminRequest::UserAdd { .. } | AdminRequest::UserEnroll { .. }
                if v.get("enroll_url").is_some() =>
            {
                format!(
                    "Send {} this link to set their password (good once, for 24 hours):\n{}\n",
                    text(&v["username"]),
                    text(&v["enroll_url"])
                )
            }
            AdminRequest::ClientList
            | AdminRequest::UserList
            | AdminRequest::GroupList
            | AdminRequest::KeyList
            | AdminRequest::IssuerList
            | AdminRequest::SessionList
            | AdminRequest::Audit => {
                let rows = v.as_array().cloned().unwrap_or_default();
                let mut s = String::new();
                for row in rows {
                    let fields: Vec<String> = row
                        .as_object()
                        .map(|o| o.iter().map(|(k, val)| format!("{k}={}", text(val))).collect())
                        .unwrap_or_default();
                    s.push_str(&fields.join("  "));
                    s.push('\n');
                }
                s
            }
            AdminRequest::KeySecret => format!("{}\n", text(&v["secret"])),
            _ => {
                let fields: Vec<String> = v
                    .as_object()
                    .map(|o| o.iter().map(|(k, val)| format!("{k}: {}", text(val))).collect())
                    .unwrap_or_default();
                format!("{}\n", fields.join("\n"))
            }
        }
    }
}
