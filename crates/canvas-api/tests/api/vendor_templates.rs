//! The seed's vendor templates, run end to end through the API against
//! the vendors' stand-ins: what the stand-ins hold afterwards is checked,
//! and a second run must create nothing twice.

use crate::connectors::run;
use crate::fiken_server;
use crate::helpers::{Options, TestApp, spawn_app_opts};
use crate::mystore_server::{self, MyStore as MyStoreStandIn};
use crate::quinyx_server;
use crate::runs::output;
use crate::tripletex_server;
use serde_json::{Value, json};

const MYSTORE: &str = "c1d54a1e-8a0f-4e0e-9d5a-3f2b6c9e7a10";
const FIKEN: &str = "3e0f8b2c-5d71-4c1a-b8e4-7a9d2f6c1b35";
const TRANSFERRING: &str = "018fda95-a62f-4f0b-af12-3cfcd9146def";

/// An app reaching each vendor `(short, base)` at its stand-in.
async fn app_reaching(vendors: &[(&str, &str)]) -> TestApp {
    app_reaching_with(vendors, Options::default()).await
}

async fn app_reaching_with(vendors: &[(&str, &str)], mut options: Options) -> TestApp {
    for (short, base) in vendors {
        options
            .vendor_bases
            .insert(short.to_string(), base.to_string());
    }
    spawn_app_opts(crate::helpers::Backend::Sqlite, options).await
}

async fn register(app: &TestApp, application: &str, credentials: Value) -> Value {
    let body = json!({"applicationId": application, "tagText": "Seed", "credentialsJson": credentials.to_string()});
    let reg = app.post("/api/RegApplication", &body).await;
    assert_eq!(reg.status, 200, "{}", reg.text);
    reg.body
}

/// A workflow of a built-in template with these registrations.
async fn seed_workflow(app: &TestApp, template: &str, applications: Value) -> String {
    let body = json!({"workflowTemplateId": template, "applications": applications});
    let w = app.post("/api/Workflow", &body).await;
    assert_eq!(w.status, 200, "{}", w.text);
    w.body.as_str().unwrap().to_string()
}

/// Each output record's `status`.
fn statuses(records: &Value) -> Vec<&str> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default())
        .collect()
}

