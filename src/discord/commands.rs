//! Slash commands: registered from the domain's command table, so Discord and the console
//! offer the same words, options and help; read back into the console syntax.
//!
//! `/incident open` is the command `incident` with the subcommand `open`; a one-word command
//! (`/ack`) has its options directly. Options whose usage shape lists the values
//! (`sev1|sev2|sev3|sev4`) get those as choices; incidents, people and teams are offered by
//! autocomplete.

use crate::domain::command::{CommandSpec, OptionSpec, ParsedCommand, COMMANDS, INCIDENT};
use crate::domain::runbook::Runbook;
use serenity::all::{
    CommandData, CommandDataOption, CommandDataOptionValue, CommandOptionType, CreateCommand,
    CreateCommandOption,
};
use std::collections::BTreeMap;

/// Discord's longest command and option description.
const DESCRIPTION_LIMIT: usize = 100;

/// Options whose values come from warroom's state, offered as the person types.
pub const AUTOCOMPLETED: &[&str] = &["incident", "user", "owner", "team"];

/// The guild commands: the command table's, then one per runbook (`/failover dns`, its
/// parameters as options, choices where the runbook lists them).
pub fn guild_commands(runbooks: &[Runbook]) -> Vec<CreateCommand> {
    let mut groups: BTreeMap<&str, Vec<&CommandSpec>> = BTreeMap::new();
    for spec in COMMANDS {
        groups.entry(spec.words[0]).or_default().push(spec);
    }
    let mut commands: Vec<CreateCommand> = groups
        .into_iter()
        .map(|(name, specs)| match specs.as_slice() {
            [single] if single.words.len() == 1 => specs_options(
                CreateCommand::new(name).description(describe(single.help)),
                single.options,
            ),
            _ => {
                let names: Vec<&str> = specs
                    .iter()
                    .filter_map(|s| s.words.get(1).copied())
                    .collect();
                let mut command = CreateCommand::new(name)
                    .description(describe(&format!(
                        "{}: {}",
                        capitalised(name),
                        names.join(", ")
                    )))
                    .dm_permission(false);
                for spec in specs.iter().filter(|s| s.words.len() == 2) {
                    let mut sub = CreateCommandOption::new(
                        CommandOptionType::SubCommand,
                        spec.words[1],
                        describe(spec.help),
                    );
                    for option in spec.options {
                        sub = sub.add_sub_option(option_of(option));
                    }
                    command = command.add_option(sub);
                }
                command
            }
        })
        .collect();
    let mut runbook_groups: BTreeMap<&str, Vec<&Runbook>> = BTreeMap::new();
    for runbook in runbooks {
        runbook_groups
            .entry(runbook.command[0].as_str())
            .or_default()
            .push(runbook);
    }
    for (name, books) in runbook_groups {
        let mut command = CreateCommand::new(name).dm_permission(false);
        match books.as_slice() {
            [single] if single.command.len() == 1 => {
                command = command.description(describe(&single.description));
                for option in runbook_options(single) {
                    command = command.add_option(option);
                }
            }
            _ => {
                let names: Vec<&str> = books
                    .iter()
                    .filter_map(|b| b.command.get(1).map(String::as_str))
                    .collect();
                command = command.description(describe(&format!("Runbooks: {}", names.join(", "))));
                for book in books.iter().filter(|b| b.command.len() == 2) {
                    let mut sub = CreateCommandOption::new(
                        CommandOptionType::SubCommand,
                        book.command[1].clone(),
                        describe(&book.description),
                    );
                    for option in runbook_options(book) {
                        sub = sub.add_sub_option(option);
                    }
                    command = command.add_option(sub);
                }
            }
        }
        commands.push(command);
    }
    commands
}

/// A runbook's parameters as options (required first, as Discord wants), then `incident`.
fn runbook_options(runbook: &Runbook) -> Vec<CreateCommandOption> {
    let mut params: Vec<_> = runbook.params.iter().collect();
    params.sort_by_key(|p| !(p.required && p.default.is_none()));
    let mut options: Vec<CreateCommandOption> = params
        .into_iter()
        .map(|p| {
            let help = if p.help.is_empty() {
                p.name.as_str()
            } else {
                p.help.as_str()
            };
            let mut option =
                CreateCommandOption::new(CommandOptionType::String, p.name.clone(), describe(help))
                    .required(p.required && p.default.is_none());
            for choice in p.choices.iter().take(25) {
                option = option.add_string_choice(choice.clone(), choice.clone());
            }
            option
        })
        .collect();
    options.push(option_of(&INCIDENT));
    options
}

