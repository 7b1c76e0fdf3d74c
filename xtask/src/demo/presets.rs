//! `--preset NAME`: a `haul::presets` preset against the testkit's emulation of its API.

use haul::ExtractorBuilder;
use haul::Incremental;
use haul::presets::{self, PresetExt};
use haul_testkit::{Emulation, RunningServer};

/// Every name `--preset` accepts.
pub(crate) fn names() -> Vec<&'static str> {
    Emulation::ALL.iter().map(|api| api.name()).collect()
}

/// The first request's path and query for `api`.
fn start(api: Emulation) -> String {
    match api {
        Emulation::Salesforce => format!("{}?q=SELECT+Id%2C+Name+FROM+Account", api.path()),
        Emulation::Jira => format!("{}?jql=project+%3D+HAUL", api.path()),
        _ => api.path().to_owned(),
    }
}

/// `builder` pointed at `api`'s emulation on `server`, configured by its
/// preset alone; also the preset's incremental configuration, if any.
pub(crate) fn configure(
    api: Emulation,
    server: &RunningServer,
    builder: ExtractorBuilder,
) -> (ExtractorBuilder, Option<Incremental>) {
    let builder = builder.url(server.url(&start(api)).to_string());
    macro_rules! with {
        ($preset:expr) => {{
            let preset = $preset;
            let incremental = preset.incremental_config().cloned();
            (builder.preset(preset.without_incremental()), incremental)
        }};
    }
    match api {
        Emulation::GitHub => with!(presets::github()),
        Emulation::Stripe => with!(presets::stripe()),
        Emulation::HubSpot => with!(presets::hubspot()),
        Emulation::Zendesk => with!(presets::zendesk("tickets")),
        Emulation::Salesforce => with!(presets::salesforce("SELECT Id, Name FROM Account")),
        Emulation::Shopify => with!(presets::shopify("products")),
        Emulation::Jira => with!(presets::jira("project = HAUL")),
        _ => with!(presets::odata()),
    }
}
