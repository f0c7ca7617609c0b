use crate::helpers::{Backend, assert_error, both_backends, captured_logs, spawn_app};
use canvas_domain::account::AccountRole;
use serde_json::{Value, json};

fn account_body(email: &str) -> Value {
    json!({
        "firstName": "John", "lastName": "Smeet", "email": email, "phone": "+470568765432",
        "roleName": "SuperPartner", "countryKey": "DE", "globalNotifications": true,
        "defaultNotificationEmail": "support@connectmyapps.com", "activated": true
    })
}

async fn accounts_lists_active_accounts_in_the_seed_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/api/Accounts").await;
    assert_eq!(r.status, 200);
    let seed_item = crate::helpers::seed_json("[\n{\n\"id\": \"41a31538");
    let seed_keys: Vec<&String> = seed_item[0].as_object().unwrap().keys().collect();
    let ours: Vec<&String> = r.body[0].as_object().unwrap().keys().collect();
    assert_eq!(ours, seed_keys);
    assert_eq!(r.body[0]["role"], "Admin");
    assert_eq!(r.body[0]["roleId"], "9c525665-df99-4aee-9e52-1a55853db03b");
    assert_eq!(r.body[0]["organizationName"], "Test Org");
}

async fn creating_an_account_returns_its_id_and_lists_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post("/api/Account", &account_body("john.smmet@сompany.com"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body.as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    let accounts = app.get("/api/Accounts").await;
    let created = accounts
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap();
    assert_eq!(created["role"], "SuperPartner");
    assert_eq!(created["email"], "john.smmet@сompany.com");
}

async fn duplicate_emails_and_admin_roles_are_refused_with_the_seed_messages(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.post("/api/Account", &account_body("dup@example.com"))
            .await
            .status,
        200
    );
    let again = app
        .post("/api/Account", &account_body("DUP@Example.com"))
        .await;
    assert_error(&again, 409, "Account has already been created");
    let mut admin = account_body("new@example.com");
    admin["roleName"] = json!("Admin");
    assert_error(
        &app.post("/api/Account", &admin).await,
        400,
        "Role Admin is not supported. Please use SuperPartner or User",
    );
    let mut bad = account_body("x@example.com");
    bad["email"] = json!("not-an-email");
    assert_error(
        &app.post("/api/Account", &bad).await,
        400,
        "email: 'not-an-email' is not an email address",
    );
    let accounts = app.get("/api/Accounts").await;
    assert_eq!(
        accounts.body.as_array().unwrap().len(),
        2,
        "nothing from the failed calls: {}",
        accounts.text
    );
}

async fn users_may_not_administer_the_organization(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, user) = app
        .account_with_key(app.organization, AccountRole::User)
        .await;
    assert_error(
        &app.get_as("/api/Accounts", &user, &[]).await,
        403,
        "Admin or SuperPartner",
    );
    let r = app
        .post_as(
            "/api/Account",
            &user,
            &[],
            account_body("u@example.com").to_string(),
        )
        .await;
    assert_error(&r, 403, "Admin or SuperPartner");
}

/// The activation link of `account`, from the log line written when no SMTP server is configured.
fn activation_token(account: &str) -> String {
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains(account) && l.contains("ActivateAccount?token="))
        .expect("activation link logged");
    let start = line.find("token=").unwrap() + 6;
    line[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

async fn inactive_accounts_activate_once_through_their_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = account_body("inactive@example.com");
    body["activated"] = json!(false);
    let id = app.post_id("/api/Account", &body).await;
    let listed = |r: &crate::helpers::Resp| {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str())
    };
    assert!(
        !listed(&app.get("/api/Accounts").await),
        "inactive accounts are not listed"
    );
    let token = activation_token(&id);
    let activated = app
        .get_raw(&format!("/api/ActivateAccount?token={token}"), &[])
        .await;
    assert_eq!((activated.status, activated.text.as_str()), (200, "true"));
    assert!(listed(&app.get("/api/Accounts").await));
    assert_error(
        &app.get_raw(&format!("/api/ActivateAccount?token={token}"), &[])
            .await,
        404,
        "already used",
    );
}

async fn mutating_calls_land_in_the_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app
        .post("/api/Account", &account_body("audited@example.com"))
        .await
        .body
        .as_str()
        .unwrap()
        .to_string();
    let log = app.get("/api/AuditLog?top=10").await;
    assert_eq!(log.status, 200, "{}", log.text);
    let entry = &log.body[0];
    assert_eq!(entry["action"], "Account.Create");
    assert_eq!(entry["target"], id.as_str());
    assert_eq!(entry["actorAccountId"], app.admin.to_string());
    assert_eq!(entry["clientIp"], "127.0.0.1");
}

both_backends!(
    accounts_lists_active_accounts_in_the_seed_shape,
    creating_an_account_returns_its_id_and_lists_it,
    duplicate_emails_and_admin_roles_are_refused_with_the_seed_messages,
    users_may_not_administer_the_organization,
    inactive_accounts_activate_once_through_their_link,
    mutating_calls_land_in_the_audit_log,
);

async fn activation_emails_go_through_the_configured_smtp_server(backend: Backend) {
    let sink = crate::smtp::start().await;
    let mailer = crate::smtp::mailer(&sink);
    let options = crate::helpers::Options {
        mailer: Some(mailer),
        ..Default::default()
    };
    let app = crate::helpers::spawn_app_opts(backend, options).await;
    let mut body = account_body("mailed@example.com");
    body["activated"] = json!(false);
    let id = app.post_id("/api/Account", &body).await;
    let received = sink.messages.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "one email");
    assert_eq!(received[0].to, ["mailed@example.com"]);
    // Quoted-printable: soft line breaks and an encoded "=".
    let data = received[0].data.replace("=\n", "").replace("=3D", "=");
    let start = data.find("token=").expect("the link is in the email") + 6;
    let token: String = data[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(token.len(), 64);
    assert!(
        !captured_logs().contains(&token),
        "with SMTP configured the link is not logged"
    );
    assert_eq!(
        app.get_raw(&format!("/api/ActivateAccount?token={token}"), &[])
            .await
            .status,
        200
    );
    let accounts = app.get("/api/Accounts").await;
    assert!(
        accounts
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str())
    );
}

mod smtp_tests {
    use super::*;
    both_backends!(activation_emails_go_through_the_configured_smtp_server);
}
