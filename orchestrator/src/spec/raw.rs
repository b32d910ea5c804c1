//! The stack file as written: serde structs that keep the span of every
//! value, so validation can point at the offending line and column.
//!
//! `deny_unknown_fields` everywhere makes a misspelt key an error instead of
//! a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type Text = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStack {
    pub project: Spanned<RawProject>,
    #[serde(default)]
    pub build_steps: BTreeMap<Text, Spanned<RawBuildStep>>,
    #[serde(default)]
    pub images: BTreeMap<Text, Spanned<RawImage>>,
    #[serde(default)]
    pub volumes: BTreeMap<Text, Spanned<RawVolume>>,
    #[serde(default)]
    pub networks: BTreeMap<Text, Spanned<RawNetwork>>,
    #[serde(default)]
    pub containers: BTreeMap<Text, Spanned<RawContainer>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProject {
    pub name: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuildStep {
    pub command: Spanned<Vec<Text>>,
    #[serde(default)]
    pub env: BTreeMap<Text, String>,
    pub workdir: Option<Text>,
    #[serde(default)]
    pub inputs: Vec<Text>,
    #[serde(default)]
    pub outputs: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawImage {
    pub tag: Text,
    pub context: Text,
    pub dockerfile: Option<Text>,
    pub ignore_file: Option<Text>,
    #[serde(default)]
    pub build_args: BTreeMap<Text, String>,
    #[serde(default)]
    pub after_steps: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVolume {
    pub name: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub name: Option<Text>,
    pub driver: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContainer {
    pub image: Text,
    /// `"once"` or `"service"`.
    pub run: Text,
    pub timeout: Option<Text>,
    pub outputs: Option<Spanned<Vec<Text>>>,
    #[serde(default)]
    pub depends_on: Vec<Text>,
    pub command: Option<Spanned<Vec<Text>>>,
    #[serde(default)]
    pub env: BTreeMap<Text, String>,
    #[serde(default)]
    pub mounts: Vec<Spanned<RawMount>>,
    #[serde(default)]
    pub networks: Vec<Text>,
    #[serde(default)]
    pub ports: Vec<Spanned<RawPort>>,
    pub restart: Option<Text>,
    pub healthcheck: Option<Spanned<RawHealthcheck>>,
    pub resources: Option<Spanned<RawResources>>,
    pub security: Option<Spanned<RawSecurity>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMount {
    pub volume: Text,
    pub target: Text,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPort {
    /// Signed and wide so that an out-of-range port gets its own message.
    pub host: Spanned<i64>,
    pub container: Spanned<i64>,
    pub host_ip: Option<Text>,
    pub protocol: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealthcheck {
    pub command: Spanned<Vec<Text>>,
    pub interval: Option<Text>,
    pub timeout: Option<Text>,
    pub retries: Option<Spanned<i64>>,
    pub start_period: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResources {
    /// A size (`"512MiB"`) or `"unlimited"`.
    pub memory: Option<Text>,
    /// A positive integer or `"unlimited"`.
    pub pids: Option<Spanned<toml::Value>>,
    pub cpus: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecurity {
    /// `"uid[:gid]"`, or `false` to keep the image's USER.
    pub user: Option<Spanned<toml::Value>>,
    pub read_only_rootfs: Option<bool>,
    pub drop_all_capabilities: Option<bool>,
    pub no_new_privileges: Option<bool>,
}
