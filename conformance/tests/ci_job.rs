//! docs/ci.md's CI job, run as its readers would run it: `docs/ci/teardown-ci.sh` on the
//! smoltcp example stack and the smoltcp captures of `traces/`. The commands in the script
//! and in every job of the document are the same lines, so the document cannot drift from
//! what this test runs.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

/// The job's commands: the lines between the markers of the script.
fn job_commands() -> Vec<String> {
    let script = std::fs::read_to_string(root().join("docs/ci/teardown-ci.sh")).unwrap();
    let start = script
        .find("# --- the job's commands")
        .expect("start marker");
    let end = script.find("# --- end ---").expect("end marker");
    script[start..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_document_runs_the_scripts_commands_in_every_job() {
    let doc = std::fs::read_to_string(root().join("docs/ci.md")).unwrap();
    let commands = job_commands();
    assert_eq!(commands.len(), 3, "{commands:?}");
    // The plain block, GitHub Actions and GitLab CI each carry every command verbatim.
    for c in &commands {
        let n = doc.lines().filter(|l| l.trim() == c).count();
        assert_eq!(n, 3, "`{c}` appears {n} times in docs/ci.md, not 3");
    }
    for section in ["## GitHub Actions", "## GitLab CI", "## Locally"] {
        assert!(doc.contains(section), "{section}");
    }
}

#[test]
fn the_job_checks_the_stack_and_flags_what_the_captures_show() {
    let reports = std::env::temp_dir().join(format!("teardown-ci-job-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&reports);
    let out = Command::new("bash")
        .arg(root().join("docs/ci/teardown-ci.sh"))
        .args([
            "examples/stacks/smoltcp.toml",
            "traces/smoltcp/captures",
            &reports.to_string_lossy(),
        ])
        .env("TEARDOWN", env!("CARGO_BIN_EXE_teardown"))
        .current_dir(root())
        .output()
        .expect("run the job script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The stack's verdicts are all as its [expect] says; the captures show what smoltcp
    // does that its description forbids, so the job fails — on exactly those.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let read = |f: &str| std::fs::read_to_string(reports.join(f)).unwrap();
    let resolved = read("stack.toml");
    assert!(resolved.contains("name = \"smoltcp-0.12\""), "{resolved}");
    let check = read("check.xml");
    assert!(
        check.contains(
            "<testsuites name=\"teardown check\" tests=\"15\" failures=\"0\" errors=\"0\">"
        ),
        "{check}"
    );
    let replay = read("replay.xml");
    let failing: Vec<&str> = replay
        .lines()
        .filter(|l| l.contains("<testsuite ") && !l.contains("failures=\"0\""))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert_eq!(
        failing,
        [
            // abort() in TIME-WAIT sends RST (smoltcp `abort`, :1030), where RFC 9293 §3.10.5
            // deletes the TCB silently.
            "traces/smoltcp/captures/tw-abort-reuse.client.pcap",
            // connect() 1 s into TIME-WAIT with an ISN below the old space and no timestamps.
            "traces/smoltcp/captures/tw-connect-reuse.client.pcap",
            "traces/smoltcp/captures/tw-connect-reuse.server.pcap",
        ],
        "{replay}"
    );
    assert!(
        replay.contains("<failure message=\"app-abort-quiet"),
        "{replay}"
    );
    assert!(
        replay.contains("<failure message=\"reuse-without-paws"),
        "{replay}"
    );
    // A ladder diagram of each violation and hazard is kept with the reports.
    let diagrams = walk(&reports.join("diagrams"));
    assert!(
        diagrams
            .iter()
            .any(|p| p.contains("tw-abort-reuse.client.pcap")),
        "{diagrams:?}"
    );
    assert!(diagrams.iter().all(|p| p.ends_with(".svg")), "{diagrams:?}");
    let _ = std::fs::remove_dir_all(&reports);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn the_job_stops_at_an_invalid_stack_file() {
    let dir = std::env::temp_dir().join(format!("teardown-ci-job-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let stack = dir.join("bad.toml");
    std::fs::write(
        &stack,
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[timers]\ntime_wiat = \"1s\"\n",
    )
    .unwrap();
    let reports = dir.join("reports");
    let out = Command::new("bash")
        .arg(root().join("docs/ci/teardown-ci.sh"))
        .args([
            &*stack.to_string_lossy(),
            "traces/smoltcp/captures",
            &*reports.to_string_lossy(),
        ])
        .env("TEARDOWN", env!("CARGO_BIN_EXE_teardown"))
        .current_dir(root())
        .output()
        .expect("run the job script");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches("bad.toml:5:1: unknown field `time_wiat`")
            .count(),
        1,
        "{stderr}"
    );
    // No report that could pass for a result.
    assert!(!reports.join("check.xml").exists() && !reports.join("replay.xml").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
