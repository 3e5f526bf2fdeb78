//! The `cheap` command keeps secrets out of what it prints, and refuses an empty API key.

use std::process::{Command, Stdio};
use std::time::Duration;

fn cheap(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cheap"));
    c.args(args)
        .env("RUST_LOG", "info")
        .env_remove("CHEAP_API_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn an_empty_api_key_refuses_to_start() {
    for (args, env) in [
        (
            vec![
                "serve",
                "--database-url",
                "memory:",
                "--bind",
                "127.0.0.1:0",
                "--api-key",
                "",
            ],
            vec![],
        ),
        (
            vec![
                "serve",
                "--database-url",
                "memory:",
                "--bind",
                "127.0.0.1:0",
            ],
            vec![("CHEAP_API_KEY", "")],
        ),
    ] {
        let out = cheap(&args, &env);
        assert!(!out.status.success(), "{args:?} {env:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("API key") && err.contains("empty"), "{err}");
    }
}

#[test]
fn a_store_that_cannot_be_opened_is_reported_without_its_password() {
    for url in [
        "postgres://postgres:hunter2-pg@127.0.0.1:1/test",
        "mysql://root:hunter2-my@127.0.0.1:1/test",
    ] {
        let out = cheap(&["init", "--database-url", url], &[]);
        assert!(!out.status.success());
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("hunter2"), "{all}");
        assert!(
            all.contains(":***@127.0.0.1:1"),
            "the redacted URL is named: {all}"
        );
    }
}

#[test]
fn the_startup_line_names_the_store_and_authentication_without_secrets() {
    let Ok(pg) = std::env::var("CHEAP_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CHEAP_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "CHEAP_TEST_POSTGRES_URL is not set and CHEAP_TEST_REQUIRE_ALL=1"
        );
        return;
    };
    // The test server trusts local connections, so any password opens it.
    let url = pg.replacen("://postgres@", "://postgres:hunter2-pg@", 1);
    assert!(url.contains("hunter2"), "expected a URL with a user: {pg}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cheap"))
        .args([
            "serve",
            "--database-url",
            &url,
            "--bind",
            "127.0.0.1:0",
            "--api-key",
            "k",
        ])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("serving"), "{err}");
    assert!(err.contains("postgres:***@"), "{err}");
    assert!(err.contains("authentication"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
