//! README.md is executable: its `bash` blocks run, in order, in one shell,
//! exactly as printed — `cargo run --release --` is answered by the binary
//! this test suite built, and the walk-through's port by a free one.
//! Blocks that open with `# Needs your own` are for the reader's servers
//! and are not run.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WALK_THROUGH_PORT: &str = "127.0.0.1:8081";
const LIMIT: Duration = Duration::from_secs(180);

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(repository().join("README.md")).unwrap()
}

/// The fenced blocks of one language, with the line each starts on.
fn blocks(markdown: &str, language: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match (&mut open, line.trim_start()) {
            (None, l) if l == format!("```{language}") => open = Some((n + 1, String::new())),
            (Some(_), "```") => found.push(open.take().unwrap()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    found
}

/// A `cargo` first on PATH that runs `cargo run --release -- ARGS` as the built binary.
fn cargo_shim(dir: &Path) {
    let path = dir.join("cargo");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         if [ \"$1\" = run ] && [ \"$2\" = --release ] && [ \"$3\" = -- ]; then shift 3; exec \"$README_TEST_BINARY\" \"$@\"; fi\n\
         echo \"README test: unexpected: cargo $*\" >&2; exit 97\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn script(readme: &str, port: u16) -> String {
    // Strict, so a failing line fails the test: errors stop inside $(...) too.
    let mut script = String::from("set -euo pipefail\nshopt -s inherit_errexit\n");
    for (line, body) in blocks(readme, "bash") {
        if body.trim_start().starts_with("# Needs your own") {
            continue;
        }
        script.push_str(&format!(
            "echo '### README.md block at line {line}' >&2\n{body}"
        ));
    }
    script.replace(WALK_THROUGH_PORT, &format!("127.0.0.1:{port}"))
}

#[test]
fn the_readme_walk_through_runs_as_printed_and_ends_with_a_successful_run() {
    let readme = readme();
    assert!(
        blocks(&readme, "bash").len() >= 3,
        "the walk-through's bash blocks"
    );
    let (shim, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    cargo_shim(shim.path());
    let path = format!(
        "{}:{}",
        shim.path().display(),
        std::env::var("PATH").unwrap()
    );
    let mut command = Command::new("bash");
    command
        .args(["-c", &script(&readme, crate::common::free_port())])
        .current_dir(work.path())
        .env("PATH", path)
        .env("TMPDIR", work.path())
        .env("README_TEST_BINARY", env!("CARGO_BIN_EXE_canvas"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::common::without_canvas_env(&mut command);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let (status, stdout, stderr) = run_bounded(command);
    assert!(
        status == Some(0),
        "the README's walk-through failed (status {status:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

/// Runs the shell for at most `LIMIT`, then stops its whole process group
/// (the walk-through's server included) whatever happened.
fn run_bounded(mut command: Command) -> (Option<i32>, String, String) {
    let mut child = command.spawn().unwrap();
    let group = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || read_all(&mut out));
    let stderr = std::thread::spawn(move || read_all(&mut err));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // `--` first: procps-ng 4.0's kill reads `-KILL -123` as a signal and
    // pid -1 (every process), not as the process group 123.
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{group}")])
        .status();
    let _ = child.wait();
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

fn read_all(stream: &mut impl Read) -> String {
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

#[test]
fn ci_runs_the_readme_test_command_and_cargo_run_finds_the_server() {
    let readme = readme();
    let command = "cargo test --workspace --locked";
    assert!(
        blocks(&readme, "sh")
            .iter()
            .any(|(_, b)| b.trim() == command)
    );
    let ci = std::fs::read_to_string(repository().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == command),
        ".ci/run runs {command}"
    );
    let manifest = std::fs::read_to_string(repository().join("Cargo.toml")).unwrap();
    // `cargo run` picks among the default members' binaries: only the server's.
    assert!(manifest.contains(r#"default-members = ["crates/canvas"]"#));
    let own = std::fs::read_to_string(repository().join("crates/canvas/Cargo.toml")).unwrap();
    assert_eq!(own.matches("[[bin]]").count(), 1);
}
