//! What the store keeps, as plain data in domain types.

use canvas_domain::account::AccountRole;
use canvas_domain::catalog::ChainBlock;
use canvas_domain::time::Timestamp;
use canvas_domain::workflow::WorkflowStatus;
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub allowed_cidrs: Vec<String>,
    pub date_created: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAccount {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    /// As given; uniqueness is on its lower-cased form.
    pub email: String,
    pub phone: Option<String>,
    pub role: AccountRole,
    pub country_key: Option<String>,
    pub global_notifications: bool,
    pub default_notification_email: Option<String>,
    pub active: bool,
    /// Keyed hash of the one-time activation token of an inactive account.
    pub activation_token_hash: Option<Vec<u8>>,
    pub date_created: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub role: AccountRole,
    pub country_key: Option<String>,
    pub global_notifications: bool,
    pub default_notification_email: Option<String>,
    pub active: bool,
    pub date_created: Timestamp,
}

/// An API key with what a request needs to know about its account.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub consumer: String,
    pub secret_hash: Vec<u8>,
    pub account_id: Uuid,
    pub role: AccountRole,
    pub active: bool,
    pub organization_id: Uuid,
    pub allowed_cidrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegApplication {
    pub id: Uuid,
    pub account_id: Uuid,
    pub application_id: Uuid,
    pub tag_text: String,
    /// Sealed (encrypted) credentials; never leaves the server.
    pub credentials: Vec<u8>,
    pub is_authenticated: bool,
    pub faulted: bool,
    pub date_modified: Timestamp,
    pub date_authenticated: Option<Timestamp>,
    pub date_reauth: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub organization_id: Uuid,
    pub template_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub status: WorkflowStatus,
    pub is_scheduled: bool,
    pub schedule_frequency: Option<String>,
    pub is_customized_structure: bool,
    /// Short name of each application the workflow uses → registered application id.
    pub applications: Map<String, Value>,
    pub chain: Vec<ChainBlock>,
    pub date_created: Timestamp,
    pub date_modified: Timestamp,
    pub date_last_run: Option<Timestamp>,
    pub date_next_schedule: Option<Timestamp>,
    pub current_block: i64,
}

/// A workflow as a list shows it: everything but its chain of blocks, which
/// a list never reads (a chain holds the blocks' scripts and variables).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowSummary {
    pub id: Uuid,
    pub account_id: Uuid,
    pub organization_id: Uuid,
    pub template_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub status: WorkflowStatus,
    pub is_scheduled: bool,
    pub schedule_frequency: Option<String>,
    pub is_customized_structure: bool,
    pub applications: Map<String, Value>,
    pub date_created: Timestamp,
    pub date_modified: Timestamp,
    pub date_last_run: Option<Timestamp>,
    pub date_next_schedule: Option<Timestamp>,
    pub current_block: i64,
}

impl WorkflowSummary {
    pub fn reg_application_ids(&self) -> Vec<Uuid> {
        self.applications
            .values()
            .filter_map(|v| v.as_str()?.parse().ok())
            .collect()
    }

    pub fn with_chain(self, chain: Vec<ChainBlock>) -> Workflow {
        Workflow {
            id: self.id,
            account_id: self.account_id,
            organization_id: self.organization_id,
            template_id: self.template_id,
            name: self.name,
            description: self.description,
            status: self.status,
            is_scheduled: self.is_scheduled,
            schedule_frequency: self.schedule_frequency,
            is_customized_structure: self.is_customized_structure,
            applications: self.applications,
            chain,
            date_created: self.date_created,
            date_modified: self.date_modified,
            date_last_run: self.date_last_run,
            date_next_schedule: self.date_next_schedule,
            current_block: self.current_block,
        }
    }
}

impl Workflow {
    pub fn summary(&self) -> WorkflowSummary {
        WorkflowSummary {
            id: self.id,
            account_id: self.account_id,
            organization_id: self.organization_id,
            template_id: self.template_id,
            name: self.name.clone(),
            description: self.description.clone(),
            status: self.status,
            is_scheduled: self.is_scheduled,
            schedule_frequency: self.schedule_frequency.clone(),
            is_customized_structure: self.is_customized_structure,
            applications: self.applications.clone(),
            date_created: self.date_created,
            date_modified: self.date_modified,
            date_last_run: self.date_last_run,
            date_next_schedule: self.date_next_schedule,
            current_block: self.current_block,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "Queued",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTrigger {
    Manual,
    Schedule,
}

impl RunTrigger {
    pub fn name(self) -> &'static str {
        match self {
            Self::Manual => "Manual",
            Self::Schedule => "Schedule",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub trigger: RunTrigger,
    pub run_from: i64,
    pub run_till: i64,
    pub date_queued: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: Timestamp,
    pub organization_id: Uuid,
    pub actor_account_id: Option<Uuid>,
    pub acting_account_id: Option<Uuid>,
    pub action: String,
    pub target: Option<String>,
    pub client_ip: Option<String>,
}

/// The right to write about a run: its holder (`owner`) and the claim's
/// attempt. Only a claim makes one, and every store write about a running
/// run takes it and changes nothing once it is no longer held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLease {
    run: Uuid,
    owner: String,
    attempt: i64,
}

impl RunLease {
    pub(crate) fn new(run: Uuid, owner: &str, attempt: i64) -> Self {
        Self {
            run,
            owner: owner.to_string(),
            attempt,
        }
    }

    pub fn run(&self) -> Uuid {
        self.run
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn attempt(&self) -> i64 {
        self.attempt
    }
}

/// A run a worker has just claimed, with its lease.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRun {
    pub lease: RunLease,
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub run_from: i64,
    pub run_till: i64,
    pub attempt: i64,
    /// The holder of the expired lease this claim took the run over from
    /// (its worker died); `None` for a queued run.
    pub previous_owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub status: RunStatus,
    pub trigger: RunTrigger,
    pub run_from: i64,
    pub run_till: i64,
    pub attempt: i64,
    pub date_queued: Timestamp,
    pub date_started: Option<Timestamp>,
    pub date_finished: Option<Timestamp>,
    pub error: Option<String>,
    /// The schedule fire a scheduled run belongs to.
    pub fire_time: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunBlock {
    pub number: i64,
    pub unique_block_id: Uuid,
    pub block_name: String,
    pub status: RunStatus,
    pub date_started: Option<Timestamp>,
    pub date_finished: Option<Timestamp>,
    pub records_in: i64,
    pub records_out: i64,
    pub log: Vec<String>,
    pub error: Option<String>,
    /// Blob key of the stored output, once the block succeeded.
    pub output_key: Option<String>,
    /// The output itself when it is small: written with the record (so it
    /// is durable exactly when the record is) and read back by its key
    /// (`Store::inline_output`); `run_blocks` leaves it out.
    pub inline_output: Option<Vec<u8>>,
}

impl RunStatus {
    /// Every status, in a run's order of life.
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == s)
    }
}

impl RunTrigger {
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Manual, Self::Schedule]
            .into_iter()
            .find(|v| v.name() == s)
    }
}
