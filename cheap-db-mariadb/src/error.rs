//! mysql_async errors mapped onto the backend-neutral [`CheapError`] kinds.

use cheap_core::CheapError;
use mysql_async::{DriverError, Error};

/// Maps a mysql_async error: lost connections, an overloaded server and a Galera node that is
/// not ready are `Unavailable`, deadlocks, lock waits and certification failures `Contention`
/// (both worth retrying), duplicate keys and foreign-key violations `Conflict`,
/// values the schema refuses (too long, NULL, CHECK) `InvalidInput`, anything else `Backend`.
pub fn map_err(e: Error) -> CheapError {
    match &e {
        Error::Io(_) => CheapError::Unavailable(format!("MariaDB is unreachable: {e}")),
        Error::Driver(
            DriverError::ConnectionClosed
            | DriverError::PoolDisconnected
            | DriverError::PacketOutOfOrder
            | DriverError::UnexpectedPacket { .. },
        ) => CheapError::Unavailable(format!("MariaDB connection lost: {e}")),
        Error::Server(s) => match s.code {
            1062 | 1022 | 1451 | 1452 | 1586 => CheapError::db_conflict(None, e),
            1406 | 1048 | 1364 | 1366 | 1264 | 1292 | 3819 | 4025 => {
                CheapError::InvalidInput(s.message.clone())
            }
            // Deadlock (and Galera's certification failure, which reports as one), lock wait
            // timeout: the transaction can simply run again.
            1213 | 1205 => CheapError::Contention(format!("MariaDB: {}", s.message)),
            // Galera: the node is joining, or cut off from the primary component.
            1047 | 1180 => {
                CheapError::Unavailable(format!("MariaDB (Galera node not ready): {}", s.message))
            }
            // too many connections, shutdown, killed, gone away
            1040 | 1053 | 1927 | 2006 | 2013 | 1317 => {
                CheapError::Unavailable(format!("MariaDB: {}", s.message))
            }
            _ => CheapError::backend("mariadb", e),
        },
        _ => CheapError::backend("mariadb", e),
    }
}
