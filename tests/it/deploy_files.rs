//! The deployment files warroom ships — `deploy/Dockerfile`, `deploy/kubernetes/*.yaml`,
//! `deploy/systemd/*` — checked against each other and against warroom's own configuration
//! loaders, so a probe on the wrong path, a Service that selects no pod, a secret the
//! Deployment does not pass or a configuration key warroom refuses fails CI rather than a
//! rollout.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use warroom::agent::config::AgentConfig;
use warroom::config::Settings;
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---- Kubernetes ------------------------------------------------------------------------

/// One YAML document and the file it came from, for messages.
struct Doc {
    file: String,
    yaml: Yaml,
}

/// Every document of every YAML file under deploy/kubernetes; a file that does not parse
/// fails here.
fn kubernetes_docs() -> Vec<Doc> {
    let dir = repo().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML files in {}", dir.display());
    let mut docs = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let parsed =
            YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: not YAML: {e}"));
        assert!(!parsed.is_empty(), "{file}: no YAML document in it");
        docs.extend(parsed.into_iter().map(|yaml| Doc {
            file: file.clone(),
            yaml,
        }));
    }
    docs
}

/// The one document of `kind`.
fn only(docs: &[Doc], kind: &str) -> Yaml {
    let found: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.yaml["kind"].as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    found[0].yaml.clone()
}

/// A Kubernetes object name that must be an RFC 1123 label: at most 63 characters of
/// lower-case letters, digits and '-', starting and ending with a letter or digit.
fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    !name.is_empty()
        && name.len() <= 63
        && bytes.iter().all(allowed)
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// A mapping of strings (labels, selectors, data) as a sorted map.
fn string_map(yaml: &Yaml, what: &str) -> BTreeMap<String, String> {
    let hash = yaml
        .as_hash()
        .unwrap_or_else(|| panic!("{what}: not a mapping"));
    hash.iter()
        .map(|(k, v)| {
            let key = k
                .as_str()
                .unwrap_or_else(|| panic!("{what}: a key is not a string"));
            let value = v
                .as_str()
                .unwrap_or_else(|| panic!("{what}.{key}: not a string"));
            (key.to_string(), value.to_string())
        })
        .collect()
}

fn strings(yaml: &Yaml, what: &str) -> Vec<String> {
    yaml.as_vec()
        .unwrap_or_else(|| panic!("{what}: not a list"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{what}: an entry is not a string"))
                .to_string()
        })
        .collect()
}

/// The warroom container of the Deployment.
fn container(deployment: &Yaml) -> Yaml {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .expect("the Deployment lists its containers");
    let found: Vec<&Yaml> = containers
        .iter()
        .filter(|c| c["name"].as_str() == Some("warroom"))
        .collect();
    assert_eq!(found.len(), 1, "one container named warroom");
    found[0].clone()
}

/// The container's ports as (name, number).
fn container_ports(container: &Yaml) -> Vec<(Option<String>, i64)> {
    container["ports"]
        .as_vec()
        .expect("the container declares its ports")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().map(str::to_string),
                p["containerPort"]
                    .as_i64()
                    .expect("containerPort is a number"),
            )
        })
        .collect()
}

/// Whether `port` (a probe's or Service's port: a name or a number) is one the container
/// declares.
fn names_a_container_port(port: &Yaml, ports: &[(Option<String>, i64)]) -> bool {
    match (port.as_str(), port.as_i64()) {
        (Some(name), _) => ports.iter().any(|(n, _)| n.as_deref() == Some(name)),
        (_, Some(number)) => ports.iter().any(|(_, p)| *p == number),
        _ => false,
    }
}

/// The container's environment as the process sees it: plain values, and secret keys as
/// the placeholder in secret.example.yaml (a key the Secret lacks is an error unless the
/// reference is optional).
fn container_env(container: &Yaml, secret: &Yaml) -> BTreeMap<String, String> {
    let secret_name = secret["metadata"]["name"].as_str().unwrap();
    let secret_data = string_map(&secret["stringData"], "Secret stringData");
    let mut env = BTreeMap::new();
    for var in container["env"].as_vec().expect("the container has env") {
        let name = var["name"]
            .as_str()
            .expect("env entry has a name")
            .to_string();
        if let Some(value) = var["value"].as_str() {
            env.insert(name, value.to_string());
            continue;
        }
        let reference = &var["valueFrom"]["secretKeyRef"];
        assert!(
            !reference.is_badvalue(),
            "env {name}: neither a value nor a secretKeyRef"
        );
        assert_eq!(
            reference["name"].as_str(),
            Some(secret_name),
            "env {name}: names another Secret than secret.example.yaml's"
        );
        let key = reference["key"].as_str().expect("secretKeyRef has a key");
        match secret_data.get(key) {
            Some(value) => {
                env.insert(name, value.clone());
            }
            None => assert_eq!(
                reference["optional"].as_bool(),
                Some(true),
                "env {name}: the Secret has no key {key}"
            ),
        }
    }
    env
}

