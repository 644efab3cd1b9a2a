//! The layering rule, read from the code: every `crate::…` path in `src/` must point down
//! (domain and store ← config ← app ← adapters ← the composition roots), adapters never
//! import each other, and each framework crate stays inside the adapter that owns it.
//! ARCHITECTURE.md's code map states these rules; this test is what keeps them true.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The floor of each top-level module. A module may use only modules on lower floors; two
/// modules on one floor may not use each other (the adapters stand side by side).
const FLOORS: &[(&str, u8)] = &[
    // Foundations: no warroom imports of note.
    ("clock", 0),
    ("metrics", 0),
    ("problems", 0),
    ("progress", 0),
    ("secret", 0),
    ("small_file", 0),
    ("time_range", 0),
    ("unknown_keys", 0),
    // The pure domain, the ledger, and logging's set-up.
    ("domain", 1),
    ("logging", 1),
    ("store", 1),
    // What the server and the agent say to each other; checkpoints of the ledger.
    ("protocol", 2),
    // What Twilio and warroom say to each other: the sender's and the webhooks' common ground.
    ("twilio", 2),
    ("witness", 2),
    // The checked configuration.
    ("config", 3),
    // The use cases.
    ("app", 4),
    // Adapters, side by side.
    ("agent", 5),
    ("discord", 5),
    ("http", 5),
    ("notify", 5),
    // The web console, served beside the HTTP doors.
    ("web", 5),
    // Other on-call tools' exports read into warroom's configuration.
    ("oncall_import", 5),
    // Composition roots: they wire adapters together.
    ("bench", 6),
    ("demo", 6),
    ("serve", 6),
    ("cli", 7),
];

/// Framework crates and the only places that may name them (a folder, or one file).
const FRAMEWORKS: &[(&str, &[&str])] = &[
    ("sqlx", &["store/"]),
    ("serenity", &["discord/"]),
    ("tokio_tungstenite", &["discord/"]),
    // Email goes out through the notifier only.
    ("lettre", &["notify/"]),
    // Progress bars: one module, which every long command goes through.
    ("indicatif", &["progress.rs"]),
    // The HTTP server. The Discord adapter's REST relay is a loopback server of its own;
    // the benchmark's outside parties include a pager that receives pages.
    (
        "axum",
        &["http/", "web/", "discord/relay.rs", "bench/outside.rs"],
    ),
    // HTML templates: the web console's.
    ("maud", &["web/"]),
    ("hyper", &["http/"]),
    ("tower_http", &["http/"]),
    // Outbound HTTP: pagers, the agent, Discord's relay, the CLI's client of a running
    // server, and the benchmark's senders.
    (
        "reqwest",
        &[
            "notify/",
            "agent/",
            "discord/relay.rs",
            "cli/remote.rs",
            "bench/outside.rs",
            // Discord's OAuth2 token and user endpoints, for signing in to the console.
            "web/",
        ],
    ),
];

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Every file under `src/` with its path relative to `src/` (`app/intake.rs`) and its code,
/// comments left out (a doc link is not an import).
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).unwrap();
            let code: Vec<&str> = text
                .lines()
                .map(|line| match line.find("//") {
                    // A `//` inside a string (a URL) is kept; a comment is cut off.
                    Some(at) if line[..at].matches('"').count() % 2 == 0 => &line[..at],
                    _ => line,
                })
                .collect();
            (relative, code.join("\n"))
        })
        .collect()
}

/// The top-level module a file belongs to: `app/intake.rs` → `app`, `cli.rs` → `cli`.
fn module_of(relative: &str) -> &str {
    let first = relative.split('/').next().unwrap();
    first.strip_suffix(".rs").unwrap_or(first)
}

fn floor(module: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|(_, f)| *f)
}

/// The modules named by `crate::NAME` paths in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        // `warroom_crate::` or `some_crate::` are other crates' paths.
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = code[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.insert(name);
        }
    }
    names
}

/// Whether `code` names the external crate `krate` (`use krate::…`, `krate::x`).
fn names_crate(code: &str, krate: &str) -> bool {
    let needle = format!("{krate}::");
    code.match_indices(&needle).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

#[test]
fn every_module_has_a_floor() {
    let files = sources();
    let unknown: BTreeSet<&str> = files
        .iter()
        .map(|(file, _)| module_of(file))
        .filter(|m| !matches!(*m, "lib" | "main") && floor(m).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "give these modules a floor in tests/it/layering.rs (and a line in ARCHITECTURE.md): {unknown:?}"
    );
}

#[test]
fn imports_point_down_and_adapters_stand_apart() {
    let mut wrong = Vec::new();
    for (file, code) in sources() {
        let module = module_of(&file);
        let Some(own) = floor(module) else { continue };
        for used in crate_paths(&code) {
            if used == module {
                continue;
            }
            match floor(&used) {
                Some(theirs) if theirs < own => {}
                Some(theirs) if theirs == own => wrong.push(format!(
                    "{file} uses crate::{used}, beside it on floor {own}"
                )),
                Some(theirs) => wrong.push(format!(
                    "{file} (floor {own}) uses crate::{used}, above it on floor {theirs}"
                )),
                None => wrong.push(format!("{file} uses crate::{used}, which has no floor")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn framework_crates_stay_in_their_adapters() {
    let mut wrong = Vec::new();
    for (file, code) in sources() {
        for (krate, allowed) in FRAMEWORKS {
            let inside = allowed.iter().any(|place| {
                if place.ends_with('/') {
                    file.starts_with(place)
                } else {
                    file == *place
                }
            });
            if !inside && names_crate(&code, krate) {
                wrong.push(format!("{file} names {krate} (allowed in {allowed:?})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "framework code outside its adapter:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The readers themselves, so a broken parser cannot pass everything.
    let code = "use crate::app::Warroom;\nlet x = crate::store::Ledger::open();\nmy_crate::x();";
    let found: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(found, ["app", "store"]);
    assert!(names_crate("use sqlx::Row;", "sqlx"));
    assert!(!names_crate("use crate::store::sqlx_free::x;", "sqlx"));
    assert!(!names_crate("my_sqlx::Row", "sqlx"));
    assert_eq!(module_of("app/releases/view.rs"), "app");
    assert_eq!(module_of("cli.rs"), "cli");
    // The tree is really read: the composition root uses the server adapter.
    let serve = sources()
        .into_iter()
        .find(|(f, _)| f == "serve/mod.rs")
        .expect("src/serve/mod.rs is read");
    assert!(crate_paths(&serve.1).contains("http"));
}
