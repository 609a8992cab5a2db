//! Records when the binary was built: a clock that reads earlier than that is wrong (a Pi
//! without a battery-backed clock starts in 1970, or at its last shutdown), and piauth
//! refuses to mint tokens with it (src/protocol/clock.rs).

fn main() {
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=PIAUTH_BUILD_UNIX={built}");
    // Once per target directory: a floor only has to be no later than the real time.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
