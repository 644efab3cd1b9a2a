//! Slash commands, buttons and autocomplete, answered by one function whichever way they
//! arrive: over the gateway (answered through REST) or at `POST /discord/interactions`
//! (answered in the HTTP response, after the Ed25519 signature is checked).
//!
//! Discord wants an answer within three seconds. Most commands take milliseconds; one that
//! takes longer (creating a channel on a slow day) is answered "thinking…" at once and its
//! reply edited in when it is ready.

use super::channels::{
    fit, postmortem_file_name, ACK_BUTTON, CANCEL_BUTTON, CONFIRM_BUTTON, CUSTOM_ID_LIMIT,
    OPEN_BUTTON, POSTMORTEM_BUTTON, SUGGEST_BUTTON,
};
use super::no_pings;
use super::{commands, explain, utc_or, Bot, MESSAGE_LIMIT};
use crate::app::{Caller, Input, InputKind};
use crate::domain::command::ParsedCommand;
use crate::domain::types::IncidentNumber;
use serenity::all::{
    ButtonStyle, CommandInteraction, ComponentInteraction, CreateActionRow, CreateAttachment,
    CreateAutocompleteResponse, CreateButton, CreateInteractionResponse,
    CreateInteractionResponseMessage, EditInteractionResponse, Interaction, InteractionId, Member,
    User,
};
use serenity::builder::Builder;
use std::sync::Arc;
use std::time::Duration;

/// Buttons under a runbook run waiting for its requester or an approver: `runconfirm:7:2`.
const RUN_CONFIRM_BUTTON: &str = "runconfirm";
/// A button that runs the command in its custom id as whoever presses it (a reply's next
/// actions, such as a swap's Accept); warroom authorises it like any command.
const COMMAND_BUTTON: &str = "cmd";
const RUN_APPROVE_BUTTON: &str = "runapprove";

/// How long an answer may take before Discord is told "thinking…"; Discord's own limit is
/// three seconds, including the way there and back.
const ANSWER_WINDOW: Duration = Duration::from_millis(2200);

/// Most autocomplete choices Discord shows.
const MAX_CHOICES: usize = 25;

/// What to answer an interaction with.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Reply {
        text: String,
        /// Seen only by the person (refusals).
        ephemeral: bool,
        /// A file to attach: (name, contents).
        file: Option<(String, Vec<u8>)>,
    },
    /// Asks the person to confirm a command with a button whose custom id carries it.
    Confirm {
        question: String,
        custom_id: String,
    },
    /// A public reply with buttons: (custom id, label).
    WithButtons {
        text: String,
        buttons: Vec<(String, String)>,
    },
    /// Autocomplete choices: (shown name, value).
    Choices(Vec<(String, String)>),
    Pong,
}

impl Answer {
    fn private(text: impl Into<String>) -> Answer {
        Answer::Reply {
            text: text.into(),
            ephemeral: true,
            file: None,
        }
    }

    /// A reply too long for one message goes out as a file with its first line.
    fn reply(text: String, ephemeral: bool, file_name: &str) -> Answer {
        if text.chars().count() <= MESSAGE_LIMIT {
            return Answer::Reply {
                text,
                ephemeral,
                file: None,
            };
        }
        let first = text.lines().next().unwrap_or_default();
        Answer::Reply {
            text: fit(
                &format!("{first}\n(the whole text is attached)"),
                MESSAGE_LIMIT,
            ),
            ephemeral,
            file: Some((file_name.to_string(), text.into_bytes())),
        }
    }

