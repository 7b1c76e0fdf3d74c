//! A schema of its own for each test, on the PostgreSQL under test.

use haul_postgres::tokio_postgres::{Client, Config, NoTls};
use haul_postgres::{Leases, PostgresSink};
use haul_testkit::services;

/// The server under test.
pub(crate) fn config() -> Config {
    let text = std::env::var("HAUL_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned());
    let mut config: Config = text.parse().expect("HAUL_POSTGRES is a connection string");
    config.connect_timeout(std::time::Duration::from_secs(5));
    config
}

/// A connection outside haul, for setup, inspection and cleanup.
pub(crate) async fn admin() -> Result<Client, haul_postgres::tokio_postgres::Error> {
    let (client, connection) = config().connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// A unique schema, dropped (with everything in it) when this is dropped.
pub(crate) struct TestDb {
    pub(crate) schema: String,
    pub(crate) admin: Client,
}

impl TestDb {
    /// `None` (the test skips, saying why) when PostgreSQL is unreachable.
    pub(crate) async fn new() -> Option<Self> {
        match admin().await {
            Ok(admin) => Some(Self {
                schema: services::unique_name("haul_t"),
                admin,
            }),
            Err(e) => {
                let cause = std::error::Error::source(&e).map(|c| format!(": {c}"));
                services::unavailable("PostgreSQL", format!("{e}{}", cause.unwrap_or_default()));
                None
            }
        }
    }

    /// A new sink handle on this schema (its own connection).
    pub(crate) async fn sink(&self) -> PostgresSink {
        PostgresSink::connect(config(), &self.schema).await.unwrap()
    }

    /// A sink whose connection carries `application_name`, to find its backend.
    pub(crate) async fn named_sink(&self, name: &str) -> PostgresSink {
        let mut config = config();
        config.application_name(name);
        PostgresSink::connect(config, &self.schema).await.unwrap()
    }

    /// A worker's lease handle on this schema.
    pub(crate) async fn leases(&self, owner: &str) -> Leases {
        Leases::connect(config(), &self.schema, owner)
            .await
            .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        // Async work cannot run in drop: a thread with its own runtime does it,
        // and also runs when the test panicked.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = admin().await {
                    let _ = admin
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .await;
                }
            });
        });
        let _ = done.join();
    }
}
