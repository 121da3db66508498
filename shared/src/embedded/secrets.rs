//! Secrets for the local host: a JSON file, environment variables, and the two layered (env over file).
//!
//! All are read once at construction; a changed file or variable takes effect on restart, except what the host
//! itself writes to the file ([`LayeredSecrets::writable`]), which is read at once.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock},
};

use async_trait::async_trait;

use crate::{
    error::PortError,
    ports::{SecretWriter, Secrets},
    secret::SecretString,
};

/// Prefix of the environment variables [`EnvSecrets`] reads.
pub const ENV_PREFIX: &str = "HOOKLINE_SECRET_";

/// The environment variable that holds secret `name`: [`ENV_PREFIX`] followed by the name uppercased, with
/// every character other than an ASCII letter or digit replaced by `_` (`github/webhook-secret` →
/// `HOOKLINE_SECRET_GITHUB_WEBHOOK_SECRET`). Distinct names can map to one variable (`a/b` and `a-b`).
pub fn env_var_name(name: &str) -> String {
    let mut var = String::with_capacity(ENV_PREFIX.len() + name.len());
    var.push_str(ENV_PREFIX);
    push_env_suffix(&mut var, name);
    var
}

fn push_env_suffix(out: &mut String, name: &str) {
    out.extend(name.chars().map(env_char));
}

/// [`push_env_suffix`] into `buffer`, or `None` if it does not fit.
fn env_suffix_into<'b>(buffer: &'b mut [u8], name: &str) -> Option<&'b str> {
    let mut len = 0;
    for c in name.chars() {
        *buffer.get_mut(len)? = env_char(c) as u8;
        len += 1;
    }
    // Every byte written is an ASCII letter, digit or '_'.
    std::str::from_utf8(&buffer[..len]).ok()
}

/// A secret name's character as it appears in its variable: ASCII letters upper-cased, digits kept, anything
/// else `_`.
fn env_char(c: char) -> char {
    if c.is_ascii_alphanumeric() {
        c.to_ascii_uppercase()
    } else {
        '_'
    }
}

fn not_found(name: &str) -> PortError {
    PortError::not_found(format!("secret {name}"))
}

/// Secrets from a JSON file holding one object of string values: `{ "github/webhook": "…", … }`.
#[derive(Clone, Debug, Default)]
pub struct FileSecrets {
    values: HashMap<String, SecretString>,
}

