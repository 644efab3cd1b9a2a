//! The releases' part of the read model: which releases exist and which are published.

use crate::domain::event::Event;
use crate::domain::release::values::Version;
use std::collections::BTreeMap;

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