    fn response(&self) -> CreateInteractionResponse {
        match self {
            Answer::Reply {
                text,
                ephemeral,
                file,
            } => {
                let mut message = CreateInteractionResponseMessage::new()
                    .content(text.clone())
                    .allowed_mentions(no_pings())
                    .ephemeral(*ephemeral);
                if let Some((name, bytes)) = file {
                    message =
                        message.add_file(CreateAttachment::bytes(bytes.clone(), name.clone()));
                }
                CreateInteractionResponse::Message(message)
            }
            Answer::Confirm {
                question,
                custom_id,
            } => CreateInteractionResponse::Message(
                CreateInteractionResponseMessage::new()
                    .content(question.clone())
                    .allowed_mentions(no_pings())
                    .ephemeral(true)
                    .components(vec![CreateActionRow::Buttons(vec![
                        CreateButton::new(custom_id.clone())
                            .label("Confirm")
                            .style(ButtonStyle::Danger),
                        CreateButton::new(CANCEL_BUTTON)
                            .label("Cancel")
                            .style(ButtonStyle::Secondary),
                    ])]),
            ),
            Answer::WithButtons { text, buttons } => CreateInteractionResponse::Message(
                CreateInteractionResponseMessage::new()
                    .content(text.clone())
                    .allowed_mentions(no_pings())
                    .components(vec![CreateActionRow::Buttons(
                        buttons
                            .iter()
                            .map(|(id, label)| {
                                CreateButton::new(id.clone())
                                    .label(label.clone())
                                    .style(ButtonStyle::Primary)
                            })
                            .collect(),
                    )]),
            ),
            Answer::Choices(choices) => {
                let mut response = CreateAutocompleteResponse::new();
                for (name, value) in choices {
                    response = response.add_string_choice(name.clone(), value.clone());
                }
                CreateInteractionResponse::Autocomplete(response)
            }
            Answer::Pong => CreateInteractionResponse::Pong,
        }
    }

    fn is_ephemeral(&self) -> bool {
        matches!(
            self,
            Answer::Reply {
                ephemeral: true,
                ..
            }
        )
    }

    fn edit(&self) -> EditInteractionResponse {
        match self {
            Answer::Reply { text, file, .. } => {
                let mut edit = EditInteractionResponse::new()
                    .content(text.clone())
                    .allowed_mentions(no_pings());
                if let Some((name, bytes)) = file {
                    edit =
                        edit.new_attachment(CreateAttachment::bytes(bytes.clone(), name.clone()));
                }
                edit
            }
            Answer::WithButtons { text, .. } => EditInteractionResponse::new()
                .content(text.clone())
                .allowed_mentions(no_pings()),
            Answer::Confirm { question, .. } => EditInteractionResponse::new()
                .content(format!(
                    "{question}\n(answer again: the confirmation took too long to show)"
                ))
                .allowed_mentions(no_pings()),
            _ => EditInteractionResponse::new(),
        }
    }
}

/// How far a signed request's timestamp may be from now, either way: Discord posts at once,
/// and the window allows for clock skew between Discord and this host.
pub const SIGNATURE_MAX_AGE: chrono::Duration = chrono::Duration::minutes(5);

/// Whether `X-Signature-Timestamp` (Unix seconds) is within [`SIGNATURE_MAX_AGE`] of `now`.
fn fresh(timestamp: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| "X-Signature-Timestamp is not a Unix time in seconds".to_string())?;
    let skew = now.timestamp().abs_diff(seconds);
    if skew > SIGNATURE_MAX_AGE.num_seconds().unsigned_abs() {
        return Err(format!(
            "X-Signature-Timestamp is {skew} s away from this server's clock (at most {} s is accepted); check the server's time",
            SIGNATURE_MAX_AGE.num_seconds()
        ));
    }
    Ok(())
}