impl FileSecrets {
    /// Read and parse `path` once. A missing file is `PortError::NotFound` (so a caller can treat the file as
    /// optional); unreadable or malformed content is `PortError::Permanent`. Errors never quote the content.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PortError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => PortError::not_found(format!("secrets file {}", path.display())),
            _ => PortError::permanent("secrets file", format!("cannot read {}: {err}", path.display())),
        })?;
        warn_if_readable_by_others(path);
        Self::parse(&text)
            .map_err(|detail| PortError::permanent("secrets file", format!("{}: {detail}", path.display())))
    }

    /// Add the secrets in `names` that `path` does not hold yet, creating the file (mode 600) if there is none,
    /// and return the names added. `value` is asked only for the names that are missing.
    pub fn add_missing(
        path: impl AsRef<Path>,
        names: &[&str],
        mut value: impl FnMut(&str) -> String,
    ) -> Result<Vec<String>, PortError> {
        Self::rewrite(path.as_ref(), |entries| {
            let added: Vec<String> = names
                .iter()
                .filter(|name| !entries.contains_key(**name))
                .map(|name| (*name).to_owned())
                .collect();
            for name in &added {
                entries.insert(name.clone(), serde_json::Value::String(value(name)));
            }
            added
        })
    }

    /// Create or replace `entries` in `path` (created, mode 600, if missing).
    pub fn put(path: impl AsRef<Path>, entries: &[(String, SecretString)]) -> Result<(), PortError> {
        if let Some((name, _)) = entries.iter().find(|(_, value)| value.expose().trim().is_empty()) {
            return Err(PortError::permanent(
                "secrets file",
                format!("the value of {name:?} is empty"),
            ));
        }
        Self::rewrite(path.as_ref(), |stored| {
            for (name, value) in entries {
                stored.insert(name.clone(), serde_json::Value::String(value.expose().to_owned()));
            }
            entries.iter().map(|(name, _)| name.clone()).collect()
        })
        .map(|_| ())
    }

    /// Delete `names` from `path`, if it holds them.
    pub fn remove(path: impl AsRef<Path>, names: &[String]) -> Result<(), PortError> {
        Self::rewrite(path.as_ref(), |stored| {
            names
                .iter()
                .filter(|name| stored.remove(name.as_str()).is_some())
                .cloned()
                .collect()
        })
        .map(|_| ())
    }

    /// Read `path`'s entries (none if it is missing), let `change` edit them and name what it changed, and
    /// replace the file atomically when it changed something, so a reader sees the old content or the new,
    /// never half of it.
    fn rewrite(
        path: &Path,
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>) -> Vec<String>,
    ) -> Result<Vec<String>, PortError> {
        let failed = |what: &str, err: std::io::Error| {
            PortError::permanent("secrets file", format!("cannot {what} {}: {err}", path.display()))
        };
        let mut entries = match std::fs::read_to_string(path) {
            Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(entries)) => entries,
                _ => {
                    return Err(PortError::permanent(
                        "secrets file",
                        format!(
                            "{}: expected a JSON object of names to string values",
                            path.display()
                        ),
                    ))
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
            Err(err) => return Err(failed("read", err)),
        };
        let changed = change(&mut entries);
        if changed.is_empty() {
            return Ok(changed);
        }
        let text = serde_json::to_string_pretty(&entries).expect("a map of strings serializes");
        let temporary = path.with_extension("json.new");
        write_private(&temporary, text.as_bytes()).map_err(|err| failed("write", err))?;
        std::fs::rename(&temporary, path).map_err(|err| failed("replace", err))?;
        Ok(changed)
    }

    /// No secrets (e.g. when no file is configured).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parse the file's content. Goes through `serde_json::Value` so that a type error cannot echo a secret
    /// (serde's messages quote the offending value); syntax errors only give a position.
    fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|err| format!("invalid JSON: {err}"))?;
        let serde_json::Value::Object(entries) = value else {
            return Err("expected a JSON object of names to string values".to_owned());
        };
        let mut values = HashMap::with_capacity(entries.len());
        for (name, value) in entries {
            let serde_json::Value::String(secret) = value else {
                return Err(format!("the value of {name:?} is not a string"));
            };
            // Refused at load, so the host fails at start: an empty secret would verify anything.
            if secret.trim().is_empty() {
                return Err(format!("the value of {name:?} is empty"));
            }
            values.insert(name, SecretString::new(secret));
        }
        Ok(Self { values })
    }

    /// How many secrets the file held.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the file held no secrets.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn lookup(&self, name: &str) -> Option<&SecretString> {
        self.values.get(name)
    }
}

/// Write `bytes` to a new file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "secrets file is accessible to other users; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[async_trait]
impl Secrets for FileSecrets {
    async fn get(&self, name: &str) -> Result<SecretString, PortError> {
        self.lookup(name).cloned().ok_or_else(|| not_found(name))
    }
}

/// Secrets from `HOOKLINE_SECRET_*` environment variables (see [`env_var_name`]), captured at construction.
/// An empty variable counts as unset, so an unfilled template line cannot override a file's value with "".
#[derive(Clone, Debug, Default)]
pub struct EnvSecrets {
    /// Keyed by the variable name without the prefix.
    values: HashMap<String, SecretString>,
}

