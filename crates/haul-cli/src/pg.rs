//! `--sink postgres://USER[:PASSWORD]@HOST[:PORT]/DB?schema=NAME`: a
//! `PostgresSink` destination. The password is kept as a [`Secret`] and
//! every display of the URL masks it.

use std::fmt;
use std::time::Duration;

use haul::Secret;
use haul::postgres::PostgresSink;
use haul::postgres::tokio_postgres::Config;

/// The default schema when the URL names none.
const DEFAULT_SCHEMA: &str = "haul";

/// A parsed PostgreSQL sink URL.
pub(crate) struct PgUrl {
    user: String,
    password: Option<Secret>,
    host: String,
    port: u16,
    dbname: String,
    schema: String,
    /// Other query parameters, passed to the server as they are
    /// (`sslmode`, `application_name`, `connect_timeout`, …).
    params: Vec<(String, String)>,
}

/// Whether `url` names a PostgreSQL sink.
pub(crate) fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Undoes `%XX` escapes (user names and passwords may hold `@`, `:`, `/`).
fn unescape(text: &str, what: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("the {what} has a bad %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("the {what} is not UTF-8 once unescaped"))
}

impl PgUrl {
    /// Parses `postgres://USER[:PASSWORD]@HOST[:PORT]/DB?schema=NAME&…`.
    /// Errors never quote the password.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or("a PostgreSQL sink URL starts with postgres:// or postgresql://")?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, dbname) = main.split_once('/').unwrap_or((main, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => ("postgres".to_owned(), None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (
                    unescape(u, "user name")?,
                    Some(Secret::new(unescape(p, "password")?)),
                ),
                None => (unescape(info, "user name")?, None),
            },
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !hostport.ends_with(']') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("port {p:?} is not a number from 0 to 65535"))?,
            ),
            _ => (hostport, 5432),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("the URL names no host (postgres://USER@HOST:PORT/DB)".to_owned());
        }
        let dbname = unescape(dbname.trim_end_matches('/'), "database name")?;
        if dbname.is_empty() {
            return Err("the URL names no database (postgres://USER@HOST:PORT/DB)".to_owned());
        }
        let mut schema = DEFAULT_SCHEMA.to_owned();
        let mut params = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = unescape(v, "query parameter")?;
            if k == "schema" {
                schema = v;
            } else if k == "password" {
                return Err("put the password in the URL's user part (postgres://USER:PASSWORD@HOST/DB), not in its query".to_owned());
            } else {
                params.push((k.to_owned(), v));
            }
        }
        Ok(Self {
            user,
            password,
            host: host.to_owned(),
            port,
            dbname,
            schema,
            params,
        })
    }

    /// The connection configuration (with the password, for the driver only).
    fn config(&self) -> Result<Config, String> {
        let mut text = String::new();
        let mut push = |k: &str, v: &str| {
            let escaped = v.replace('\\', "\\\\").replace('\'', "\\'");
            text.push_str(&format!("{k}='{escaped}' "));
        };
        push("host", &self.host);
        push("port", &self.port.to_string());
        push("user", &self.user);
        push("dbname", &self.dbname);
        if let Some(password) = &self.password {
            push("password", password.expose());
        }
        for (k, v) in &self.params {
            push(k, v);
        }
        let mut config: Config = text
            .parse()
            .map_err(|e| format!("{self}: bad connection parameters: {e}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        Ok(config)
    }

    /// Connects and configures every stream's primary key.
    pub(crate) async fn open(
        &self,
        streams: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<PostgresSink, String> {
        let config = self.config()?;
        let mut sink = PostgresSink::connect(config, &self.schema)
            .await
            .map_err(|e| format!("cannot open the sink {self}: {}", chain(&e)))?;
        for (name, keys) in streams {
            let mut config = haul::StreamConfig::new(name.clone());
            if !keys.is_empty() {
                config = config.primary_key(keys.iter().cloned());
            }
            sink = sink.stream(config);
        }
        Ok(sink)
    }
}

impl PgUrl {
    /// A work queue on this database and schema for worker `owner`: its
    /// leases, and a sink configured with every stream's primary key.
    pub(crate) async fn work_queue(
        &self,
        owner: &str,
        streams: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<haul::postgres::PostgresWorkQueue, String> {
        let sink = self.open(streams).await?;
        let leases = haul::postgres::Leases::connect(self.config()?, &self.schema, owner)
            .await
            .map_err(|e| format!("cannot open the work queue {self}: {}", chain(&e)))?;
        Ok(haul::postgres::PostgresWorkQueue::new(leases, sink))
    }
}

/// An error and its causes (the driver keeps "connection refused" in `source`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(&format!(": {more}"));
        }
        cause = c.source();
    }
    text
}

/// The URL with the password masked: what every log, error and report shows.
impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres://{}", self.user)?;
        if let Some(password) = &self.password {
            write!(f, ":{password}")?;
        }
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "@{host}:{}/{}?schema={}",
            self.port, self.dbname, self.schema
        )?;
        for (k, v) in &self.params {
            write!(f, "&{k}={v}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_parse_and_display_without_the_password() {
        let url = PgUrl::parse(
            "postgres://ann:s%40cret@db.example:6543/prod?schema=raw&application_name=haul",
        )
        .unwrap();
        assert_eq!(url.user, "ann");
        assert_eq!(url.password.as_ref().unwrap().expose(), "s@cret");
        assert_eq!((url.host.as_str(), url.port), ("db.example", 6543));
        assert_eq!((url.dbname.as_str(), url.schema.as_str()), ("prod", "raw"));
        let shown = url.to_string();
        assert_eq!(
            shown,
            "postgres://ann:***@db.example:6543/prod?schema=raw&application_name=haul"
        );
        assert!(!format!("{url:?}").contains("cret"));
        let config = url.config().unwrap();
        assert_eq!(config.get_password(), Some(&b"s@cret"[..]));
        assert_eq!(config.get_application_name(), Some("haul"));

        let plain = PgUrl::parse("postgresql://postgres@127.0.0.1/test").unwrap();
        assert_eq!((plain.port, plain.schema.as_str()), (5432, "haul"));
        assert!(plain.password.is_none());
    }

    #[test]
    fn bad_urls_say_what_is_wrong_and_never_show_the_password() {
        for (url, says) in [
            ("postgres://u:hunter2@h:99999/db", "port"),
            ("postgres://u:hunter2@h:5432", "no database"),
            ("postgres://u:hunter2@:5432/db", "no host"),
            ("postgres://u@h/db?password=hunter2", "user part"),
            ("postgres://u:hunter%zz@h/db", "%-escape"),
        ] {
            let e = PgUrl::parse(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("hunter"), "{url}: {e}");
        }
    }
}
