//! Follow-up actions across incidents: each post-mortem's action plan, which actions are
//! open, whose they are, and which are overdue.

use super::command::followups::ActionFilter;
use super::contacts::Directory;
use super::event::{Event, Recorded};
use super::postmortem::{action_plan, ActionItem};
use super::types::IncidentNumber;
use chrono::NaiveDate;
use serde::Serialize;
use std::fmt::Write as _;

/// One follow-up action and the incident it came from.
#[derive(Debug, Clone, Serialize)]
pub struct FollowUp {
    /// `INC-7/A2`: what `/action done id:` takes anywhere.
    pub id: String,
    pub incident: String,
    pub incident_title: String,
    /// Past its due date and not done.
    pub overdue: bool,
    /// The action as the post-mortem holds it (its `id` is the incident's own `A2`).
    pub action: ActionItem,
}

/// The follow-up actions of `incidents` (each incident's events) that `filter` lets
/// through, by incident then action; `today` decides what is overdue.
pub fn follow_ups<'a>(
    incidents: impl IntoIterator<Item = (IncidentNumber, &'a [Recorded])>,
    directory: &Directory,
    today: NaiveDate,
    filter: &ActionFilter,
) -> Vec<FollowUp> {
    let owner = filter.owner.as_deref().map(|o| canonical(directory, o));
    let mut list = Vec::new();
    for (number, records) in incidents {
        let title = incident_title(records);
        for action in action_plan(records, directory) {
            if filter.open_only && action.done_at.is_some() {
                continue;
            }
            if owner.is_some() && action.owner.as_deref().map(str::to_lowercase) != owner {
                continue;
            }
            list.push(FollowUp {
                id: format!("{number}/{}", action.id),
                incident: number.to_string(),
                incident_title: title.clone(),
                overdue: action.done_at.is_none() && action.due.is_some_and(|due| due < today),
                action,
            });
        }
    }
    list
}

/// The title an incident was opened with.
pub fn incident_title(records: &[Recorded]) -> String {
    records
        .iter()
        .find_map(|r| match r.event.unwrapped() {
            Event::IncidentOpened { title, .. } => Some(title.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn canonical(directory: &Directory, name: &str) -> String {
    let name = name.trim_start_matches('@');
    directory
        .person(name)
        .map_or(name, |c| c.handle.as_str())
        .to_lowercase()
}

/// One line per action: id, state (done, overdue, due), owner, text (its first line).
pub fn render_text(list: &[FollowUp], filter: &ActionFilter) -> String {
    if list.is_empty() {
        return match (&filter.owner, filter.open_only) {
            (Some(owner), true) => format!("No open follow-up actions for @{owner}.\n"),
            (Some(owner), false) => format!("No follow-up actions for @{owner}.\n"),
            (None, true) => "No open follow-up actions.\n".to_string(),
            (None, false) => "No follow-up actions were recorded.\n".to_string(),
        };
    }
    let mut out = String::new();
    for f in list {
        let a = &f.action;
        let state = match (a.done_at, a.due, f.overdue) {
            (Some(done), _, _) => format!("done {}", done.format("%Y-%m-%d")),
            (None, Some(due), true) => format!("OVERDUE (due {due})"),
            (None, Some(due), false) => format!("open, due {due}"),
            (None, None, _) => "open".to_string(),
        };
        let owner = a
            .owner
            .as_deref()
            .map_or("no owner".to_string(), |o| format!("@{o}"));
        let text = a.text.lines().next().unwrap_or_default();
        let _ = writeln!(out, "{}  {state}  {owner}  {text}", f.id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::given;
    use crate::domain::types::Severity;

    #[test]
    fn open_and_overdue_actions_are_listed_by_owner_across_incidents() {
        let opened = |n: u64| Event::IncidentOpened {
            number: IncidentNumber(n),
            title: format!("incident {n}"),
            severity: Severity::Sev2,
            channel: "ops".into(),
        };
        let action = |text: &str, owner: &str, due: &str| Event::ActionAdded {
            text: text.into(),
            owner: Some(owner.into()),
            due: Some(due.parse().unwrap()),
        };
        let one = given(
            "rpark",
            [
                opened(1),
                action("test builds first", "hammer", "2021-03-23"),
                action("automate deploys", "ghammer", "2021-04-30"),
                Event::ActionCompleted { action: 1 },
            ],
        );
        let two = given(
            "rpark",
            [opened(2), action("add a replica", "khouse", "2021-03-20")],
        );
        let directory = crate::domain::testkit::directory();
        let today: NaiveDate = "2021-04-01".parse().unwrap();
        let incidents = || [(IncidentNumber(1), &one[..]), (IncidentNumber(2), &two[..])];
        let all = ActionFilter::default();
        let list = follow_ups(incidents(), &directory, today, &all);
        let ids: Vec<&str> = list.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["INC-1/A1", "INC-1/A2", "INC-2/A1"]);
        let text = render_text(&list, &all);
        assert!(text.contains("INC-1/A1  done "), "{text}");
        assert!(
            text.contains("INC-1/A2  open, due 2021-04-30  @ghammer  automate deploys"),
            "{text}"
        );
        assert!(
            text.contains("INC-2/A1  OVERDUE (due 2021-03-20)  @khouse  add a replica"),
            "{text}"
        );

        let mine = ActionFilter {
            open_only: true,
            owner: Some("Hammer".into()),
        };
        let list = follow_ups(incidents(), &directory, today, &mine);
        let ids: Vec<&str> = list.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            ["INC-1/A2"],
            "an alias finds the owner; done ones are left out"
        );
    }
}
