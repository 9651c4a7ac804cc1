//! `teardown explore` end to end: the binary serves stateright's Explorer on loopback, its
//! API answers with readable actions, outcomes and the ladder of the path, and — where
//! Chromium is installed — the page itself renders the initial state and one step.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server, stopped when the test ends however it ends.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("loopback");
    l.local_addr().expect("bound").to_string()
}

fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

fn serve(stack: &str) -> Server {
    let addr = free_addr();
    let child = Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(["explore", "--stack", stack, "--addr", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("teardown runs");
    let server = Server { child, addr };
    let start = Instant::now();
    while get(&server.addr, "/.status").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "explore did not answer on {}",
            server.addr
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[test]
fn the_api_shows_readable_steps_and_the_ladder_of_the_path() {
    let s = serve("no-time-wait");
    let (code, status) = get(&s.addr, "/.status").expect("status");
    assert_eq!(code, 200);
    assert!(status.contains("final ACK is always recovered"), "{status}");
    // The initial state, then the steps that leave it.
    let (code, init) = get(&s.addr, "/.states").expect("initial states");
    assert_eq!(code, 200, "{init}");
    assert!(init.contains("Established"), "{init}");
    let (code, next) = get(&s.addr, "/.states/0").expect("next steps");
    assert_eq!(code, 200, "{next}");
    let steps: serde_json::Value = serde_json::from_str(&next).expect("JSON");
    let steps = steps.as_array().expect("an array of steps");
    assert!(!steps.is_empty());
    let first = &steps[0];
    assert_eq!(first["action"], "client send()");
    let outcome = first["outcome"].as_str().expect("an outcome");
    assert!(
        outcome.contains("client applies app-send (RFC 9293 §3.10.2)"),
        "{outcome}"
    );
    let svg = first["svg"].as_str().expect("a ladder");
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(
        svg.contains(">ESTABLISHED<") && svg.contains(". 1:1 len 1"),
        "{svg}"
    );
}

#[test]
fn chromium_renders_the_initial_state_and_one_step() {
    if !common::tool_available("chromium", "--version", "explore_in_chromium") {
        return;
    }
    let s = serve("no-time-wait");
    let page = |fragment: &str| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--virtual-time-budget=5000",
                "--dump-dom",
            ])
            .arg(format!("http://{}/{fragment}", s.addr))
            .output()
            .expect("chromium runs");
        assert!(out.status.success(), "chromium failed");
        let dom = String::from_utf8_lossy(&out.stdout).into_owned();
        // The text a reader sees, tags removed.
        let mut text = String::new();
        let mut in_tag = false;
        for c in dom.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    text.push(' ');
                }
                _ if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    // The initial state selected: its ladder and the steps that leave it.
    let init = page("#/steps/0");
    for part in [
        "TeardownModel",
        "final ACK is always recovered",
        "Next Action Choices",
        "client send()",
        "server send()",
        "no-time-wait: the path so far",
    ] {
        assert!(init.contains(part), "initial page lacks {part:?}: {init}");
    }
    let step = page("#/steps/0/0");
    for part in [
        "client applies app-send (RFC 9293 §3.10.2)",
        "no-time-wait: the path so far",
        "client shutdown(SHUT_WR)",
        "network drops segment #0",
    ] {
        assert!(step.contains(part), "step page lacks {part:?}: {step}");
    }
}

#[test]
fn explore_refuses_a_busy_address_and_an_unknown_stack() {
    let busy = TcpListener::bind("127.0.0.1:0").expect("loopback");
    let addr = busy.local_addr().expect("bound").to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(["explore", "--stack", "linux", "--addr", &addr])
        .output()
        .expect("teardown runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
    let out = Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(["explore", "--stack", "no-such-stack"])
        .output()
        .expect("teardown runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown stack"));
}
