//! Tests that need something outside the process: an interpreter with an
//! implementation written by others, a PostgreSQL server, root privileges.
//!
//! The rule (ARCHITECTURE.md, "Tests"): such a test skips only when the
//! thing is truly absent, says so on stderr with a line starting `SKIP:`,
//! and fails instead when `LN_TEST_REQUIRE_ALL=1` (set by `.ci/run`), so
//! that CI can never pass a check it did not run.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable that turns every skip into a failure.
pub const REQUIRE_ALL: &str = "LN_TEST_REQUIRE_ALL";

/// Whether `LN_TEST_REQUIRE_ALL=1`: nothing may be skipped.
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL).as_deref() == Ok("1")
}

/// Something a test needs is absent: prints `SKIP: {why}` on stderr, or
/// panics when [`require_all`]. The caller returns after it.
pub fn skip(why: impl Display) {
    if require_all() {
        panic!("{REQUIRE_ALL}=1 but {why}");
    }
    eprintln!("SKIP: {why}");
}

/// The value of `var` if it is set and not empty; otherwise [`skip`]s with
/// `test`, the variable and `hint`, and gives `None`.
pub fn env_or_skip(test: &str, var: &str, hint: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            skip(format!("{test}: {var} is unset ({hint})"));
            None
        }
    }
}

/// The PostgreSQL URL of `.ci/postgres.sh` (`LN_TEST_POSTGRES_URL`), or
/// `None` after a [`skip`].
pub fn postgres_url(test: &str) -> Option<String> {
    env_or_skip(
        test,
        "LN_TEST_POSTGRES_URL",
        "source .ci/postgres.sh and call start_postgres",
    )
}

/// A name no other test, in this run or an earlier one, uses (for stores
/// on a shared database server).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The interpreter that `env_var` names (or `default`) if it can
/// `import {module}`; otherwise `None` after a [`skip`] that says which
/// variable to set. `name` is what the test runs against.
pub fn python_with(
    name: &str,
    env_var: &str,
    default: impl Into<PathBuf>,
    module: &str,
) -> Option<PathBuf> {
    let python = std::env::var_os(env_var).map_or_else(|| default.into(), PathBuf::from);
    let importable = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if importable {
        return Some(python);
    }
    skip(format!(
        "{name}: `{} -c 'import {module}'` failed (set {env_var} to an interpreter that has it)",
        python.display()
    ));
    None
}

/// A Python with Electrum's `module` (Debian's `python3-electrum`):
/// `LN_TEST_ELECTRUM_PYTHON`, by default `/usr/bin/python3`.
pub fn electrum_python(module: &str) -> Option<PathBuf> {
    python_with(
        "Electrum",
        "LN_TEST_ELECTRUM_PYTHON",
        "/usr/bin/python3",
        module,
    )
}

/// A Python with Core Lightning's `pyln-proto`: `LN_TEST_PYLN_PYTHON`, by
/// default the virtualenv `.ci/run` makes (`.ci/.venv` at the root of the
/// workspace).
pub fn pyln_python(module: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    python_with(
        "pyln-proto",
        "LN_TEST_PYLN_PYTHON",
        root.join(".ci/.venv/bin/python"),
        module,
    )
}

/// A child process that is killed and reaped when dropped, so that a test
/// failing half way leaves no peer running.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interpreter_is_a_skip_or_under_require_all_a_failure() {
        let missing = || {
            python_with(
                "nothing",
                "LN_TEST_NO_SUCH_VARIABLE",
                "/nonexistent/python",
                "sys",
            )
        };
        if require_all() {
            assert!(std::panic::catch_unwind(missing).is_err());
        } else {
            assert_eq!(missing(), None);
        }
    }
}
