//! The seed's application outage as an incident's events, and the contact list it is read
//! with; shared by the tests of every part of the post-mortem.

use super::{assemble, PostMortem};
use crate::domain::contacts::Directory;
use crate::domain::event::{AlertFacts, AlertStatus, ChatMessage, Event, Recorded};
use crate::domain::types::{IncidentNumber, Severity};
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

pub(super) fn directory() -> Directory {
    crate::domain::testkit::directory()
}

pub(super) struct Log(pub(super) Vec<Recorded>);

impl Log {
    pub(super) fn at(&mut self, hm: (u32, u32), actor: &str, event: Event) -> &mut Self {
        let n = self.0.len() as i64 + 1;
        self.0.push(Recorded {
            // Ids as the app makes them (v5), so short references differ.
            event_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, &n.to_be_bytes()),
            position: n,
            at: Utc.with_ymd_and_hms(2021, 3, 9, hm.0, hm.1, 0).unwrap(),
            actor: actor.into(),
            event,
        });
        self
    }
}

pub(super) fn say(id: &str, author: &str, text: &str) -> Event {
    Event::MessagePosted(ChatMessage {
        channel: "ops".into(),
        message_id: Some(id.into()),
        author: author.into(),
        text: text.into(),
        mentions: crate::domain::contacts::mentions(text),
        reply_to: None,
        attachments: vec![],
    })
}

pub(super) fn outage() -> Log {
    let mut log = Log(vec![]);
    log.at(
        (9, 17),
        "rpark",
        Event::IncidentOpened {
            number: IncidentNumber(1),
            title: "Application outage".into(),
            severity: Severity::Sev1,
            channel: "ops".into(),
        },
    )
    .at(
        (9, 15),
        "svega",
        Event::Imported {
            original_event_id: Uuid::nil(),
            from_stream: "channel-ops".into(),
            event: Box::new(say("m1", "svega", "Hey we can not reach the app either.")),
        },
    )
    .at(
        (9, 16),
        "alertmanager",
        Event::AlertReceived(AlertFacts {
            source: "alertmanager".into(),
            name: "ApplicationDown".into(),
            status: AlertStatus::Firing,
            channel: "ops".into(),
            fingerprint: "f".into(),
            severity: None,
            summary: Some("app unreachable".into()),
            labels: Default::default(),
            annotations: Default::default(),
            starts_at: None,
            ends_at: None,
        }),
    )
    .at(
        (9, 20),
        "rpark",
        say(
            "m2",
            "rpark",
            "!svega !hammer !sre !stranger we have an outage",
        ),
    )
    .at(
        (9, 52),
        "hammer",
        say("m3", "hammer", "Main app is back up."),
    )
    .at(
        (9, 55),
        "svega",
        say("m4", "svega", "App is still not respond."),
    )
    .at(
        (9, 56),
        "svega",
        Event::MessageEdited {
            channel: "ops".into(),
            message_id: "m4".into(),
            before: Some("App is still not respond.".into()),
            after: "App is still not responding.".into(),
            found_at: None,
        },
    )
    .at(
        (9, 57),
        "svega",
        say("m5", "svega", "my password is hunter2"),
    )
    .at(
        (9, 58),
        "svega",
        Event::MessageDeleted {
            channel: "ops".into(),
            message_id: "m5".into(),
            found_at: None,
        },
    )
    .at(
        (10, 30),
        "rpark",
        Event::IncidentResolved { implicit: false },
    );
    log
}

pub(super) fn madrid_or_utc(log: &Log, tz: Tz) -> PostMortem {
    assemble(&log.0, &directory(), tz).unwrap()
}
