//! On-call schedules: the versions of warroom.toml's schedules recorded in the ledger,
//! overrides and covers from chat, who is on call for `/oncall who` and `warroom oncall`,
//! and whom a `schedule:NAME` escalation step pages. The rules are in `domain::schedule`;
//! this records what they decide.

pub mod calendar;
pub mod fetched;
pub mod view;

use super::projection::Projection;
use super::reading::Reader;
use super::{
    event_id, Caller, HandOff, Input, InputKind, NextAction, Notice, Outcome, Pending, Warroom,
};
use crate::config::Settings;
use crate::domain::event::Event;
use crate::domain::schedule::orders::{check_effective, check_period, ScheduleOrder};
use crate::domain::schedule::when::parse_when;
use crate::domain::schedule::{Roster, Schedule, Span, Version};
use crate::domain::shift::OncallOrder;
use crate::store::ExpectedVersion;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;
use view::{stream_id, ScheduleIndex, OVERRIDES_STREAM};

/// Namespace of the ids of schedule versions recorded from the configuration (UUID v5).
const CONFIG_VERSION_NAMESPACE: Uuid = Uuid::from_u128(0x51c4_e0a2_7d3b_4f68_9e15_c0ff_ee01_d7a9);

/// A hand-over noticed later than this is history, not news: nobody is told of it.
pub const HANDOFF_NEWS: chrono::Duration = chrono::Duration::hours(1);

/// One schedule's roster, and whether its newest version is the configuration's, not yet
/// recorded (`warroom serve` records it when it starts).
#[derive(Debug, Clone)]
pub struct ScheduleView {
    pub roster: Roster,
    pub zone: chrono_tz::Tz,
    pub unrecorded_configuration: bool,
}

