//! `spawn_app`: the real server on port 0 with a fresh store (SQLite in a
//! temporary folder, or a fresh PostgreSQL schema), and a small typed client.

use canvas_api::ApiConfig;
use canvas_connectors::{ConnectorConfig, Connectors};
use canvas_domain::account::AccountRole;
use canvas_node::{HeldEngine, Node, NodeParts, NodePlan, SchedulerPlan};
use canvas_security::{MasterKey, Secrets};
use canvas_store::model::{NewAccount, Organization};
use canvas_store::{NewOrganization, Store};
use serde_json::Value;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend for each named `async fn(Backend)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await })*
        }
    };
}
pub(crate) use both_backends;

#[derive(Debug, Clone)]
pub struct Keys {
    pub consumer: String,
    pub secret: String,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub organization: Uuid,
    pub admin: Uuid,
    pub keys: Keys,
    pub store: Store,
    pub secrets: Secrets,
    pub datasets: canvas_blocks::Datasets,
    /// What the node's parts share (signals, clock).
    pub services: canvas_api::Services,
    /// The clock the test moves, when spawned with one.
    pub clock: Option<canvas_domain::time::ManualClock>,
    _dir: tempfile::TempDir,
    /// Dropping the app stops its node: API, workers and scheduler.
    _stop: tokio::sync::oneshot::Sender<()>,
    /// The engine, when `Options::hold_engine` kept it from starting.
    held_engine: Mutex<Option<HeldEngine>>,
    /// The PostgreSQL schema of this app's store, dropped with the app.
    pg_schema: Option<String>,
}

impl Drop for TestApp {
    /// Drops the app's PostgreSQL schema, so test runs leave nothing behind.
    /// On a thread of its own (Drop cannot await); a lock still held by the
    /// app's pool makes it give up after a second rather than wait.
    fn drop(&mut self) {
        let Some(schema) = self.pg_schema.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&pg_url()).await.ok()?;
                let sql =
                    format!("SET lock_timeout = '1s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}

fn pg_url() -> String {
    std::env::var("CANVAS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub text: String,
    pub body: Value,
}

/// Every log line the servers of this test binary wrote.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogSink;

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,h2=info,rustls=info")
            .with_writer(|| LogSink)
            .with_ansi(false)
            .init();
    });
}

/// Short leases and heartbeats so that tests see runs progress quickly.
pub fn engine_config() -> canvas_engine::EngineConfig {
    canvas_engine::EngineConfig {
        workers: 2,
        max_running_per_organization: 1,
        lease: Duration::from_secs(3),
        heartbeat: Duration::from_millis(100),
        poll: Duration::from_millis(50),
        script: canvas_engine::ScriptLimits {
            cpu_time: Duration::from_millis(1500),
            memory_bytes: 64 << 20,
            max_input_records: 100_000,
            max_log_bytes: 1 << 20,
        },
        retry: canvas_engine::RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        },
        sandbox: sandbox_program(),
        ..canvas_engine::EngineConfig::default()
    }
}

/// Scripts run in this test binary started again on its one `sandbox_process`
/// entry (`main.rs`), as `canvas serve` starts `canvas sandbox`.
pub fn sandbox_program() -> canvas_engine::SandboxProgram {
    let args = [
        "sandbox_process",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ];
    let mut program = canvas_engine::SandboxProgram::this_executable(&args).unwrap();
    program.env.push((SANDBOX_CHILD.into(), "1".into()));
    program
}

/// Set in the environment of this binary when it runs as a sandbox process.
pub const SANDBOX_CHILD: &str = "CANVAS_TEST_SANDBOX_CHILD";

pub fn test_config() -> ApiConfig {
    ApiConfig {
        auth_cache_ttl: Duration::ZERO,
        ..ApiConfig::default()
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, test_config()).await
}

/// The app's store, and its PostgreSQL schema (dropped with the app).
async fn open_store(backend: Backend, dir: &std::path::Path) -> (Store, Option<String>) {
    match backend {
        Backend::Sqlite => (
            Store::open_sqlite(&dir.join("canvas.db"))
                .await
                .expect("sqlite store"),
            None,
        ),
        Backend::Postgres => {
            let schema = format!("t_{}", Uuid::new_v4().simple());
            let store = Store::open_postgres(&pg_url(), Some(&schema))
                .await
                .expect("PostgreSQL at 127.0.0.1:5432 (database test)");
            (store, Some(schema))
        }
    }
}

pub async fn spawn_app_with(backend: Backend, config: ApiConfig) -> TestApp {
    spawn_app_opts(
        backend,
        Options {
            config,
            ..Options::default()
        },
    )
    .await
}

/// Everything a test may set about the app it starts.
pub struct Options {
    pub config: ApiConfig,
    pub mailer: Option<canvas_connectors::Mailer>,
    pub extra_ca_file: Option<std::path::PathBuf>,
    /// How long a file transfer may stand still (the connectors' `transfer_stall`).
    pub transfer_stall: Duration,
    /// The engine's native blocks and script operations.
    pub blocks: canvas_blocks::NativeBlocks,
    /// The engine's configuration (`engine_config()` unless a test needs other limits).
    pub engine: canvas_engine::EngineConfig,
    /// Start the engine's workers only when the test calls `start_engine`.
    pub hold_engine: bool,
    /// Where connectors may go: the tests' servers are on loopback.
    pub egress: canvas_connectors::EgressPolicy,
    pub quotas: canvas_blocks::FileQuotas,
    /// `[vendors.<SHORT>] base_url`: the vendors' stand-ins.
    pub vendor_bases: canvas_connectors::VendorBases,
    /// A clock the test moves: no scheduler thread runs, the test fires
    /// schedules itself (`TestApp::fire_schedules_at`).
    pub clock: Option<canvas_domain::time::ManualClock>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: test_config(),
            mailer: None,
            extra_ca_file: None,
            transfer_stall: Duration::from_secs(60),
            blocks: canvas_engine::builtin_blocks(),
            engine: engine_config(),
            hold_engine: false,
            egress: canvas_connectors::EgressPolicy::allowing(&["127.0.0.0/8", "::1"]).unwrap(),
            quotas: canvas_blocks::FileQuotas::default(),
            vendor_bases: Default::default(),
            clock: None,
        }
    }
}

pub async fn spawn_app_opts(backend: Backend, options: Options) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (store, pg_schema) = open_store(backend, dir.path()).await;
    let secrets = Secrets::new(&MasterKey::from_hex(&hex_key()).unwrap());
    let connectors = Connectors::new(ConnectorConfig {
        timeout: Duration::from_secs(5),
        transfer_stall: options.transfer_stall,
        extra_ca_file: options.extra_ca_file,
        egress: options.egress,
        vendor_bases: options.vendor_bases,
    })
    .unwrap();
    let (organization, admin, keys) = create_organization(&store, &secrets, "Test Org", None).await;
    let datasets = canvas_blocks::Datasets::local(&dir.path().join("blobs"))
        .unwrap()
        .with_quotas(options.quotas);
    let manual_clock = options.clock.clone();
    let clock: canvas_domain::time::SharedClock = match &options.clock {
        Some(manual) => std::sync::Arc::new(manual.clone()),
        None => canvas_domain::time::SystemClock::shared(),
    };
    let parts = NodeParts {
        store: store.clone(),
        secrets: secrets.clone(),
        datasets: datasets.clone(),
        connectors,
        mailer: options.mailer,
        clock,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plan = NodePlan {
        api: Some((options.config, listener)),
        engine: Some(options.engine),
        extra_blocks: options.blocks,
        hold_engine: options.hold_engine,
        scheduler: match options.clock {
            Some(_) => SchedulerPlan::Off,
            None => own_scheduler(backend, dir.path(), pg_schema.clone()),
        },
    };
    let mut node = Node::start(parts, plan).unwrap();
    let address = format!("http://{}", node.local_addr().unwrap());
    let held_engine = Mutex::new(node.take_held_engine());
    let services = node.services().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(node.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        organization,
        admin,
        keys,
        store,
        secrets,
        // The node's own: it reads small outputs back from the store.
        datasets: services.datasets.clone(),
        services,
        clock: manual_clock,
        _dir: dir,
        _stop: stop,
        held_engine,
        pg_schema,
    }
}

/// The scheduler on its own thread over its own store, as `canvas serve` runs it.
fn own_scheduler(
    backend: Backend,
    dir: &std::path::Path,
    pg_schema: Option<String>,
) -> SchedulerPlan {
    let sqlite = dir.join("canvas.db");
    SchedulerPlan::OwnThread {
        config: canvas_scheduler::SchedulerConfig::default(),
        open: Box::new(move || {
            Box::pin(async move {
                let opened = match backend {
                    Backend::Sqlite => Store::open_sqlite(&sqlite).await,
                    Backend::Postgres => {
                        Store::open_postgres(&pg_url(), pg_schema.as_deref()).await
                    }
                };
                opened.map_err(|e| e.to_string())
            })
        }),
    }
}

fn hex_key() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// An organization (below `parent`, or top-level) with an Admin account and its key.
pub async fn create_organization(
    store: &Store,
    secrets: &Secrets,
    name: &str,
    parent: Option<Uuid>,
) -> (Uuid, Uuid, Keys) {
    let at = canvas_domain::time::now();
    let org = Uuid::new_v4();
    let pair = secrets.new_key_pair();
    let admin = new_account(
        org,
        AccountRole::Admin,
        &format!("admin-{}@example.com", Uuid::new_v4().simple()),
    );
    let admin_id = admin.id;
    let new = NewOrganization {
        organization: Organization {
            id: org,
            name: name.into(),
            parent_id: parent,
            allowed_cidrs: vec![],
            date_created: at,
        },
        admin,
        consumer: pair.consumer.clone(),
        secret_hash: secrets.hash_secret(&pair.secret),
    };
    store.create_organization(&new).await.unwrap();
    (
        org,
        admin_id,
        Keys {
            consumer: pair.consumer,
            secret: pair.secret,
        },
    )
}

pub fn new_account(organization: Uuid, role: AccountRole, email: &str) -> NewAccount {
    NewAccount {
        id: Uuid::new_v4(),
        organization_id: organization,
        first_name: "Test".into(),
        last_name: role.name().into(),
        email: email.into(),
        phone: None,
        role,
        country_key: None,
        global_notifications: false,
        default_notification_email: None,
        active: true,
        activation_token_hash: None,
        date_created: canvas_domain::time::now(),
    }
}

impl TestApp {
    /// Starts the engine's workers of an app spawned with `hold_engine`.
    pub fn start_engine(&self) {
        if let Some(engine) = self.held_engine.lock().unwrap().take() {
            engine.start();
        }
    }

    /// Sets the app's manual clock (`Options::clock`) to `at` and commits
    /// the fires due then, as one pass of the scheduler would.
    pub async fn fire_schedules_at(&self, at: chrono::DateTime<chrono::Utc>) -> usize {
        let clock = self.clock.as_ref().expect("spawned with Options::clock");
        clock.set(at);
        let parts = canvas_scheduler::SchedulerParts {
            store: self.store.clone(),
            clock: std::sync::Arc::new(clock.clone()),
            wake_workers: self.services.queue_signal.clone(),
            changed: self.services.schedule_signal.clone(),
        };
        let scheduler = canvas_scheduler::Scheduler::new(parts, Default::default());
        scheduler.fire_due().await.expect("fires committed")
    }

    /// The embedded store's file (SQLite apps), for tests that change it behind Canvas's back.
    /// The app's local blob store folder.
    pub fn blobs_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("blobs")
    }

    pub fn sqlite_file(&self) -> std::path::PathBuf {
        self._dir.path().join("canvas.db")
    }

    /// A connection of its own to the embedded store (SQLite apps), for
    /// tests that change it behind Canvas's back (triggers, renamed tables).
    pub async fn sqlite_behind_canvas(&self) -> sqlx::SqliteConnection {
        let url = format!("sqlite://{}", self.sqlite_file().display());
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request reaches the server");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, text, body }
    }

    fn with_keys(req: reqwest::RequestBuilder, keys: &Keys) -> reqwest::RequestBuilder {
        req.header("Consumer", &keys.consumer)
            .header("SecretKey", &keys.secret)
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.get_as(path, &self.keys, &[]).await
    }

    pub async fn get_as(&self, path: &str, keys: &Keys, headers: &[(&str, &str)]) -> Resp {
        let mut req = Self::with_keys(self.client.get(self.url(path)), keys);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    pub async fn get_raw(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.client.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        let req = Self::with_keys(self.client.delete(self.url(path)), &self.keys);
        self.send(req).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.post_as(path, &self.keys, &[], body.to_string()).await
    }

    /// POSTs `body` and returns the id (a JSON string) the call answered.
    pub async fn post_id(&self, path: &str, body: &Value) -> String {
        let r = self.post(path, body).await;
        r.body
            .as_str()
            .unwrap_or_else(|| panic!("{path} answered {} {}", r.status, r.text))
            .to_string()
    }

    pub async fn post_as(
        &self,
        path: &str,
        keys: &Keys,
        headers: &[(&str, &str)],
        body: String,
    ) -> Resp {
        let mut req = Self::with_keys(self.client.post(self.url(path)), keys)
            .header("Content-Type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// Another account in `organization`, with its own key.
    pub async fn account_with_key(&self, organization: Uuid, role: AccountRole) -> (Uuid, Keys) {
        let account = new_account(
            organization,
            role,
            &format!("{}@example.com", Uuid::new_v4().simple()),
        );
        self.store.create_account(&account).await.unwrap();
        (account.id, self.key_for(account.id).await)
    }

    pub async fn key_for(&self, account: Uuid) -> Keys {
        let pair = self.secrets.new_key_pair();
        let hash = self.secrets.hash_secret(&pair.secret);
        self.store
            .create_key(account, &pair.consumer, &hash, canvas_domain::time::now())
            .await
            .unwrap();
        Keys {
            consumer: pair.consumer,
            secret: pair.secret,
        }
    }

    /// A published organization template over File Hub: one `Send email` block.
    pub async fn file_hub_template(&self, keys: &Keys) -> (Uuid, Uuid) {
        let block = Uuid::new_v4();
        let body = serde_json::json!({
            "name": "Customers by email", "state": "Published", "applications": ["CMAF"],
            "chain": [{"uniqueBlockId": block, "blockName": "Send email",
                       "variables": {"subject": "Customers", "fileName": "All", "note": null}}]
        });
        let r = self
            .post_as("/api/WorkflowTemplate", keys, &[], body.to_string())
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        (r.body.as_str().unwrap().parse().unwrap(), block)
    }

    pub async fn register_file_hub(&self, keys: &Keys) -> Uuid {
        let body = serde_json::json!({"applicationId": "9b6a04b3-c91f-4255-9033-6ac7b7a6f935", "tagText": "Files"});
        let r = self
            .post_as("/api/RegApplication", keys, &[], body.to_string())
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body.as_str().unwrap().parse().unwrap()
    }

    /// A workflow of the admin account made from a File Hub template.
    pub async fn file_hub_workflow(&self) -> Uuid {
        let (template, _) = self.file_hub_template(&self.keys).await;
        let reg = self.register_file_hub(&self.keys).await;
        let r = self
            .post("/api/Workflow", &serde_json::json!({"workflowTemplateId": template, "name": "Mail it", "applications": {"CMAF": reg}}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body.as_str().unwrap().parse().unwrap()
    }
}

/// The seed document, for comparing shapes with its examples.
pub fn seed() -> &'static str {
    include_str!("../data/canvas-rest-api.txt")
}

/// The JSON value that starts at `marker` in the seed text.
pub fn seed_json(marker: &str) -> Value {
    let text = seed();
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the seed"));
    let mut de = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
    de.next().unwrap().unwrap()
}

/// Asserts the response is an error with the `{State, Msg}` body.
pub fn assert_error(r: &Resp, status: u16, msg_contains: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["State"], status, "{}", r.text);
    let msg = r.body["Msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains(msg_contains),
        "expected Msg containing {msg_contains:?}, got {msg:?}"
    );
}
