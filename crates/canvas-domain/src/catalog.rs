//! What the catalog is made of: applications, their credential fields and
//! blocks, and workflow templates with their chains.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// One credential field, in the seed's PascalCase shape and order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CredentialField {
    pub short_name: String,
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub desc: String,
    #[serde(default)]
    pub hidden: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    Password,
    Number,
    Checkbox,
    Select,
}

impl CredentialField {
    /// The keys of a `select` field's `Options` ("live|Live Environment,test|Test").
    pub fn option_keys(&self) -> Vec<&str> {
        let options = self.options.as_deref().unwrap_or("");
        options
            .split(',')
            .filter_map(|o| o.split('|').next())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect()
    }
}

/// The connector that checks an application's credentials and runs its
/// native blocks; `None` where no connector has been built yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    Ftp,
    FileHub,
    Postgresql,
    Mysql,
    Http,
    Sftp,
    Mssql,
    /// A vendor's API, declared in the application's `vendor` (HTTP underneath).
    Vendor,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    pub id: Uuid,
    pub name: String,
    pub short_name: String,
    pub description: String,
    pub vendor_url: String,
    pub credential_fields: Vec<CredentialField>,
    pub tag: String,
    #[serde(default)]
    pub session_time_mins: i64,
    #[serde(default)]
    pub session_sliding_expiry: bool,
    #[serde(default)]
    pub is_o_auth_app: bool,
    #[serde(default)]
    pub connector: Option<ConnectorKind>,
    /// How the vendor's API is reached (connector `vendor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<crate::vendor::VendorSpec>,
    #[serde(default)]
    pub blocks: Vec<BlockDef>,
}

impl Application {
    pub fn block(&self, name: &str) -> Option<&BlockDef> {
        self.blocks.iter().find(|b| b.name == name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockDef {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub variables: Vec<VariableDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariableDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: VariableKind,
    #[serde(default)]
    pub default: Value,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableKind {
    String,
    Number,
    Boolean,
    Array,
    Object,
}

impl VariableKind {
    /// Whether `v` fits this kind; `null` always fits (an unset variable).
    pub fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (_, Value::Null)
                | (Self::String, Value::String(_))
                | (Self::Number, Value::Number(_))
                | (Self::Boolean, Value::Bool(_))
                | (Self::Array, Value::Array(_))
                | (Self::Object, Value::Object(_))
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Number => "a number",
            Self::Boolean => "true or false",
            Self::Array => "an array",
            Self::Object => "an object",
        }
    }
}

/// One block of a chain, in the seed's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainBlock {
    pub unique_block_id: Uuid,
    pub block_name: String,
    #[serde(default)]
    pub variables: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// The short name of the application whose block this is, when more
    /// than one application of the template offers a block of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TemplateState {
    Draft,
    Published,
}

impl TemplateState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Published => "Published",
        }
    }
}

/// A workflow template: the draft a user edits and, once published, the
/// committed chain workflows are made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: Uuid,
    pub organization_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub date_created: Timestamp,
    pub date_modified: Timestamp,
    pub state: TemplateState,
    pub version: Option<String>,
    pub draft_is_committed: Option<bool>,
    pub date_committed: Option<Timestamp>,
    pub applications: Vec<String>,
    pub chain: Vec<ChainBlock>,
    /// The chain of the committed version; `None` while never published.
    pub committed: Option<CommittedTemplate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommittedTemplate {
    pub applications: Vec<String>,
    pub chain: Vec<ChainBlock>,
}

impl Template {
    /// Published templates make workflows, from their committed chain.
    pub fn committed(&self) -> Option<&CommittedTemplate> {
        self.committed.as_ref()
    }
}
