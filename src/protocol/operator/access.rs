//! Who may reach the operator's pages at all: the networks the operator names
//! (`operator_allow`), loopback and the LAN's private ranges unless told otherwise. A
//! request from elsewhere is refused before any sign-in form is shown.

use ipnet::IpNet;
use std::net::IpAddr;

/// The networks allowed when the operator names none: loopback, the private IPv4 ranges
/// (RFC 1918), link-local, and IPv6 unique-local and link-local.
pub const DEFAULT_ALLOW: [&str; 8] = [
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

/// Reads `operator_allow`'s entries: a network (`192.168.1.0/24`) or one address, or the
/// words `loopback` and `lan` for the default's parts.
pub fn parse(entries: &[String]) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::new();
    for e in entries {
        let e = e.trim();
        match e {
            "loopback" => nets.extend(
                DEFAULT_ALLOW[..2]
                    .iter()
                    .filter_map(|n| n.parse::<IpNet>().ok()),
            ),
            "lan" => nets.extend(
                DEFAULT_ALLOW[2..]
                    .iter()
                    .filter_map(|n| n.parse::<IpNet>().ok()),
            ),
            _ => nets.push(
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "{e:?} is not a network (192.168.1.0/24), an address, loopback or lan"
                        )
                    })?,
            ),
        }
    }
    Ok(nets)
}

/// The default networks.
pub fn default_allow() -> Vec<IpNet> {
    DEFAULT_ALLOW
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The networks allowed when the operator names none, for a server whose issuer is
/// `issuer` and which itself serves HTTPS or not. An `https://` issuer served as plain HTTP
/// means a proxy in front terminates TLS: then every request comes from the proxy's
/// address (loopback, or one on the LAN), so no address says where a request really came
/// from, and none is allowed until the operator names the proxy in `operator_allow`
/// knowingly.
pub fn default_for(issuer: &str, serves_https: bool) -> Vec<IpNet> {
    if issuer.starts_with("https://") && !serves_https {
        Vec::new()
    } else {
        default_allow()
    }
}

/// Whether a request from `peer` may reach the pages. An IPv4 address written as IPv6
/// (`::ffff:192.168.1.5`, from a dual-stack socket) counts as the IPv4 address. A request
/// of unknown origin is refused.
pub fn allowed(allow: &[IpNet], peer: Option<IpAddr>) -> bool {
    let Some(peer) = peer.map(|p| p.to_canonical()) else {
        return false;
    };
    allow.iter().any(|n| n.contains(&peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_default_is_loopback_and_the_lan() {
        let allow = default_allow();
        for a in [
            "127.0.0.1",
            "::1",
            "192.168.1.20",
            "10.1.2.3",
            "172.20.0.9",
            "fd12::5",
            "::ffff:192.168.0.7",
        ] {
            assert!(allowed(&allow, ip(a)), "{a}");
        }
        for a in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "100.64.0.1"] {
            assert!(!allowed(&allow, ip(a)), "{a}");
        }
        assert!(!allowed(&allow, None));
    }

    #[test]
    fn behind_a_proxy_that_terminates_tls_no_address_is_allowed_by_default() {
        assert!(default_for("https://pi.home", false).is_empty());
        assert_eq!(default_for("https://pi.home", true), default_allow());
        assert_eq!(default_for("http://pi.home:8420", false), default_allow());
    }

    #[test]
    fn the_operator_names_networks_addresses_and_words() {
        let allow = parse(&[
            "loopback".into(),
            "192.168.1.0/24".into(),
            "10.0.0.5".into(),
        ])
        .unwrap();
        assert!(allowed(&allow, ip("127.0.0.1")));
        assert!(allowed(&allow, ip("192.168.1.77")));
        assert!(!allowed(&allow, ip("192.168.2.77")));
        assert!(allowed(&allow, ip("10.0.0.5")));
        assert!(!allowed(&allow, ip("10.0.0.6")));
        assert!(parse(&["192.168.1.0/33".into()]).is_err());
        assert!(parse(&["the lan".into()]).is_err());
        assert!(parse(&[]).unwrap().is_empty());
    }
}
