//! Connection and pool options.

use std::time::Duration;

use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};

use crate::MariaDbDao;
use cheap_core::{CheapDao, CheapError, Result};
use cheap_sql::schema::SchemaOptions;
use cheap_sql::PoolSettings;

/// How to reach MariaDB and size the pool. Start from [`MariaDbOptions::url`] or
/// [`MariaDbOptions::new`] (host, port, database, user, password), tune, then
/// [`connect`](Self::connect).
///
/// ```no_run
/// # async fn f() -> cheap_core::Result<()> {
/// use std::time::Duration;
/// let dao = cheap_db_mariadb::MariaDbOptions::new("127.0.0.1", 3306, "cheap")
///     .user("cheap_user")
///     .password("secret")
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(3))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MariaDbOptions {
    base: Result<Opts, String>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    user: Option<String>,
    password: Option<String>,
    init_schema: bool,
    foreign_keys: bool,
    pool: PoolSettings,
    /// `SET SESSION` statements run on every new connection.
    session: Vec<(String, String)>,
}

impl MariaDbOptions {
    fn with_base(base: Result<Opts, String>) -> Self {
        MariaDbOptions {
            base,
            host: None,
            port: None,
            database: None,
            user: None,
            password: None,
            init_schema: true,
            foreign_keys: true,
            pool: PoolSettings::with_max(10).idle_timeout(Some(Duration::from_secs(300))),
            session: Vec::new(),
        }
    }

    /// From a `mysql://user:password@host:3306/database` URL (`mariadb://` is accepted too).
    /// The URL's own pool parameters are replaced by this builder's. Parameters named
    /// `wsrep_*` are session variables set on every connection: on a Galera cluster,
    /// `?wsrep_sync_wait=1` makes each read wait until the node has applied every write the
    /// cluster committed before it (read-your-writes through any node, at some latency).
    pub fn url(url: impl AsRef<str>) -> Self {
        let url = url.as_ref();
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_owned(),
        };
        let (url, session) = split_session_variables(&url);
        let mut o =
            Self::with_base(Opts::from_url(&url).map_err(|e| format!("invalid MariaDB URL: {e}")));
        match session {
            Ok(vars) => o.session = vars,
            Err(e) => o.base = Err(e),
        }
        o
    }

    /// Sets a session variable on every connection (`SET SESSION name = value`); the value is
    /// an integer or a plain word.
    pub fn session_variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match check_session_variable(&name, &value) {
            Ok(()) => self.session.push((name, value)),
            Err(e) => self.base = Err(e),
        }
        self
    }

    /// From a host, port and database (user `root`, no password, until set).
    pub fn new(host: impl Into<String>, port: u16, database: impl Into<String>) -> Self {
        let mut o = Self::with_base(Ok(Opts::from(OptsBuilder::default())));
        o.host = Some(host.into());
        o.port = Some(port);
        o.database = Some(database.into());
        o
    }

    /// The database (replaces the URL's).
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into());
        self
    }

    /// The user.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Whether [`connect`](Self::connect) creates the schema when missing (default true).
    pub fn init_schema(mut self, yes: bool) -> Self {
        self.init_schema = yes;
        self
    }

    /// Whether a schema created by this builder has foreign keys (default true). Without them
    /// writes are a little faster; the backend deletes children explicitly either way.
    pub fn foreign_keys(mut self, yes: bool) -> Self {
        self.foreign_keys = yes;
        self
    }

    /// Connections kept open when idle (default 1).
    pub fn min_connections(mut self, n: usize) -> Self {
        self.pool = self
            .pool
            .min_connections(u32::try_from(n).unwrap_or(u32::MAX));
        self
    }

    /// Most connections at once (default 10; MariaDB allows 151 by default for everyone).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.pool = self
            .pool
            .max_connections(u32::try_from(n).unwrap_or(u32::MAX));
        self
    }

    /// How long an operation waits for a free connection before failing with `Unavailable`
    /// (default 5 s). mysql_async itself would wait forever.
    pub fn acquire_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.acquire_timeout(d);
        self
    }

    /// How long a connection above the minimum may stay idle (default 5 min).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.pool = self.pool.idle_timeout(Some(d));
        self
    }

    /// Replace connections older than this (default 30 min; `None` keeps them).
    pub fn max_lifetime(mut self, d: Option<Duration>) -> Self {
        self.pool = self.pool.max_lifetime(d);
        self
    }

    /// The mysql_async options this builder produces.
    pub fn to_opts(&self) -> Result<Opts> {
        let base = self.base.clone().map_err(CheapError::invalid)?;
        let constraints = PoolConstraints::new(
            self.pool.effective_min() as usize,
            self.pool.max_connections as usize,
        )
        .ok_or_else(|| CheapError::invalid("min_connections exceeds max_connections"))?;
        let pool = PoolOpts::default()
            .with_constraints(constraints)
            // mysql_async always ages idle connections: "keep them" is a year.
            .with_inactive_connection_ttl(
                self.pool
                    .idle_timeout
                    .unwrap_or(Duration::from_secs(365 * 86_400)),
            )
            .with_abs_conn_ttl(self.pool.max_lifetime)
            // No COM_RESET_CONNECTION on every return: it would drop the prepared statements.
            // An unfinished transaction is rolled back by the driver when its connection comes
            // back; a Galera write asks for the reset itself until it finishes cleanly.
            .with_reset_connection(false);
        let init: Vec<String> = self
            .session
            .iter()
            .map(|(k, v)| format!("SET SESSION {k} = {v}"))
            .collect();
        let mut b = OptsBuilder::from_opts(base)
            // Setup commands also run again after a reset.
            .setup(init)
            .pool_opts(pool)
            .prefer_socket(false)
            .stmt_cache_size(64);
        if let Some(h) = &self.host {
            b = b.ip_or_hostname(h.clone());
        }
        if let Some(p) = self.port {
            b = b.tcp_port(p);
        }
        if let Some(d) = &self.database {
            b = b.db_name(Some(d.clone()));
        }
        if let Some(u) = &self.user {
            b = b.user(Some(u.clone()));
        } else if self.host.is_some() {
            b = b.user(Some("root"));
        }
        if let Some(p) = &self.password {
            b = b.pass(Some(p.clone()));
        }
        Ok(Opts::from(b))
    }

    /// All pool settings at once.
    pub fn pool_settings(mut self, settings: PoolSettings) -> Self {
        self.pool = settings;
        self
    }

    /// Opens the pool, checks the server answers (within the acquire timeout) and, unless
    /// disabled, creates the schema.
    pub async fn connect(self) -> Result<MariaDbDao> {
        let opts = self.to_opts()?;
        let pool = Pool::new(opts);
        let dao = MariaDbDao::from_parts(pool, self.pool.acquire_timeout);
        if self.init_schema {
            let options = SchemaOptions::default().foreign_keys(self.foreign_keys);
            cheap_sql::schema::init_schema(dao.engine().backend(), options).await?;
        } else {
            dao.health_check().await?;
        }
        dao.engine().backend().detect_galera().await?;
        Ok(dao)
    }
}

