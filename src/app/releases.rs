//! Release commands (`/release open|change|stakeholder|decision|test|note|capacity|publish`)
//! and the as-built document. The rules are in `domain::release`; this finds the release a
//! command addresses, appends what the domain decides, and reads the release streams back.

use super::projection::Projection;
use super::{to_recorded, Input, Outcome, Warroom};
use crate::domain::event::{Event, Recorded};
use crate::domain::release::{self, AsBuilt, Release, ReleaseCommand, Version};
use crate::store::{AppendError, ExpectedVersion};
use std::collections::BTreeMap;

/// How often a release order is retried when the release changed meanwhile.
const MAX_ATTEMPTS: usize = 5;

/// Which releases exist and which are published, kept by the projection so a command can
/// address "the open release" and `as-built` can list releases without scanning the ledger.
#[derive(Debug, Default)]
pub struct ReleaseIndex {
    releases: BTreeMap<Version, Placed>,
}

/// Where a release's opening and publication sit in the ledger's total order.
#[derive(Debug, Clone, Copy)]
struct Placed {
    opened: i64,
    published: Option<i64>,
}

impl ReleaseIndex {
    /// Notes an event of a release stream; events of other streams are ignored.
    pub fn apply(&mut self, stream_id: &str, position: i64, event: &Event) {
        let Some(version) = Version::from_stream_id(stream_id) else {
            return;
        };
        match event {
            Event::ReleaseOpened { .. } => {
                self.releases.entry(version).or_insert(Placed {
                    opened: position,
                    published: None,
                });
            }
            Event::ReleasePublished {} => {
                if let Some(placed) = self.releases.get_mut(&version) {
                    placed.published.get_or_insert(position);
                }
            }
            _ => {}
        }
    }

    /// Releases not yet published, oldest first.
    pub fn open(&self) -> Vec<Version> {
        let mut open: Vec<(&Version, &Placed)> = self
            .releases
            .iter()
            .filter(|(_, p)| p.published.is_none())
            .collect();
        open.sort_by_key(|(_, p)| p.opened);
        open.into_iter().map(|(v, _)| v.clone()).collect()
    }

    /// Published releases in the order they were published: the as-built's order.
    pub fn published(&self) -> Vec<Version> {
        let mut done: Vec<(&Version, i64)> = self
            .releases
            .iter()
            .filter_map(|(v, p)| p.published.map(|at| (v, at)))
            .collect();
        done.sort_by_key(|(_, at)| *at);
        done.into_iter().map(|(v, _)| v.clone()).collect()
    }
}

impl Warroom {
    /// `/release …`: the release named, else the one open; load, decide, append with the
    /// version read, retried when another writer changed the release meanwhile.
    pub(super) async fn release_command(
        &self,
        projection: &mut Projection,
        input: &Input,
        text: &str,
        named: Option<Version>,
        order: ReleaseCommand,
    ) -> anyhow::Result<Outcome> {
        let version = match (named, &order) {
            (Some(v), _) => v,
            (None, ReleaseCommand::Open) => {
                // The command table requires it; a front end that skips the table still
                // gets an answer.
                let reason = "say which release to open with version:N".to_string();
                return self.reject(projection, input, text, reason).await;
            }
            (None, _) => match projection.releases.open().as_slice() {
                [one] => one.clone(),
                [] => {
                    let reason =
                        "no release is open; start one with /release open version:N".to_string();
                    return self.reject(projection, input, text, reason).await;
                }
                several => {
                    let list: Vec<String> = several.iter().map(ToString::to_string).collect();
                    let reason = format!(
                        "releases {} are open; name one with version:N",
                        list.join(", ")
                    );
                    return self.reject(projection, input, text, reason).await;
                }
            },
        };
        let stream = version.stream_id();
        for _ in 0..MAX_ATTEMPTS {
            let records = self.release_records(&version).await?;
            let state = release::fold(&records);
            let expected = state.as_ref().map_or(0, |r| r.version_count);
            let events = match release::decide(state.as_ref(), &version, order.clone()) {
                Ok(events) => events,
                Err(refusal) => {
                    return self
                        .reject(projection, input, text, refusal.to_string())
                        .await
                }
            };
            let pending = events
                .iter()
                .cloned()
                .map(|e| self.pending(input, e))
                .collect();
            let expected = if expected == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exactly(expected)
            };
            match self.append(&stream, expected, &input.key, pending).await {
                Ok(appended) => {
                    return Ok(Outcome {
                        reply: Some(release::describe(&version, &events)),
                        events: super::count_new(&appended, events.len()),
                        already_recorded: appended.already_stored,
                        ..Outcome::default()
                    })
                }
                Err(AppendError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("release {version} kept changing while recording; try again")
    }

    /// Every event of a release, in stream order.
    pub async fn release_records(&self, version: &Version) -> anyhow::Result<Vec<Recorded>> {
        self.ledger
            .read_stream(&version.stream_id())
            .await?
            .iter()
            .map(to_recorded)
            .collect()
    }

    /// A release as its events leave it, if it was opened.
    pub async fn release(&self, version: &Version) -> anyhow::Result<Option<Release>> {
        Ok(release::fold(&self.release_records(version).await?))
    }

    /// The as-built document: every published release in the order published, or the one
    /// release named (published or not, so a draft can be read before release night ends).
    pub async fn as_built(&self, only: Option<&Version>) -> anyhow::Result<AsBuilt> {
        let versions = match only {
            Some(v) => vec![v.clone()],
            None => self.current().await?.releases.published(),
        };
        let mut releases = Vec::new();
        for v in &versions {
            match self.release(v).await? {
                Some(r) => releases.push(r),
                None => anyhow::bail!(
                    "release {v} was never opened; `warroom as-built` lists the published releases"
                ),
            }
        }
        Ok(release::assemble(
            &releases,
            &self.settings.directory,
            self.settings.timezone,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_orders_open_and_published_releases() {
        let mut index = ReleaseIndex::default();
        let opened = |v: &str| Event::ReleaseOpened {
            version: v.parse().unwrap(),
        };
        index.apply("release-2", 1, &opened("2"));
        index.apply("release-1", 2, &opened("1"));
        index.apply("incident-1", 3, &Event::ReleasePublished {});
        index.apply("release-1", 4, &Event::ReleasePublished {});
        index.apply("release-2", 5, &Event::ReleasePublished {});
        index.apply("release-3", 6, &opened("3"));
        let names = |vs: Vec<Version>| vs.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(names(index.published()), ["1", "2"]);
        assert_eq!(names(index.open()), ["3"]);
    }
}
