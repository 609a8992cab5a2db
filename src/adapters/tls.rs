//! HTTPS: which certificate piauth serves, and the rustls configuration around it.
//!
//! The operator's certificate chain and key (`tls_cert`, `tls_key`), or one piauth makes at
//! first start: a self-signed P-256 certificate for the host's names and addresses, kept with
//! its key in `<data_dir>/tls.pem` (mode 0600). Devices trust that file, or pin its SHA-256
//! fingerprint, which `piauth tls fingerprint` prints.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The file, in the data directory, that holds a certificate piauth made and its key.
pub const GENERATED_FILE: &str = "tls.pem";

/// How long a certificate piauth makes is valid. Devices pin it, so it is long: a new
/// certificate would be a new fingerprint to hand to every device.
const GENERATED_VALIDITY_DAYS: u64 = 20 * 365;

/// Whether piauth serves HTTPS (the `tls` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTTPS, unless the listen address is loopback.
    Auto,
    /// HTTPS.
    On,
    /// Plain HTTP.
    Off,
}

impl Mode {
    /// Parses `auto`, `on` or `off`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "auto" => Some(Mode::Auto),
            "on" => Some(Mode::On),
            "off" => Some(Mode::Off),
            _ => None,
        }
    }

    /// Whether to serve HTTPS on `listen`. `auto` leaves loopback plain: nothing there
    /// crosses a network (a reverse proxy in front, or a local script).
    pub fn serves_tls(self, listen: IpAddr) -> bool {
        match self {
            Mode::On => true,
            Mode::Off => false,
            Mode::Auto => !listen.to_canonical().is_loopback(),
        }
    }
}

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The operator's PEM files: the chain, leaf first, and its private key.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// Made by piauth when first needed, then kept in this file.
    Generated(PathBuf),
}

impl Source {
    /// The certificate of `data_dir`, unless the operator named files.
    pub fn new(cert: Option<PathBuf>, key: Option<PathBuf>, data_dir: &Path) -> Source {
        match (cert, key) {
            (Some(cert), Some(key)) => Source::Files { cert, key },
            _ => Source::Generated(data_dir.join(GENERATED_FILE)),
        }
    }
}

/// A certificate could not be loaded, made or used.
#[derive(Debug)]
pub enum TlsError {
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable certificate or key.
    Pem {
        /// The file.
        path: PathBuf,
        /// What is missing.
        what: &'static str,
    },
    /// The certificate could not be made.
    Make(rcgen::Error),
    /// rustls refused the certificate or key (for example, they do not match).
    Rustls(rustls::Error),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TlsError::Pem { path, what } => write!(f, "{}: {what}", path.display()),
            TlsError::Make(e) => write!(f, "cannot make a TLS certificate: {e}"),
            TlsError::Rustls(e) => write!(f, "the TLS certificate or key is refused: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// A certificate chain and its private key.
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Loads the identity of `source`. A generated one is made first if it is not there:
    /// for `names`, valid from a day before `now` (the caller's trusted time).
    pub fn load(source: &Source, names: &[String], now: u64) -> Result<Identity, TlsError> {
        match source {
            Source::Files { cert, key } => {
                let chain = read(cert)?;
                let key_pem = read(key)?;
                Identity::parse(&chain, cert, &key_pem, key)
            }
            Source::Generated(path) => {
                if !path.exists() {
                    write_new(path, make(names, now)?.as_bytes())?;
                }
                let pem = read(path)?;
                Identity::parse(&pem, path, &pem, path)
            }
        }
    }

    /// Loads the identity of `source` as it is: a certificate piauth makes and has not
    /// made yet is an error, not made here (so that `piauth tls …` run by another user,
    /// or on another data directory, never leaves a certificate the server does not use).
    pub fn load_existing(source: &Source) -> Result<Identity, TlsError> {
        match source {
            Source::Generated(path) if !path.exists() => Err(pem(
                path,
                "no certificate yet: the server makes it when it first starts with TLS",
            )),
            _ => Identity::load(source, &[], 0),
        }
    }

    fn parse(
        chain: &[u8],
        chain_path: &Path,
        key: &[u8],
        key_path: &Path,
    ) -> Result<Identity, TlsError> {
        let chain: Vec<_> = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<_, _>>()
            .map_err(|_| pem(chain_path, "a certificate there cannot be read"))?;
        if chain.is_empty() {
            return Err(pem(chain_path, "no certificate in it"));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|_| pem(key_path, "no private key in it"))?;
        Ok(Identity { chain, key })
    }

    /// The SHA-256 fingerprint of the certificate devices see first.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.chain[0])
    }