/// The Oslo dates an order `days` old may have had while the test ran.
fn oslo_dates(days: i64, around: &[chrono::DateTime<chrono::Utc>]) -> Vec<String> {
    around
        .iter()
        .map(|at| {
            (*at - chrono::Duration::days(days))
                .with_timezone(&chrono_tz::Europe::Oslo)
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect()
}

/// An app with MyStore's and Fiken's stand-ins registered, and a workflow
/// of the seed's "Transferring of Orders & Customers".
async fn transferring_to_fiken() -> (TestApp, MyStoreStandIn, fiken_server::Fiken, String) {
    let shop = mystore_server::start().await;
    let fiken = fiken_server::start().await;
    let app = app_reaching(&[("MYST2", &shop.base), ("FIKE", &fiken.base)]).await;
    let myst = register(&app, MYSTORE, mystore_credentials()).await;
    let fike = register(
        &app,
        FIKEN,
        json!({"token": fiken_server::TOKEN, "companySlug": fiken_server::SLUG}),
    )
    .await;
    let workflow = seed_workflow(&app, TRANSFERRING, json!({"MYST2": myst, "FIKE": fike})).await;
    (app, shop, fiken, workflow)
}

fn mystore_credentials() -> Value {
    json!({"shopUrl": mystore_server::SHOP, "apikey": mystore_server::TOKEN})
}

#[tokio::test]
async fn transferring_orders_and_customers_creates_each_contact_and_invoice_once() {
    let (app, _shop, fiken, workflow) = transferring_to_fiken().await;
    let started = chrono::Utc::now();

    let first = run(&app, &workflow).await;
    let second = run(&app, &workflow).await;

    let ended = chrono::Utc::now();
    assert_eq!(first["status"], "Succeeded", "{first}");
    assert_eq!(second["status"], "Succeeded", "{second}");
    let posted = output(&app, first["id"].as_str().unwrap(), 3).await;
    assert_eq!(
        posted,
        json!([
            {"orderId": "1001", "contactId": 231, "contactCreated": true, "invoiceId": 88, "status": "created"},
            {"orderId": "1003", "contactId": 7, "contactCreated": false, "invoiceId": 89, "status": "created"},
            {"orderId": "1004", "contactId": 231, "contactCreated": false, "invoiceId": 90, "status": "created"}]),
        "status 2 only; Kunde 7 matched by name; Kari's second order reuses the contact made for her first"
    );
    let again = output(&app, second["id"].as_str().unwrap(), 3).await;
    let statuses = statuses(&again);
    assert_eq!(statuses, ["exists", "exists", "exists"], "{again}");
    assert_eq!(again[0]["contactId"], 231);

    let books = fiken.seen.books.lock().unwrap();
    assert_eq!(
        books.contacts.len(),
        fiken_server::CONTACTS + 1,
        "one contact made, once"
    );
    assert_eq!(
        books.contacts[fiken_server::CONTACTS],
        json!({"name": "Kari Nordmann", "email": "kari@example.no", "customer": true,
               "address": {"streetAddress": "Storgata 1", "postCode": "0155", "city": "Oslo", "country": "Norway"},
               "contactId": 231, "inactive": false})
    );
    assert_eq!(books.invoices.len(), 3, "one invoice per order, once");
    let first_invoice = &books.invoices[0];
    assert_eq!(
        first_invoice["lines"],
        json!([
            {"description": "Ullgenser", "quantity": 2, "unitPrice": 39920, "vatType": "HIGH", "incomeAccount": "3000"},
            {"description": "Shipping", "quantity": 1, "unitPrice": 7920, "vatType": "HIGH", "incomeAccount": "3000"}])
    );
    assert_eq!(first_invoice["bankAccountCode"], "1920:10001");
    assert_eq!(first_invoice["orderReference"], "1001");
    assert_eq!(first_invoice["currency"], "NOK");
    let issued = first_invoice["issueDate"].as_str().unwrap();
    assert!(
        oslo_dates(1, &[started, ended]).iter().any(|d| d == issued),
        "{issued}"
    );
    let due =
        chrono::NaiveDate::parse_from_str(first_invoice["dueDate"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap();
    let issue = chrono::NaiveDate::parse_from_str(issued, "%Y-%m-%d").unwrap();
    assert_eq!((due - issue).num_days(), 14);
    assert_eq!(books.invoices[1]["lines"][0]["vatType"], "MEDIUM");
    assert_eq!(books.invoices[1]["lines"][1]["unitPrice"], 4950);
    assert_eq!(
        books.invoices[2]["lines"][1]["unitPrice"], 3920,
        "49.00 with VAT is 39.20 net"
    );
}

const TRIPLETEX: &str = "8b7f4d2e-1c3a-4f6b-9e0d-5a2c7b8e4f91";
const ORDER_TRANSFERRING: &str = "ae92bf0b-2ca0-461a-a7b3-01fad320439a";

fn tripletex_credentials(consumer: &str) -> Value {
    json!({"consumerToken": consumer, "employeeToken": tripletex_server::EMPLOYEE})
}

/// The seed's "Order transferring": MyStore orders of status 2 → Tripletex
/// customer (found or created), order, invoice and payment. The session is
/// made once and reused; when it expires, made again. A second run creates
/// nothing twice.
#[tokio::test]
async fn order_transferring_invoices_each_order_in_tripletex_once_with_its_payment() {
    let shop = mystore_server::start().await;
    let trip = tripletex_server::start().await;
    let app = app_reaching(&[("MYST2", &shop.base), ("TRIP", &trip.base)]).await;
    let myst = register(&app, MYSTORE, mystore_credentials()).await;
    let reg = register(
        &app,
        TRIPLETEX,
        tripletex_credentials(tripletex_server::CONSUMER),
    )
    .await;
    let workflow = seed_workflow(
        &app,
        ORDER_TRANSFERRING,
        json!({"MYST2": myst, "TRIP": reg}),
    )
    .await;

    let first = run(&app, &workflow).await;
    let sessions_after_first = trip.books.lock().unwrap().sessions.len();
    trip.expire_sessions();
    let second = run(&app, &workflow).await;

    assert_eq!(first["status"], "Succeeded", "{first}");
    assert_eq!(second["status"], "Succeeded", "{second}");
    assert_eq!(
        sessions_after_first, 1,
        "the check's session is reused by the run"
    );
    assert_eq!(
        trip.books.lock().unwrap().sessions.len(),
        2,
        "an expired session is made again"
    );
    let posted = output(&app, first["id"].as_str().unwrap(), 2).await;
    assert_eq!(
        posted[0],
        json!({"orderId": "1001", "customerId": 12, "customerCreated": true, "tripletexOrderId": 21,
               "invoiceId": 31, "invoiceNumber": 10001, "amount": 1097, "paid": true, "status": "created"}),
        "2 × 399.20 + 79.20 shipping, 25 % VAT"
    );
    assert_eq!(
        posted[1]["customerId"],
        tripletex_server::KNOWN_CUSTOMER,
        "Kunde 7 found by e-mail"
    );
    assert_eq!(posted[1]["customerCreated"], false);
    assert_eq!(
        posted[2]["customerId"], 12,
        "Kari's second order: the customer made for her first"
    );
    let again = output(&app, second["id"].as_str().unwrap(), 2).await;
    let statuses = statuses(&again);
    assert_eq!(statuses, ["exists", "exists", "exists"], "{again}");

    let books = trip.books.lock().unwrap();
    assert_eq!(books.customers.len(), 2, "one customer made, once");
    assert_eq!(
        books.customers[1],
        json!({"name": "Kari Nordmann", "email": "kari@example.no", "invoiceEmail": "kari@example.no",
               "phoneNumber": "+4791234567", "isPrivateIndividual": true,
               "postalAddress": {"addressLine1": "Storgata 1", "postalCode": "0155", "city": "Oslo"}, "id": 12})
    );
    assert_eq!(
        (
            books.orders.len(),
            books.invoices.len(),
            books.payments.len()
        ),
        (3, 3, 3)
    );
    let order = &books.orders[0];
    assert_eq!(order["reference"], "1001");
    assert_eq!(
        order["orderLines"],
        json!([
            {"description": "Ullgenser", "count": 2, "unitPriceExcludingVatCurrency": 399.2, "vatType": {"id": 103}},
            {"description": "Shipping", "count": 1, "unitPriceExcludingVatCurrency": 79.2, "vatType": {"id": 103}}])
    );
    assert_eq!(
        books.orders[1]["orderLines"][0]["vatType"]["id"], 131,
        "15 % VAT"
    );
    assert!(
        books.invoices.iter().all(|i| i["amountOutstanding"] == 0.0),
        "{:?}",
        books.invoices
    );
}

#[tokio::test]
async fn tripletex_refusals_and_validation_messages_are_said_in_its_words() {
    let shop = mystore_server::start().await;
    let trip = tripletex_server::start().await;
    let app = app_reaching(&[("MYST2", &shop.base), ("TRIP", &trip.base)]).await;
    let body = json!({"applicationId": TRIPLETEX, "tagText": "T", "credentialsJson": tripletex_credentials("wrong").to_string()});

    let refused = app.post("/api/RegApplication", &body).await;
    let source = "return [await apps.TRIP.get('/order', {customerId: 11})];";
    let chain = json!([{"blockName": "Orders", "script": source, "variables": {}}]);
    let workflow = crate::connectors::connector_workflow(
        &app,
        &[(
            "TRIP",
            TRIPLETEX,
            tripletex_credentials(tripletex_server::CONSUMER),
        )],
        chain,
    )
    .await;
    let ran = run(&app, &workflow).await;

    crate::helpers::assert_error(
        &refused,
        400,
        "Authentication Error: Validering feilet. arg:consumerToken: The consumer token is invalid or does not exist.",
    );
    assert!(!refused.text.contains("wrong"));
    assert_eq!(ran["status"], "Failed", "{ran}");
    let error = ran["blocks"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("TRIP 422: Validering feilet. orderDateFrom: Kan ikke være null."),
        "{ran}"
    );
}

const MYSTORE_CUSTOMERS_SEND_EMAIL: &str = "3b76ca61-bca9-4995-90ba-7190c1dd567b";

/// The seed's "MyStore Customers Send email": every customer over all pages
/// as `AllCustomers.csv`, to the account's address, byte for byte.
#[tokio::test]
async fn mystore_customers_are_mailed_as_one_csv_of_every_page() {
    let shop = mystore_server::start().await;
    let sink = crate::smtp::start().await;
    let options = Options {
        mailer: Some(crate::smtp::mailer(&sink)),
        ..Options::default()
    };
    let app = app_reaching_with(&[("MYST2", &shop.base)], options).await;
    let myst = register(&app, MYSTORE, mystore_credentials()).await;
    let hub = register(&app, crate::connectors::FILE_HUB, json!({})).await;
    let workflow = seed_workflow(
        &app,
        MYSTORE_CUSTOMERS_SEND_EMAIL,
        json!({"MYST2": myst, "CMAF": hub}),
    )
    .await;

    let ran = run(&app, &workflow).await;

    assert_eq!(ran["status"], "Succeeded", "{ran}");
    let mut expected = String::from("id,firstname,lastname,email,newsletter,created_at\n");
    for n in 1..=mystore_server::CUSTOMERS {
        let newsletter = n % 2 == 0;
        expected += &format!(
            "{n},Kari {n},Nordmann,kari{n}@example.no,{newsletter},2023-01-17T07:00:00Z\n"
        );
    }
    let messages = sink.messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].data.contains("Subject: MyStore Customers"));
    let (name, bytes) = crate::connectors::attachment(&messages[0].data);
    assert_eq!(name, "AllCustomers.csv");
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    let pages = shop
        .asked
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.contains("/customers"))
        .count();
    assert_eq!(pages, mystore_server::CUSTOMERS.div_ceil(100));
}

const QUINYX: &str = "97cbc3b3-32c7-4e4a-b788-a332ea82aeff";
const QUINYX_EXPORT: &str = "bbe52876-aca2-4ece-ba31-11e0d98ddc19";

/// The seed's "Quinyx Employee Export Into FTP(CSV)": the employees of
/// every key, each once, as one CSV on the FTP server; with `badgeNo`, only
/// that employee. A 429 (other clients hold Quinyx's 10 call slots) is
/// waited out; a bad key is refused at registration in Quinyx's words.
#[tokio::test]
async fn quinyx_employees_of_every_key_reach_ftp_as_one_csv() {
    let quinyx = quinyx_server::start().await;
    let app = app_reaching(&[("QUIN", &quinyx.base)]).await;
    let ftp = crate::ftp::start("partner", "pw").await;
    let bad = json!({"applicationId": QUINYX, "tagText": "Q", "credentialsJson": json!({"apikey": "9999", "environment": "live"}).to_string()});
    let refused = app.post("/api/RegApplication", &bad).await;
    let quin = register(
        &app,
        QUINYX,
        json!({"apikey": quinyx_server::GROUP_KEY, "environment": "test"}),
    )
    .await;
    let ftp_reg = register(
        &app,
        crate::connectors::FTP,
        crate::connectors::ftp_credentials(&ftp, "pw"),
    )
    .await;
    let block = "02d1424a-da90-4c12-9c28-96162e624bd7";
    let all_keys = json!({"workflowTemplateId": QUINYX_EXPORT, "applications": {"QUIN": quin, "FTP": ftp_reg},
        "chain": [{"uniqueBlockId": block, "variables": {"apiKeys": [quinyx_server::GROUP_KEY, quinyx_server::UNIT_KEY], "badgeNo": null}}]});
    let all_keys = app
        .post("/api/Workflow", &all_keys)
        .await
        .body
        .as_str()
        .unwrap()
        .to_string();
    let one_badge = json!({"workflowTemplateId": QUINYX_EXPORT, "applications": {"QUIN": quin, "FTP": ftp_reg},
        "chain": [{"uniqueBlockId": block, "variables": {"apiKeys": [], "badgeNo": "B-2"}}]});
    let one_badge = app
        .post("/api/Workflow", &one_badge)
        .await
        .body
        .as_str()
        .unwrap()
        .to_string();
    quinyx
        .seen
        .busy
        .store(1, std::sync::atomic::Ordering::SeqCst);

    let everyone = run(&app, &all_keys).await;
    let csv_of_all = only_csv(&ftp);
    std::fs::remove_file(ftp.files().join(&csv_of_all.0)).unwrap();
    let badge = run(&app, &one_badge).await;

    crate::helpers::assert_error(&refused, 400, "Authentication Error: Invalid apiKey");
    assert_eq!(everyone["status"], "Succeeded", "{everyone}");
    assert_eq!(badge["status"], "Succeeded", "{badge}");
    let header = "id,badgeNo,givenName,familyName,active,leaveDate,employedDate,ts\n";
    let row = |id: u32, given: &str, family: &str, active: bool| {
        format!("{id},B-{id},{given},{family},{active},,2020-01-1{id},2024-05-02T08:15:0{id}Z\n")
    };
    assert!(
        csv_of_all.0.starts_with("NY_Employees_") && csv_of_all.0.ends_with(".csv"),
        "{}",
        csv_of_all.0
    );
    assert_eq!(
        csv_of_all.1,
        format!(
            "{header}{}{}{}{}",
            row(1, "Kari", "Nordmann", true),
            row(2, "Ola", "Hansen", true),
            row(3, "Siri", "Berg", false),
            row(4, "Per", "Lie", true)
        ),
        "the group key's three, then the unit key's new one"
    );
    assert_eq!(
        only_csv(&ftp).1,
        format!("{header}{}", row(2, "Ola", "Hansen", true))
    );
    let calls = quinyx.seen.calls.lock().unwrap().clone();
    let group = quinyx_server::GROUP_KEY;
    assert_eq!(
        calls[..],
        [
            "wsdlGetUnits 9999".to_string(),
            format!("wsdlGetUnits {group}"),
            format!("wsdlGetEmployees {group} 429"),
            format!("wsdlGetEmployees {group}"),
            format!("wsdlGetEmployees {}", quinyx_server::UNIT_KEY),
            format!("wsdlGetEmployees {group}")
        ],
        "two checks, then the 429 repeated; the registration's key when apiKeys is empty"
    );
}

/// The one CSV file on the FTP server: its name and content.
fn only_csv(ftp: &crate::ftp::FtpServer) -> (String, String) {
    let files: Vec<_> = std::fs::read_dir(ftp.files())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    (name, std::fs::read_to_string(&files[0]).unwrap())
}

/// A 429 without `Retry-After` waits for Tripletex's `X-Rate-Limit-Reset`;
/// a 500 on a read is asked again.
#[tokio::test]
async fn tripletex_rate_limits_and_server_errors_on_reads_are_waited_out() {
    let trip = tripletex_server::start().await;
    let app = app_reaching(&[("TRIP", &trip.base)]).await;
    let source = "const found = await apps.TRIP.get('/customer', {email: 'KUNDE7@example.no', fields: 'id'}); return found.values;";
    let chain = json!([{"blockName": "Find", "script": source, "variables": {}}]);
    let creds = tripletex_credentials(tripletex_server::CONSUMER);
    let workflow =
        crate::connectors::connector_workflow(&app, &[("TRIP", TRIPLETEX, creds)], chain).await;
    trip.books.lock().unwrap().hiccups = vec![429, 500];
    let started = std::time::Instant::now();

    let ran = run(&app, &workflow).await;

    assert_eq!(ran["status"], "Succeeded", "{ran}");
    // Without the header the backoff would wait 0.5 s + 1 s.
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(3),
        "waited for the reset"
    );
    assert!(
        trip.books.lock().unwrap().hiccups.is_empty(),
        "both hiccups met"
    );
    let found = output(&app, ran["id"].as_str().unwrap(), 1).await;
    assert_eq!(found[0]["id"], tripletex_server::KNOWN_CUSTOMER);
}

/// Fiken kept an invoice but its answer was lost (a 500): the block is
/// tried again, finds the invoice by its orderReference, and makes nothing twice.
#[tokio::test]
async fn a_fiken_invoice_whose_answer_was_lost_is_not_posted_again() {
    let (app, _shop, fiken, workflow) = transferring_to_fiken().await;
    fiken
        .seen
        .lose_answers
        .store(1, std::sync::atomic::Ordering::SeqCst);

    let ran = run(&app, &workflow).await;

    assert_eq!(ran["status"], "Succeeded", "{ran}");
    let posted = output(&app, ran["id"].as_str().unwrap(), 3).await;
    let statuses = statuses(&posted);
    assert_eq!(statuses, ["exists", "created", "created"], "{posted}");
    assert_eq!(posted[0]["contactId"], 231);
    let books = fiken.seen.books.lock().unwrap();
    assert_eq!(books.invoices.len(), 3, "no invoice twice");
    assert_eq!(
        books.contacts.len(),
        fiken_server::CONTACTS + 1,
        "no contact twice"
    );
}
