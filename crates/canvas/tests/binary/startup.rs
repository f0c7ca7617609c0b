//! Start-up checks everything before it changes anything: every operator
//! mistake is one line naming the value and what was expected, and leaves
//! no store, no key and no data folder behind.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `canvas ARGS` in `dir` (so no ./canvas.toml is found) on the data folder `dir/data`.
fn canvas(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canvas"));
    command.args(args).current_dir(dir);
    crate::common::without_canvas_env(&mut command);
    command
        .env("CANVAS_DATA_DIR", dir.join("data"))
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The one line of a failed start, checked to say no more than it should.
fn refusal(out: &Output) -> String {
    assert!(!out.status.success(), "it started");
    assert!(out.stdout.is_empty(), "it printed a key: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains(".rs:"), "a source location: {stderr}");
    stderr
}

/// (canvas.toml, flags, environment, what the one line says)
type Mistake<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn configuration_mistakes_are_one_line_naming_the_value_and_change_nothing() {
    let cases: &[Mistake] = &[
        (
            "wokers = 4",
            &[],
            &[],
            "canvas.toml: wokers: unknown key 'wokers'; did you mean 'workers'?",
        ),
        (
            "log_format = \"xml\"",
            &[],
            &[],
            "log_format: 'xml' is not one of text, json",
        ),
        (
            "role = \"boss\"",
            &[],
            &[],
            "role: 'boss' is not one of all, api, worker",
        ),
        (
            "workers = 0",
            &[],
            &[],
            "workers: 0 is out of range; expected 1 to 256",
        ),
        (
            "workers = \"two\"",
            &[],
            &[],
            "workers: 'two' where a whole number",
        ),
        (
            "[smtp]\nhost = \"h\"\nport = 25\nfrom = \"a@b.c\"\nsecurty = \"tls\"",
            &[],
            &[],
            "smtp.securty: unknown key 'securty'; did you mean 'security'?",
        ),
        (
            "[blobs]\nurl = \"s3://b\"\nendpoint = \"http://127.0.0.1:9\"",
            &[],
            &[],
            "blobs.endpoint: an http:// endpoint needs allow_http = true",
        ),
        (
            "",
            &["--listen", "nonsense"],
            &[],
            "--listen: 'nonsense' is not an address to listen on; expected HOST:PORT",
        ),
        (
            "",
            &["--listen", "localhost:99999"],
            &[],
            "'localhost:99999' is not an address",
        ),
        (
            "",
            &["--database-url", "mysql://x"],
            &[],
            "--database-url: 'mysql' is not a store Canvas runs on",
        ),
        (
            "",
            &[],
            &[("CANVAS_WORKRES", "3")],
            "CANVAS_WORKRES: unknown key 'workres'; did you mean 'workers'?",
        ),
        (
            "",
            &[],
            &[("CANVAS_LEASE_SECS", "0")],
            "CANVAS_LEASE_SECS: 0 is out of range",
        ),
        (
            "",
            &[],
            &[("CANVAS_MASTER_KEY", "not-hex")],
            "CANVAS_MASTER_KEY: expected 64 hex characters",
        ),
    ];
    for (toml, flags, env, expected) in cases.iter().chain(more_mistakes()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("canvas.toml"), toml).unwrap();
        let args: Vec<&str> = ["serve"].iter().chain(flags.iter()).copied().collect();
        let line = refusal(&canvas(dir.path(), &args, env));
        assert!(
            line.contains(expected),
            "{toml:?} {flags:?} {env:?}: {line}"
        );
        assert!(!line.contains("s3cret"), "a secret in: {line}");
        assert!(
            !dir.path().join("data").exists(),
            "{expected}: the data folder was made"
        );
    }
}

/// Mistakes around the environment's own variables and secrets.
fn more_mistakes() -> &'static [Mistake<'static>] {
    &[
        // CANVAS_LOG, CANVAS_CONFIG and a Kubernetes service's CANVAS_SERVICE_HOST
        // are not configuration keys: only the real mistake is reported.
        (
            "",
            &[],
            &[
                ("CANVAS_LOG", "debug"),
                ("CANVAS_CONFIG", "canvas.toml"),
                ("CANVAS_SERVICE_HOST", "10.0.0.1"),
                ("CANVAS_WORKERS", "0"),
            ],
            "CANVAS_WORKERS: 0 is out of range",
        ),
        // A secret is text as given (0123 is not the number 123) and never echoed.
        (
            "",
            &[],
            &[
                ("CANVAS_SMTP__HOST", "h"),
                ("CANVAS_SMTP__PORT", "25"),
                ("CANVAS_SMTP__FROM", "a@b.c"),
                ("CANVAS_SMTP__PASSWORD", "0123"),
            ],
            "CANVAS_SMTP__PASSWORD: username and password go together",
        ),
        (
            "master_key = 123456789",
            &[],
            &[],
            "master_key: a value where text was expected",
        ),
        (
            "",
            &["--database-url", "root:s3cret@db/canvas"],
            &[],
            "--database-url: the URL does not start with postgres://",
        ),
        (
            "lease_secs = 5",
            &[],
            &[],
            "heartbeat_ms: 5000 is out of range; expected 10 to 4999: heartbeats must come more often than lease_secs (5 s)",
        ),
        // A vendor's base: http or https only, and only a vendor Canvas reaches.
        (
            "",
            &[],
            &[("CANVAS_VENDORS__MYST2__BASE_URL", "ftp://mystore.example")],
            "CANVAS_VENDORS__MYST2__BASE_URL: 'ftp://mystore.example' is not an http:// or https:// URL",
        ),
        (
            "[vendors.SHOPIFY]\nbase_url = \"https://x.example\"",
            &[],
            &[],
            "canvas.toml: vendors.SHOPIFY: not a vendor application Canvas reaches; expected one of ",
        ),
    ]
}

