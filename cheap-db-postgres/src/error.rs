//! sqlx errors mapped onto the backend-neutral [`CheapError`] kinds.

use cheap_core::CheapError;

/// Maps a sqlx error: lost connections and pool exhaustion are `Unavailable`, serialization
/// failures and deadlocks `Contention` (both worth retrying), unique and foreign-key violations `Conflict`, check and
/// not-null violations `InvalidInput`, anything else `Backend`.
pub fn map_err(e: sqlx::Error) -> CheapError {
    match &e {
        sqlx::Error::PoolTimedOut => {
            CheapError::Unavailable("timed out waiting for a PostgreSQL connection".into())
        }
        sqlx::Error::PoolClosed => CheapError::Unavailable("the PostgreSQL pool is closed".into()),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            CheapError::Unavailable(format!("PostgreSQL is unreachable: {e}"))
        }
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.as_str() {
                "23505" | "23503" => CheapError::db_conflict(db.constraint().map(str::to_owned), e),
                // 22021: a NUL in text; 54000: an index row too large. Core's limits refuse
                // both first; this keeps anything that slips past a client's mistake.
                "23514" | "23502" | "22P02" | "22001" | "22021" | "54000" => {
                    CheapError::InvalidInput(db.message().to_owned())
                }
                // Serialization failure, deadlock: the transaction can simply run again.
                "40001" | "40P01" => {
                    CheapError::Contention(format!("PostgreSQL: {}", db.message()))
                }
                "53300" | "57P01" | "57P02" | "57P03" => {
                    CheapError::Unavailable(format!("PostgreSQL: {}", db.message()))
                }
                c if c.starts_with("08") => {
                    CheapError::Unavailable(format!("PostgreSQL connection: {}", db.message()))
                }
                _ => CheapError::backend("postgres", e),
            }
        }
        _ => CheapError::backend("postgres", e),
    }
}
