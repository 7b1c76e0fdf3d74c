//! A parent/child/grandchild dataset — organisations, their repositories,
//! each repository's events — and a time-stamped audit log, for connector
//! tests and the connector demo.

use std::sync::Arc;

use serde_json::json;

use crate::instant::{days_from_civil, format_rfc3339};
use crate::rng::SplitMix64;

/// `2026-01-01T00:00:00Z`: the audit log's first instant, and the base of
/// every other timestamp.
const YEAR_START: u64 = 1_767_225_600;
/// `2027-01-01T00:00:00Z`: the audit log's end (exclusive).
const YEAR_END: u64 = 1_798_761_600;

const ORG_LOGINS: &[&str] = &["solo", "duo", "acme", "globex", "initech", "hollow"];
const EVENT_TYPES: &[&str] = &[
    "PushEvent",
    "IssuesEvent",
    "PullRequestEvent",
    "WatchEvent",
    "ForkEvent",
    "CreateEvent",
];
const ACTIONS: &[&str] = &[
    "repo.create",
    "repo.destroy",
    "org.update",
    "team.add_member",
    "oauth_application.create",
    "protected_branch.update",
];
const ACTORS: &[&str] = &["zoë", "łukasz", "josé", "søren", "oğuz", "ærin"];

/// The sizes of an [`OrgTree`].
///
/// The default is the demo's shape: six organisations with 1, 2, 9, 40,
/// 150 and 0 repositories (two orders of magnitude apart), up to 1,000
/// events per repository, and 3,000 audit-log entries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeShape {
    /// How many repositories each organisation has, in order; the
    /// organisations' count is this list's length.
    pub repos_per_org: Vec<usize>,
    /// The most events a repository has. Each repository draws its count
    /// skewed towards few (most have a page or two, a handful have many);
    /// the first repository of the largest organisation has exactly this
    /// many.
    pub max_events_per_repo: usize,
    /// Entries in the audit log.
    pub audit_entries: usize,
}

impl Default for TreeShape {
    fn default() -> Self {
        TreeShape {
            repos_per_org: vec![1, 2, 9, 40, 150, 0],
            max_events_per_repo: 1000,
            audit_entries: 3000,
        }
    }
}

impl TreeShape {
    /// A shape with these repository counts and at most `max_events_per_repo`
    /// events per repository (and the default audit log).
    pub fn new(repos_per_org: impl Into<Vec<usize>>, max_events_per_repo: usize) -> Self {
        TreeShape {
            repos_per_org: repos_per_org.into(),
            max_events_per_repo,
            ..TreeShape::default()
        }
    }

    /// The number of audit-log entries.
    pub fn audit_entries(mut self, entries: usize) -> Self {
        self.audit_entries = entries;
        self
    }
}

/// One organisation of an [`OrgTree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeOrg {
    login: String,
    record: String,
    repos: Vec<TreeRepo>,
}

impl TreeOrg {
    /// Its `login`, the path segment of its URLs.
    pub fn login(&self) -> &str {
        &self.login
    }

    /// Its JSON record, as `/orgs` lists it.
    pub fn record(&self) -> &str {
        &self.record
    }

    /// Its repositories, in the order `/orgs/{org}/repos` lists them.
    pub fn repos(&self) -> &[TreeRepo] {
        &self.repos
    }
}

/// One repository of a [`TreeOrg`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRepo {
    name: String,
    record: String,
    deleted: bool,
    events: Vec<String>,
}

impl TreeRepo {
    /// Its `name`, the path segment of its URLs (some contain non-ASCII
    /// letters and dots, which a client must percent-encode).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its JSON record, as `/orgs/{org}/repos` lists it.
    pub fn record(&self) -> &str {
        &self.record
    }

    /// Whether it was deleted after being listed: its events URL answers
    /// `404`, and it has no events.
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// Its events as JSON records, newest first as GitHub lists them (ids
    /// are strings, as GitHub's are).
    pub fn events(&self) -> &[String] {
        &self.events
    }
}

