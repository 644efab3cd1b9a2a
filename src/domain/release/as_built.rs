//! The as-built document of the published releases (Markdown and JSON) and the Kubernetes Deployment that follows from a release's capacity plan.

use super::capacity::*;
use super::rules::*;
use super::values::*;
use crate::domain::contacts::{Directory, Named};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use uuid::Uuid;

// The as-built document
// ---------------------------------------------------------------------------------------------

/// The as-built document: every published release, oldest first (or the one asked for).
/// Serialises to the JSON form.
#[derive(Debug, Clone, Serialize)]
pub struct AsBuilt {
    pub releases: Vec<ReleaseDoc>,
    #[serde(skip)]
    tz: Tz,
}

/// One release's pages, in the seed template's sections.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseDoc {
    pub version: Version,
    pub opened_at: DateTime<Utc>,
    /// Null for a release shown before it was published.
    pub published_at: Option<DateTime<Utc>>,
    pub stakeholders: Vec<TeamMembers>,
    pub code_changes: Vec<ChangeGroup>,
    pub data_and_system_changes: Vec<ChangeGroup>,
    pub design_decisions: Vec<Note>,
    pub tests: Vec<Note>,
    pub deployment_notes: Vec<Note>,
    pub capacity: Vec<PlannedComponent>,
}

/// The stakeholders of one team.
#[derive(Debug, Clone, Serialize)]
pub struct TeamMembers {
    pub team: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// The full name when the contact list knows them, else the name as given.
    pub name: String,
    pub handle: Option<String>,
    pub event_id: Uuid,
}

/// Changes of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeGroup {
    pub kind: ChangeKind,
    pub heading: &'static str,
    pub changes: Vec<Change>,
}

/// The team of a stakeholder named with no team who is not in the contact list.
const OTHER: &str = "Other";

/// Builds the document from releases (already folded from their streams), in the order given.
pub fn assemble(releases: &[Release], directory: &Directory, tz: Tz) -> AsBuilt {
    AsBuilt {
        releases: releases.iter().map(|r| release_doc(r, directory)).collect(),
        tz,
    }
}

fn release_doc(release: &Release, directory: &Directory) -> ReleaseDoc {
    let mut teams: Vec<TeamMembers> = Vec::new();
    for s in &release.stakeholders {
        let contact = directory.person(&s.person);
        let team = match (&s.team, contact) {
            (Some(t), _) => match directory.lookup(t) {
                Some(Named::Team(team)) => team.name.clone(),
                _ => t.clone(),
            },
            (None, Some(c)) => c.team.clone(),
            (None, None) => OTHER.to_string(),
        };
        let member = Member {
            name: contact.map_or_else(
                || s.person.trim_start_matches('@').to_string(),
                |c| c.name.clone(),
            ),
            handle: contact
                .map(|c| c.handle.clone())
                .or_else(|| s.person.strip_prefix('@').map(str::to_string)),
            event_id: s.event_id,
        };
        match teams.iter_mut().find(|t| t.team == team) {
            Some(t) => t.members.push(member),
            None => teams.push(TeamMembers {
                team,
                members: vec![member],
            }),
        }
    }
    // Configured teams in configuration order, as the post-mortem lists them; then the
    // others in the order they were named; `Other` last. The sort is stable.
    teams.sort_by_key(
        |t| match directory.teams().iter().position(|c| c.name == t.team) {
            Some(i) => (0, i),
            None if t.team == OTHER => (2, 0),
            None => (1, 0),
        },
    );
    let mut groups: BTreeMap<ChangeKind, Vec<Change>> = BTreeMap::new();
    for c in &release.changes {
        groups.entry(c.kind).or_default().push(c.clone());
    }
    let group = |code: bool| -> Vec<ChangeGroup> {
        ChangeKind::ALL
            .iter()
            .filter(|k| k.is_code() == code)
            .filter_map(|k| {
                groups.get(k).map(|changes| ChangeGroup {
                    kind: *k,
                    heading: k.heading(),
                    changes: changes.clone(),
                })
            })
            .collect()
    };
    ReleaseDoc {
        version: release.version.clone(),
        opened_at: release.opened_at,
        published_at: release.published_at,
        stakeholders: teams,
        code_changes: group(true),
        data_and_system_changes: group(false),
        design_decisions: release.decisions.clone(),
        tests: release.tests.clone(),
        deployment_notes: release.notes.clone(),
        capacity: release.capacity.clone(),
    }
}

/// The Markdown form: the seed's as-built template, one `## Release N` per release.
pub fn render_markdown(doc: &AsBuilt) -> String {
    let mut out = String::from("# As-Built Doc\n");
    if doc.releases.is_empty() {
        out.push_str("\nNo release was published yet. Start one with `/release open version:N`; `/release publish` adds it here.\n");
    }
    for r in &doc.releases {
        write_release(&mut out, r, doc.tz);
    }
    out
}

