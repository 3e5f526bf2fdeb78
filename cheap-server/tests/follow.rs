//! `cheap sync --follow`: the command keeps a local SQLite mirror in step with a catalog served
//! over real HTTP, applying each change event, until it is stopped.

mod common;

use std::process::Stdio;
use std::time::Duration;

use cheap_core::{CheapDao, HierarchyDef, HierarchyType};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheap_sync_follow_applies_upstream_writes_as_they_happen() {
    let (s, dir) = common::sqlite_server().await;
    let c = cheap_core::Catalog::new();
    let id = c.id();
    s.dao.save_catalog(&c).await.unwrap();
    s.dao
        .create_hierarchy(id, &HierarchyDef::new("l", HierarchyType::EntityList))
        .await
        .unwrap();
    let mirror = format!("sqlite://{}", dir.path().join("mirror.db").display());
    let mut child = Follower(
        std::process::Command::new(env!("CARGO_BIN_EXE_cheap"))
            .args([
                "sync",
                "--follow",
                "--local",
                &mirror,
                "--upstream",
                &s.base,
            ])
            .arg(id.to_string())
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The first checkout creates the mirror; opened before it, the file would be empty.
    let mut ready = false;
    for _ in 0..200 {
        if dir.path().join("mirror.db").exists() {
            if let Ok(m) = cheap::connect(&mirror).await {
                if m.catalog_exists(id).await.unwrap_or(false) {
                    ready = true;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the first checkout did not happen");
    let local = cheap::connect(&mirror).await.unwrap();
    let added: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    for (i, e) in added.iter().enumerate() {
        s.dao.add_entities(id, "l", &[*e]).await.unwrap();
        if i % 5 == 4 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let want = s.dao.get_hierarchy(id, "l").await.unwrap();
    // Bounded wait for the follower, not a speed check.
    let mut got = None;
    for _ in 0..200 {
        if let Ok(h) = local.get_hierarchy(id, "l").await {
            if h.content == want.content {
                got = Some(h);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(got.is_some(), "the follower did not catch up");
    assert!(child.0.try_wait().unwrap().is_none(), "still following");
    // SIGTERM stops it cleanly.
    terminate(child.0.id());
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = child.0.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("it stops");
    assert!(status.success(), "{status}");
}

/// Killed if the test fails before stopping it.
struct Follower(std::process::Child);

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends SIGTERM with the `kill` command.
fn terminate(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid}");
}