/// Takes the `wsrep_*` parameters out of a URL's query: (the URL without them, the variables).
fn split_session_variables(url: &str) -> (String, Result<Vec<(String, String)>, String>) {
    let Some((head, query)) = url.split_once('?') else {
        return (url.to_owned(), Ok(Vec::new()));
    };
    let mut kept = Vec::new();
    let mut vars = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k.starts_with("wsrep_") {
            if let Err(e) = check_session_variable(k, v) {
                return (head.to_owned(), Err(e));
            }
            vars.push((k.to_owned(), v.to_owned()));
        } else {
            kept.push(pair);
        }
    }
    let url = if kept.is_empty() {
        head.to_owned()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    (url, Ok(vars))
}

/// Names and values go into SQL text, so both are plain words.
fn check_session_variable(name: &str, value: &str) -> Result<(), String> {
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if word(name) && word(value) {
        Ok(())
    } else {
        Err(format!(
            "session variable {name}={value}: the name and the value must be plain words (letters, digits, _)"
        ))
    }
}

#[cfg(test)]
mod session_tests {
    use super::split_session_variables;

    #[test]
    fn wsrep_parameters_become_session_variables() {
        let (url, vars) = split_session_variables(
            "mysql://root@h:3311/test?wsrep_sync_wait=1&prefer_socket=false",
        );
        assert_eq!(url, "mysql://root@h:3311/test?prefer_socket=false");
        assert_eq!(
            vars.unwrap(),
            vec![("wsrep_sync_wait".to_owned(), "1".to_owned())]
        );
        let (_, vars) = split_session_variables("mysql://h/x?wsrep_sync_wait=1;DROP");
        assert!(vars.is_err());
        let (url, vars) = split_session_variables("mysql://h/x");
        assert_eq!((url.as_str(), vars.unwrap().len()), ("mysql://h/x", 0));
    }
}
