//! The server process's allocator settings.

/// Malloc arenas [`limit_malloc_arenas`] leaves a server: two kept the REST benchmark's
/// throughput and cut its peak RSS by about a quarter.
pub const SERVER_MALLOC_ARENAS: u32 = 2;

/// Caps glibc's malloc arenas at `arenas` for the rest of the process, unless the operator
/// set `MALLOC_ARENA_MAX`, which glibc has applied already. glibc gives threads that allocate
/// at once arenas of their own (up to 8 per core) and keeps what each one freed; a server's
/// runtime threads and SQLite's worker threads otherwise hold tens of MiB of freed memory
/// (`cheap-bench http`, SQLite: 162 MiB peak RSS by default, 123 MiB with 2 arenas). Call it
/// first thing, before threads start: arenas made before it stay. Returns whether the cap
/// was set; on other allocators and systems it does nothing.
pub fn limit_malloc_arenas(arenas: u32) -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    set_arena_max(arenas.max(1))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arena_max(arenas: u32) -> bool {
    let n = libc::c_int::try_from(arenas).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets one of glibc's allocator parameters, and M_ARENA_MAX takes
    // any positive count; it touches no memory of ours.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_arenas: u32) -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    #[test]
    fn glibc_takes_the_cap_unless_the_operator_set_one() {
        let operator = std::env::var_os("MALLOC_ARENA_MAX").is_some();
        assert_eq!(
            super::limit_malloc_arenas(super::SERVER_MALLOC_ARENAS),
            !operator
        );
    }
}