#[test]
fn an_unreachable_blob_store_is_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let closed = crate::common::free_port();
    let blobs = format!(
        "[blobs]\nurl = \"s3://runs\"\nendpoint = \"http://127.0.0.1:{closed}\"\nallow_http = true\n\
         region = \"us-east-1\"\naccess_key_id = \"canvas\"\nsecret_access_key = \"s3cret\"\n"
    );
    std::fs::write(dir.path().join("canvas.toml"), blobs).unwrap();

    let out = canvas(dir.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);

    assert!(
        !out.status.success() && out.stdout.is_empty(),
        "it started: {out:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // object_store logs its retries; the last line is the refusal.
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("blobs.url: s3://runs is not reachable")
            && last.contains("Connection refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "the secret key in: {stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "the data folder was made"
    );
}

#[test]
fn a_busy_port_is_refused_before_the_store_is_initialized() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let line = refusal(&canvas(dir.path(), &["serve", "--listen", &listen], &[]));
    assert!(
        line.contains(&format!("listen: {listen} is already in use")),
        "{line}"
    );
    assert!(
        !dir.path().join("data/canvas.db").exists(),
        "the store was initialized"
    );
}

#[test]
fn a_second_server_on_the_same_data_folder_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (first, keys) = crate::common::serve(&dir.path().join("data"));
    assert!(keys.is_some());
    let port = crate::common::free_port().to_string();
    let out = canvas(
        dir.path(),
        &["serve", "--listen", &format!("127.0.0.1:{port}")],
        &[],
    );
    let line = refusal(&out);
    let holder = format!(
        "another canvas serve (pid {}) is using the data folder",
        first.child.id()
    );
    assert!(line.contains(&holder), "{line}");
}