    /// The certificate chain as PEM, without the key: what a device is given to trust.
    pub fn chain_pem(&self) -> String {
        use base64::Engine;
        let mut out = String::new();
        for cert in &self.chain {
            let b64 = base64::engine::general_purpose::STANDARD.encode(cert);
            out.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                out.push_str(std::str::from_utf8(line).unwrap_or_default());
                out.push('\n');
            }
            out.push_str("-----END CERTIFICATE-----\n");
        }
        out
    }

    /// The chain and key as rustls signs with them, the key checked against the leaf.
    fn certified(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let provider = rustls::crypto::ring::default_provider();
        CertifiedKey::from_der(self.chain.clone(), self.key.clone_key(), &provider)
            .map(Arc::new)
            .map_err(TlsError::Rustls)
    }

    /// What `/certificate` and `/health` say of it.
    pub fn facts(&self) -> crate::protocol::CertificateFacts {
        crate::protocol::CertificateFacts {
            pem: self.chain_pem(),
            fingerprint: self.fingerprint(),
            reload_error: None,
        }
    }
}

/// The identity served, replaceable while connections go on: an operator's renewed
/// certificate is taken by the next handshake, and no connection is dropped.
#[derive(Debug)]
pub struct Live {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Live {
    /// Serves `identity`.
    pub fn new(identity: &Identity) -> Result<Arc<Live>, TlsError> {
        Ok(Arc::new(Live {
            current: RwLock::new(identity.certified()?),
        }))
    }

    /// Serves `identity` from the next handshake on; a pair rustls refuses (a key that is
    /// not the certificate's) leaves the current one in service.
    pub fn replace(&self, identity: &Identity) -> Result<(), TlsError> {
        let next = identity.certified()?;
        match self.current.write() {
            Ok(mut c) => *c = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(())
    }

    /// The rustls configuration that serves it: TLS 1.2 and 1.3, HTTP/1.1.
    pub fn server_config(self: &Arc<Live>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl rustls::server::ResolvesServerCert for Live {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
    }
}

/// What a renewal changes in the operator's files: their times and sizes (certbot and lego
/// write new files in place or through symbolic links, which `metadata` follows).
pub fn files_stamp(source: &Source) -> Option<Vec<(std::time::SystemTime, u64)>> {
    let Source::Files { cert, key } = source else {
        return None;
    };
    [cert, key]
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .and_then(|m| Ok((m.modified()?, m.len())))
                .ok()
        })
        .collect()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn pem(path: &Path, what: &'static str) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        what,
    }
}

/// Certificate and key files are small; a larger one is not one.
const MAX_PEM_BYTES: u64 = 1 << 20;

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES).read_to_end(&mut bytes))
        .map_err(io(path))?;
    Ok(bytes)
}

/// Writes `bytes` to `path` (mode 0600) unless it exists by then: a server starting while
/// `piauth tls fingerprint` runs makes one certificate, not two.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let aside = path.with_extension(format!("new.{}", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&aside)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| match std::fs::hard_link(&aside, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        });
    let _ = std::fs::remove_file(&aside);
    // The new name on disk too: a certificate lost to a power cut would be remade with a
    // new fingerprint, and every device that pinned the old one would stop trusting piauth.
    let dir = path.parent().unwrap_or(Path::new("."));
    result
        .and_then(|()| std::fs::File::open(dir)?.sync_all())
        .map_err(io(path))
}

