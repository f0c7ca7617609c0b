//! File Hub names are the names a client stores, lists, fetches and
//! matches, whatever characters they hold; a name too long to keep is a 400.

use crate::connectors::{FILE_HUB, connector_workflow, run};
use crate::helpers::assert_error;
use crate::runs::output;
use serde_json::json;

const ODD: &str = "Ørder #7 100% <draft> ü.csv";

#[tokio::test]
async fn odd_names_are_listed_fetched_and_matched_as_stored() {
    let app = crate::connectors::plain_app().await;
    let stored = app
        .post(
            "/api/StoreFileHubFile",
            &json!({"name": ODD, "content": "id\n1\n"}),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);

    let listed = app.get("/api/FileHubFiles").await.body;

    assert_eq!(listed, json!([{"name": ODD, "size": 5}]));
    let query: String = url_encoded(ODD);
    let fetched = app.get(&format!("/api/FileHubFile?name={query}")).await;
    assert_eq!((fetched.status, fetched.text.as_str()), (200, "id\n1\n"));
    let read = json!([{"blockName": "Read file", "variables": {"fileName": "Ørder #7*"}}]);
    let workflow = connector_workflow(&app, &[("CMAF", FILE_HUB, json!({}))], read).await;
    let ran = run(&app, &workflow).await;
    assert_eq!(ran["status"], "Succeeded", "{ran}");
    assert_eq!(
        output(&app, ran["id"].as_str().unwrap(), 1).await,
        json!([{"id": "1"}])
    );
}

#[tokio::test]
async fn a_name_too_long_once_stored_is_a_400_and_nothing_is_kept() {
    let app = crate::connectors::plain_app().await;
    let long = "ü".repeat(60);

    let r = app
        .post(
            "/api/StoreFileHubFile",
            &json!({"name": long, "content": "x"}),
        )
        .await;

    assert_error(&r, 400, "bytes once stored");
    assert_eq!(app.get("/api/FileHubFiles").await.body, json!([]));
}

fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
