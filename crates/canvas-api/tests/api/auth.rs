use crate::helpers::{
    Backend, Keys, assert_error, both_backends, create_organization, spawn_app, spawn_app_with,
    test_config,
};
use canvas_domain::account::AccountRole;

async fn valid_keys_authenticate(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/api/Authenticate").await;
    assert_eq!((r.status, r.text.as_str()), (200, "true"));
}

async fn missing_wrong_and_half_keys_get_401(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_error(
        &app.get_raw("/api/Authenticate", &[]).await,
        401,
        "Consumer and SecretKey headers are required",
    );
    let half = app
        .get_raw("/api/Authenticate", &[("Consumer", &app.keys.consumer)])
        .await;
    assert_error(&half, 401, "required");
    let wrong = Keys {
        consumer: app.keys.consumer.clone(),
        secret: uuid::Uuid::new_v4().to_string(),
    };
    assert_error(
        &app.get_as("/api/Authenticate", &wrong, &[]).await,
        401,
        "incorrect",
    );
    let unknown = Keys {
        consumer: "AB".repeat(32),
        secret: app.keys.secret.clone(),
    };
    assert_error(
        &app.get_as("/api/Workflows", &unknown, &[]).await,
        401,
        "incorrect",
    );
}

async fn revoked_keys_stop_working(backend: Backend) {
    let app = spawn_app(backend).await;
    let keys = app.key_for(app.admin).await;
    assert_eq!(
        app.get_as("/api/Authenticate", &keys, &[]).await.status,
        200
    );
    app.store
        .revoke_key(&keys.consumer, canvas_domain::time::now())
        .await
        .unwrap();
    assert_error(
        &app.get_as("/api/Authenticate", &keys, &[]).await,
        401,
        "incorrect",
    );
    assert_eq!(
        app.get("/api/Authenticate").await.status,
        200,
        "other keys still work"
    );
}

async fn managed_account_is_allowed_within_the_organization_tree(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, user_keys) = app
        .account_with_key(app.organization, AccountRole::User)
        .await;
    let (child_org, child_admin, _) =
        create_organization(&app.store, &app.secrets, "Customer", Some(app.organization)).await;
    let user_id = user.to_string();
    let as_user = app
        .get_as(
            "/api/RegApplications",
            &app.keys,
            &[("ManagedAccountId", &user_id)],
        )
        .await;
    assert_eq!(as_user.status, 200, "{}", as_user.text);
    app.register_file_hub(&user_keys).await;
    let listed = app
        .get_as(
            "/api/RegApplications",
            &app.keys,
            &[("ManagedAccountId", &user_id)],
        )
        .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["accountId"], user_id);
    let child = child_admin.to_string();
    assert_eq!(
        app.get_as("/api/Workflows", &app.keys, &[("ManagedAccountId", &child)])
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
            .any(|a| a["organizationId"] == child_org.to_string())
    );
}

async fn managed_account_is_refused_outside_the_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, user_keys) = app
        .account_with_key(app.organization, AccountRole::User)
        .await;
    let admin = app.admin.to_string();
    assert_error(
        &app.get_as(
            "/api/Workflows",
            &user_keys,
            &[("ManagedAccountId", &admin)],
        )
        .await,
        403,
        "may not manage",
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(
        &app.get_as(
            "/api/Workflows",
            &app.keys,
            &[("ManagedAccountId", &unknown)],
        )
        .await,
        403,
        "may not manage",
    );
    let (_, other_admin, other_keys) =
        create_organization(&app.store, &app.secrets, "Other", None).await;
    let other = other_admin.to_string();
    assert_error(
        &app.get_as("/api/Workflows", &app.keys, &[("ManagedAccountId", &other)])
            .await,
        403,
        "may not manage",
    );
    let parent = app.admin.to_string();
    assert_error(
        &app.get_as(
            "/api/Workflows",
            &other_keys,
            &[("ManagedAccountId", &parent)],
        )
        .await,
        403,
        "may not manage",
    );
    assert_error(
        &app.get_as(
            "/api/Workflows",
            &app.keys,
            &[("ManagedAccountId", "not-a-guid")],
        )
        .await,
        400,
        "ManagedAccountId header: 'not-a-guid' is not a GUID",
    );
}