impl EnvSecrets {
    /// Capture the process environment. Variables whose value is not valid UTF-8 are skipped with a warning.
    pub fn from_env() -> Self {
        let vars = std::env::vars_os().filter_map(|(key, value)| {
            let key = key.into_string().ok()?;
            if !key.starts_with(ENV_PREFIX) {
                return None;
            }
            match value.into_string() {
                Ok(value) => Some((key, value)),
                Err(_) => {
                    tracing::warn!(variable = %key, "ignoring secret variable whose value is not UTF-8");
                    None
                }
            }
        });
        Self::from_vars(vars)
    }

    /// Build from `(variable, value)` pairs as the environment would hold them; pairs without the
    /// [`ENV_PREFIX`] or with an empty value are ignored.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        let values = vars
            .into_iter()
            .filter_map(|(key, value)| {
                let suffix = key.as_ref().strip_prefix(ENV_PREFIX)?.to_owned();
                let value = value.into();
                (!value.is_empty()).then(|| (suffix, SecretString::new(value)))
            })
            .collect();
        Self { values }
    }

    /// Whether the environment holds secret `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.lookup(name).is_some()
    }

    /// How many secret variables were captured.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no secret variable was captured.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn lookup(&self, name: &str) -> Option<&SecretString> {
        // Names are short; building the variable suffix on the stack keeps the webhook path free of an allocation.
        let mut buffer = [0u8; 64];
        match env_suffix_into(&mut buffer, name) {
            Some(suffix) => self.values.get(suffix),
            None => {
                let mut suffix = String::with_capacity(name.len());
                push_env_suffix(&mut suffix, name);
                self.values.get(&suffix)
            }
        }
    }
}

#[async_trait]
impl Secrets for EnvSecrets {
    async fn get(&self, name: &str) -> Result<SecretString, PortError> {
        self.lookup(name).cloned().ok_or_else(|| not_found(name))
    }
}

/// Environment over file: a secret set in the environment wins, otherwise the file's value is used. Built over
/// a file's path, it also writes: new secrets go to the file (and are read from it at once).
#[derive(Clone, Debug, Default)]
pub struct LayeredSecrets {
    env: EnvSecrets,
    file: Arc<RwLock<FileSecrets>>,
    path: Option<PathBuf>,
}

impl LayeredSecrets {
    /// Layer `env` over `file` (pass [`FileSecrets::empty`] when there is no file); read-only.
    pub fn new(env: EnvSecrets, file: FileSecrets) -> Self {
        Self {
            env,
            file: Arc::new(RwLock::new(file)),
            path: None,
        }
    }

    /// Layer `env` over `file`, read from `path`, where [`SecretWriter::put_secrets`] writes.
    pub fn writable(env: EnvSecrets, file: FileSecrets, path: PathBuf) -> Self {
        Self {
            path: Some(path),
            ..Self::new(env, file)
        }
    }

    fn file(&self) -> std::sync::RwLockReadGuard<'_, FileSecrets> {
        self.file.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Secrets for LayeredSecrets {
    async fn get(&self, name: &str) -> Result<SecretString, PortError> {
        if let Some(value) = self.env.lookup(name) {
            return Ok(value.clone());
        }
        self.file().lookup(name).cloned().ok_or_else(|| not_found(name))
    }
}

#[async_trait]
impl SecretWriter for LayeredSecrets {
    async fn put_secrets(&self, entries: &[(String, SecretString)]) -> Result<(), PortError> {
        let Some(path) = &self.path else {
            return Err(PortError::permanent("secrets", "no secrets file to write to"));
        };
        if let Some((name, _)) = entries.iter().find(|(name, _)| self.env.contains(name)) {
            // The environment would hide what is written.
            return Err(PortError::permanent(
                "secrets",
                format!("{name:?} is set in the environment ({})", env_var_name(name)),
            ));
        }
        let mut file = self.file.write().unwrap_or_else(PoisonError::into_inner);
        FileSecrets::put(path, entries)?;
        for (name, value) in entries {
            file.values.insert(name.clone(), value.clone());
        }
        Ok(())
    }