/// A seed-determined parent/child/grandchild API's data: organisations →
/// repositories → events, plus an audit log filtered by time, served by
/// [`FakeApi`](crate::FakeApi) once set with
/// [`FakeApiBuilder::org_tree`](crate::FakeApiBuilder::org_tree) (see the
/// [crate docs](crate#a-parentchild-api) for the endpoints).
///
/// Record ids are unique within each level, so one table per level keyed
/// by `/id` holds every record once. Exactly one repository (the last one
/// of the first organisation with at least two) is
/// [deleted](TreeRepo::is_deleted). Cloning is cheap.
///
/// ```
/// use haul_testkit::{OrgTree, TreeShape};
///
/// let tree = OrgTree::generate(7, &TreeShape::new([1, 2, 120], 300));
/// let repos: Vec<usize> = tree.orgs().iter().map(|o| o.repos().len()).collect();
/// assert_eq!(repos, [1, 2, 120]);
/// assert!(tree.orgs()[1].repos()[1].is_deleted());
/// assert_eq!(tree.orgs()[2].repos()[0].events().len(), 300);
/// // The audit log spans 2026, with entries exactly on month boundaries.
/// assert!(tree.audit_times().contains(&1_769_904_000)); // 2026-02-01T00:00:00Z
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OrgTree {
    seed: u64,
    orgs: Arc<[TreeOrg]>,
    audit: Arc<[String]>,
    audit_times: Arc<[u64]>,
}

impl OrgTree {
    /// Generates the tree of `shape` from `seed`; the same arguments always
    /// give byte-identical records.
    pub fn generate(seed: u64, shape: &TreeShape) -> OrgTree {
        let mut rng = SplitMix64::new(seed);
        let largest = shape
            .repos_per_org
            .iter()
            .enumerate()
            .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
            .map(|(i, _)| i);
        let deleted_org = shape.repos_per_org.iter().position(|n| *n >= 2);
        let mut repo_id: u64 = 1000;
        let mut event_id: u64 = 29_000_000_000;
        let mut orgs = Vec::with_capacity(shape.repos_per_org.len());
        for (i, &repo_count) in shape.repos_per_org.iter().enumerate() {
            let login = ORG_LOGINS
                .get(i)
                .map_or_else(|| format!("org-{i}"), |l| (*l).to_owned());
            let created = YEAR_START - 86_400 * (1 + rng.below(2000));
            let record = json!({
                "id": i + 1,
                "login": login,
                "description": format!("{} — «{}»", rng.pick(ACTORS), login),
                "public_repos": repo_count,
                "created_at": format_rfc3339(created),
            })
            .to_string();
            let mut repos = Vec::with_capacity(repo_count);
            for j in 0..repo_count {
                repo_id += 1;
                // Some names need percent-encoding in a path: non-ASCII, a dot.
                let name = if j % 7 == 3 {
                    format!("café.rs-{j}")
                } else {
                    format!("repo-{j}")
                };
                let deleted = Some(i) == deleted_org && j + 1 == repo_count;
                let events = if deleted {
                    0
                } else if Some(i) == largest && j == 0 {
                    shape.max_events_per_repo
                } else {
                    // To the sixth: most repositories have few events, a handful many.
                    (shape.max_events_per_repo as f64 * rng.unit().powi(6)) as usize
                };
                let full_name = format!("{login}/{name}");
                let mut at = YEAR_START + rng.below(30 * 86_400);
                let mut texts = Vec::with_capacity(events);
                for _ in 0..events {
                    event_id += 1;
                    at += rng.below(3600);
                    texts.push(
                        json!({
                            "id": event_id.to_string(),
                            "type": rng.pick(EVENT_TYPES),
                            "actor": {"login": rng.pick(ACTORS)},
                            "repo": {"id": repo_id, "name": full_name},
                            "payload": {"size": rng.below(20), "ref": "refs/heads/main"},
                            "created_at": format_rfc3339(at),
                        })
                        .to_string(),
                    );
                }
                // Newest first, as GitHub lists events.
                texts.reverse();
                let record = json!({
                    "id": repo_id,
                    "name": name,
                    "full_name": full_name,
                    "owner": {"login": login},
                    "stargazers_count": rng.below(50_000),
                    "updated_at": format_rfc3339(at),
                })
                .to_string();
                repos.push(TreeRepo {
                    name,
                    record,
                    deleted,
                    events: texts,
                });
            }
            orgs.push(TreeOrg {
                login,
                record,
                repos,
            });
        }
        let (audit, audit_times) = audit_log(&mut rng, shape.audit_entries);
        OrgTree {
            seed,
            orgs: orgs.into(),
            audit: audit.into(),
            audit_times: audit_times.into(),
        }
    }

    /// The seed this tree was generated from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The organisations, in the order `/orgs` lists them.
    pub fn orgs(&self) -> &[TreeOrg] {
        &self.orgs
    }

    /// The organisation with this login.
    pub fn org(&self, login: &str) -> Option<&TreeOrg> {
        self.orgs.iter().find(|o| o.login == login)
    }

    /// The audit log's entries as JSON records, oldest first (ids ascending).
    pub fn audit_log(&self) -> &[String] {
        &self.audit
    }