/// The SHA-256 fingerprint of a DER certificate, as `openssl x509 -fingerprint -sha256`
/// prints it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// The names a certificate piauth makes covers: `localhost`, the host name (and its mDNS
/// `.local` name, which Raspberry Pi OS answers), the operator's `extra` names, loopback
/// and the host's `addresses`. Each once, in that order.
pub fn certificate_names(
    hostname: Option<&str>,
    addresses: &[IpAddr],
    extra: &[String],
) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Some(host) = hostname.filter(|h| is_dns_name(h)) {
        names.push(host.to_string());
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
    }
    names.extend(extra.iter().cloned());
    let loopback = [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    ];
    for ip in loopback.iter().chain(addresses) {
        if !ip.is_unspecified() {
            names.push(ip.to_string());
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    names
}

/// Whether `name` can stand in a certificate as a DNS name (RFC 1123 labels).
pub fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A self-signed certificate for `names` and its new P-256 key, as PEM (key first).
fn make(names: &[String], now: u64) -> Result<String, TlsError> {
    let key = rcgen::KeyPair::generate().map_err(TlsError::Make)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(TlsError::Make)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "piauth");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let day = 86_400;
    let at = |secs: u64| {
        time::OffsetDateTime::from_unix_timestamp(secs as i64)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    };
    let from = now.saturating_sub(day);
    params.not_before = at(from);
    params.not_after = at(from + GENERATED_VALIDITY_DAYS * day);
    let cert = params.self_signed(&key).map_err(TlsError::Make)?;
    Ok(format!("{}{}", key.serialize_pem(), cert.pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_serves_tls_except_on_loopback() {
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        for (ip, want) in [
            (lan, true),
            (any, true),
            ("127.0.0.1".parse().unwrap(), false),
            ("::ffff:127.0.0.1".parse().unwrap(), false),
        ] {
            assert_eq!(Mode::Auto.serves_tls(ip), want, "{ip}");
        }
        assert!(Mode::On.serves_tls("::1".parse().unwrap()));
        assert!(!Mode::Off.serves_tls(lan));
        assert_eq!(Mode::parse("yes"), None);
    }

    #[test]
    fn names_cover_the_host_and_its_addresses_once_each() {
        let addrs: Vec<IpAddr> = vec!["192.168.1.20".parse().unwrap(), "0.0.0.0".parse().unwrap()];
        let names = certificate_names(Some("pi"), &addrs, &["auth.home.arpa".into(), "PI".into()]);
        assert_eq!(
            names,
            [
                "localhost",
                "pi",
                "pi.local",
                "auth.home.arpa",
                "127.0.0.1",
                "::1",
                "192.168.1.20"
            ]
        );
        // A host name no certificate can carry is left out, not passed on.
        let names = certificate_names(Some("bad name\n"), &[], &[]);
        assert_eq!(names, ["localhost", "127.0.0.1", "::1"]);
    }

    #[test]
    fn fingerprints_are_what_openssl_prints() {
        // `printf abc | openssl dgst -sha256`, formatted as `x509 -fingerprint` does.
        assert_eq!(
            fingerprint(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn a_generated_certificate_is_made_once_kept_private_and_served() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let source = Source::new(None, None, dir.path());
        let names = certificate_names(Some("pi"), &[], &[]);
        let first = Identity::load(&source, &names, 1_800_000_000).unwrap();
        let path = dir.path().join(GENERATED_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Identity::load(&source, &names, 1_900_000_000).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        // What devices are given: the certificate, which reads back the same, and no key.
        let pem = first.chain_pem();
        assert!(!pem.contains("PRIVATE KEY"));
        let back: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, first.chain);
        assert!(Live::new(&first).unwrap().server_config().is_ok());
        // The same file named as the operator's is the same identity.
        let files = Source::Files {
            cert: path.clone(),
            key: path,
        };
        assert_eq!(
            Identity::load(&files, &[], 0).unwrap().fingerprint(),
            again.fingerprint()
        );
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem").unwrap();
        let files = Source::Files {
            cert: junk.clone(),
            key: junk.clone(),
        };
        let err = Identity::load(&files, &[], 0).err().unwrap().to_string();
        assert!(err.contains("no certificate"), "{err}");
        let missing = Source::Files {
            cert: dir.path().join("none.pem"),
            key: junk,
        };
        assert!(matches!(
            Identity::load(&missing, &[], 0),
            Err(TlsError::Io { .. })
        ));
    }
}