    async fn remove_secrets(&self, names: &[String]) -> Result<(), PortError> {
        let Some(path) = &self.path else {
            return Err(PortError::permanent("secrets", "no secrets file to write to"));
        };
        let mut file = self.file.write().unwrap_or_else(PoisonError::into_inner);
        FileSecrets::remove(path, names)?;
        for name in names {
            file.values.remove(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, content: &str) -> std::path::PathBuf {
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Whether `secrets` answers that it has no secret `name`.
    async fn has_none(secrets: &dyn Secrets, name: &str) -> bool {
        matches!(secrets.get(name).await, Err(PortError::NotFound { .. }))
    }

    #[test]
    fn env_var_names() {
        assert_eq!(
            env_var_name("github/webhook-secret"),
            "HOOKLINE_SECRET_GITHUB_WEBHOOK_SECRET"
        );
        assert_eq!(
            env_var_name("openhands.api_key2"),
            "HOOKLINE_SECRET_OPENHANDS_API_KEY2"
        );
        assert_eq!(env_var_name("é"), "HOOKLINE_SECRET__");
    }

    #[tokio::test]
    async fn add_missing_keeps_what_is_there_and_creates_the_file_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        let added = FileSecrets::add_missing(&path, &["a", "b"], |name| format!("new-{name}")).unwrap();
        assert_eq!(added, ["a", "b"]);
        std::fs::write(&path, r#"{"a": "kept", "c": "other"}"#).unwrap();
        let added = FileSecrets::add_missing(&path, &["a", "b"], |name| format!("new-{name}")).unwrap();
        assert_eq!(added, ["b"]);
        let secrets = FileSecrets::load(&path).unwrap();
        assert_eq!(secrets.get("a").await.unwrap().expose(), "kept");
        assert_eq!(secrets.get("b").await.unwrap().expose(), "new-b");
        assert_eq!(secrets.get("c").await.unwrap().expose(), "other");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        std::fs::write(&path, "[1]").unwrap();
        assert!(FileSecrets::add_missing(&path, &["a"], |_| String::new()).is_err());
    }

    #[tokio::test]
    async fn written_secrets_reach_the_file_and_readers_at_once_and_removed_ones_leave_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, r#"{ "kept": "k" }"#);
        let secrets = LayeredSecrets::writable(
            EnvSecrets::from_vars([("HOOKLINE_SECRET_FROM_ENV", "e")]),
            FileSecrets::load(&path).unwrap(),
            path.clone(),
        );
        secrets
            .put_secrets(&[("github/app".to_owned(), SecretString::from("{}"))])
            .await
            .unwrap();
        assert_eq!(secrets.get("github/app").await.unwrap().expose(), "{}");
        assert_eq!(FileSecrets::load(&path).unwrap().len(), 2, "on disk too");
        assert!(
            secrets
                .put_secrets(&[("from/env".to_owned(), SecretString::from("x"))])
                .await
                .is_err(),
            "the environment would hide it"
        );
        assert!(secrets
            .put_secrets(&[("blank".to_owned(), SecretString::from(" "))])
            .await
            .is_err());
        secrets.remove_secrets(&["github/app".to_owned()]).await.unwrap();
        assert!(secrets.get("github/app").await.is_err());
        assert_eq!(FileSecrets::load(&path).unwrap().len(), 1);
        assert!(
            LayeredSecrets::new(EnvSecrets::default(), FileSecrets::empty())
                .put_secrets(&[("a".to_owned(), SecretString::from("b"))])
                .await
                .is_err(),
            "no file, nothing written"
        );
    }

    #[tokio::test]
    async fn file_secrets_load_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            r#"{ "github/webhook": "s3cret", "openhands/alice": "key-a" }"#,
        );
        let secrets = FileSecrets::load(&path).unwrap();
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets.get("github/webhook").await.unwrap().expose(), "s3cret");
        assert!(has_none(&secrets, "missing").await);
        // Read once: later edits are not seen.
        std::fs::write(&path, r#"{ "github/webhook": "changed" }"#).unwrap();
        assert_eq!(secrets.get("github/webhook").await.unwrap().expose(), "s3cret");
    }

