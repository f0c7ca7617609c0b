use crate::helpers::{Backend, assert_error, both_backends, captured_logs, seed_json, spawn_app};
use serde_json::{Value, json};

const FTP: &str = "5f814909-01ea-4395-96ee-5ba7614128fc";

async fn applications_match_the_seed_catalog(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/api/Applications").await;
    assert_eq!(r.status, 200);
    let ours = r.body.as_array().unwrap();
    let ids = [
        "07ffd13d-ba57-4d1b-9c46-03c5c919eed0",
        "97cbc3b3-32c7-4e4a-b788-a332ea82aeff",
        "b5a4a9ed-a686-4b1e-af30-ffd84b7fb2e0",
    ];
    for id in ids {
        let theirs = &seed_json(&format!("{{\n\"id\": \"{id}\""));
        let mine = ours.iter().find(|a| a["id"] == id).unwrap();
        assert_eq!(mine, theirs, "{id} as in the seed");
        let keys: Vec<&String> = mine.as_object().unwrap().keys().collect();
        let seed_keys: Vec<&String> = theirs.as_object().unwrap().keys().collect();
        assert_eq!(keys, seed_keys, "field order");
    }
    for short in [
        "HRTM", "MSQL", "CMAF", "FTP", "MYST2", "FIKE", "SFTP", "PGSQL", "MYSQL", "HTTP",
    ] {
        assert!(ours.iter().any(|a| a["shortName"] == short), "{short}");
    }
    assert_eq!(app.get_raw("/api/Applications", &[]).await.status, 401);
}

async fn blocks_lists_each_applications_blocks_with_variables(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/api/Blocks").await;
    let upload = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "FTP Upload")
        .unwrap();
    assert_eq!(upload["shortName"], "FTP");
    let names: Vec<&str> = upload["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "filename",
            "fileformat",
            "filepath",
            "delimiter",
            "header",
            "encoding",
            "recordElement",
            "rootElement",
            "sheet"
        ]
    );
}

async fn missing_ftp_fields_give_the_seed_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"applicationId": FTP, "tagText": "FTP 2022-05-03",
        "credentialsJson": "{\"username\": null,\"password\": null,\"port\": null,\"address\": null,\"secure\": true}"});
    let r = app.post("/api/RegApplication", &body).await;
    assert_error(
        &r,
        400,
        "Authentication Error: You must enter a value for User name.\nYou must enter a value for Password.\nYou must enter a value for Port.\nYou must enter a value for Server address.",
    );
}

fn ftp_body(port: u16, password: &str) -> Value {
    let creds = json!({"username": "partner", "password": password, "port": port, "address": "127.0.0.1", "secure": false});
    json!({"applicationId": FTP, "tagText": "FTP 2022-05-03", "credentialsJson": creds.to_string()})
}

async fn ftp_registration_logs_in_to_a_real_server(backend: Backend) {
    let app = spawn_app(backend).await;
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let server = crate::ftp::start("partner", &password).await;
    let r = app
        .post("/api/RegApplication", &ftp_body(server.port, &password))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body.as_str().unwrap().to_string();
    let list = app.get("/api/RegApplications").await;
    let reg = &list.body[0];
    assert_eq!(reg["id"], id.as_str());
    assert_eq!(reg["shortName"], "FTP");
    assert_eq!(reg["isAuthenticated"], true);
    assert_eq!(reg["faulted"], false);
    assert!(reg["dateTimeUtcAuthenticated"].is_string());
    let seed_keys: Vec<String> = seed_json("{\n\"id\": \"1710ff47")
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let keys: Vec<String> = reg.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, seed_keys);
    for path in ["/api/RegApplications", "/api/AuditLog", "/api/Applications"] {
        assert!(
            !app.get(path).await.text.contains(&password),
            "{path} leaks the password"
        );
    }
    let logs = captured_logs();
    let leak: Vec<&str> = logs.lines().filter(|l| l.contains(&password)).collect();
    assert!(leak.is_empty(), "log lines hold the password: {leak:?}");
    let stored = app
        .store
        .reg_application(id.parse().unwrap())
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&stored.credentials).contains(&password),
        "stored in clear"
    );
}

async fn a_wrong_ftp_password_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let server = crate::ftp::start("partner", "right-password").await;
    let secret = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let r = app
        .post("/api/RegApplication", &ftp_body(server.port, &secret))
        .await;
    assert_error(&r, 400, "Authentication Error: ");
    assert!(!r.text.contains(&secret));
    assert!(
        app.get("/api/RegApplications")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(!captured_logs().contains(&secret));
}

async fn an_unreachable_ftp_server_is_an_authentication_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = app.post("/api/RegApplication", &ftp_body(port, "x")).await;
    assert_error(
        &r,
        400,
        "Authentication Error: could not reach the FTP server",
    );
}

/// Quinyx's `environment` = `test` chooses `rc.quinyx.com`, which cannot
/// be reached from here: the refusal names it (nothing is stored).
async fn an_unreachable_vendor_and_a_bad_option_are_refused_clearly(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"applicationId": "97cbc3b3-32c7-4e4a-b788-a332ea82aeff", "tagText": "Quinyx 2022-04-28",
        "credentialsJson": "{\"apikey\":\"01d6-3e54-cff2-c7d8\",\"environment\": \"test\"}"});
    assert_error(
        &app.post("/api/RegApplication", &body).await,
        400,
        "Authentication Error: could not reach rc.quinyx.com",
    );
    let bad_option = json!({"applicationId": "97cbc3b3-32c7-4e4a-b788-a332ea82aeff",
        "credentialsJson": "{\"apikey\":\"k\",\"environment\": \"prod\"}"});
    assert_error(
        &app.post("/api/RegApplication", &bad_option).await,
        400,
        "Environment must be one of: live, test.",
    );
    let unknown = json!({"applicationId": uuid::Uuid::new_v4()});
    assert_error(
        &app.post("/api/RegApplication", &unknown).await,
        404,
        "Unknown application",
    );
    assert!(
        app.get("/api/RegApplications")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
}

both_backends!(
    applications_match_the_seed_catalog,
    blocks_lists_each_applications_blocks_with_variables,
    missing_ftp_fields_give_the_seed_message,
    ftp_registration_logs_in_to_a_real_server,
    a_wrong_ftp_password_is_refused_and_nothing_is_stored,
    an_unreachable_ftp_server_is_an_authentication_error,
    an_unreachable_vendor_and_a_bad_option_are_refused_clearly,
);

async fn ftps_registration_negotiates_tls_and_checks_the_certificate(backend: Backend) {
    let server = crate::ftp::start_secure("partner", "tls-password").await;
    let creds = json!({"username": "partner", "password": "tls-password", "port": server.port, "address": "127.0.0.1", "secure": true});
    let body =
        json!({"applicationId": FTP, "tagText": "FTPS", "credentialsJson": creds.to_string()});
    let untrusting = spawn_app(backend).await;
    let refused = untrusting.post("/api/RegApplication", &body).await;
    assert_error(&refused, 400, "FTPS negotiation");
    assert!(
        untrusting
            .get("/api/RegApplications")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    let options = crate::helpers::Options {
        extra_ca_file: server.certificate.clone(),
        ..Default::default()
    };
    let trusting = crate::helpers::spawn_app_opts(backend, options).await;
    let r = trusting.post("/api/RegApplication", &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

mod ftps_tests {
    use super::*;
    both_backends!(ftps_registration_negotiates_tls_and_checks_the_certificate);
}
