//! Slash commands: registered from the domain's command table, so Discord and the console
//! offer the same words, options and help; read back into the console syntax.
//!
//! `/incident open` is the command `incident` with the subcommand `open`; a one-word command
//! (`/ack`) has its options directly. Options whose usage shape lists the values
//! (`sev1|sev2|sev3|sev4`) get those as choices; incidents, people and teams are offered by
//! autocomplete.

use crate::domain::command::{CommandSpec, OptionSpec, ParsedCommand, COMMANDS};
use serenity::all::{
    CommandData, CommandDataOption, CommandDataOptionValue, CommandOptionType, CreateCommand,
    CreateCommandOption,
};
use std::collections::BTreeMap;

/// Discord's longest command and option description.
const DESCRIPTION_LIMIT: usize = 100;

/// Options whose values come from warroom's state, offered as the person types.
pub const AUTOCOMPLETED: &[&str] = &["incident", "user", "owner", "team"];

/// The guild commands, built from the command table.
pub fn guild_commands() -> Vec<CreateCommand> {
    let mut groups: BTreeMap<&str, Vec<&CommandSpec>> = BTreeMap::new();
    for spec in COMMANDS {
        groups.entry(spec.words[0]).or_default().push(spec);
    }
    groups
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
        .collect()
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
        let commands = serde_json::to_value(guild_commands()).unwrap();
        let names: Vec<&str> = commands
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ack", "approve", "confirm", "help", "incident"]);
        let incident = &commands[4];
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