#[test]
fn dns1123_label_check_refuses_what_kubernetes_refuses() {
    assert!(is_dns1123_label("warroom"));
    assert!(is_dns1123_label("warroom-config"));
    assert!(is_dns1123_label("a1"));
    for bad in [
        "",
        "Warroom",
        "-warroom",
        "warroom-",
        "warroom_config",
        "war.room",
    ] {
        assert!(!is_dns1123_label(bad), "{bad:?} was accepted");
    }
    assert!(is_dns1123_label(&"a".repeat(63)));
    assert!(!is_dns1123_label(&"a".repeat(64)));
}

#[test]
fn every_manifest_has_api_version_kind_and_a_dns_label_name() {
    for doc in kubernetes_docs() {
        let file = &doc.file;
        let api_version = doc.yaml["apiVersion"].as_str().unwrap_or("");
        assert!(!api_version.is_empty(), "{file}: no apiVersion");
        let kind = doc.yaml["kind"].as_str().unwrap_or("");
        assert!(!kind.is_empty(), "{file}: no kind");
        let name = doc.yaml["metadata"]["name"].as_str().unwrap_or("");
        assert!(
            is_dns1123_label(name),
            "{file}: metadata.name {name:?} is not a DNS-1123 label"
        );
        // The namespace is the applier's choice (kubectl -n, kustomize's namespace:).
        assert!(
            doc.yaml["metadata"]["namespace"].is_badvalue(),
            "{file}: hard-codes a namespace"
        );
    }
}

#[test]
fn the_manifests_are_a_deployment_service_configmap_secret_and_kustomization() {
    let kinds: Vec<String> = kubernetes_docs()
        .iter()
        .map(|d| d.yaml["kind"].as_str().unwrap_or("").to_string())
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "ConfigMap",
            "Deployment",
            "Kustomization",
            "Secret",
            "Service"
        ],
        "one of each kind, nothing else"
    );
}

#[test]
fn kustomization_applies_every_manifest_but_the_example_secret() {
    let docs = kubernetes_docs();
    let kustomization = only(&docs, "Kustomization");
    let resources: BTreeSet<String> = strings(&kustomization["resources"], "resources")
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = docs
        .iter()
        .map(|d| d.file.clone())
        .filter(|f| f != "kustomization.yaml" && f != "secret.example.yaml")
        .collect();
    assert_eq!(resources, expected);
    // Applying the placeholders would overwrite the real Secret.
    assert!(!resources.contains("secret.example.yaml"));
}