#[test]
fn postgresql_refused_missing_or_unknown_user_is_said_plainly_within_two_seconds() {
    let closed = crate::common::free_port();
    let cases = [
        (
            format!("postgres://root@127.0.0.1:{closed}/test"),
            "refused the connection; is the server running?",
        ),
        (
            "postgres://root@127.0.0.1:5432/no_such_db".into(),
            "has no database 'no_such_db'",
        ),
        (
            "postgres://no_such_user@127.0.0.1:5432/test".into(),
            "refused user 'no_such_user'",
        ),
    ];
    for (url, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let line = refusal(&canvas(
            dir.path(),
            &["serve", "--listen", "127.0.0.1:0", "--database-url", &url],
            &[],
        ));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{url}: took {:?}",
            started.elapsed()
        );
        assert!(
            line.contains("database_url: PostgreSQL at 127.0.0.1:") && line.contains(expected),
            "{line}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "the data folder was made"
        );
    }
}

#[test]
fn every_flag_and_subcommand_has_a_description_and_an_example() {
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["init"],
        &["org"],
        &["keys"],
        &["cron"],
        &["org", "create"],
        &["org", "allow-ips"],
        &["keys", "create"],
        &["keys", "revoke"],
        &["cron", "next"],
    ];
    for command in commands {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<&str> = command.iter().copied().chain(["--help"]).collect();
        let help = String::from_utf8(canvas(dir.path(), &args, &[]).stdout).unwrap();
        assert!(help.contains("Example"), "{command:?}: no example\n{help}");
        for line in help.lines().map(str::trim).filter(|l| l.starts_with("--")) {
            if line.starts_with("--help") || line.starts_with("--version") {
                continue;
            }
            let text = line.split_once("  ").map_or("", |(_, text)| text.trim());
            assert!(
                text.len() > 10 && text.contains("Example: --"),
                "{command:?}: {line}"
            );
        }
    }
    let version = canvas(Path::new("/"), &["--version"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("canvas {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Serves on a fresh folder with `env`, stops with SIGTERM once it
/// listens; returns the log it wrote to its (piped) standard error.
fn serve_then_stop(env: &[(&str, &str)]) -> String {
    serve_then_stop_under(&[], env).0
}

/// `serve_then_stop`, started through `launcher` (a command that execs its
/// arguments, such as `prlimit`); also returns `/proc/<pid>/limits` as the
/// server had it.
fn serve_then_stop_under(launcher: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", crate::common::free_port());
    let binary = env!("CARGO_BIN_EXE_canvas");
    let mut command = match launcher.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    crate::common::without_canvas_env(&mut command);
    let mut child = command
        .args(["serve", "--listen", &listen, "--data-dir"])
        .arg(dir.path().join("data"))
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first).unwrap();
    assert!(first.contains("secretKey"), "the first key: {first}");
    let started = Instant::now();
    while std::net::TcpStream::connect(&listen).is_err()
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (String::from_utf8_lossy(&out.stderr).into_owned(), limits)
}

/// The soft limit on open files is raised to the hard one, and a
/// connection cap that would not fit under it is lowered, saying so.
#[test]
fn the_open_file_limit_is_raised_and_the_connection_cap_kept_below_it() {
    let (log, limits) = serve_then_stop_under(&["prlimit", "--nofile=300:1000", "--"], &[]);

    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["1000", "1000"],
        "{open_files}"
    );
    let warning = log.lines().find(|l| l.contains("max_connections lowered"));
    let warning = warning.unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(warning.contains("lowered_to=744"), "{warning}");
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let log = serve_then_stop(&[]);
    assert!(log.contains("serving") && log.contains("stopped"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in a pipe: {log:?}");
}

#[test]
fn an_smtp_server_that_does_not_answer_is_said_at_start_and_canvas_still_serves() {
    let closed = crate::common::free_port().to_string();
    let smtp = [
        ("CANVAS_SMTP__HOST", "127.0.0.1"),
        ("CANVAS_SMTP__PORT", closed.as_str()),
        ("CANVAS_SMTP__FROM", "canvas@example.com"),
    ];
    let log = serve_then_stop(&smtp);
    let warning = log
        .lines()
        .find(|l| l.contains("emails will fail until the SMTP server answers"));
    let warning = warning.unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(
        warning.contains(&format!("127.0.0.1:{closed}")) && warning.contains("Connection refused"),
        "{warning}"
    );
    assert!(log.contains("serving"), "{log}");
}
