//! One PostgreSQL connection, reopened from its configuration when it drops.

use std::collections::{HashMap, HashSet};

use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
use tokio_postgres::{Client, Config, NoTls, Statement};

/// A live connection and the session state haul keeps on it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) client: Client,
    /// Staging tables created in this session (temporary tables die with it).
    pub(crate) staged: HashSet<String>,
    /// Statements prepared in this session, by SQL text.
    pub(crate) prepared: HashMap<String, Statement>,
    /// A statement failed: the connection may be dying (a terminated
    /// backend reports the error before the client sees the socket close),
    /// so one reopened from the configuration replaces it before next use.
    pub(crate) suspect: bool,
}

impl Conn {
    fn new(client: Client) -> Self {
        Self {
            client,
            staged: HashSet::new(),
            prepared: HashMap::new(),
            suspect: false,
        }
    }

    /// `sql` prepared once per session.
    pub(crate) async fn prepare(&mut self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(stmt) = self.prepared.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client.prepare(sql).await?;
        self.prepared.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    /// Marks the connection suspect when `result` is a database failure.
    pub(crate) fn note<T, E>(
        &mut self,
        result: Result<T, E>,
        is_db: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        if let Err(e) = &result {
            self.suspect |= is_db(e);
        }
        result
    }
}

/// Where connections come from.
#[derive(Debug)]
enum Source {
    /// Reconnects with this configuration (no TLS: loopback or a trusted network).
    Config(Box<Config>),
    /// A client the caller connected (with TLS, a pooler, …): never reopened.
    Given,
}

/// One connection behind an async mutex; a closed one is reopened on next
/// use when the configuration is known.
#[derive(Debug)]
pub(crate) struct Connection {
    source: Source,
    slot: Mutex<Option<Conn>>,
}

/// Opens a connection without TLS and drives it on a background task.
pub(crate) async fn open(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Why no connection could be had.
#[derive(Debug)]
pub(crate) enum ConnError {
    /// Connecting failed.
    Connect(tokio_postgres::Error),
    /// The caller's own client is closed, or the sink was closed.
    Closed(&'static str),
}

impl Connection {
    pub(crate) fn from_config(config: Config, client: Client) -> Self {
        Self {
            source: Source::Config(Box::new(config)),
            slot: Mutex::new(Some(Conn::new(client))),
        }
    }

    pub(crate) fn from_client(client: Client) -> Self {
        Self {
            source: Source::Given,
            slot: Mutex::new(Some(Conn::new(client))),
        }
    }

    /// The connection, locked for the caller; reopened first if it dropped.
    pub(crate) async fn get(&self) -> Result<MappedMutexGuard<'_, Conn>, ConnError> {
        let mut guard = self.slot.lock().await;
        let given = matches!(self.source, Source::Given);
        let usable = guard
            .as_ref()
            .is_some_and(|c| !c.client.is_closed() && (given || !c.suspect));
        if !usable {
            match (&self.source, guard.as_ref()) {
                (_, None) => return Err(ConnError::Closed("used after close")),
                (Source::Given, Some(_)) => {
                    return Err(ConnError::Closed(
                        "the caller's PostgreSQL client is closed",
                    ));
                }
                (Source::Config(config), Some(_)) => {
                    tracing::info!("PostgreSQL connection dropped or failed: reconnecting");
                    let client = open(config).await.map_err(ConnError::Connect)?;
                    *guard = Some(Conn::new(client));
                }
            }
        }
        MutexGuard::try_map(guard, Option::as_mut)
            .map_err(|_| ConnError::Closed("used after close"))
    }

    /// Drops the connection; later use is an error.
    pub(crate) async fn close(&self) {
        self.slot.lock().await.take();
    }
}
