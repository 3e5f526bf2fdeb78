//! sqlx errors mapped onto the backend-neutral [`CheapError`] kinds.

use cheap_core::CheapError;

/// Maps a sqlx error: busy/locked and pool exhaustion are `Unavailable`, constraint violations
/// `Conflict` (unique, foreign key) or `InvalidInput` (check, not-null), anything else `Backend`.
pub fn map_err(e: sqlx::Error) -> CheapError {
    match &e {
        sqlx::Error::PoolTimedOut => {
            CheapError::Unavailable("timed out waiting for a SQLite connection".into())
        }
        sqlx::Error::PoolClosed => CheapError::Unavailable("the SQLite pool is closed".into()),
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => {
            CheapError::Unavailable(format!("SQLite is unreachable: {e}"))
        }
        sqlx::Error::Database(db) => {
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            match code & 0xff {
                // SQLITE_BUSY, SQLITE_LOCKED: still contended after the busy timeout.
                5 | 6 => {
                    CheapError::Unavailable(format!("SQLite database is busy: {}", db.message()))
                }
                // SQLITE_CONSTRAINT: the extended code tells which.
                19 => match code {
                    1555 | 2067 | 787 => {
                        CheapError::db_conflict(db.constraint().map(str::to_owned), e)
                    }
                    _ => CheapError::InvalidInput(db.message().to_owned()),
                },
                // SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_IOERR
                13 | 14 | 10 => CheapError::Unavailable(db.message().to_owned()),
                _ => CheapError::backend("sqlite", e),
            }
        }
        _ => CheapError::backend("sqlite", e),
    }
}