/// What the configuration changes against the ledger: each schedule whose spec differs
/// from the one last recorded from the configuration, and each one no longer configured.
fn configuration_changes(
    index: &ScheduleIndex,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<(String, Event)> {
    let mut changes = Vec::new();
    for (name, configured) in &settings.schedules {
        // A calendar fetched from a URL is not the configuration's: its changes are recorded
        // as they are fetched.
        let unchanged = index
            .configured(name)
            .is_some_and(|c| fetched::without_fetched(c) == configured.spec);
        if !unchanged {
            let in_force = index.specs_from(name, now).first().map(|(_, s)| *s);
            changes.push((
                name.clone(),
                Event::ScheduleDefined {
                    spec: fetched::with_fetched_from(&configured.spec, in_force),
                    effective_from: now,
                    source: "config".into(),
                },
            ));
        }
    }
    for name in index.configured_names() {
        if !settings.schedules.contains_key(name) {
            changes.push((
                name.to_string(),
                Event::ScheduleRemoved {
                    effective_from: now,
                },
            ));
        }
    }
    changes
}

/// Every schedule as the ledger has it, with the configuration's changes laid on top from
/// `now` where they are not recorded yet.
pub fn schedule_views(
    index: &ScheduleIndex,
    settings: &Settings,
    now: DateTime<Utc>,
) -> BTreeMap<String, ScheduleView> {
    let mut views = BTreeMap::new();
    let mut names: Vec<String> = index.names().map(str::to_string).collect();
    names.extend(settings.schedules.keys().cloned());
    names.sort();
    names.dedup();
    let pending = configuration_changes(index, settings, now);
    for name in names {
        let mut roster = index.roster(&name).unwrap_or_default();
        let mut unrecorded = false;
        for (changed, event) in &pending {
            if *changed != name {
                continue;
            }
            unrecorded = true;
            let schedule = match event {
                Event::ScheduleDefined { .. } => {
                    settings.schedules.get(&name).map(|c| c.schedule.clone())
                }
                _ => None,
            };
            roster.add_version(Version {
                effective_from: now,
                schedule,
            });
        }
        let Some(zone) = roster
            .version_at(now)
            .or_else(|| {
                roster
                    .versions
                    .iter()
                    .rev()
                    .find_map(|v| v.schedule.as_ref())
            })
            .map(|s| s.zone)
        else {
            continue;
        };
        views.insert(
            name,
            ScheduleView {
                roster,
                zone,
                unrecorded_configuration: unrecorded,
            },
        );
    }
    views
}

impl Warroom {
    /// Every schedule as of now (the configuration's changes laid on top), and the overrides
    /// recorded: for views of who is on call.
    pub async fn schedules_now(
        &self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(BTreeMap<String, ScheduleView>, Vec<view::RecordedOverride>)> {
        let projection = self.current().await?;
        let views = schedule_views(&projection.schedules, &self.settings, now);
        Ok((views, projection.schedules.overrides().to_vec()))
    }

    /// Records each schedule of the configuration that differs from the one last recorded
    /// from it, in force from `now`, and the removal of each one gone from it. Returns the
    /// names recorded. Two instances starting together record each change once.
    pub async fn adopt_configured_schedules(
        &self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<String>> {
        self.adopt_schedules(now, false).await
    }

    /// For a replay: records, from `at` (the transcript's first time), the configured
    /// schedules the ledger has never had. A schedule already recorded is left to `warroom
    /// serve`, so replaying an old transcript never rewrites a schedule's past.
    pub async fn adopt_new_schedules(&self, at: DateTime<Utc>) -> anyhow::Result<Vec<String>> {
        self.adopt_schedules(at, true).await
    }

    async fn adopt_schedules(
        &self,
        now: DateTime<Utc>,
        only_new: bool,
    ) -> anyhow::Result<Vec<String>> {
        let mut projection = self.projection.lock().await;
        self.catch_up(&mut projection).await?;
        let mut recorded = Vec::new();
        let changes = configuration_changes(&projection.schedules, &self.settings, now)
            .into_iter()
            .filter(|(name, _)| !only_new || projection.schedules.roster(name).is_none());
        for (name, event) in changes.collect::<Vec<_>>() {
            // The id names what the change follows, so the same change made twice is one.
            let id = Uuid::new_v5(
                &CONFIG_VERSION_NAMESPACE,
                format!(
                    "{name}\0{}\0{}",
                    projection.schedules.last_position(&name),
                    event.to_payload()
                )
                .as_bytes(),
            );
            let appended = self
                .append_ids(
                    &stream_id(&name),
                    ExpectedVersion::Any,
                    vec![(id, Pending::system(event, now))],
                )
                .await;
            match appended {
                Ok(a) if !a.already_stored => recorded.push(name),
                Ok(_) | Err(crate::store::AppendError::DuplicateEventId { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.catch_up(&mut projection).await?;
        Ok(recorded)
    }

    /// Records each hand-over of a schedule that happened by `now` and is not recorded yet
    /// (in the last [`HANDOFF_NEWS`]; older ones are history, readable from the schedule),
    /// tells the people through the chat front end, and, for the schedule that
    /// drives `/oncall` shifts, hands the shift over too. Returns the hand-overs this
    /// instance recorded; another that recorded one first keeps it.
    pub async fn record_handoffs(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<HandOff>> {
        self.record_handoffs_since(now - HANDOFF_NEWS, now).await
    }

    /// Records the hand-overs after `since` up to `now` not recorded yet: a replay asks for
    /// those between two lines of its transcript, however far apart.
    pub async fn record_handoffs_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<HandOff>> {
        let mut projection = self.projection.lock().await;
        // Asked by a loop and between every two lines of a replay; a hand-over another
        // instance recorded a moment ago is recorded again under its own id, a no-op.
        self.catch_up_known(&mut projection).await?;
        let mut found = Vec::new();
        let names: Vec<String> = projection.schedules.names().map(str::to_string).collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        for name in names {
            let Some(roster) = projection.schedules.roster(&name) else {
                continue;
            };
            let since = projection
                .schedules
                .last_handoff(&name)
                .unwrap_or(since)
                .max(since);
            // Asked every few seconds: look only up to now, and further ahead (for "until")
            // only when a hand-over is there to announce.
            let recent = roster.resolve(since, now + chrono::Duration::seconds(1));
            if recent.windows(2).all(|p| p[0].person == p[1].person) {
                continue;
            }
            let spans = roster.resolve(since, now + chrono::Duration::days(35));
            for pair in spans.windows(2) {
                let (before, after) = (&pair[0], &pair[1]);
                if after.start > now {
                    break;
                }
                if after.start <= since || before.person == after.person {
                    continue;
                }
                let until = spans
                    .iter()
                    .skip_while(|s| s.start <= after.start)
                    .find(|s| s.person != after.person)
                    .map(|s| s.start);
                found.push((
                    name.clone(),
                    HandOff {
                        schedule: name.clone(),
                        at: after.start,
                        outgoing: before.person.clone(),
                        incoming: after.person.clone(),
                        until,
                    },
                ));
            }
        }
        let mut recorded = Vec::new();
        for (name, handoff) in found {
            let event = Event::OncallHandedOff {
                at: handoff.at,
                outgoing: handoff.outgoing.clone(),
                incoming: handoff.incoming.clone(),
                until: handoff.until,
            };
            // One per schedule and moment, whichever instance sees it first.
            let id = Uuid::new_v5(
                &CONFIG_VERSION_NAMESPACE,
                format!("handoff\0{name}\0{}", handoff.at.to_rfc3339()).as_bytes(),
            );
            let appended = self
                .append_ids(
                    &stream_id(&name),
                    ExpectedVersion::Any,
                    vec![(id, Pending::system(event, handoff.at))],
                )
                .await;
            match appended {
                Ok(a) if !a.already_stored => {}
                Ok(_) | Err(crate::store::AppendError::DuplicateEventId { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
            if projection.schedules.drives_shifts(&name) {
                self.catch_up(&mut projection).await?;
                self.hand_over_shift(&mut projection, &handoff).await?;
            }
            self.notify(Notice::HandOff(Box::new(handoff.clone())));
            self.tell_handoff_by_contact(&handoff);
            recorded.push(handoff);
        }
        self.catch_up(&mut projection).await?;
        Ok(recorded)
    }

    /// The `/oncall` shift follows the schedule that drives it: the incoming person takes
    /// it over (its summary is posted as for `/oncall start`), a gap ends it.
    async fn hand_over_shift(
        &self,
        projection: &mut Projection,
        handoff: &HandOff,
    ) -> anyhow::Result<()> {
        let input = Input {
            key: format!("handoff:{}:{}", handoff.schedule, handoff.at.to_rfc3339()),
            at: handoff.at,
            from: "warroom".to_string(),
            channel: String::new(),
            kind: InputKind::Message {
                text: String::new(),
                message_id: None,
                reply_to: None,
                attachments: vec![],
            },
            caller: Caller::default(),
        };
        let order = match &handoff.incoming {
            Some(person) => OncallOrder::Start(Some(person.clone())),
            None if projection.shifts.current().is_some() => OncallOrder::End,
            None => return Ok(()),
        };
        if let Err(refused) = self.oncall(projection, &input, order).await? {
            tracing::warn!(
                schedule = %handoff.schedule,
                "the /oncall shift did not follow the hand-over: {refused}"
            );
        }
        Ok(())
    }

    /// When the next hand-over of any schedule happens after `now`, within five weeks.
    pub async fn next_handoff(&self, now: DateTime<Utc>) -> anyhow::Result<Option<DateTime<Utc>>> {
        // The rosters are copied out under the lock and resolved after it.
        let rosters: Vec<Roster> = {
            let mut projection = self.projection.lock().await;
            self.catch_up(&mut projection).await?;
            let schedules = &projection.schedules;
            schedules
                .names()
                .filter_map(|n| schedules.roster(n))
                .collect()
        };
        Ok(rosters
            .iter()
            .filter_map(|roster| {
                let spans = roster.resolve(now, now + chrono::Duration::days(35));
                spans
                    .windows(2)
                    .find(|p| p[0].person != p[1].person)
                    .map(|p| p[1].start)
            })
            .min())
    }

    /// Whoever `schedule` has on call at `at`, from the ledger.
    pub(super) fn on_call(
        projection: &Projection,
        schedule: &str,
        at: DateTime<Utc>,
    ) -> Option<String> {
        projection.schedules.roster(schedule)?.on_call_at(at)
    }

    /// `/oncall who`'s lines about schedules: each one's person now and the next hand-off.
    pub(super) fn schedule_lines(
        &self,
        projection: &Projection,
        only: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, String> {
        let views = schedule_views(&projection.schedules, &self.settings, now);
        if let Some(name) = only {
            if !views.contains_key(name) {
                return Err(unknown_schedule(name, &views));
            }
        }
        let directory = &self.settings.directory;
        Ok(views
            .iter()
            .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
            .map(|(name, view)| describe_now(name, view, now, &|h| directory.display(h)))
            .collect())
    }

    /// `/oncall override`, `cover` and `cancel`.
    pub(super) async fn schedule_order(
        &self,
        projection: &mut Projection,
        input: &Input,
        order: ScheduleOrder,
    ) -> anyhow::Result<Result<Outcome, String>> {
        let views = schedule_views(&projection.schedules, &self.settings, input.at);
        let directory = &self.settings.directory;
        let person = |given: &str| match directory.person(given) {
            Some(c) => Ok(c.handle.clone()),
            None => Err(format!(
                "@{given} is not in [[contacts]]; `warroom check` lists the contacts"
            )),
        };
        let event = match order {
            ScheduleOrder::Roster {
                schedule,
                layer,
                people,
                from,
            } => {
                return self
                    .change_roster(
                        projection,
                        input,
                        &views,
                        &schedule,
                        layer.as_deref(),
                        &people,
                        &from,
                    )
                    .await
            }
            ScheduleOrder::Swap {
                schedule,
                person: with,
                from,
                to,
                back,
            } => {
                let (zone, with, asker) = match self.two_people(
                    &views,
                    schedule.as_deref(),
                    &with,
                    input,
                    "so you have no turns to swap",
                    "a swap needs someone else; name whom you ask",
                ) {
                    Ok(found) => found,
                    Err(e) => return Ok(Err(e)),
                };
                let (from, to) = match period(&from, &to, zone, input.at) {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(e)),
                };
                let back = match back {
                    Some((f, t)) => match period(&f, &t, zone, input.at) {
                        Ok(p) => Some(p),
                        Err(e) => return Ok(Err(format!("back_{e}"))),
                    },
                    None => None,
                };
                return self
                    .ask_swap(input, schedule, asker, with, (from, to), back)
                    .await;
            }
            ScheduleOrder::Answer { reference, accept } => {
                let Some(swap) = projection.schedules.pending_swap(&reference) else {
                    return Ok(Err(format!(
                        "no swap waits for an answer under {reference}; it was answered already, or the reference is wrong"
                    )));
                };
                if person(&input.from).ok().as_deref() != Some(swap.with.as_str()) {
                    return Ok(Err(format!(
                        "only {} can answer this swap",
                        directory.display(&swap.with)
                    )));
                }
                if accept && swap.from <= input.at {
                    return Ok(Err(format!(
                        "this swap was to start {}, which has passed; ask for a new one",
                        swap.from
                            .with_timezone(&self.settings.timezone)
                            .format("%a %Y-%m-%d %H:%M %Z")
                    )));
                }
                Event::OncallSwapAnswered {
                    reference,
                    accepted: accept,
                }
            }
            ScheduleOrder::Cancel { reference } => {
                let Some(found) = projection
                    .schedules
                    .overrides()
                    .iter()
                    .find(|o| o.rule.reference == reference)
                else {
                    return Ok(Err(format!(
                        "no override or cover in force has the reference {reference}; `warroom oncall` lists them"
                    )));
                };
                if found.rule.to <= input.at {
                    return Ok(Err(format!(
                        "override {reference} is over; the past stays as it was"
                    )));
                }
                // One that has begun ends now: what of it is past stays.
                Event::OncallOverrideCancelled {
                    reference,
                    effective_from: input.at,
                }
            }
            ScheduleOrder::Override {
                schedule,
                person: who,
                from,
                to,
            } => {
                let Some(view) = views.get(&schedule) else {
                    return Ok(Err(unknown_schedule(&schedule, &views)));
                };
                let who = match person(&who) {
                    Ok(h) => h,
                    Err(e) => return Ok(Err(e)),
                };
                let (from, to) = match period(&from, &to, view.zone, input.at) {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(e)),
                };
                Event::OncallOverridden {
                    schedule: Some(schedule),
                    person: who,
                    from,
                    to,
                    replaces: None,
                }
            }
            ScheduleOrder::Cover {
                schedule,
                person: covered,
                from,
                to,
            } => {
                let (zone, covered, speaker) = match self.two_people(
                    &views,
                    schedule.as_deref(),
                    &covered,
                    input,
                    "so you cannot take a turn; ask a responder to /oncall override",
                    "you cannot cover yourself; name whose turns you take",
                ) {
                    Ok(found) => found,
                    Err(e) => return Ok(Err(e)),
                };
                let (from, to) = match period(&from, &to, zone, input.at) {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(e)),
                };
                Event::OncallOverridden {
                    schedule,
                    person: speaker,
                    from,
                    to,
                    replaces: Some(covered),
                }
            }
        };
        let reply_for = event.clone();
        let id = event_id(&input.key, 0);
        let appended = self
            .append_ids(
                OVERRIDES_STREAM,
                ExpectedVersion::Any,
                vec![(id, self.pending(input, event))],
            )
            .await?;
        let reference = id.simple().to_string()[..8].to_string();
        let zone = self.settings.timezone;
        let local = |t: DateTime<Utc>| {
            t.with_timezone(&zone)
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        };
        let reply = match reply_for {
            Event::OncallOverridden {
                schedule,
                person,
                from,
                to,
                replaces,
            } => format!(
                "{reference}: {} is on call{}{} from {} to {}; /oncall cancel ref:{reference} withdraws it",
                directory.display(&person),
                match &replaces {
                    Some(r) => format!(" in place of {}", directory.display(r)),
                    None => String::new(),
                },
                match &schedule {
                    Some(s) => format!(" for {s}"),
                    None => " in every schedule".to_string(),
                },
                local(from),
                local(to)
            ),
            Event::OncallOverrideCancelled {
                reference: cancelled,
                ..
            } => format!("{cancelled} withdrawn from {} on", local(input.at)),
            Event::OncallSwapAnswered {
                reference: answered,
                accepted: true,
            } => format!(
                "swap {answered} accepted: it holds as two covers; /oncall cancel ref:{answered} withdraws both"
            ),
            Event::OncallSwapAnswered {
                reference: answered,
                accepted: false,
            } => format!("swap {answered} declined; nothing changes"),
            _ => String::new(),
        };
        Ok(Ok(Outcome {
            reply: Some(reply),
            events: usize::from(!appended.already_stored),
            already_recorded: appended.already_stored,
            ..Outcome::default()
        }))
    }
}

impl Warroom {
    /// `/oncall roster`: a new version of the schedule, from `from` on, whose layer turns
    /// through the people given; everything else as in the newest version.
    #[allow(clippy::too_many_arguments)]
    async fn change_roster(
        &self,
        projection: &Projection,
        input: &Input,
        views: &BTreeMap<String, ScheduleView>,
        schedule: &str,
        layer: Option<&str>,
        people: &str,
        from: &str,
    ) -> anyhow::Result<Result<Outcome, String>> {
        let Some(view) = views.get(schedule) else {
            return Ok(Err(unknown_schedule(schedule, views)));
        };
        let newest = projection
            .schedules
            .newest_spec(schedule)
            .or_else(|| self.settings.schedules.get(schedule).map(|c| &c.spec));
        let Some(mut spec) = newest.cloned() else {
            return Ok(Err(unknown_schedule(schedule, views)));
        };
        let index = match layer {
            None if spec.layers.len() == 1 => 0,
            None => {
                return Ok(Err(format!(
                    "{schedule} has {} layers; say which with layer:1..{} or its name",
                    spec.layers.len(),
                    spec.layers.len()
                )))
            }
            Some(l) => match l.parse::<usize>() {
                Ok(n) if (1..=spec.layers.len()).contains(&n) => n - 1,
                _ => match spec
                    .layers
                    .iter()
                    .position(|x| x.name.as_deref() == Some(l))
                {
                    Some(i) => i,
                    None => {
                        return Ok(Err(format!(
                            "{schedule} has no layer '{l}'; give its number (1..{}) or its name",
                            spec.layers.len()
                        )))
                    }
                },
            },
        };
        let given: Vec<String> = people
            .split([' ', ','])
            .filter(|p| !p.trim().is_empty())
            .map(str::to_string)
            .collect();
        if given.is_empty() {
            return Ok(Err(
                "people: name who takes turns, e.g. people:\"@rpark @khouse\"".into(),
            ));
        }
        let from = match parse_when(from, view.zone, input.at, input.at)
            .map_err(|e| format!("from: {e}"))
            .and_then(|t| check_effective(t, input.at))
        {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        if spec.layers[index].ical.is_some() {
            return Ok(Err(format!(
                "{schedule}: {} takes its shifts from the calendar {}; change them there, or cover with /oncall override",
                spec.layers[index].name.clone().unwrap_or_else(|| format!("layer {}", index + 1)),
                spec.layers[index].ical.as_deref().unwrap_or_default()
            )));
        }
        spec.layers[index].people = given;
        let checked = match Schedule::check(
            &spec,
            self.settings.timezone,
            &self.settings.directory,
            schedule,
        ) {
            Ok(s) => s,
            Err(problems) => return Ok(Err(problems.join("; "))),
        };
        let recorded = checked.recorded_spec(&spec);
        let turns: Vec<String> = checked.layers[index]
            .rotation()
            .map_or(&[][..], |r| r.people.as_slice())
            .iter()
            .map(|p| {
                p.as_deref()
                    .map_or("none".to_string(), |h| self.settings.directory.display(h))
            })
            .collect();
        let event = Event::ScheduleDefined {
            spec: recorded,
            effective_from: from,
            source: "chat".into(),
        };
        let appended = self
            .append_ids(
                &stream_id(schedule),
                ExpectedVersion::Any,
                vec![(event_id(&input.key, 0), self.pending(input, event))],
            )
            .await?;
        let local = from
            .with_timezone(&view.zone)
            .format("%a %Y-%m-%d %H:%M %Z");
        Ok(Ok(Outcome {
            reply: Some(format!(
                "{schedule}: from {local}, {} turns through {}; before that it stays as it was",
                checked.layers[index].name,
                turns.join(", ")
            )),
            events: usize::from(!appended.already_stored),
            already_recorded: appended.already_stored,
            ..Outcome::default()
        }))
    }
}

impl Warroom {
    /// For a cover or a swap: the zone its times are read in (the schedule's, or the
    /// configuration's for every schedule), the other person and the speaker, both
    /// contacts and not the same.
    fn two_people(
        &self,
        views: &BTreeMap<String, ScheduleView>,
        schedule: Option<&str>,
        other: &str,
        input: &Input,
        speaker_not_a_contact: &str,
        same_person: &str,
    ) -> Result<(chrono_tz::Tz, String, String), String> {
        let zone = match schedule {
            Some(name) => views
                .get(name)
                .map(|v| v.zone)
                .ok_or_else(|| unknown_schedule(name, views))?,
            None => self.settings.timezone,
        };
        let directory = &self.settings.directory;
        let other = directory
            .person(other)
            .map(|c| c.handle.clone())
            .ok_or_else(|| {
                format!("@{other} is not in [[contacts]]; `warroom check` lists the contacts")
            })?;
        let speaker = directory
            .person(&input.from)
            .map(|c| c.handle.clone())
            .ok_or_else(|| {
                format!(
                    "you ({}) are not in [[contacts]], {speaker_not_a_contact}",
                    input.from
                )
            })?;
        if other == speaker {
            return Err(same_person.to_string());
        }
        Ok((zone, other, speaker))
    }

    /// Records a swap request and offers the person asked Accept and Decline.
    async fn ask_swap(
        &self,
        input: &Input,
        schedule: Option<String>,
        asker: String,
        with: String,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        back: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> anyhow::Result<Result<Outcome, String>> {
        let event = Event::OncallSwapRequested {
            schedule: schedule.clone(),
            asker: asker.clone(),
            with: with.clone(),
            from,
            to,
            back_from: back.map(|b| b.0),
            back_to: back.map(|b| b.1),
        };
        let id = event_id(&input.key, 0);
        let appended = self
            .append_ids(
                OVERRIDES_STREAM,
                ExpectedVersion::Any,
                vec![(id, self.pending(input, event))],
            )
            .await?;
        let reference = id.simple().to_string()[..8].to_string();
        let directory = &self.settings.directory;
        let zone = self.settings.timezone;
        let local = |t: DateTime<Utc>| {
            t.with_timezone(&zone)
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        };
        let mut reply = format!(
            "swap {reference}: {} asks {} to take their turns{} from {} to {}",
            directory.display(&asker),
            directory.display(&with),
            schedule
                .as_ref()
                .map(|s| format!(" in {s}"))
                .unwrap_or_default(),
            local(from),
            local(to)
        );
        if let Some((f, t)) = back {
            reply.push_str(&format!(
                ", and takes theirs from {} to {} in return",
                local(f),
                local(t)
            ));
        }
        reply.push_str(&format!(
            ". {}: /oncall accept ref:{reference} or /oncall decline ref:{reference}",
            directory.display(&with)
        ));
        Ok(Ok(Outcome {
            reply: Some(reply),
            events: usize::from(!appended.already_stored),
            already_recorded: appended.already_stored,
            actions: vec![
                NextAction {
                    label: "Accept swap".into(),
                    command: format!("/oncall accept ref:{reference}"),
                },
                NextAction {
                    label: "Decline".into(),
                    command: format!("/oncall decline ref:{reference}"),
                },
            ],
            ..Outcome::default()
        }))
    }
}

/// Reads an override's `from` and `to` in `zone` and checks the period against `now`.
fn period(
    from: &str,
    to: &str,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let from = parse_when(from, zone, now, now).map_err(|e| format!("from: {e}"))?;
    let to = parse_when(to, zone, now, from).map_err(|e| format!("to: {e}"))?;
    check_period(from, to, now)
}

fn unknown_schedule(name: &str, views: &BTreeMap<String, ScheduleView>) -> String {
    if views.is_empty() {
        format!(
            "no schedule is called '{name}'; none is configured ([[schedules]] in warroom.toml)"
        )
    } else {
        format!(
            "no schedule is called '{name}'; the schedules are {}",
            views.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}

/// One schedule's line for `/oncall who`: who is on call now, until when, and who next.
pub fn describe_now(
    name: &str,
    view: &ScheduleView,
    now: DateTime<Utc>,
    display: &dyn Fn(&str) -> String,
) -> String {
    let spans = view.roster.resolve(now, now + chrono::Duration::days(35));
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&view.zone)
            .format("%a %d %b %H:%M %Z")
            .to_string()
    };
    let who = |s: &Span| s.person.as_deref().map_or("nobody".to_string(), display);
    let mut line = match spans.first() {
        Some(s) if s.person.is_some() => format!("{name}: {} is on call", who(s)),
        _ => format!("{name}: nobody is on call"),
    };
    match spans.get(1) {
        Some(next) => line.push_str(&format!(" until {}, then {}", local(next.start), who(next))),
        None => line.push_str(" for the next five weeks"),
    }
    if view.unrecorded_configuration {
        line.push_str(" (warroom.toml's version, recorded when warroom serve starts)");
    }
    line
}

impl Reader {
    /// The schedules, their versions and overrides, from their streams.
    pub async fn schedule_index(&self) -> anyhow::Result<ScheduleIndex> {
        let mut index = ScheduleIndex::default();
        let mut streams = self.streams("schedule-").await?;
        streams.insert(
            OVERRIDES_STREAM.to_string(),
            self.stream(OVERRIDES_STREAM).await?,
        );
        for (stream, records) in &streams {
            for r in records {
                index.apply(stream, r);
            }
        }
        Ok(index)
    }
}

/// How far ahead `warroom check` looks for gaps.
pub const GAP_HORIZON_DAYS: i64 = 28;

/// `warroom check`'s lines about each configured schedule: the gaps (nobody on call) of the
/// next four weeks from `now`, by the configuration alone, at most ten per schedule.
pub fn configured_gaps(settings: &Settings, now: DateTime<Utc>) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, configured) in &settings.schedules {
        for feed in &configured.feeds {
            lines.push(format!(
                "note: schedule {name}: layer {} comes from {}, which warroom serve fetches; the gaps below count it as empty",
                feed.layer + 1,
                feed.shown
            ));
        }
        let roster = Roster {
            versions: vec![Version {
                effective_from: now,
                schedule: Some(configured.schedule.clone()),
            }],
            overrides: vec![],
        };
        let until = now + chrono::Duration::days(GAP_HORIZON_DAYS);
        let spans = roster.resolve(now, until);
        let gaps: Vec<&Span> = crate::domain::schedule::gaps(&spans).collect();
        let zone = configured.schedule.zone;
        let local = |t: DateTime<Utc>| t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z");
        if gaps.is_empty() {
            lines.push(format!(
                "schedule {name}: someone is on call at every moment of the next four weeks"
            ));
            continue;
        }
        let hours: f64 = gaps
            .iter()
            .map(|g| (g.end - g.start).num_seconds() as f64 / 3600.0)
            .sum();
        lines.push(format!(
            "warning: schedule {name}: nobody is on call for {hours:.1} h of the next four weeks, in {} gaps (an escalation step targeting it pages the fallback, or skips with skip_when_nobody):",
            gaps.len()
        ));
        for g in gaps.iter().take(10) {
            lines.push(format!("  {} to {}", local(g.start), local(g.end)));
        }
        if gaps.len() > 10 {
            lines.push(format!("  … and {} more", gaps.len() - 10));
        }
    }
    lines
}