#[test]
fn deployment_runs_two_probed_limited_non_root_replicas() {
    let docs = kubernetes_docs();
    let deployment = only(&docs, "Deployment");
    assert_eq!(deployment["apiVersion"].as_str(), Some("apps/v1"));
    assert_eq!(deployment["spec"]["replicas"].as_i64(), Some(2));

    let pod_labels = string_map(
        &deployment["spec"]["template"]["metadata"]["labels"],
        "pod labels",
    );
    let selector = string_map(
        &deployment["spec"]["selector"]["matchLabels"],
        "Deployment selector",
    );
    assert!(!selector.is_empty());
    for (key, value) in &selector {
        assert_eq!(
            pod_labels.get(key),
            Some(value),
            "the Deployment's selector {key}={value} does not match its own pods"
        );
    }

    let c = container(&deployment);
    let ports = container_ports(&c);
    assert!(
        ports.iter().any(|(_, p)| *p == 8080),
        "the container exposes 8080"
    );
    // Readiness leaves Discord out: alerts must keep coming in while Discord is down.
    for (probe, path) in [
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz?exclude=discord"),
    ] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe} path");
        assert!(
            names_a_container_port(&get["port"], &ports),
            "{probe} does not probe a port the container declares"
        );
    }

    let requests = &c["resources"]["requests"];
    assert!(requests["cpu"].as_str().is_some(), "a CPU request");
    assert!(requests["memory"].as_str().is_some(), "a memory request");
    assert!(
        c["resources"]["limits"]["memory"].as_str().is_some(),
        "a memory limit"
    );

    let pod_security = &deployment["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"].as_bool(), Some(true));
    let security = &c["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    // The uid the image creates, so files it owns stay the process's.
    let uid = pod_security["runAsUser"]
        .as_i64()
        .or(security["runAsUser"].as_i64())
        .expect("a runAsUser");
    assert_eq!(Some(uid.to_string()), dockerfile_uid());

    // `warroom serve` with the configuration the ConfigMap provides.
    let args = strings(&c["args"], "container args");
    assert_eq!(args.first().map(String::as_str), Some("serve"));
    let config_path = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone())
        .expect("serve gets --config");
    let configmap = only(&docs, "ConfigMap");
    let configmap_name = configmap["metadata"]["name"].as_str().unwrap();
    let volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_vec()
        .expect("volumes")
        .iter()
        .find(|v| v["configMap"]["name"].as_str() == Some(configmap_name))
        .expect("a volume of the ConfigMap")
        .clone();
    let volume_name = volume["name"].as_str().unwrap();
    let mount = c["volumeMounts"]
        .as_vec()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"].as_str() == Some(volume_name))
        .expect("the ConfigMap volume is mounted")
        .clone();
    let mount_path = mount["mountPath"].as_str().unwrap();
    assert_eq!(
        config_path,
        format!("{}/warroom.toml", mount_path.trim_end_matches('/')),
        "--config names the ConfigMap's warroom.toml"
    );

    // Inside a pod, loopback would make the probes and the Service reach nothing.
    let env = container_env(&c, &only(&docs, "Secret"));
    let listen = env.get("WARROOM_LISTEN").expect("WARROOM_LISTEN is set");
    assert!(
        listen.starts_with("0.0.0.0:")
            && ports
                .iter()
                .any(|(_, p)| listen.ends_with(&format!(":{p}"))),
        "WARROOM_LISTEN={listen} is not every interface on the container port"
    );
    assert!(
        env.get("WARROOM_DB")
            .is_some_and(|db| db.starts_with("postgres://")),
        "WARROOM_DB comes from the Secret and names PostgreSQL"
    );
}

#[test]
fn service_selects_the_deployment_pods_on_the_container_port() {
    let docs = kubernetes_docs();
    let deployment = only(&docs, "Deployment");
    let service = only(&docs, "Service");
    let pod_labels = string_map(
        &deployment["spec"]["template"]["metadata"]["labels"],
        "pod labels",
    );
    let selector = string_map(&service["spec"]["selector"], "Service selector");
    assert!(!selector.is_empty(), "a Service without a selector");
    for (key, value) in &selector {
        assert_eq!(
            pod_labels.get(key),
            Some(value),
            "the Service's selector {key}={value} matches no pod of the Deployment"
        );
    }
    let ports = container_ports(&container(&deployment));
    let service_ports = service["spec"]["ports"].as_vec().expect("Service ports");
    assert!(!service_ports.is_empty());
    for port in service_ports {
        assert_eq!(port["port"].as_i64(), Some(8080));
        // Without targetPort, the Service forwards to its own port number.
        let target = match &port["targetPort"] {
            Yaml::BadValue => &port["port"],
            target => target,
        };
        assert!(
            names_a_container_port(target, &ports),
            "the Service forwards to a port the container does not declare"
        );
    }
}

#[test]
fn example_secret_holds_only_placeholders_for_what_the_deployment_reads() {
    let docs = kubernetes_docs();
    let secret = only(&docs, "Secret");
    let data = string_map(&secret["stringData"], "Secret stringData");
    assert!(!data.is_empty());
    for (key, value) in &data {
        assert!(
            value.contains("REPLACE"),
            "secret.example.yaml {key}: not an obvious placeholder"
        );
    }
    assert!(
        secret["data"].is_badvalue(),
        "base64 data hides whether a value is a placeholder"
    );
    // container_env fails on a key the Secret lacks; here, every key is also used.
    let deployment = only(&docs, "Deployment");
    let env = container_env(&container(&deployment), &secret);
    for value in data.values() {
        assert!(
            env.values().any(|v| v == value),
            "secret.example.yaml has a key the Deployment never reads"
        );
    }
}