fn write_release(out: &mut String, r: &ReleaseDoc, tz: Tz) {
    let _ = writeln!(out, "\n## Release {}\n", r.version);
    match r.published_at {
        Some(t) => {
            let _ = writeln!(
                out,
                "Published {} ({}).",
                t.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                tz.name()
            );
        }
        None => out.push_str("Draft: not published yet.\n"),
    }

    out.push_str("\n### Stakeholders\n\n");
    if r.stakeholders.is_empty() {
        out.push_str("No stakeholders were recorded. Add them with `/release stakeholder team:… user:@handle`.\n");
    }
    for t in &r.stakeholders {
        let _ = writeln!(out, "- {}", t.team);
        for m in &t.members {
            match &m.handle {
                Some(h) if *h != m.name => {
                    let _ = writeln!(out, "  - {} (@{h})", m.name);
                }
                Some(h) => {
                    let _ = writeln!(out, "  - @{h}");
                }
                None => {
                    let _ = writeln!(out, "  - {}", m.name);
                }
            }
        }
    }

    out.push_str("\n### Code Changes\n\n");
    write_groups(out, &r.code_changes, "No code changes were recorded.");
    out.push_str("\n### Data and System Changes\n\n");
    write_groups(
        out,
        &r.data_and_system_changes,
        "No data model or system changes were recorded.",
    );

    out.push_str("\n### Design decision highlights\n\n");
    if r.design_decisions.is_empty() {
        out.push_str("No design decisions were recorded. Add them with `/release decision text:\"…\" doc:\"…\"`.\n");
    }
    for d in &r.design_decisions {
        match &d.doc {
            Some(doc) => {
                let _ = writeln!(out, "- {} See {doc} for further discussion.", d.text);
            }
            None => {
                let _ = writeln!(out, "- {}", d.text);
            }
        }
    }

    out.push_str("\n### Test Section\n\n");
    if r.tests.is_empty() {
        out.push_str("No test results were recorded. Add them with `/release test text:\"…\"`.\n");
    }
    for t in &r.tests {
        let _ = writeln!(out, "- {}", t.text);
    }

    out.push_str("\n### Deployment Notes\n\n");
    if r.deployment_notes.is_empty() && r.capacity.is_empty() {
        out.push_str("No deployment notes were recorded. Add them with `/release note text:\"…\"` and `/release capacity …`.\n");
    }
    for n in &r.deployment_notes {
        let _ = writeln!(out, "- {}", n.text);
    }
    for (i, c) in r.capacity.iter().enumerate() {
        let p = &c.plan;
        let _ = writeln!(
            out,
            "{}{}. {} ({}): {}, {}Mi memory, {}m CPU",
            if i == 0 && !r.deployment_notes.is_empty() {
                "\n"
            } else {
                ""
            },
            i + 1,
            p.inputs.service,
            p.inputs.image,
            replicas(p.replicas),
            p.memory_mi,
            p.cpu_m
        );
        for step in &p.steps {
            let _ = writeln!(out, "   - {step}");
        }
    }
}

fn write_groups(out: &mut String, groups: &[ChangeGroup], none: &str) {
    if groups.is_empty() {
        let _ = writeln!(
            out,
            "{none} Add them with `/release change kind:… ticket:Tk-N text:\"…\"`."
        );
    }
    for g in groups {
        let _ = writeln!(out, "- {}", g.heading);
        for c in &g.changes {
            match &c.ticket {
                Some(t) => {
                    let _ = writeln!(out, "  - {} ({t})", c.text);
                }
                None => {
                    let _ = writeln!(out, "  - {}", c.text);
                }
            }
        }
    }
}

/// The JSON form: `{"releases": [...]}`.
pub fn render_json(doc: &AsBuilt) -> String {
    let mut json =
        serde_json::to_string_pretty(doc).expect("an as-built document always serialises");
    json.push('\n');
    json
}

// ---------------------------------------------------------------------------------------------
// The Kubernetes Deployment
// ---------------------------------------------------------------------------------------------

/// The release has no capacity plan to deploy from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release {0} has no capacity plan; record one with /release capacity service:… image:… memory:… utilisation:… cpu:…")]
pub struct NoCapacityPlan(pub Version);

/// The release's Deployments, one per planned component, as a multi-document YAML stream:
/// each component scales on its own (the seed put the order processor in the app's pod,
/// which would have run six order processors with the six app replicas).
pub fn render_deployment(release: &ReleaseDoc) -> Result<String, NoCapacityPlan> {
    if release.capacity.is_empty() {
        return Err(NoCapacityPlan(release.version.clone()));
    }
    let mut out = String::new();
    for (i, c) in release.capacity.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        write_deployment(&mut out, &c.plan, &release.version);
    }
    Ok(out)
}

/// A YAML double-quoted scalar: JSON's string syntax is a subset of it.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}

fn write_deployment(out: &mut String, plan: &CapacityPlan, version: &Version) {
    let name = &plan.name;
    let version = quoted(version.as_str());
    let _ = write!(
        out,
        "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/version: {version}
    app.kubernetes.io/managed-by: warroom
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
        app.kubernetes.io/version: {version}
    spec:
      containers:
        - name: {name}
          image: {image}
          resources:
            requests:
              memory: {memory}Mi
              cpu: {cpu}m
            limits:
              memory: {memory}Mi
              cpu: {cpu_limit}m
",
        replicas = plan.replicas,
        image = quoted(&plan.inputs.image),
        memory = plan.memory_mi,
        cpu = plan.cpu_m,
        cpu_limit = plan.cpu_limit_m,
    );
    if let Some(port) = plan.inputs.port {
        let _ = write!(
            out,
            "          ports:\n            - containerPort: {port}\n"
        );
    }
}
