//! Paging through Discord: a mention of everyone paged in the incident's channel, with an
//! Acknowledge button, and a direct message to each of them who has a Discord id in config.

use super::channels::incident_buttons;
use super::{explain, Bot};
use crate::app::paging::transport::{Attempt, ChatPager, Page, PageAction};
use crate::domain::escalation::Target;
use crate::domain::types::IncidentNumber;
use serenity::all::{CreateMessage, UserId};
use std::sync::Arc;

/// The Discord pager of `[[pagers]] kind = "discord"`.
#[derive(Clone)]
pub struct DiscordPager {
    bot: Arc<Bot>,
}

impl std::fmt::Debug for DiscordPager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DiscordPager")
    }
}

impl DiscordPager {
    pub fn new(bot: Arc<Bot>) -> DiscordPager {
        DiscordPager { bot }
    }

    /// The Discord users a target reaches: the contacts in it that config maps to an id.
    fn users_of(&self, target: &str) -> Vec<UserId> {
        let directory = &self.bot.warroom.settings().directory;
        let handles: Vec<String> = match Target::parse(target) {
            Ok(Target::Person(handle)) => vec![handle],
            Ok(Target::Team(team)) => directory
                .contacts()
                .iter()
                .filter(|c| {
                    c.team == team
                        || directory
                            .teams()
                            .iter()
                            .any(|t| t.name == c.team && t.aliases.contains(&team))
                })
                .map(|c| c.handle.clone())
                .collect(),
            Ok(Target::Everyone) => directory
                .contacts()
                .iter()
                .map(|c| c.handle.clone())
                .collect(),
            // A schedule is resolved to whoever is on call before a page is recorded.
            Ok(Target::Schedule(_)) | Err(_) => vec![],
        };
        let people: Vec<String> = handles
            .iter()
            .filter_map(|h| directory.person(h).map(|c| c.handle.clone()))
            .collect();
        self.bot
            .settings
            .users
            .iter()
            .filter(|(_, handle)| people.contains(handle))
            .map(|(id, _)| UserId::new(*id))
            .collect()
    }
}

#[async_trait::async_trait]
impl ChatPager for DiscordPager {
    async fn page(&self, page: &Page) -> Attempt {
        // Acknowledgements and resolutions are already said in the channel by whoever did
        // them; the mirror has nothing to add.
        if page.action != PageAction::Trigger {
            return Attempt::Delivered { status: 200 };
        }
        let Some(number) = page.incident.parse::<IncidentNumber>().ok() else {
            return Attempt::Refused {
                status: 400,
                error: format!("'{}' is not an incident", page.incident),
            };
        };
        let channel = match self.bot.ensure_incident_channel(number).await {
            Ok(Some(channel)) => channel,
            Ok(None) => {
                return Attempt::Refused {
                    status: 404,
                    error: format!("{number} does not exist"),
                }
            }
            Err(e) => return failed(&e),
        };
        let users = self.users_of(&page.target);
        let directory = &self.bot.warroom.settings().directory;
        let mentions = if users.is_empty() {
            // Nobody to mention: the page still shows in the channel, by name.
            directory.display(page.target.trim_start_matches(['@', '!']))
        } else {
            users
                .iter()
                .map(|u| format!("<@{u}>"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut text = format!("📟 {mentions}: you are paged for {}", page.summary);
        if let Some(message) = &page.message {
            text.push_str(&format!("\n> {message}"));
        }
        text.push_str("\nPress Acknowledge (or `/ack`) to stop the escalation.");
        if let Err(e) = channel
            .send_message(
                &self.bot.http,
                CreateMessage::new()
                    .content(super::channels::fit(&text, super::MESSAGE_LIMIT))
                    .components(incident_buttons(number)),
            )
            .await
        {
            return failed(&e.into());
        }
        for user in users {
            // A DM that cannot be sent (DMs closed) does not undo the channel mention.
            let dm = async {
                let dm = user.create_dm_channel(&self.bot.http).await?;
                dm.id
                    .send_message(
                        &self.bot.http,
                        CreateMessage::new()
                            .content(format!(
                                "📟 You are paged for {} in <#{channel}>.",
                                page.summary
                            ))
                            .components(incident_buttons(number)),
                    )
                    .await
            };
            if let Err(e) = dm.await {
                tracing::warn!(user = %user, "Discord: could not send the page by DM: {}", explain(&e.into()));
            }
        }
        Attempt::Delivered { status: 200 }
    }
}

/// A Discord failure as a page attempt: rate limits and server errors are worth retrying,
/// a missing permission or channel is not.
fn failed(error: &anyhow::Error) -> Attempt {
    let status = error
        .chain()
        .find_map(|e| match e.downcast_ref::<serenity::Error>() {
            Some(serenity::Error::Http(http)) => http.status_code().map(|s| s.as_u16()),
            _ => None,
        });
    let text = explain(error);
    match status {
        Some(s) if (400..500).contains(&s) && s != 408 && s != 429 => Attempt::Refused {
            status: s,
            error: text,
        },
        _ => Attempt::Retryable {
            status,
            error: text,
            retry_after: None,
        },
    }
}
