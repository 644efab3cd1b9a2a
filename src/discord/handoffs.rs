//! Telling people of a schedule's hand-over: a line in the announcement channel that
//! mentions the incoming and outgoing people, and a direct message to each.

use super::Bot;
use crate::app::HandOff;
use serenity::all::{CreateMessage, UserId};

impl Bot {
    /// The Discord user a contact handle is mapped to (`discord.users`), if any.
    fn user_of(&self, handle: &str) -> Option<UserId> {
        self.settings
            .users
            .iter()
            .find(|(_, h)| h.as_str() == handle)
            .map(|(id, _)| UserId::new(*id))
    }

    pub(super) async fn tell_handoff(&self, handoff: &HandOff) -> anyhow::Result<()> {
        let settings = self.warroom.settings();
        let zone = settings
            .schedules
            .get(&handoff.schedule)
            .map_or(settings.timezone, |c| c.schedule.zone);
        let name = |who: &Option<String>| match who {
            Some(h) => match self.user_of(h) {
                Some(id) => format!("<@{id}>"),
                None => settings.directory.display(h),
            },
            None => "nobody".to_string(),
        };
        let until = handoff
            .until
            .map(|t| {
                format!(
                    " until {}",
                    t.with_timezone(&zone).format("%a %d %b %H:%M %Z")
                )
            })
            .unwrap_or_default();
        let text = format!(
            "🔁 {}: {} is on call now{until}, taking over from {}.",
            handoff.schedule,
            name(&handoff.incoming),
            name(&handoff.outgoing)
        );
        self.announce(&text).await?;
        let direct = [
            (
                &handoff.incoming,
                format!("🔁 You are on call for {} now{until}.", handoff.schedule),
            ),
            (
                &handoff.outgoing,
                format!(
                    "🔁 Your on-call turn for {} has ended; {} took over.",
                    handoff.schedule,
                    name(&handoff.incoming)
                ),
            ),
        ];
        for (who, text) in direct {
            let Some(user) = who.as_deref().and_then(|h| self.user_of(h)) else {
                continue;
            };
            // A DM that cannot be sent (DMs closed) does not undo the announcement.
            let sent = async {
                let dm = user.create_dm_channel(&self.http).await?;
                dm.id
                    .send_message(&self.http, CreateMessage::new().content(text))
                    .await
            };
            if let Err(e) = sent.await {
                tracing::warn!(user = %user, "Discord: could not tell of the hand-over by DM: {e}");
            }
        }
        Ok(())
    }
}
