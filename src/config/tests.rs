use super::*;

fn none() -> (GlobalFlags, ServeFlags) {
    (GlobalFlags::default(), ServeFlags::default())
}

fn from_text(text: &str) -> Result<Config, ConfigError> {
    let (g, s) = none();
    resolve(text, &g, &s)
}

#[test]
fn defaults_need_no_file() {
    let c = from_text("").unwrap();
    assert_eq!(c.listen, DEFAULT_LISTEN);
    assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert_eq!(c.algorithm, SigningAlg::Es256);
    assert_eq!(c.access_ttl, DEFAULT_ACCESS_TTL);
    assert_eq!(c.log_level, log::LevelFilter::Info);
    assert_eq!(c.led, LedSpec::None);
    assert_eq!(c.scopes_supported, None);
    assert_eq!(c.tuning, TuningOverrides::default());
}

#[test]
fn flags_override_file_which_overrides_defaults() {
    let (g, mut s) = none();
    s.listen = Some("127.0.0.1:2".into());
    s.max_body_bytes = Some(4096);
    let c = resolve(
        "listen = \"127.0.0.1:1\"\nalgorithm = \"eddsa\"\naccess_ttl = 60\nmax_body_bytes = 1024\n",
        &g,
        &s,
    )
    .unwrap();
    assert_eq!(c.listen, "127.0.0.1:2");
    assert_eq!(c.algorithm, SigningAlg::EdDsa);
    assert_eq!(c.access_ttl, 60);
    assert_eq!(c.tuning.max_body_bytes, Some(4096));
}

#[test]
fn tuning_keys_override_the_profile_one_by_one() {
    let c = from_text("sled_cache_bytes = 2097152\nhttp_workers = 3\n").unwrap();
    let base = crate::board::tuning::profile(crate::board::tuning::Resources {
        ram_mb: 256,
        cores: 1,
        speed: 1,
    });
    let p = c.tuning.apply(base);
    assert_eq!(p.sled_cache_bytes, 2_097_152);
    assert_eq!(p.http_workers, 3);
    assert_eq!(p.max_connections, base.max_connections);
}

#[test]
fn errors_name_the_line_the_key_and_what_is_accepted() {
    let e = from_text("listen = \"x\"\n\nlisen = \"x\"").unwrap_err();
    assert_eq!(e.line, Some(3), "{e:?}");
    assert!(e.to_string().contains("lisen"), "{e}");
    let e = from_text("# comment\naccess_ttl = 0\n").unwrap_err();
    assert_eq!((e.key, e.line), (Some("access_ttl"), Some(2)));
    assert_eq!(
        e.to_string(),
        "access_ttl: must be 1 to 86400 seconds: access tokens cannot be recalled from \
         verifiers, keep them short"
    );
    let mut e = from_text("\n\nhttp_workers = 0").unwrap_err();
    e.file = Some("/etc/piauth/piauth.toml".into());
    assert_eq!(
        e.to_string(),
        "/etc/piauth/piauth.toml:3: http_workers: must be 1 to 256"
    );
    // The same value from a flag names the flag.
    let (g, mut s) = none();
    s.algorithm = Some("none".into());
    let e = resolve("", &g, &s).unwrap_err();
    assert!(
        e.from_flag && e.to_string().starts_with("--algorithm: "),
        "{e}"
    );
    for (text, key) in [
        ("led = \"gpio:x\"", "led"),
        ("issuer = \"pi.local\"", "issuer"),
        ("scopes_supported = [\"a b\"]", "scopes_supported"),
        ("token_cache_entries = 2000000", "token_cache_entries"),
        ("log_level = \"loud\"", "log_level"),
        ("head_timeout = 0", "head_timeout"),
        ("body_timeout = 301", "body_timeout"),
        ("refresh_grace = 61", "refresh_grace"),
        (
            "max_connections_per_address = 0",
            "max_connections_per_address",
        ),
    ] {
        assert_eq!(from_text(text).unwrap_err().key, Some(key), "{text}");
    }
    // A value of the wrong type is the parser's error, at its line.
    let e = from_text("\naccess_ttl = \"long\"").unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(matches!(e.problem, Problem::Syntax(_)));
}

/// The configuration table of docs/reference.md (the README links it), row by row: key, flag, default, meaning.
fn readme_rows() -> Vec<[String; 4]> {
    let readme = include_str!("../../docs/reference.md");
    let start = readme
        .find("| key | flag | default | meaning |")
        .expect("docs/reference.md has a configuration table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<String> = l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            [
                cells[0].trim_matches('`').to_string(),
                cells[1].trim_matches('`').to_string(),
                cells[2].clone(),
                cells[3].clone(),
            ]
        })
        .collect()
}

#[test]
fn the_reference_documents_every_key_as_the_code_defines_it() {
    let expected: Vec<[String; 4]> = keys()
        .into_iter()
        .map(|k| [k.name.to_string(), k.flag, k.default, k.doc])
        .collect();
    let table: String = expected
        .iter()
        .map(|[k, f, d, m]| format!("| `{k}` | `{f}` | {d} | {m} |\n"))
        .collect();
    assert_eq!(
        readme_rows(),
        expected,
        "the configuration table of docs/reference.md should read:\n{table}"
    );
}
