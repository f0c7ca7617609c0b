//! Fresh stores per backend, and the rows a run needs.

use canvas_domain::account::AccountRole;
use canvas_domain::time::now;
use canvas_domain::workflow::WorkflowStatus;
use canvas_store::model::{NewAccount, NewRun, Organization, RunTrigger, Workflow};
use canvas_store::{NewOrganization, Store};
use uuid::Uuid;

pub const PG_URL: &str = "postgres://root@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store of its own; its PostgreSQL schema is dropped with it.
pub struct TestStore {
    pub store: Store,
    pub schema: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestStore {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, schema) = match backend {
            Backend::Sqlite => (
                Store::open_sqlite(&dir.path().join("canvas.db"))
                    .await
                    .unwrap(),
                None,
            ),
            Backend::Postgres => {
                let schema = format!("s_{}", Uuid::new_v4().simple());
                (
                    Store::open_postgres(PG_URL, Some(&schema)).await.unwrap(),
                    Some(schema),
                )
            }
        };
        Self {
            store,
            schema,
            _dir: dir,
        }
    }

    /// The SQLite store's file.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        self.schema
            .is_none()
            .then(|| self._dir.path().join("canvas.db"))
    }

    /// Drops the PostgreSQL schema (tests call it at their end).
    pub async fn drop_schema(self) {
        if let Some(schema) = &self.schema {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(PG_URL).await.unwrap();
            let sql = format!("DROP SCHEMA {schema} CASCADE");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }

    /// An organization with its admin, and a workflow of one script block.
    pub async fn workflow(&self) -> Workflow {
        let org = Uuid::new_v4();
        let admin = NewAccount {
            id: Uuid::new_v4(),
            organization_id: org,
            first_name: "Test".into(),
            last_name: "Admin".into(),
            email: format!("admin-{}@example.com", Uuid::new_v4().simple()),
            phone: None,
            role: AccountRole::Admin,
            country_key: None,
            global_notifications: false,
            default_notification_email: None,
            active: true,
            activation_token_hash: None,
            date_created: now(),
        };
        let account = admin.id;
        let new = NewOrganization {
            organization: Organization {
                id: org,
                name: "Org".into(),
                parent_id: None,
                allowed_cidrs: vec![],
                date_created: now(),
            },
            admin,
            consumer: Uuid::new_v4().simple().to_string(),
            secret_hash: vec![1, 2, 3],
        };
        self.store.create_organization(&new).await.unwrap();
        let chain = serde_json::from_value(serde_json::json!([
            {"uniqueBlockId": Uuid::new_v4(), "blockName": "One", "script": "return [];"}]))
        .unwrap();
        let workflow = Workflow {
            id: Uuid::new_v4(),
            account_id: account,
            organization_id: org,
            template_id: None,
            name: "W".into(),
            description: String::new(),
            status: WorkflowStatus::Ready,
            is_scheduled: false,
            schedule_frequency: None,
            is_customized_structure: false,
            applications: serde_json::Map::new(),
            chain,
            date_created: now(),
            date_modified: now(),
            date_last_run: None,
            date_next_schedule: None,
            current_block: 0,
        };
        self.store.insert_workflow(&workflow).await.unwrap();
        workflow
    }

    /// Queues a run of `workflow`; returns its id and its queue time as written.
    pub async fn queue_at(&self, workflow: &Workflow) -> (Uuid, canvas_domain::time::Timestamp) {
        let at = now();
        let run = NewRun {
            id: Uuid::new_v4(),
            workflow_id: workflow.id,
            trigger: RunTrigger::Manual,
            run_from: 1,
            run_till: 1,
            date_queued: at,
        };
        self.store.enqueue_run(&run, 100, None).await.unwrap();
        (run.id, at)
    }

    /// Queues a run of `workflow`.
    pub async fn queue(&self, workflow: &Workflow) -> Uuid {
        self.queue_at(workflow).await.0
    }
}

/// Runs a test on both backends: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name($crate::fixtures::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name($crate::fixtures::Backend::Postgres).await }
        }
    )*};
}
