//! An incident's place in Discord: its channel (or thread) with a header and the SOP, and
//! the post-mortem draft posted there as a file when it closes.

use super::no_pings;
use super::{Bot, MESSAGE_LIMIT};
use crate::domain::event::{AlertFacts, AlertStatus};
use crate::domain::postmortem::{minutes_in_words, render_markdown, PostMortem};
use crate::domain::types::IncidentNumber;
use crate::domain::types::Severity;
use serenity::all::{
    ButtonStyle, ChannelId, ChannelType, CreateActionRow, CreateAttachment, CreateButton,
    CreateChannel, CreateMessage, CreateThread,
};
use sha2::{Digest, Sha256};

/// Custom ids of the buttons warroom puts on its messages: `ack:7`, `postmortem:7`, and
/// `open:sev2:DNS server not answering` under an alert that opened nothing.
pub const ACK_BUTTON: &str = "ack";
pub const POSTMORTEM_BUTTON: &str = "postmortem";
pub const OPEN_BUTTON: &str = "open";
/// `suggest:7:failover dns`: a runbook an alert's route suggests, for incident 7.
pub const SUGGEST_BUTTON: &str = "suggest";
/// `confirm:<user id>:<command in console syntax>` and `cancel`, under a confirmation.
pub const CONFIRM_BUTTON: &str = "confirm";
pub const CANCEL_BUTTON: &str = "cancel";

/// Discord's longest button custom id.
pub const CUSTOM_ID_LIMIT: usize = 100;

/// The buttons under an incident's header and pages.
pub(super) fn incident_buttons(number: IncidentNumber) -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(format!("{ACK_BUTTON}:{}", number.0))
            .label("Acknowledge")
            .style(ButtonStyle::Primary),
        CreateButton::new(format!("{POSTMORTEM_BUTTON}:{}", number.0))
            .label("Post-mortem draft")
            .style(ButtonStyle::Secondary),
    ])]
}

/// The file name the post-mortem is posted as: `postmortem-INC-7.md`.
pub fn postmortem_file_name(number: IncidentNumber) -> String {
    format!("postmortem-{number}.md")
}

/// Cuts a text to fit one Discord message, saying so.
pub(super) fn fit(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let note = "\n… (cut here; the ledger has it whole)";
    let mut cut: String = text.chars().take(limit - note.chars().count()).collect();
    cut.push_str(note);
    cut
}

impl Bot {
    /// The id of a guild channel by its name.
    async fn channel_named(&self, name: &str) -> anyhow::Result<Option<ChannelId>> {
        let channels = self.guild.channels(&self.http).await?;
        Ok(channels
            .values()
            .find(|c| c.name == name && c.kind == ChannelType::Text)
            .map(|c| {
                self.remember(c.id, &c.name);
                c.id
            }))
    }