impl Bot {
    /// Answers an interaction that came over the gateway.
    pub(super) async fn answer_gateway(self: Arc<Self>, interaction: Interaction) {
        let Some((id, token)) = identity(&interaction) else {
            return;
        };
        let bot = self.clone();
        let mut work = tokio::spawn(async move { bot.answer(&interaction).await });
        let result = match tokio::time::timeout(ANSWER_WINDOW, &mut work).await {
            Ok(Ok(answer)) => answer.response().execute(&self.http, (id, &token)).await,
            Ok(Err(e)) => {
                tracing::error!("Discord: answering an interaction failed: {e}");
                return;
            }
            Err(_) => {
                let defer =
                    CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
                if let Err(e) = defer.execute(&self.http, (id, &token)).await {
                    tracing::error!("Discord: cannot defer an answer: {}", explain(&e.into()));
                }
                match work.await {
                    Ok(answer) => answer.edit().execute(&self.http, &token).await.map(|_| ()),
                    Err(e) => {
                        tracing::error!("Discord: answering an interaction failed: {e}");
                        return;
                    }
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(
                "Discord: cannot answer an interaction: {}",
                explain(&e.into())
            );
        }
    }

    /// An interaction Discord sent again when the session resumed after an outage. The
    /// three seconds Discord allows for an answer have most likely passed, and the person was
    /// told "the application did not respond" and may have tried again or given up: running
    /// it now could act twice or act late, so it is not run. They are told so privately if
    /// Discord still takes an answer, else with a mention in the channel.
    pub(super) async fn refuse_replayed(self: Arc<Self>, interaction: Interaction) {
        let (what, user, channel) = match &interaction {
            Interaction::Command(c) => (
                format!("`/{}`", commands::parsed(&c.data).words.join(" ")),
                c.user.id,
                c.channel_id,
            ),
            Interaction::Component(c) => ("button press".to_string(), c.user.id, c.channel_id),
            // Autocomplete asked while away has nobody waiting for it any more.
            _ => return,
        };
        let Some((id, token)) = identity(&interaction) else {
            return;
        };
        tracing::warn!(
            user = %user,
            "Discord: a {what} sent while the gateway was down arrived after the outage; it was not run"
        );
        let text = format!(
            "your {what} reached warroom only after its Discord connection came back, too late to be answered, so it was not run. Send it again if it is still needed."
        );
        let private = CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new()
                .content(format!("Sorry: {text}"))
                .ephemeral(true),
        );
        if private.execute(&self.http, (id, &token)).await.is_ok() {
            return;
        }
        let public = serenity::all::CreateMessage::new()
            .content(format!("<@{user}> {text}"))
            .allowed_mentions(serenity::all::CreateAllowedMentions::new().users([user]));
        if let Err(e) = channel.send_message(&self.http, public).await {
            tracing::error!(
                "Discord: cannot tell <@{user}> their {what} was not run: {}",
                explain(&e.into())
            );
        }
    }

    /// Edits the deferred answer with `answer` once it is ready.
    fn edit_later(
        &self,
        token: String,
        answer: impl std::future::Future<Output = Result<Answer, tokio::task::JoinError>>
            + Send
            + 'static,
    ) {
        let http = self.http.clone();
        tokio::spawn(async move {
            if let Ok(answer) = answer.await {
                if let Err(e) = answer.edit().execute(&http, &token).await {
                    tracing::error!("Discord: cannot send an answer: {}", explain(&e.into()));
                }
            }
        });
    }

    /// The warroom role a member holds, by their user id and Discord roles.
    fn access_of(&self, member: &Member, user: &User) -> crate::domain::access::Access {
        let roles: Vec<u64> = member.roles.iter().map(|r| r.get()).collect();
        self.settings.access_of(user.id.get(), &roles)
    }

    /// Answers `POST /discord/interactions`: (HTTP status, JSON body). The signature and
    /// its timestamp are checked before anything else; 401 when the signature is missing or
    /// wrong, or when the signed timestamp is not a Unix time within
    /// [`SIGNATURE_MAX_AGE`] of `now` (a captured request replayed later is refused).
    pub(crate) async fn answer_http(
        self: &Arc<Self>,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> (u16, serde_json::Value) {
        let error = |status: u16, message: &str| (status, serde_json::json!({ "error": message }));
        let Some(verifier) = &self.verifier else {
            return error(
                404,
                "the interactions endpoint is off; set discord.public_key (or WARROOM_DISCORD_PUBLIC_KEY) to the application's public key",
            );
        };
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return error(401, "missing X-Signature-Ed25519 or X-Signature-Timestamp");
        };
        if verifier.verify(signature, timestamp, body).is_err() {
            return error(401, "bad request signature");
        }
        if let Err(why) = fresh(timestamp, now) {
            return error(401, &why);
        }
        let interaction: Interaction = match serde_json::from_slice(body) {
            Ok(i) => i,
            Err(e) => return error(400, &format!("not an interaction Discord sends: {e}")),
        };
        if let Interaction::Ping(_) = interaction {
            return (200, serde_json::json!({ "type": 1 }));
        }
        if let Some(app) = application_of(&interaction) {
            if self.http.application_id().is_none() {
                self.http.set_application_id(app);
            }
        }
        let Some((_, token)) = identity(&interaction) else {
            return error(400, "this kind of interaction is not handled");
        };
        let bot = self.clone();
        let mut work = tokio::spawn(async move { bot.answer(&interaction).await });
        let deferred = match tokio::time::timeout(ANSWER_WINDOW, &mut work).await {
            // A file cannot travel in the JSON answer: it goes in the edit.
            Ok(Ok(answer)) if !matches!(answer, Answer::Reply { file: Some(_), .. }) => {
                return (
                    200,
                    serde_json::to_value(answer.response()).unwrap_or_default(),
                );
            }
            Ok(Ok(answer)) => {
                let ephemeral = answer.is_ephemeral();
                self.edit_later(token, async move { Ok(answer) });
                ephemeral
            }
            Ok(Err(e)) => return error(500, &format!("answering failed: {e}")),
            Err(_) => {
                self.edit_later(token, work);
                false
            }
        };
        let defer = CreateInteractionResponse::Defer(
            CreateInteractionResponseMessage::new().ephemeral(deferred),
        );
        (200, serde_json::to_value(defer).unwrap_or_default())
    }

    /// The answer to an interaction, whichever way it came.
    pub async fn answer(&self, interaction: &Interaction) -> Answer {
        let result = match interaction {
            Interaction::Ping(_) => return Answer::Pong,
            Interaction::Command(command) => self.answer_command(command).await,
            Interaction::Component(click) => self.answer_click(click).await,
            Interaction::Autocomplete(command) => return self.choices(command).await,
            _ => return Answer::private("warroom does not handle this kind of interaction."),
        };
        result.unwrap_or_else(|e| {
            tracing::error!("Discord: {}", explain(&e));
            Answer::private(
                "warroom could not record that (the store did not answer); nothing was lost, try again in a moment.",
            )
        })
    }

    async fn answer_command(&self, command: &CommandInteraction) -> anyhow::Result<Answer> {
        let Some(member) = command.member.as_deref() else {
            return Ok(Answer::private(
                "warroom works in its server's channels, not in direct messages.",
            ));
        };
        let parsed = commands::parsed(&command.data);
        if let Some(question) = self.confirmation(&parsed, member, &command.user) {
            return Ok(question);
        }
        if parsed.words == ["incident", "open"] {
            // The window before the open joins the incident; read it from Discord in case
            // the channel is not watched or the bot was away.
            if let Some(channel) = self.channel_name(command.channel_id).await? {
                if let Err(e) = self.read_lookback(command.channel_id, &channel).await {
                    tracing::warn!(
                        "Discord: cannot read the lookback window of #{channel}: {}",
                        explain(&e)
                    );
                }
            }
        }
        self.run(
            &parsed,
            command.id,
            command.channel_id,
            member,
            &command.user,
        )
        .await
    }

    async fn answer_click(&self, click: &ComponentInteraction) -> anyhow::Result<Answer> {
        let Some(member) = click.member.as_ref() else {
            return Ok(Answer::private(
                "warroom buttons work in its server's channels.",
            ));
        };
        let (kind, rest) = click
            .data
            .custom_id
            .split_once(':')
            .unwrap_or((click.data.custom_id.as_str(), ""));
        if kind == RUN_CONFIRM_BUTTON || kind == RUN_APPROVE_BUTTON {
            // `runconfirm:7:2` → `/confirm run:2 incident:INC-7`
            let (incident, run) = rest.split_once(':').unwrap_or((rest, ""));
            let parsed = ParsedCommand {
                words: vec![if kind == RUN_CONFIRM_BUTTON {
                    "confirm"
                } else {
                    "approve"
                }
                .to_string()],
                options: [
                    ("incident".to_string(), format!("INC-{incident}")),
                    ("run".to_string(), run.to_string()),
                ]
                .into(),
            };
            return self
                .run(&parsed, click.id, click.channel_id, member, &click.user)
                .await;
        }
        if kind == SUGGEST_BUTTON {
            // `suggest:7:failover dns` → `/failover dns incident:INC-7`
            let (incident, command) = rest.split_once(':').unwrap_or((rest, ""));
            let parsed = ParsedCommand {
                words: command.split_whitespace().map(String::from).collect(),
                options: [("incident".to_string(), format!("INC-{incident}"))].into(),
            };
            return self
                .run(&parsed, click.id, click.channel_id, member, &click.user)
                .await;
        }
        if kind == CANCEL_BUTTON {
            return Ok(Answer::private("Cancelled; nothing was done."));
        }
        if kind == COMMAND_BUTTON {
            let Ok(parsed) = crate::domain::command::parse(rest) else {
                return Ok(Answer::private("This button is not warroom's any more."));
            };
            return self
                .run(&parsed, click.id, click.channel_id, member, &click.user)
                .await;
        }
        if kind == CONFIRM_BUTTON {
            let (asker, text) = rest.split_once(':').unwrap_or(("", rest));
            if asker != click.user.id.to_string() {
                return Ok(Answer::private(
                    "Only the person who asked can confirm; run the command yourself if you mean it.",
                ));
            }
            let parsed = match crate::domain::command::parse(text) {
                Ok(parsed) => parsed,
                Err(_) => return Ok(Answer::private("This button is not warroom's any more.")),
            };
            return self
                .run(&parsed, click.id, click.channel_id, member, &click.user)
                .await;
        }
        if kind == OPEN_BUTTON {
            // `/incident open` with no options: the alert's route names title and severity.
            let (severity, title) = rest.split_once(':').unwrap_or(("", rest));
            let parsed = ParsedCommand {
                words: vec!["incident".into(), "open".into()],
                options: [
                    ("title".to_string(), title.to_string()),
                    ("severity".to_string(), severity.to_string()),
                ]
                .into(),
            };
            self.before_open(click.channel_id).await?;
            return self
                .run(&parsed, click.id, click.channel_id, member, &click.user)
                .await;
        }
        let Ok(number) = rest.parse::<u64>().map(IncidentNumber) else {
            return Ok(Answer::private("This button is not warroom's any more."));
        };
        let words = match kind {
            ACK_BUTTON => vec!["ack".to_string()],
            POSTMORTEM_BUTTON => vec!["incident".to_string(), "postmortem".to_string()],
            _ => return Ok(Answer::private("This button is not warroom's any more.")),
        };
        let parsed = ParsedCommand {
            words,
            options: [("incident".to_string(), number.to_string())].into(),
        };
        self.run(&parsed, click.id, click.channel_id, member, &click.user)
            .await
    }

    /// A question with a Confirm button, when the command is one a chat user confirms and
    /// they may run it at all (a refusal needs no confirmation: it is answered at once).
    fn confirmation(&self, parsed: &ParsedCommand, member: &Member, user: &User) -> Option<Answer> {
        let spec = crate::domain::command::spec_for(&parsed.words)?;
        if !spec.confirm || !self.access_of(member, user).allows(spec.needs) {
            return None;
        }
        let text = parsed.to_console_text();
        let custom_id = format!("{CONFIRM_BUTTON}:{}:{text}", user.id);
        if custom_id.chars().count() > CUSTOM_ID_LIMIT {
            // Discord cannot carry it in a button; the command is short in practice.
            return Some(Answer::private(format!(
                "`{text}` is too long to confirm with a button; shorten its options."
            )));
        }
        Some(Answer::Confirm {
            question: format!("Run `{text}`? This cannot be undone with one command."),
            custom_id,
        })
    }

    /// The window before an open joins the incident: read it from Discord first, in case
    /// the channel is not watched or the bot was away. Failing to read it does not stop the
    /// open.
    async fn before_open(&self, channel_id: serenity::all::ChannelId) -> anyhow::Result<()> {
        if let Some(channel) = self.channel_name(channel_id).await? {
            if let Err(e) = self.read_lookback(channel_id, &channel).await {
                tracing::warn!(
                    "Discord: cannot read the lookback window of #{channel}: {}",
                    explain(&e)
                );
            }
        }
        Ok(())
    }

    /// Runs a command as the console would, as the member, and words the reply.
    async fn run(
        &self,
        parsed: &ParsedCommand,
        id: InteractionId,
        channel_id: serenity::all::ChannelId,
        member: &Member,
        user: &User,
    ) -> anyhow::Result<Answer> {
        let access = self.access_of(member, user);
        let channel = self
            .channel_name(channel_id)
            .await?
            .unwrap_or_else(|| "direct-messages".into());
        let input = Input {
            key: format!("discord:interaction:{id}"),
            at: utc_or(id.created_at(), chrono::Utc::now),
            from: self.author(user),
            channel,
            caller: Caller {
                access: Some(access),
                dedicated_channel: true,
                plain_text: false,
                incident_channels_only: false,
            },
            kind: InputKind::Message {
                text: parsed.to_console_text(),
                message_id: None,
                reply_to: None,
                attachments: vec![],
            },
        };
        let outcome = self.warroom.handle(input).await?;
        if outcome.already_recorded {
            return Ok(Answer::private("That was already recorded."));
        }
        let mut text = outcome.reply.unwrap_or_else(|| "Recorded.".into());
        if parsed.words == ["incident", "open"] && !outcome.refused {
            if let Some(number) = outcome.incident {
                match self.ensure_incident_channel(number).await {
                    Ok(Some(created)) => text.push_str(&format!(" Work it in <#{created}>.")),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!("Discord: {number}: {}", explain(&e));
                        text.push_str(
                            " Its Discord channel could not be created yet (see the bot's log); warroom retries when it reconnects.",
                        );
                    }
                }
            }
        }
        let actions: Vec<(String, String)> = outcome
            .actions
            .iter()
            .map(|a| (format!("{COMMAND_BUTTON}:{}", a.command), a.label.clone()))
            .filter(|(id, _)| id.chars().count() <= CUSTOM_ID_LIMIT)
            .collect();
        if !actions.is_empty() && !outcome.refused {
            return Ok(Answer::WithButtons {
                text: fit(&text, MESSAGE_LIMIT),
                buttons: actions,
            });
        }
        if let (Some(number), false) = (outcome.incident, outcome.refused) {
            if let Some(buttons) = self.run_buttons(parsed, number, &self.author(user)).await? {
                return Ok(Answer::WithButtons {
                    text: fit(&text, MESSAGE_LIMIT),
                    buttons,
                });
            }
        }
        let file_name = match (parsed.words.get(1).map(String::as_str), outcome.incident) {
            (Some("postmortem"), Some(number)) => postmortem_file_name(number),
            (Some("timeline"), Some(number)) => format!("timeline-{number}.md"),
            _ => "reply.md".to_string(),
        };
        if parsed.words.get(1).map(String::as_str) == Some("postmortem") && !outcome.refused {
            // The draft always travels as the file people download and edit.
            let first = format!(
                "Post-mortem draft of {} as of now.",
                outcome.incident.map(|n| n.to_string()).unwrap_or_default()
            );
            return Ok(Answer::Reply {
                text: first,
                ephemeral: false,
                file: Some((file_name, text.into_bytes())),
            });
        }
        Ok(Answer::reply(text, outcome.refused, &file_name))
    }

