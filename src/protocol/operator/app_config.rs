//! The configuration block an app kind of `docs/apps.md` needs to sign people in with a
//! client just registered: the operator copies it into the app, nothing to look up.

/// The app kinds a block is written for: (value, label).
pub const KINDS: [(&str, &str); 5] = [
    ("apache", "Apache mod_auth_openidc"),
    ("django", "Django (django-allauth, Paperless-ngx)"),
    ("node", "Node (openid-client)"),
    ("oauth2-proxy", "oauth2-proxy"),
    ("other", "Another app: the values"),
];

/// What a block is made of.
pub struct AppSettings<'a> {
    /// piauth's issuer.
    pub issuer: &'a str,
    /// The client's id.
    pub client_id: &'a str,
    /// Its secret, for a confidential client (shown this once).
    pub secret: Option<&'a str>,
    /// Its first redirect URI.
    pub redirect_uri: &'a str,
    /// The scopes it may ask for, space-separated.
    pub scope: &'a str,
}

/// The block for `kind` (one of [`KINDS`]), and its label; `None` for an unknown kind.
pub fn block(kind: &str, s: &AppSettings) -> Option<(&'static str, String)> {
    let label = KINDS.iter().find(|(k, _)| *k == kind)?.1;
    let secret = s.secret.unwrap_or("(none: a public client)");
    let (issuer, id, uri, scope) = (s.issuer, s.client_id, s.redirect_uri, s.scope);
    let text = match kind {
        "apache" => format!(
            "# In the app's <VirtualHost>; piauth.crt is the PEM from {issuer}/certificate\n\
             OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration\n\
             OIDCCABundlePath /etc/apache2/piauth.crt\n\
             OIDCClientID {id}\n\
             OIDCClientSecret {secret}\n\
             OIDCRedirectURI {uri}\n\
             OIDCCryptoPassphrase CHANGE-ME-TO-A-LONG-RANDOM-STRING\n\
             OIDCScope \"{scope}\"\n\
             <Location /private>\n    AuthType openid-connect\n    Require valid-user\n</Location>\n"
        ),
        "django" => format!(
            "# settings.py (django-allauth), or Paperless-ngx's PAPERLESS_SOCIALACCOUNT_PROVIDERS\n\
             SOCIALACCOUNT_PROVIDERS = {{\"openid_connect\": {{\"APPS\": [{{\n    \
             \"provider_id\": \"piauth\", \"name\": \"piauth\",\n    \
             \"client_id\": \"{id}\", \"secret\": \"{secret}\",\n    \
             \"settings\": {{\"server_url\": \"{issuer}\", \"oauth_pkce_enabled\": True}},\n}}]}}}}\n\
             # Trust piauth's certificate (the PEM from {issuer}/certificate):\n\
             # REQUESTS_CA_BUNDLE=/etc/piauth.crt\n\
             # Redirect URI registered: {uri}\n"
        ),
        "node" => format!(
            "// openid-client 6; run with NODE_EXTRA_CA_CERTS=piauth.crt ({issuer}/certificate)\n\
             import * as oidc from \"openid-client\";\n\
             const config = await oidc.discovery(new URL(\"{issuer}\"), \"{id}\", \"{secret}\");\n\
             // redirect_uri: \"{uri}\", scope: \"{scope}\"\n"
        ),
        "oauth2-proxy" => format!(
            "# oauth2-proxy.cfg\n\
             provider = \"oidc\"\n\
             oidc_issuer_url = \"{issuer}\"\n\
             client_id = \"{id}\"\n\
             client_secret = \"{secret}\"\n\
             redirect_url = \"{uri}\"\n\
             scope = \"{scope}\"\n\
             email_domains = [\"*\"]\n\
             code_challenge_method = \"S256\"\n\
             provider_ca_files = [\"/etc/oauth2-proxy/piauth.crt\"]\n\
             cookie_secret = \"CHANGE-ME: 32 random bytes, base64\"\n"
        ),
        _ => format!(
            "issuer:        {issuer}\n\
             discovery:     {issuer}/.well-known/openid-configuration\n\
             client_id:     {id}\n\
             client_secret: {secret}\n\
             redirect_uri:  {uri}\n\
             scope:         {scope}\n\
             certificate:   {issuer}/certificate\n"
        ),
    };
    Some((label, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_names_the_issuer_the_client_its_secret_and_where_to_come_back() {
        let s = AppSettings {
            issuer: "https://pi.home:8443",
            client_id: "wiki",
            secret: Some("s3cret"),
            redirect_uri: "https://wiki.home/cb",
            scope: "openid profile",
        };
        for (kind, _) in KINDS {
            let (_, text) = block(kind, &s).unwrap();
            for part in [
                "https://pi.home:8443",
                "wiki",
                "s3cret",
                "https://wiki.home/cb",
            ] {
                assert!(text.contains(part), "{kind}: {part} in {text}");
            }
        }
        assert!(block("wordpress", &s).is_none());
        let public = AppSettings { secret: None, ..s };
        assert!(block("other", &public).unwrap().1.contains("public client"));
    }
}