#[test]
fn configmap_warroom_toml_passes_warrooms_own_check() {
    let docs = kubernetes_docs();
    let configmap = only(&docs, "ConfigMap");
    let data = string_map(&configmap["data"], "ConfigMap data");
    let text = data
        .get("warroom.toml")
        .expect("the ConfigMap has warroom.toml");
    let deployment = only(&docs, "Deployment");
    // Exactly the environment the pod gets: a secret_env the Deployment does not pass would
    // switch a source off (a warning) or fail (a pager), and both fail this test.
    let env = container_env(&container(&deployment), &only(&docs, "Secret"));
    // Files the configuration names (SOPs) are read the way the pod sees them: the
    // ConfigMap's other keys, beside warroom.toml.
    let mut settings = Settings::check(
        text,
        "configmap.yaml warroom.toml",
        |k| env.get(k).cloned(),
        |f| {
            data.get(f)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        },
    )
    .unwrap_or_else(|problems| panic!("{problems}"));
    assert!(
        settings.warnings.is_empty(),
        "warnings: {:?}",
        settings.warnings
    );
    assert!(
        settings.discord.token.is_some(),
        "the Discord token reaches the configuration"
    );
    assert!(
        !settings.routes.routes.is_empty(),
        "a production config routes alerts"
    );

    // The runbook directory is the one the image ships the repository's runbooks in.
    let dir = settings
        .runbooks_dir
        .clone()
        .expect("runbooks.dir is configured");
    assert!(
        dockerfile_copies()
            .iter()
            .any(|(from, to)| from.trim_end_matches('/') == "commands"
                && to.trim_end_matches('/') == dir.trim_end_matches('/')),
        "runbooks.dir = {dir} is not where deploy/Dockerfile copies commands/"
    );
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo().join("commands")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    files.sort();
    settings
        .add_runbooks(files, "configmap.yaml warroom.toml")
        .unwrap_or_else(|problems| panic!("{problems}"));
    assert!(
        settings.warnings.is_empty(),
        "warnings: {:?}",
        settings.warnings
    );
    // Agents may only run runbooks whose labels some agent has.
    for runbook in &settings.runbooks {
        let wanted = runbook.agents.clone();
        assert!(
            settings
                .agents
                .iter()
                .any(|a| wanted.iter().all(|(k, v)| a.labels.get(k) == Some(v))),
            "no agent in the ConfigMap can run {}",
            runbook.command_text()
        );
    }
}

// ---- Dockerfile ------------------------------------------------------------------------

/// The Dockerfile's instructions of the final stage (continuation lines joined, comments
/// dropped) as (INSTRUCTION, rest).
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = read("deploy/Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (word, rest) = current.split_once(' ').unwrap_or((&current, ""));
                instructions.push((word.to_ascii_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    instructions
}

fn final_stage() -> Vec<(String, String)> {
    let all = dockerfile_instructions();
    let last_from = all.iter().rposition(|(i, _)| i == "FROM").expect("a FROM");
    all[last_from..].to_vec()
}

/// A JSON-array (exec form) instruction's words.
fn exec_form(rest: &str) -> Vec<String> {
    serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("not exec form: {rest}: {e}"))
}

/// The uid the final stage runs as, when it is numeric.
fn dockerfile_uid() -> Option<String> {
    let stage = final_stage();
    let (_, user) = stage.iter().rev().find(|(i, _)| i == "USER")?;
    Some(user.split(':').next().unwrap().to_string())
}

/// The final stage's COPY instructions as (source, destination), sources from the context.
fn dockerfile_copies() -> Vec<(String, String)> {
    final_stage()
        .into_iter()
        .filter(|(i, rest)| i == "COPY" && !rest.starts_with("--from"))
        .map(|(_, rest)| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            assert_eq!(words.len(), 2, "COPY {rest}: one source, one destination");
            (words[0].to_string(), words[1].to_string())
        })
        .collect()
}