    #[test]
    fn file_errors_are_classified_and_never_quote_values() {
        let dir = tempfile::tempdir().unwrap();
        let missing = FileSecrets::load(dir.path().join("nope.json")).unwrap_err();
        assert!(matches!(missing, PortError::NotFound { .. }), "{missing}");

        for content in [
            r#""hunter2""#,
            r#"{ "a": 7, "b": "hunter2" }"#,
            r#"{ "a": ["hunter2"] }"#,
            "{ hunter2",
        ] {
            let err = FileSecrets::load(write(&dir, content)).unwrap_err();
            assert!(matches!(err, PortError::Permanent { .. }), "{err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn an_empty_value_in_the_file_fails_the_load_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for content in [
            r#"{ "github/webhook-secret": "" }"#,
            r#"{ "github/webhook-secret": "  " }"#,
        ] {
            let err = FileSecrets::load(write(&dir, content)).unwrap_err();
            assert!(matches!(err, PortError::Permanent { .. }), "{err}");
            assert!(err.to_string().contains("github/webhook-secret"), "{err}");
        }
    }

    #[tokio::test]
    async fn env_secrets_map_names_and_ignore_empty_values() {
        let secrets = EnvSecrets::from_vars([
            ("HOOKLINE_SECRET_GITHUB_WEBHOOK", "from-env"),
            ("HOOKLINE_SECRET_EMPTY", ""),
            ("OTHER_GITHUB_WEBHOOK", "not-ours"),
        ]);
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets.get("github/webhook").await.unwrap().expose(), "from-env");
        assert_eq!(secrets.get("GITHUB-WEBHOOK").await.unwrap().expose(), "from-env");
        assert!(has_none(&secrets, "empty").await);
        assert!(has_none(&secrets, "other/github/webhook").await);
    }

    #[tokio::test]
    async fn env_lookup_maps_long_and_non_ascii_names_like_the_variable_names() {
        let long = format!("tenant-{}/signing-secret", "x".repeat(80));
        let secrets = EnvSecrets::from_vars([
            (env_var_name(&long), "long".to_owned()),
            (env_var_name("jira/café.key"), "accented".to_owned()),
        ]);
        assert_eq!(secrets.get(&long).await.unwrap().expose(), "long");
        assert_eq!(secrets.get("jira/café.key").await.unwrap().expose(), "accented");
        assert_eq!(secrets.get("JIRA/CAF__KEY").await.unwrap().expose(), "accented");
    }

    #[tokio::test]
    async fn from_env_reads_the_process_environment() {
        // Only reads: the test harness runs tests in parallel threads, so it must not set variables.
        let secrets = EnvSecrets::from_env();
        let expected = std::env::vars()
            .filter(|(k, v)| k.starts_with(ENV_PREFIX) && !v.is_empty())
            .count();
        assert_eq!(secrets.len(), expected);
    }

    #[tokio::test]
    async fn layered_prefers_env_then_file() {
        let dir = tempfile::tempdir().unwrap();
        let file =
            FileSecrets::load(write(&dir, r#"{ "github/webhook": "file", "only/file": "f" }"#)).unwrap();
        let env = EnvSecrets::from_vars([
            ("HOOKLINE_SECRET_GITHUB_WEBHOOK", "env"),
            ("HOOKLINE_SECRET_ONLY_ENV", "e"),
        ]);
        let secrets = LayeredSecrets::new(env, file);
        assert_eq!(secrets.get("github/webhook").await.unwrap().expose(), "env");
        assert_eq!(secrets.get("only/file").await.unwrap().expose(), "f");
        assert_eq!(secrets.get("only/env").await.unwrap().expose(), "e");
        assert!(has_none(&secrets, "neither").await);

        let no_file = LayeredSecrets::new(EnvSecrets::default(), FileSecrets::empty());
        assert!(has_none(&no_file, "github/webhook").await);
    }
}