    /// Posts an alert that opened no incident in the announcement channel; a firing one gets
    /// an Open incident button that opens it with its route's title and severity.
    pub(super) async fn announce_alert(
        &self,
        alert: &AlertFacts,
        title: &str,
        severity: Severity,
    ) -> anyhow::Result<()> {
        let Some(channel) = self.channel_named(&self.settings.announce_channel).await? else {
            anyhow::bail!(
                "there is no #{} to announce alerts in (discord.announce_channel)",
                self.settings.announce_channel
            );
        };
        let mut text = match alert.status {
            AlertStatus::Firing => format!("🔔 **{}** is firing", alert.name),
            AlertStatus::Resolved => format!("✅ **{}** resolved", alert.name),
        };
        if let Some(summary) = &alert.summary {
            text.push_str(&format!(": {summary}"));
        }
        let mut message = CreateMessage::new()
            .allowed_mentions(no_pings())
            .content(fit(&text, MESSAGE_LIMIT));
        if alert.status == AlertStatus::Firing {
            let custom_id: String = format!("{OPEN_BUTTON}:{severity}:{title}")
                .chars()
                .take(CUSTOM_ID_LIMIT)
                .collect();
            message = message.components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                custom_id,
            )
            .label("Open incident")
            .style(ButtonStyle::Danger)])]);
        }
        channel.send_message(&self.http, message).await?;
        Ok(())
    }

    /// Says something in the incident's channel (a runbook run's progress).
    pub(super) async fn say_in_incident(
        &self,
        number: IncidentNumber,
        text: &str,
    ) -> anyhow::Result<()> {
        if let Some(channel) = self.ensure_incident_channel(number).await? {
            self.post(channel, text).await?;
        }
        Ok(())
    }

    /// Posts a text (cut to fit) in a channel.
    async fn post(&self, channel: ChannelId, text: &str) -> anyhow::Result<()> {
        channel
            .send_message(
                &self.http,
                CreateMessage::new()
                    .allowed_mentions(no_pings())
                    .content(fit(text, MESSAGE_LIMIT)),
            )
            .await?;
        Ok(())
    }

    /// One line for the alerts of a storm beyond those announced one by one.
    pub(super) async fn announce_more(&self, alerts: &[String]) -> anyhow::Result<()> {
        let Some(channel) = self.channel_named(&self.settings.announce_channel).await? else {
            return Ok(());
        };
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for alert in alerts {
            *counts.entry(alert.as_str()).or_default() += 1;
        }
        let list: Vec<String> = counts
            .iter()
            .map(|(alert, n)| format!("{alert} ×{n}"))
            .collect();
        let text = format!(
            "…and {} more alert changes, recorded in the ledger: {}",
            alerts.len(),
            list.join(", ")
        );
        self.post(channel, &text).await
    }

    /// The incident's Discord channel: linked already, found by name, or created under the
    /// incident category (or as a thread of the announcement channel) with its header.
    pub(super) async fn ensure_incident_channel(
        &self,
        number: IncidentNumber,
    ) -> anyhow::Result<Option<ChannelId>> {
        let _one_at_a_time = self.creating.lock().await;
        let Some(incident) = self.warroom.incident(number).await? else {
            return Ok(None);
        };
        if let Some(id) = self.warroom.chat_id(&incident.channel).await {
            return Ok(id.parse().ok().map(ChannelId::new));
        }
        let channels = self.guild.channels(&self.http).await?;
        let existing = channels
            .values()
            .find(|c| c.name == incident.channel && c.kind == ChannelType::Text)
            .map(|c| c.id);
        let id = match existing {
            Some(id) => id,
            None if self.settings.threads => {
                let parent = channels
                    .values()
                    .find(|c| c.name == self.settings.announce_channel)
                    .map(|c| c.id)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "cannot open a thread for {number}: there is no #{} (discord.announce_channel)",
                            self.settings.announce_channel
                        )
                    })?;
                parent
                    .create_thread(
                        &self.http,
                        CreateThread::new(incident.channel.clone()).kind(ChannelType::PublicThread),
                    )
                    .await?
                    .id
            }
            None => {
                let category = match channels.values().find(|c| {
                    c.kind == ChannelType::Category
                        && c.name.eq_ignore_ascii_case(&self.settings.category)
                }) {
                    Some(c) => c.id,
                    None => {
                        self.guild
                            .create_channel(
                                &self.http,
                                CreateChannel::new(self.settings.category.clone())
                                    .kind(ChannelType::Category),
                            )
                            .await?
                            .id
                    }
                };
                self.guild
                    .create_channel(
                        &self.http,
                        CreateChannel::new(incident.channel.clone())
                            .kind(ChannelType::Text)
                            .category(category)
                            .topic(format!("{number}: {}", incident.title)),
                    )
                    .await?
                    .id
            }
        };
        self.remember(id, &incident.channel);
        self.warroom
            .link_chat_channel(number, &incident.channel, "discord", &id.to_string())
            .await?;
        self.post_header(number, id).await?;
        Ok(Some(id))
    }

    /// The header: title, severity, commander, how to work the incident, then the SOP when
    /// the incident came from an alert.
    async fn post_header(&self, number: IncidentNumber, channel: ChannelId) -> anyhow::Result<()> {
        let Some(incident) = self.warroom.incident(number).await? else {
            return Ok(());
        };
        let commander = self.warroom.commander(number).await?;
        let directory = &self.warroom.settings().directory;
        let tz = self.warroom.settings().timezone;
        let header = format!(
            "**{number} · {}**\nSeverity: **{}** · Commander: {} · Opened by {} at {}\n\
             Everything said here is recorded in the incident's ledger, edits and deletes too. \
             `/incident update`, `/incident page`, `/ack`, `/incident close` work in this channel.",
            incident.title,
            incident.severity,
            commander
                .map(|c| directory.display(&c))
                .unwrap_or_else(|| "none yet (`/incident role role:commander user:@you`)".into()),
            directory.display(&incident.opened_by),
            incident
                .opened_at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M %Z"),
        );
        channel
            .send_message(
                &self.http,
                CreateMessage::new()
                    .allowed_mentions(no_pings())
                    .content(fit(&header, MESSAGE_LIMIT))
                    .components(incident_buttons(number)),
            )
            .await?;
        if let Some(sop) = self.warroom.attached_sop(number).await? {
            let mut text = format!("**SOP** ({})\n{}", sop.path, sop.markdown.trim());
            if !sop.suggest.is_empty() {
                text.push_str(&format!("\n\nSuggested: `{}`", sop.suggest.join("`, `")));
            }
            // A suggested command that is a runbook gets a button that asks for a run (with
            // its defaults) in this incident; it is then confirmed like any other.
            let buttons: Vec<CreateButton> = sop
                .suggest
                .iter()
                .filter_map(|command| {
                    let words: Vec<String> = command
                        .trim_start_matches('/')
                        .split_whitespace()
                        .map(str::to_lowercase)
                        .collect();
                    self.warroom.runbook_for(&words)?;
                    let custom_id = format!("{SUGGEST_BUTTON}:{}:{}", number.0, words.join(" "));
                    (custom_id.len() <= CUSTOM_ID_LIMIT).then(|| {
                        CreateButton::new(custom_id)
                            .label(format!("Run /{}", words.join(" ")))
                            .style(ButtonStyle::Primary)
                    })
                })
                .take(5)
                .collect();
            let mut message = CreateMessage::new()
                .allowed_mentions(no_pings())
                .content(fit(&text, MESSAGE_LIMIT));
            if !buttons.is_empty() {
                message = message.components(vec![CreateActionRow::Buttons(buttons)]);
            }
            channel.send_message(&self.http, message).await?;
        }
        if let Some(deploys) = self.warroom.noted_deploys(number).await? {
            let text = format!("**Deploys shortly before this incident opened**\n{deploys}");
            self.post(channel, &text).await?;
        }
        Ok(())
    }

    /// Posts an ended shift's on-call summary in the announcement channel, as a file with a
    /// short line.
    pub(super) async fn post_shift_summary(&self, number: u32) -> anyhow::Result<()> {
        let Some(channel) = self.channel_named(&self.settings.announce_channel).await? else {
            anyhow::bail!(
                "there is no #{} to post the summary of shift {number} in (discord.announce_channel)",
                self.settings.announce_channel
            );
        };
        let summary = self
            .warroom
            .oncall_summary(crate::app::shifts::SummaryOf::Shift(Some(number)))
            .await?;
        let markdown = crate::domain::shift::render_markdown(&summary);
        let who = summary
            .shift
            .as_ref()
            .map(|s| self.warroom.settings().directory.display(&s.person))
            .unwrap_or_default();
        let text = format!(
            "On-call shift {number} ({who}) ended: {} alerts and incidents, {} pages. The summary log is attached.",
            summary.entries.len(),
            summary.figures.pages
        );
        channel
            .send_message(
                &self.http,
                CreateMessage::new()
                    .allowed_mentions(no_pings())
                    .content(fit(&text, MESSAGE_LIMIT))
                    .add_file(CreateAttachment::bytes(
                        markdown.as_bytes(),
                        format!("oncall-shift-{number}.md"),
                    )),
            )
            .await?;
        Ok(())
    }

    /// Posts a warning in the announcement channel.
    pub(super) async fn announce(&self, text: &str) -> anyhow::Result<()> {
        let Some(channel) = self.channel_named(&self.settings.announce_channel).await? else {
            anyhow::bail!(
                "there is no #{} to post a warning in (discord.announce_channel): {text}",
                self.settings.announce_channel
            );
        };
        self.post(channel, text).await
    }

    /// Posts the post-mortem draft in the incident's channel as `postmortem-INC-7.md` with a
    /// short summary, then records that it was published (with the file's SHA-256).
    pub(super) async fn publish_postmortem(&self, number: IncidentNumber) -> anyhow::Result<()> {
        if self.warroom.postmortem_published(number).await {
            return Ok(());
        }
        let Some(channel) = self.ensure_incident_channel(number).await? else {
            return Ok(());
        };
        let document = self.warroom.postmortem(number).await?;
        let markdown = render_markdown(&document);
        let file = postmortem_file_name(number);
        let posted = channel
            .send_message(
                &self.http,
                CreateMessage::new()
                    .allowed_mentions(no_pings())
                    .content(fit(&summary(number, &document), MESSAGE_LIMIT))
                    .add_file(CreateAttachment::bytes(markdown.as_bytes(), file.clone()))
                    .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                        format!("{POSTMORTEM_BUTTON}:{}", number.0),
                    )
                    .label("Regenerate post-mortem")
                    .style(ButtonStyle::Secondary)])]),
            )
            .await?;
        let sha256 = hex::encode(Sha256::digest(markdown.as_bytes()));
        self.warroom
            .record_postmortem_published(number, file, sha256, Some(posted.id.to_string()))
            .await
    }
}

/// The few lines posted with the post-mortem file.
pub(super) fn summary(number: IncidentNumber, document: &PostMortem) -> String {
    let lasted = document
        .duration_minutes
        .map(|m| format!("It lasted {}.", minutes_in_words(m)))
        .unwrap_or_else(|| "It was never marked resolved.".into());
    format!(
        "**{number} closed** · {} · {}\n{lasted} {} timeline entries, {} stakeholders, {} follow-up actions.\n\
         The post-mortem draft is attached (the same as `warroom postmortem {number}`); edit it, then share it.",
        document.title,
        document.severity,
        document.timeline.len(),
        document.stakeholders.len(),
        document.action_plan.len(),
    )
}
