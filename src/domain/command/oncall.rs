//! The on-call commands (`/oncall …`): their table entries and the shift and schedule
//! orders they become.

use super::{ChatCommand, CommandError, CommandSpec, OptionSpec, Options};
use crate::domain::access::Access;
use crate::domain::schedule::orders::ScheduleOrder;
use crate::domain::shift::OncallOrder;

const FROM: OptionSpec = OptionSpec {
    name: "from",
    required: true,
    shape: "TIME",
    help: "when it starts: now, 2026-12-07 09:00 (the schedule's zone) or an RFC 3339 time",
};
const SWAP_REF: OptionSpec = OptionSpec {
    name: "ref",
    required: true,
    shape: "REF",
    help: "the swap's reference",
};
const ONLY_IN_SCHEDULE: OptionSpec = OptionSpec {
    name: "schedule",
    required: false,
    shape: "NAME",
    help: "only in this schedule",
};
const TO: OptionSpec = OptionSpec {
    name: "to",
    required: true,
    shape: "TIME",
    help: "when it ends: a time as for from, or +8h / +2d after from",
};

/// The on-call commands, in the order they are listed.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        words: &["oncall", "start"],
        help: "Go on call (or put someone else on call), taking over from whoever is",
        options: &[OptionSpec {
            name: "user",
            required: false,
            shape: "@handle",
            help: "who goes on call, when not you",
        }],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "end"],
        help: "End the current on-call shift and post its summary",
        options: &[],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "who"],
        help: "Who is on call now: the shift, and each schedule's person and next hand-off",
        options: &[OptionSpec {
            name: "schedule",
            required: false,
            shape: "NAME",
            help: "only this schedule",
        }],
        needs: Access::Viewer,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "override"],
        help: "Put someone on call over whoever a schedule has on call, for a while",
        options: &[
            OptionSpec {
                name: "schedule",
                required: true,
                shape: "NAME",
                help: "the schedule",
            },
            OptionSpec {
                name: "user",
                required: true,
                shape: "@handle",
                help: "who goes on call",
            },
            FROM,
            TO,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "cover"],
        help: "Take someone's on-call turns for a while (in every schedule, or one)",
        options: &[
            OptionSpec {
                name: "user",
                required: true,
                shape: "@handle",
                help: "whose turns you take",
            },
            FROM,
            TO,
            ONLY_IN_SCHEDULE,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "roster"],
        help: "Change who a schedule's rotation turns through, from a time on",
        options: &[
            OptionSpec {
                name: "schedule",
                required: true,
                shape: "NAME",
                help: "the schedule",
            },
            OptionSpec {
                name: "people",
                required: true,
                shape: "\"@a @b none\"",
                help: "the people in turn order; none is a turn nobody takes",
            },
            FROM,
            OptionSpec {
                name: "layer",
                required: false,
                shape: "N|NAME",
                help: "which layer, when the schedule has several",
            },
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "swap"],
        help: "Ask someone to take your turns for a while (and take theirs in return); they accept or decline",
        options: &[
            OptionSpec {
                name: "user",
                required: true,
                shape: "@handle",
                help: "whom you ask",
            },
            FROM,
            TO,
            OptionSpec {
                name: "back_from",
                required: false,
                shape: "TIME",
                help: "in return, you take their turns from this time (with back_to)",
            },
            OptionSpec {
                name: "back_to",
                required: false,
                shape: "TIME",
                help: "until this time, or +8h after back_from",
            },
            ONLY_IN_SCHEDULE,
        ],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "accept"],
        help: "Accept a swap you were asked for",
        options: &[SWAP_REF],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "decline"],
        help: "Decline a swap you were asked for",
        options: &[SWAP_REF],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "cancel"],
        help: "Withdraw an override or cover by its reference",
        options: &[OptionSpec {
            name: "ref",
            required: true,
            shape: "REF",
            help: "the reference the override was given (8 hex digits)",
        }],
        needs: Access::Responder,
        confirm: false,
    },
    CommandSpec {
        words: &["oncall", "summary"],
        help: "The on-call summary log of a shift: alerts, what was done, figures, toil",
        options: &[OptionSpec {
            name: "shift",
            required: false,
            shape: "N",
            help: "the shift, when not the current or last one",
        }],
        needs: Access::Viewer,
        confirm: false,
    },
];

/// Builds the typed command for one of this group's words; its options are already checked
/// against the table.
pub(super) fn interpret(o: &Options) -> Result<ChatCommand, CommandError> {
    match o.words() {
        ["oncall", "start"] => Ok(ChatCommand::Oncall(OncallOrder::Start(
            o.handle("user").filter(|u| !u.is_empty()),
        ))),
        ["oncall", "end"] => Ok(ChatCommand::Oncall(OncallOrder::End)),
        ["oncall", "who"] => Ok(ChatCommand::Oncall(OncallOrder::Who(o.get("schedule")))),
        ["oncall", "override"] => Ok(ChatCommand::Schedule(ScheduleOrder::Override {
            schedule: o.get("schedule").unwrap_or_default(),
            person: o.handle("user").unwrap_or_default(),
            from: o.get("from").unwrap_or_default(),
            to: o.get("to").unwrap_or_default(),
        })),
        ["oncall", "cover"] => Ok(ChatCommand::Schedule(ScheduleOrder::Cover {
            schedule: o.get("schedule"),
            person: o.handle("user").unwrap_or_default(),
            from: o.get("from").unwrap_or_default(),
            to: o.get("to").unwrap_or_default(),
        })),
        ["oncall", "roster"] => Ok(ChatCommand::Schedule(ScheduleOrder::Roster {
            schedule: o.get("schedule").unwrap_or_default(),
            layer: o.get("layer"),
            people: o.get("people").unwrap_or_default(),
            from: o.get("from").unwrap_or_default(),
        })),
        ["oncall", "swap"] => Ok(ChatCommand::Schedule(ScheduleOrder::Swap {
            schedule: o.get("schedule"),
            person: o.handle("user").unwrap_or_default(),
            from: o.get("from").unwrap_or_default(),
            to: o.get("to").unwrap_or_default(),
            back: match (o.get("back_from"), o.get("back_to")) {
                (Some(f), Some(t)) => Some((f, t)),
                (None, None) => None,
                _ => {
                    return Err(o.invalid("give back_from and back_to together, or neither".into()))
                }
            },
        })),
        ["oncall", answer @ ("accept" | "decline")] => {
            Ok(ChatCommand::Schedule(ScheduleOrder::Answer {
                reference: o.get("ref").unwrap_or_default().to_ascii_lowercase(),
                accept: *answer == "accept",
            }))
        }
        ["oncall", "cancel"] => Ok(ChatCommand::Schedule(ScheduleOrder::Cancel {
            reference: o.get("ref").unwrap_or_default().to_ascii_lowercase(),
        })),
        ["oncall", "summary"] => Ok(ChatCommand::Oncall(OncallOrder::Summary(
            o.get("shift")
                .map(|n| {
                    n.trim_start_matches('#').parse::<u32>().map_err(|_| {
                        o.invalid(format!("shift:{n} is not a shift number; write shift:3"))
                    })
                })
                .transpose()?,
        ))),
        _ => Err(o.not_interpreted()),
    }
}