    /// Confirm and Approve buttons under a runbook run the person just asked for, while it
    /// waits for them.
    async fn run_buttons(
        &self,
        parsed: &ParsedCommand,
        number: IncidentNumber,
        requester: &str,
    ) -> anyhow::Result<Option<Vec<(String, String)>>> {
        if self.warroom.runbook_for(&parsed.words).is_none() {
            return Ok(None);
        }
        let records = self.warroom.incident_records(number).await?;
        let Some(run) = crate::domain::run::runs(&records)
            .into_iter()
            .rev()
            .find(|r| r.requested_by == requester)
        else {
            return Ok(None);
        };
        let mut buttons = Vec::new();
        if run.state == crate::domain::run::RunState::AwaitingConfirmation {
            buttons.push((
                format!("{RUN_CONFIRM_BUTTON}:{}:{}", number.0, run.number),
                format!("Confirm run {}", run.number),
            ));
        }
        if run.approval.is_some() && run.approved_by.is_none() {
            buttons.push((
                format!("{RUN_APPROVE_BUTTON}:{}:{}", number.0, run.number),
                format!("Approve run {}", run.number),
            ));
        }
        Ok((!buttons.is_empty()).then_some(buttons))
    }

    /// Autocomplete: open incidents, contacts or teams matching what was typed.
    async fn choices(&self, command: &CommandInteraction) -> Answer {
        let Some(focused) = command.data.autocomplete() else {
            return Answer::Choices(vec![]);
        };
        let typed = focused.value.to_lowercase();
        let matches = |text: &str| text.to_lowercase().contains(&typed);
        let directory = &self.warroom.settings().directory;
        let choices: Vec<(String, String)> = match focused.name {
            "incident" => self
                .warroom
                .open_incidents()
                .await
                .unwrap_or_default()
                .into_iter()
                .rev()
                .map(|i| (format!("{} · {}", i.number, i.title), i.number.to_string()))
                .filter(|(shown, _)| matches(shown))
                .collect(),
            "user" | "owner" => directory
                .contacts()
                .iter()
                .map(|c| {
                    (
                        format!("{} (@{}, {})", c.name, c.handle, c.team),
                        c.handle.clone(),
                    )
                })
                .filter(|(shown, _)| matches(shown))
                .collect(),
            "team" => directory
                .teams()
                .iter()
                .map(|t| {
                    let alias = t.aliases.first().cloned().unwrap_or_else(|| t.name.clone());
                    (t.name.clone(), alias)
                })
                .filter(|(shown, value)| matches(shown) || matches(value))
                .collect(),
            _ => vec![],
        };
        Answer::Choices(
            choices
                .into_iter()
                .take(MAX_CHOICES)
                .map(|(shown, value)| (fit(&shown, 100), value))
                .collect(),
        )
    }
}

/// The id and token an answer goes to.
fn identity(interaction: &Interaction) -> Option<(InteractionId, String)> {
    match interaction {
        Interaction::Command(c) | Interaction::Autocomplete(c) => Some((c.id, c.token.clone())),
        Interaction::Component(c) => Some((c.id, c.token.clone())),
        _ => None,
    }
}

fn application_of(interaction: &Interaction) -> Option<serenity::all::ApplicationId> {
    match interaction {
        Interaction::Command(c) | Interaction::Autocomplete(c) => Some(c.application_id),
        Interaction::Component(c) => Some(c.application_id),
        _ => None,
    }
}