fn specs_options(mut command: CreateCommand, options: &[OptionSpec]) -> CreateCommand {
    for option in options {
        command = command.add_option(option_of(option));
    }
    command.dm_permission(false)
}

fn option_of(spec: &OptionSpec) -> CreateCommandOption {
    let mut option =
        CreateCommandOption::new(CommandOptionType::String, spec.name, describe(spec.help))
            .required(spec.required);
    for choice in choices(spec.shape) {
        option = option.add_string_choice(choice, choice);
    }
    if AUTOCOMPLETED.contains(&spec.name) {
        option = option.set_autocomplete(true);
    }
    option
}

/// The values a shape such as `sev1|sev2|sev3|sev4` lists; none for free text.
pub fn choices(shape: &str) -> Vec<&str> {
    if shape.contains('|') && !shape.contains('"') {
        shape.split('|').collect()
    } else {
        vec![]
    }
}

fn describe(text: &str) -> String {
    if text.chars().count() <= DESCRIPTION_LIMIT {
        return text.to_string();
    }
    let mut short: String = text.chars().take(DESCRIPTION_LIMIT - 1).collect();
    short.push('…');
    short
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Reads an invoked slash command as the console would have: its words and options.
pub fn parsed(data: &CommandData) -> ParsedCommand {
    let mut words = vec![data.name.to_lowercase()];
    let mut options = BTreeMap::new();
    collect(&data.options, &mut words, &mut options);
    ParsedCommand { words, options }
}

fn collect(
    given: &[CommandDataOption],
    words: &mut Vec<String>,
    options: &mut BTreeMap<String, String>,
) {
    for option in given {
        let value = match &option.value {
            CommandDataOptionValue::SubCommand(inner)
            | CommandDataOptionValue::SubCommandGroup(inner) => {
                words.push(option.name.to_lowercase());
                collect(inner, words, options);
                continue;
            }
            CommandDataOptionValue::String(s) => s.clone(),
            CommandDataOptionValue::Autocomplete { value, .. } => value.clone(),
            CommandDataOptionValue::Integer(i) => i.to_string(),
            CommandDataOptionValue::Number(n) => n.to_string(),
            CommandDataOptionValue::Boolean(b) => b.to_string(),
            CommandDataOptionValue::User(id) => format!("<@{id}>"),
            CommandDataOptionValue::Role(id) => format!("<@&{id}>"),
            CommandDataOptionValue::Channel(id) => format!("<#{id}>"),
            other => format!("{other:?}"),
        };
        options.insert(option.name.to_lowercase(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_of_the_table_is_registered_with_its_choices() {
        let runbooks = crate::config::Settings::example().unwrap().runbooks;
        let commands = serde_json::to_value(guild_commands(&runbooks)).unwrap();
        let names: Vec<&str> = commands
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        // The table's commands, then the runbooks'.
        assert_eq!(
            names,
            [
                "ack", "action", "actions", "approve", "confirm", "deploy", "deploys", "help",
                "incident", "oncall", "release", "cleanup", "failover", "redeploy", "restart"
            ]
        );
        let named = |name: &str| {
            commands
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .unwrap()
        };
        let failover = named("failover");
        assert_eq!(failover["options"][0]["name"], "dns");
        let cleanup = &named("cleanup")["options"][0];
        let dir = cleanup["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "dir")
            .unwrap();
        assert_eq!(dir["choices"][0]["value"], "/var/log/exoticplant");
        let incident = named("incident");
        let subcommands: Vec<&str> = incident["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        assert!(subcommands.contains(&"open") && subcommands.contains(&"close"));
        let open = incident["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "open")
            .unwrap();
        let severity = open["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "severity")
            .unwrap();
        let values: Vec<&str> = severity["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["sev1", "sev2", "sev3", "sev4"]);
        assert_eq!(open["options"][0]["name"], "title");
        assert_eq!(open["options"][0]["required"], true);
        for command in commands.as_array().unwrap() {
            assert!(command["description"].as_str().unwrap().chars().count() <= 100);
        }
    }
}
