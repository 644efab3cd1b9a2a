//! The schedules' iCalendar feeds: the shifts of a schedule, or of one person across every
//! schedule, from now to a year ahead, behind a token only warroom can make (calendar
//! clients cannot send headers, so the token travels in the URL).

use super::schedule_views;
use crate::app::Warroom;
use crate::domain::schedule::ical::{render_calendar, CalendarFeed, FeedShift};
use crate::secret::Secret;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Which feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    Schedule(String),
    Person(String),
}

/// How far ahead a feed reaches.
pub const FEED_AHEAD: Duration = Duration::days(366);

/// How far back a feed looks for the real start of a shift running now (its UID is made
/// from it, so it must not move with the window).
const FEED_BEHIND: Duration = Duration::days(62);

impl Feed {
    fn label(&self) -> String {
        match self {
            Feed::Schedule(name) => format!("schedule\0{name}"),
            Feed::Person(handle) => format!("person\0{handle}"),
        }
    }

    /// The feed's token: the first 32 hex digits of HMAC-SHA256 over the feed's name.
    pub fn token(&self, secret: &Secret) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(self.label().as_bytes());
        hex::encode(mac.finalize().into_bytes())[..32].to_string()
    }

    /// Whether `given` is this feed's token, compared in constant time.
    pub fn accepts(&self, secret: &Secret, given: &str) -> bool {
        self.token(secret).as_bytes().ct_eq(given.as_bytes()).into()
    }

    /// The feed's path on the server, with its token.
    pub fn path(&self, secret: &Secret) -> String {
        match self {
            Feed::Schedule(name) => {
                format!("/v1/schedules/{name}.ics?token={}", self.token(secret))
            }
            Feed::Person(handle) => format!("/v1/people/{handle}.ics?token={}", self.token(secret)),
        }
    }
}

impl Warroom {
    /// The feed's calendar at `now`; `None` when no such schedule or person exists.
    pub async fn calendar(
        &self,
        feed: &Feed,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<String>> {
        // The projection already holds the schedules: copy their rosters out under the
        // lock and resolve the year after it, so a feed never holds up intake.
        let views = {
            let mut projection = self.projection.lock().await;
            self.catch_up(&mut projection).await?;
            schedule_views(&projection.schedules, &self.settings, now)
        };
        let directory = &self.settings.directory;
        let (name, chosen): (String, Vec<_>) = match feed {
            Feed::Schedule(name) => match views.get(name) {
                Some(view) => (format!("On call: {name}"), vec![(name, view)]),
                None => return Ok(None),
            },
            Feed::Person(handle) => match directory.person(handle) {
                Some(c) => (format!("On call: {}", c.name), views.iter().collect()),
                None => return Ok(None),
            },
        };
        let mut shifts = Vec::new();
        for (schedule, view) in chosen {
            for span in view.roster.resolve(now - FEED_BEHIND, now + FEED_AHEAD) {
                let Some(person) = span.person else { continue };
                if span.end <= now {
                    continue;
                }
                if let Feed::Person(handle) = feed {
                    if directory.person(handle).map(|c| &c.handle) != Some(&person) {
                        continue;
                    }
                }
                shifts.push((
                    schedule.clone(),
                    directory.display(&person),
                    person,
                    span.start,
                    span.end,
                ));
            }
        }
        shifts.sort_by_key(|s| s.3);
        let feed_shifts: Vec<FeedShift<'_>> = shifts
            .iter()
            .map(|(schedule, display, person, start, end)| FeedShift {
                schedule,
                person,
                display,
                start: *start,
                end: *end,
            })
            .collect();
        let host = self
            .settings
            .calendars
            .as_ref()
            .and_then(|c| c.base_url.as_deref())
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "warroom".to_string());
        Ok(Some(render_calendar(&CalendarFeed {
            name: &name,
            host: &host,
            shifts: &feed_shifts,
            stamp: now,
        })))
    }
}