#[test]
fn dockerfile_builds_in_one_stage_and_runs_serve_unprivileged_in_another() {
    let all = dockerfile_instructions();
    let froms = all.iter().filter(|(i, _)| i == "FROM").count();
    assert!(froms >= 2, "a multi-stage build");
    assert!(
        all.iter()
            .any(|(i, rest)| i == "RUN" && rest.contains("cargo build --release --locked")),
        "the binary is built from Cargo.lock"
    );

    let stage = final_stage();
    let has = |word: &str| stage.iter().any(|(i, _)| i == word);
    let user = dockerfile_uid().expect("the final stage sets USER");
    assert!(
        user != "root" && user != "0" && !user.is_empty(),
        "USER {user} is root"
    );
    assert!(has("EXPOSE"));
    assert!(
        stage
            .iter()
            .any(|(i, rest)| i == "EXPOSE" && rest.split_whitespace().any(|p| p == "8080")),
        "EXPOSE 8080"
    );
    let (_, health) = stage
        .iter()
        .find(|(i, _)| i == "HEALTHCHECK")
        .expect("a HEALTHCHECK");
    assert!(health.contains("/healthz"), "HEALTHCHECK {health}");
    // The health check runs the binary itself: the image has no curl.
    let check = health.split_once("CMD").expect("HEALTHCHECK CMD").1;
    let check = exec_form(check);
    assert_eq!(check[0], "/usr/local/bin/warroom");
    assert_eq!(check[1], "healthcheck");

    let (_, entrypoint) = stage
        .iter()
        .find(|(i, _)| i == "ENTRYPOINT")
        .expect("an ENTRYPOINT");
    let entrypoint = exec_form(entrypoint);
    assert_eq!(entrypoint, ["/usr/local/bin/warroom"]);
    let (_, cmd) = stage.iter().find(|(i, _)| i == "CMD").expect("a CMD");
    assert_eq!(exec_form(cmd).first().map(String::as_str), Some("serve"));
    assert!(
        stage
            .iter()
            .any(|(i, rest)| i == "ENV" && rest.contains("WARROOM_LISTEN=0.0.0.0:8080")),
        "the container listens on every interface"
    );
}

#[test]
fn dockerignore_keeps_build_output_and_history_out_of_the_context() {
    let ignore = read(".dockerignore");
    let entries: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["target/", ".git/"] {
        assert!(entries.contains(&needed), ".dockerignore lacks {needed}");
    }
    // The binary embeds these at build time: ignoring them would break the build.
    for needed in ["deploy", "commands", "src", "migrations"] {
        assert!(
            !entries.iter().any(|e| e.trim_matches('/') == needed),
            ".dockerignore drops {needed}, which the build needs"
        );
    }
}

/// `warroom healthcheck`, which the image's HEALTHCHECK runs, exits 0 on a 2xx only.
#[test]
fn healthcheck_command_tells_a_healthy_server_from_others() {
    use std::io::{Read, Write};
    fn answer_once(status: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n"
            );
        });
        format!("http://{addr}/healthz")
    }
    let run = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
            .args(["healthcheck", "--url", url])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run(&answer_once("200 OK")), Some(0));
    assert_eq!(run(&answer_once("503 Service Unavailable")), Some(1));
    // Nothing listens on a port just freed.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    assert_eq!(run(&format!("http://{closed}/healthz")), Some(1));
}

// ---- systemd ---------------------------------------------------------------------------

/// A unit file's settings as (section, key) → values, in order (keys may repeat). The
/// path is relative to the repository, or absolute.
fn unit(relative: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut settings: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in read(relative).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{relative}: not KEY=VALUE: {line}"));
        settings
            .entry((section.clone(), key.trim().to_string()))
            .or_default()
            .push(value.trim().to_string());
    }
    settings
}

fn service_value<'a>(
    unit: &'a BTreeMap<(String, String), Vec<String>>,
    key: &str,
) -> Option<&'a str> {
    unit.get(&("Service".to_string(), key.to_string()))
        .and_then(|v| v.last())
        .map(String::as_str)
}

/// The hardening both units must keep.
fn assert_hardened(file: &str, unit: &BTreeMap<(String, String), Vec<String>>) {
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ConfigurationDirectory", "warroom"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(service_value(unit, key), Some(value), "{file}: {key}");
    }
    for key in ["RestartSec", "TimeoutStopSec", "StateDirectory"] {
        assert!(
            service_value(unit, key).is_some_and(|v| !v.is_empty()),
            "{file}: {key} is not set"
        );
    }
    let exec = service_value(unit, "ExecStart").expect("ExecStart");
    assert!(
        !exec.to_ascii_lowercase().contains("token"),
        "{file}: a secret on the command line: {exec}"
    );
}

