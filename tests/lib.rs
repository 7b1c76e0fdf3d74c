//! End-to-end tests live in `tests/`. This library holds what the tests'
//! child programs (`bin/`) share.

use haul::extractor::Step;
use haul::{
    BuildError, Connector, ConnectorBuilder, LinkHeaderPaginator, ParentLink, Partitions,
    RequestTemplate, StreamDef, TimeFormat, TimeWindows,
};

/// The connector demo's streams, parents first.
pub const DEMO_STREAMS: [&str; 4] = ["orgs", "repos", "events", "audit"];

/// The connector demo's connector (also `cargo xtask demo --connector`'s)
/// against the testkit's parent/child API at `base` (its root URL, with or
/// without the trailing `/`): organisations → repositories → events, and
/// the audit log in monthly windows over 2026, `page_size` records a page,
/// every page committed. Add the transport, limits and observer, then build.
pub fn demo_connector(base: &str, page_size: u64) -> Result<ConnectorBuilder, BuildError> {
    let base = base.trim_end_matches('/');
    let paginator = || LinkHeaderPaginator::new().page_size("per_page", page_size);
    let windows = TimeWindows::new(
        "2026-01-01T00:00:00Z",
        Step::Months(1),
        TimeFormat::EpochSeconds,
    )?
    .end("2027-01-01T00:00:00Z")?;
    Ok(Connector::builder("demo")
        .stream(
            StreamDef::new(
                "orgs",
                RequestTemplate::get(format!("{base}/orgs")),
                paginator(),
            )
            .batch_size(1),
        )
        .stream(
            StreamDef::new(
                "repos",
                RequestTemplate::get(format!("{base}/orgs/{{org}}/repos")),
                paginator(),
            )
            .partitions(Partitions::Parent(
                ParentLink::new("orgs").field("org", "/login"),
            ))
            .batch_size(1),
        )
        .stream(
            StreamDef::new(
                "events",
                RequestTemplate::get(format!("{base}/orgs/{{org}}/repos/{{repo}}/events")),
                paginator(),
            )
            .partitions(Partitions::Parent(
                ParentLink::new("repos").field("repo", "/name"),
            ))
            .batch_size(1),
        )
        .stream(
            StreamDef::new(
                "audit",
                RequestTemplate::get(format!("{base}/audit-log"))
                    .query("since", "{start}")
                    .query("until", "{end}"),
                paginator(),
            )
            .partitions(Partitions::Windows(windows))
            .batch_size(1),
        ))
}
