//! Runs `examples/walkthrough.sh` (the lnd simnet tutorial with `simchain`,
//! two `lnnode`s and `lnctl`, every balance checked) against this build's
//! programs. `cargo test --workspace` builds `lnnode` and `simchain` beside
//! `lnctl`; the script needs curl and jq (CI installs them).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn the_lnd_tutorial_walkthrough_passes() {
    let lnctl = Path::new(env!("CARGO_BIN_EXE_lnctl"));
    let bin = lnctl.parent().unwrap();
    for program in ["lnnode", "simchain"] {
        assert!(
            bin.join(program).exists(),
            "{program} is not built in {}: run `cargo test --workspace`, or \
             `cargo build -p lightning-node -p lightning-simchain` first",
            bin.display()
        );
    }
    for tool in ["curl", "jq"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            lightning_test_support::external::skip(format!(
                "the_lnd_tutorial_walkthrough_passes: {tool} is not installed"
            ));
            return;
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("walkthrough.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("BIN", bin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "walkthrough failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("walkthrough passed"), "{stdout}");
    assert!(stdout.contains("ok: bob's confirmed balance (sat) = 10000"));
}
