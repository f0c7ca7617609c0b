//! The seed's vendor templates, run end to end through the API against
//! the vendors' stand-ins: what the stand-ins hold afterwards is checked,
//! and a second run must create nothing twice.

use crate::connectors::run;
use crate::fiken_server;
use crate::helpers::{Options, TestApp, spawn_app_opts};
use crate::mystore_server;
use crate::runs::output;
use serde_json::{Value, json};

const MYSTORE: &str = "c1d54a1e-8a0f-4e0e-9d5a-3f2b6c9e7a10";
const FIKEN: &str = "3e0f8b2c-5d71-4c1a-b8e4-7a9d2f6c1b35";
const TRANSFERRING: &str = "018fda95-a62f-4f0b-af12-3cfcd9146def";

/// An app reaching each vendor `(short, base)` at its stand-in.
async fn app_reaching(vendors: &[(&str, &str)]) -> TestApp {
    let mut options = Options::default();
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

#[tokio::test]
async fn transferring_orders_and_customers_creates_each_contact_and_invoice_once() {
    let shop = mystore_server::start().await;
    let fiken = fiken_server::start().await;
    let app = app_reaching(&[("MYST2", &shop.base), ("FIKE", &fiken.base)]).await;
    let myst = register(
        &app,
        MYSTORE,
        json!({"shopUrl": mystore_server::SHOP, "apikey": mystore_server::TOKEN}),
    )
    .await;
    let fike = register(
        &app,
        FIKEN,
        json!({"token": fiken_server::TOKEN, "companySlug": fiken_server::SLUG}),
    )
    .await;
    let workflow = seed_workflow(&app, TRANSFERRING, json!({"MYST2": myst, "FIKE": fike})).await;
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
    let statuses: Vec<&Value> = again
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
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