#[test]
fn unit_parser_sees_a_misspelt_hardening_key() {
    // The checks below compare parsed keys: a misspelling must not pass for the real key.
    let dir = tempfile::tempdir().unwrap();
    let broken =
        read("deploy/systemd/warroom.service").replace("ProtectHome=yes", "ProtectHomme=yes");
    std::fs::write(dir.path().join("broken.service"), broken).unwrap();
    let parsed = unit(dir.path().join("broken.service").to_str().unwrap());
    assert_eq!(service_value(&parsed, "ProtectHome"), None);
    let result = std::panic::catch_unwind(|| assert_hardened("broken.service", &parsed));
    assert!(result.is_err(), "a unit without ProtectHome passed");
}

#[test]
fn server_unit_runs_serve_hardened_with_secrets_outside_the_command_line() {
    let file = "deploy/systemd/warroom.service";
    let u = unit(file);
    assert_hardened(file, &u);
    assert_eq!(
        service_value(&u, "ExecStart"),
        Some("/usr/local/bin/warroom serve --config /etc/warroom/warroom.toml")
    );
    assert_eq!(service_value(&u, "StateDirectory"), Some("warroom"));
    assert!(
        service_value(&u, "DynamicUser") == Some("yes") || service_value(&u, "User").is_some(),
        "{file}: runs as root"
    );
    assert!(
        service_value(&u, "EnvironmentFile").is_some()
            || service_value(&u, "LoadCredential").is_some(),
        "{file}: no way to pass the Discord token but the command line"
    );
    assert!(
        service_value(&u, "Environment").is_none_or(|e| !e.contains("TOKEN")),
        "{file}: a token in Environment= is visible to `systemctl show`"
    );
    // The store in the state directory, not the working directory of whoever started it.
    assert!(
        u.get(&("Service".into(), "Environment".into()))
            .is_some_and(|vs| vs
                .iter()
                .any(|v| v == "WARROOM_DB=sqlite:///var/lib/warroom/warroom.db")),
        "{file}: WARROOM_DB is not in the state directory"
    );
}

#[test]
fn agent_unit_runs_the_agent_as_its_own_user_with_its_token_as_a_credential() {
    let file = "deploy/systemd/warroom-agent.service";
    let u = unit(file);
    assert_hardened(file, &u);
    assert_eq!(
        service_value(&u, "ExecStart"),
        Some("/usr/local/bin/warroom agent --config /etc/warroom/agent.toml")
    );
    let user = service_value(&u, "User").expect("a User=");
    assert!(user != "root" && user != "0", "{file}: runs as root");
    // polkit's rule names the user: keep them in step.
    let rules = read("deploy/systemd/warroom-agent.rules");
    assert!(
        rules.contains(&format!("subject.user == \"{user}\"")),
        "warroom-agent.rules does not name {user}"
    );
    assert_eq!(service_value(&u, "KillMode"), Some("mixed"));

    // agent.toml.example reads the token where LoadCredential= puts it.
    let credential = service_value(&u, "LoadCredential").expect("LoadCredential=");
    let (id, _source) = credential.split_once(':').expect("LoadCredential=ID:PATH");
    let expected = format!("/run/credentials/warroom-agent.service/{id}");
    let example = read("deploy/systemd/agent.toml.example");
    let example: toml::Table = toml::from_str(&example).unwrap();
    assert_eq!(example["token_file"].as_str(), Some(expected.as_str()));
}

#[test]
fn agent_example_passes_the_agents_own_check() {
    // The example names the host's directory; check it against the repository's runbooks.
    let text = read("deploy/systemd/agent.toml.example");
    let host_dir = "commands = \"/etc/warroom/commands\"";
    assert!(
        text.contains(host_dir),
        "the example's commands directory moved"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("commands")).unwrap();
    std::fs::copy(
        repo().join("commands/failover-dns.toml"),
        dir.path().join("commands/failover-dns.toml"),
    )
    .unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, text.replace(host_dir, "commands = \"commands\"")).unwrap();
    // The token the service manager hands over, given here as its variable.
    let config = AgentConfig::load(&path, |k| {
        (k == warroom::agent::config::TOKEN_VARIABLE).then(|| "placeholder".to_string())
    })
    .unwrap_or_else(|problems| panic!("{problems}"));
    assert_eq!(config.runbook_names(), ["failover-dns"]);
    assert_eq!(config.server.scheme(), "https");
    // Every program of its runbooks is mapped or on its PATH (a warning otherwise).
    assert!(
        config
            .warnings
            .iter()
            .all(|w| !w.contains("neither in [programs]")),
        "{:?}",
        config.warnings
    );
}