async fn one_organization_never_sees_another(backend: Backend) {
    let app = spawn_app(backend).await;
    let workflow = app.file_hub_workflow().await;
    let (template, _) = app.file_hub_template(&app.keys).await;
    let (_, _, other) = create_organization(&app.store, &app.secrets, "Other", None).await;
    let accounts = app.get_as("/api/Accounts", &other, &[]).await;
    assert_eq!(
        accounts.body.as_array().unwrap().len(),
        1,
        "only its own admin: {}",
        accounts.text
    );
    assert!(
        app.get_as("/api/RegApplications", &other, &[])
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        app.get_as("/api/Workflows", &other, &[])
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_error(
        &app.get_as(&format!("/api/Workflow?id={workflow}"), &other, &[])
            .await,
        404,
        "Unknown workflow",
    );
    assert_error(
        &app.get_as(&format!("/api/DeleteWorkflow?id={workflow}"), &other, &[])
            .await,
        404,
        "Unknown workflow",
    );
    let templates = app.get_as("/api/WorkflowTemplates", &other, &[]).await;
    assert!(!templates.text.contains(&template.to_string()));
    assert_eq!(
        templates.body.as_array().unwrap().len(),
        4,
        "the built-in ones only"
    );
    assert_eq!(
        app.get(&format!("/api/Workflow?id={workflow}"))
            .await
            .status,
        200,
        "still there for its owner"
    );
}

async fn ip_allow_list_refuses_other_addresses(backend: Backend) {
    let app = spawn_app(backend).await;
    app.store
        .set_allowed_cidrs(
            app.organization,
            &["10.0.0.0/8".into(), "2001:db8::/32".into()],
        )
        .await
        .unwrap();
    assert_error(
        &app.get("/api/Authenticate").await,
        403,
        "127.0.0.1 are not allowed",
    );
    app.store
        .set_allowed_cidrs(
            app.organization,
            &["10.0.0.0/8".into(), "127.0.0.1/32".into()],
        )
        .await
        .unwrap();
    assert_eq!(app.get("/api/Authenticate").await.status, 200);
}

async fn forwarded_addresses_count_only_from_trusted_proxies(backend: Backend) {
    let untrusting = spawn_app(backend).await;
    untrusting
        .store
        .set_allowed_cidrs(untrusting.organization, &["203.0.113.0/24".into()])
        .await
        .unwrap();
    let spoofed = untrusting
        .get_as(
            "/api/Authenticate",
            &untrusting.keys,
            &[("X-Forwarded-For", "203.0.113.9")],
        )
        .await;
    assert_error(&spoofed, 403, "127.0.0.1");

    let config = canvas_api::ApiConfig {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..test_config()
    };
    let app = spawn_app_with(backend, config).await;
    app.store
        .set_allowed_cidrs(app.organization, &["203.0.113.0/24".into()])
        .await
        .unwrap();
    let via_proxy = app
        .get_as(
            "/api/Authenticate",
            &app.keys,
            &[("X-Forwarded-For", "198.51.100.1, 203.0.113.9")],
        )
        .await;
    assert_eq!(via_proxy.status, 200, "{}", via_proxy.text);
    let outside = app
        .get_as(
            "/api/Authenticate",
            &app.keys,
            &[("X-Forwarded-For", "198.51.100.1")],
        )
        .await;
    assert_error(&outside, 403, "198.51.100.1");
    // A hop that is no address stops the walk: the allowed address left of
    // it is the client's own word and is not believed.
    for header in [
        "203.0.113.9, unknown",
        "203.0.113.9, 198.51.100.1:80x",
        "203.0.113.9,",
    ] {
        let smuggled = app
            .get_as(
                "/api/Authenticate",
                &app.keys,
                &[("X-Forwarded-For", header)],
            )
            .await;
        assert_error(&smuggled, 403, "127.0.0.1");
    }
    // Hops with ports are addresses.
    for header in ["198.51.100.1, 203.0.113.9:4711", "[::ffff:203.0.113.9]:80"] {
        let with_port = app
            .get_as(
                "/api/Authenticate",
                &app.keys,
                &[("X-Forwarded-For", header)],
            )
            .await;
        assert_eq!(with_port.status, 200, "{header}: {}", with_port.text);
    }
}

both_backends!(
    valid_keys_authenticate,
    missing_wrong_and_half_keys_get_401,
    revoked_keys_stop_working,
    managed_account_is_allowed_within_the_organization_tree,
    managed_account_is_refused_outside_the_rules,
    one_organization_never_sees_another,
    ip_allow_list_refuses_other_addresses,
    forwarded_addresses_count_only_from_trusted_proxies,
);