    /// Each audit entry's `created_at` as Unix seconds, non-decreasing.
    /// Two entries sit exactly on the first instant of every month of 2026,
    /// and one on the first instant of every tenth day, so windows by
    /// month or day have records on their boundaries.
    pub fn audit_times(&self) -> &[u64] {
        &self.audit_times
    }

    /// `[2026-01-01T00:00:00Z, 2027-01-01T00:00:00Z)` as Unix seconds: the
    /// span every audit entry falls in.
    pub fn audit_span(&self) -> (u64, u64) {
        (YEAR_START, YEAR_END)
    }

    /// The audit entries with `since <= created_at < until` (Unix seconds).
    pub fn audit_between(&self, since: u64, until: u64) -> &[String] {
        let from = self.audit_times.partition_point(|t| *t < since);
        let to = self.audit_times.partition_point(|t| *t < until).max(from);
        self.audit.get(from..to).unwrap_or_default()
    }
}

/// The audit log: entries on month and day boundaries, the rest spread
/// over the year; sorted by time, ids in that order.
fn audit_log(rng: &mut SplitMix64, entries: usize) -> (Vec<String>, Vec<u64>) {
    let mut times: Vec<u64> = Vec::with_capacity(entries);
    for month in 1..=12 {
        let days = days_from_civil(2026, month, 1);
        let at = u64::try_from(days).unwrap_or(0) * 86_400;
        times.extend([at, at]);
    }
    times.extend((YEAR_START..YEAR_END).step_by(10 * 86_400));
    times.truncate(entries);
    while times.len() < entries {
        times.push(YEAR_START + rng.below(YEAR_END - YEAR_START));
    }
    times.sort_unstable();
    let records = times
        .iter()
        .enumerate()
        .map(|(i, at)| {
            json!({
                "id": i + 1,
                "action": rng.pick(ACTIONS),
                "actor": rng.pick(ACTORS),
                "created_at": format_rfc3339(*at),
            })
            .to_string()
        })
        .collect();
    (records, times)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_default_shape_spans_two_orders_of_magnitude() {
        let tree = OrgTree::generate(42, &TreeShape::default());
        let counts: Vec<usize> = tree.orgs().iter().map(|o| o.repos().len()).collect();
        assert_eq!(counts, [1, 2, 9, 40, 150, 0]);
        let deleted: Vec<_> = tree
            .orgs()
            .iter()
            .flat_map(|o| o.repos().iter().map(move |r| (o.login(), r)))
            .filter(|(_, r)| r.is_deleted())
            .collect();
        assert_eq!(deleted.len(), 1);
        assert_eq!((deleted[0].0, deleted[0].1.name()), ("duo", "repo-1"));
        let events: Vec<usize> = tree.orgs()[4]
            .repos()
            .iter()
            .map(|r| r.events().len())
            .collect();
        assert_eq!(events[0], 1000);
        assert!(
            events.iter().filter(|n| **n < 30).count() > 50,
            "{events:?}"
        );
        assert_eq!(
            tree.orgs()[4].repos()[3].name(),
            "café.rs-3",
            "a name to percent-encode"
        );
    }

    #[test]
    fn generation_is_deterministic_and_ids_unique() {
        let shape = TreeShape::new([3, 5], 40);
        let a = OrgTree::generate(5, &shape);
        let b = OrgTree::generate(5, &shape);
        assert_eq!(a.orgs(), b.orgs());
        assert_eq!(a.audit_log(), b.audit_log());
        let mut ids = std::collections::HashSet::new();
        for org in a.orgs() {
            for repo in org.repos() {
                for event in repo.events() {
                    let v: serde_json::Value = serde_json::from_str(event).unwrap();
                    assert!(ids.insert(v["id"].as_str().unwrap().to_owned()));
                }
            }
        }
    }

    #[test]
    fn audit_windows_are_half_open() {
        let tree = OrgTree::generate(1, &TreeShape::default());
        let (start, end) = tree.audit_span();
        assert_eq!(tree.audit_log().len(), 3000);
        assert_eq!(tree.audit_between(start, end).len(), 3000);
        let feb = 1_769_904_000;
        let march = 1_772_323_200;
        let jan = tree.audit_between(start, feb).len();
        let rest = tree.audit_between(feb, end).len();
        assert_eq!(jan + rest, 3000);
        let first_of_feb = tree.audit_between(feb, march);
        assert!(first_of_feb[0].contains("2026-02-01T00:00:00Z"));
        assert!(first_of_feb[1].contains("2026-02-01T00:00:00Z"));
        assert!(tree.audit_between(march, feb).is_empty());
        assert!(tree.audit_times().windows(2).all(|w| w[0] <= w[1]));
    }
}
