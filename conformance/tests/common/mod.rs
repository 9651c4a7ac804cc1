//! What the integration tests share.

use std::process::{Command, Stdio};

/// Whether the external tool `name` can be run (`name version_flag` succeeds). Where it
/// cannot, the calling test says so visibly on standard error and is to return early —
/// unless `TEARDOWN_REQUIRE_TOOLS=1` (set by `.ci/run` after installing the tools), where
/// a missing tool fails the test instead.
#[allow(dead_code)] // not every test binary that includes this module needs every helper
pub fn tool_available(name: &str, version_flag: &str, test: &str) -> bool {
    let ok = Command::new(name)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("TEARDOWN_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{test}: `{name}` is required (TEARDOWN_REQUIRE_TOOLS=1) but cannot be run");
        }
        eprintln!("SKIPPED {test}: `{name}` is not installed");
    }
    ok
}
