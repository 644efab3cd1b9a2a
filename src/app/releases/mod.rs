//! Release commands (`/release open|change|stakeholder|decision|test|note|capacity|publish`)
//! and the as-built document. The rules are in `domain::release`; this finds the release a
//! command addresses, appends what the domain decides, and reads the release streams back.

pub mod view;

use super::projection::Projection;
use super::reading::Reader;
use super::{Input, Outcome, Warroom};
use crate::app::MAX_ATTEMPTS;
use crate::domain::event::Recorded;
use crate::domain::release::as_built::{self, AsBuilt};
use crate::domain::release::rules::{self, Release, ReleaseCommand};
use crate::domain::release::values::Version;
use crate::store::{AppendError, ExpectedVersion};
use view::ReleaseIndex;

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
            let state = rules::fold(&records);
            let expected = state.as_ref().map_or(0, |r| r.version_count);
            let events = match rules::decide(state.as_ref(), &version, order.clone()) {
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
                        reply: Some(rules::describe(&version, &events)),
                        events: super::count_new(&appended, events.len()),
                        already_recorded: appended.already_stored,
                        ..Outcome::default()
                    })
                }
                Err(AppendError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(super::error::AppError::conflict(format!(
            "release {version} kept changing while recording; try again"
        )))
    }

    /// Every event of a release, in stream order.
    pub async fn release_records(&self, version: &Version) -> anyhow::Result<Vec<Recorded>> {
        self.reader().release_records(version).await
    }

    /// A release as its events leave it, if it was opened.
    pub async fn release(&self, version: &Version) -> anyhow::Result<Option<Release>> {
        self.reader().release(version).await
    }

    /// The as-built document: every published release in the order published (as the
    /// projection knows them), or the one release named (published or not, so a draft can
    /// be read before release night ends).
    pub async fn as_built(&self, only: Option<&Version>) -> anyhow::Result<AsBuilt> {
        let versions = match only {
            Some(v) => vec![v.clone()],
            None => self.current().await?.releases.published(),
        };
        self.reader().as_built_of(&versions).await
    }
}

impl Reader {
    /// Every event of a release, in stream order.
    pub async fn release_records(&self, version: &Version) -> anyhow::Result<Vec<Recorded>> {
        self.stream(&version.stream_id()).await
    }

    /// A release as its events leave it, if it was opened.
    pub async fn release(&self, version: &Version) -> anyhow::Result<Option<Release>> {
        Ok(rules::fold(&self.release_records(version).await?))
    }

    /// The as-built document of the published releases in the order published, read from
    /// the release streams alone, or of the one release named.
    pub async fn as_built(&self, only: Option<&Version>) -> anyhow::Result<AsBuilt> {
        let versions = match only {
            Some(v) => vec![v.clone()],
            None => {
                let mut index = ReleaseIndex::default();
                for (stream_id, records) in self.streams(Version::STREAM_PREFIX).await? {
                    for r in &records {
                        index.apply(&stream_id, r.position, &r.event);
                    }
                }
                index.published()
            }
        };
        self.as_built_of(&versions).await
    }

    /// The as-built document of these releases, in this order.
    pub(super) async fn as_built_of(&self, versions: &[Version]) -> anyhow::Result<AsBuilt> {
        let mut releases = Vec::new();
        for v in versions {
            match self.release(v).await? {
                Some(r) => releases.push(r),
                None => anyhow::bail!(
                    "release {v} was never opened; `warroom as-built` lists the published releases"
                ),
            }
        }
        Ok(as_built::assemble(
            &releases,
            &self.settings.directory,
            self.settings.timezone,
        ))
    }
}
