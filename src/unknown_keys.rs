//! Reading a TOML file while noting every key that nothing reads, so that all the typos of a
//! file are reported in one run rather than one per run (`deny_unknown_fields` stops at the
//! first).

use serde::de::DeserializeOwned;

/// Deserialises `text`, and lists the keys it has that `T` does not take, as dotted paths
/// (`routes[0].sevrity`), in the order they appear.
pub fn from_toml<T: DeserializeOwned>(text: &str) -> (Result<T, toml::de::Error>, Vec<String>) {
    let mut unknown = Vec::new();
    let parsed = serde_ignored::deserialize(toml::Deserializer::new(text), |path| {
        unknown.push(key_of(&path))
    });
    (parsed, unknown)
}

fn key_of(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_of(parent)),
        // `toml::Spanned` reads its value through a private key: not part of the file's path.
        Path::Map { parent, key } if key.starts_with("$__") => key_of(parent),
        Path::Map { parent, key } => match key_of(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => key_of(parent),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct File {
        #[allow(dead_code)]
        name: String,
        #[serde(default)]
        #[allow(dead_code)]
        items: Vec<Item>,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Item {
        #[allow(dead_code)]
        id: toml::Spanned<String>,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Spans {
        #[allow(dead_code)]
        items: toml::Spanned<Vec<Item>>,
    }

    #[test]
    fn every_unknown_key_is_listed_with_its_path() {
        let text = "name = 'x'\nnmae = 'y'\n[[items]]\nid = 'a'\n[[items]]\nid = 'b'\nidd = 'c'\n[extra]\nz = 1\n";
        let (parsed, unknown) = super::from_toml::<File>(text);
        assert!(parsed.is_ok(), "{parsed:?}");
        assert_eq!(unknown, ["nmae", "items[1].idd", "extra"]);
        let (parsed, unknown) = super::from_toml::<Spans>("[[items]]\nid = 'a'\nidd = 'b'\n");
        assert!(parsed.is_ok(), "{parsed:?}");
        assert_eq!(
            unknown,
            ["items[0].idd"],
            "a Spanned wrapper is not part of the path"
        );
    }
}
