//! The failed-authentication limit and the key cache: a guesser is slowed,
//! a newcomer's mistakes and a correct key never are.

use crate::helpers::{
    Backend, Keys, TestApp, assert_error, both_backends, create_organization, spawn_app_with,
    test_config,
};
use std::time::Duration;

/// An app that allows 3 failed authentications a minute; `trusted` makes
/// 127.0.0.1 a proxy, so tests can speak from other addresses.
async fn app_allowing_three_failures(backend: Backend, trusted: bool) -> TestApp {
    let config = canvas_api::ApiConfig {
        auth_failures_per_minute: 3,
        trusted_proxies: if trusted {
            vec!["127.0.0.1/32".parse().unwrap()]
        } else {
            Vec::new()
        },
        ..test_config()
    };
    spawn_app_with(backend, config).await
}

fn wrong_secret(keys: &Keys) -> Keys {
    Keys {
        consumer: keys.consumer.clone(),
        secret: uuid::Uuid::new_v4().to_string(),
    }
}

async fn authenticate_as(app: &TestApp, keys: &Keys, from: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = from.map(|ip| ("X-Forwarded-For", ip)).into_iter().collect();
    app.get_as("/api/Authenticate", keys, &headers).await.status
}

async fn wrong_keys_get_429_with_retry_after_once_the_limit_is_used_up(backend: Backend) {
    let app = app_allowing_three_failures(backend, false).await;
    let wrong = wrong_secret(&app.keys);
    for _ in 0..3 {
        assert_eq!(authenticate_as(&app, &wrong, None).await, 401);
    }
    assert_error(
        &app.get_as("/api/Authenticate", &wrong, &[]).await,
        429,
        "too many failed authentication attempts",
    );
    let refused = app
        .client
        .get(app.url("/api/Authenticate"))
        .header("Consumer", &wrong.consumer)
        .header("SecretKey", &wrong.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let unknown = Keys {
        consumer: "AB".repeat(32),
        secret: app.keys.secret.clone(),
    };
    assert_eq!(
        authenticate_as(&app, &unknown, None).await,
        429,
        "another Consumer guessed from the same address is refused too"
    );
}

async fn a_correct_key_is_accepted_after_failures_from_its_address(backend: Backend) {
    let app = app_allowing_three_failures(backend, false).await;
    for _ in 0..5 {
        authenticate_as(&app, &wrong_secret(&app.keys), None).await;
    }
    assert_eq!(
        authenticate_as(&app, &wrong_secret(&app.keys), None).await,
        429,
        "the typos used up the address's failures"
    );
    let r = app.get("/api/Authenticate").await;
    assert_eq!((r.status, r.text.as_str()), (200, "true"), "its own typos");
    let (_, _, other) = create_organization(&app.store, &app.secrets, "Neighbour", None).await;
    assert_eq!(
        authenticate_as(&app, &other, None).await,
        200,
        "another client's failures from the same address"
    );
    assert_eq!(app.get("/api/Workflows").await.status, 200);
}

async fn requests_without_a_key_are_not_counted_as_failures(backend: Backend) {
    let app = app_allowing_three_failures(backend, false).await;
    for _ in 0..10 {
        assert_error(
            &app.get_raw("/api/Authenticate", &[]).await,
            401,
            "Consumer and SecretKey headers are required",
        );
    }
    assert_eq!(app.get("/api/Authenticate").await.status, 200);
    assert_eq!(
        authenticate_as(&app, &wrong_secret(&app.keys), None).await,
        401,
        "a first typo after keyless requests is a 401, not a lockout"
    );
}

async fn guesses_spread_over_addresses_are_counted_per_consumer(backend: Backend) {
    let app = app_allowing_three_failures(backend, true).await;
    let wrong = wrong_secret(&app.keys);
    for i in 1..=3 {
        let from = format!("198.51.100.{i}");
        assert_eq!(authenticate_as(&app, &wrong, Some(&from)).await, 401);
    }
    assert_eq!(
        authenticate_as(&app, &wrong, Some("198.51.100.4")).await,
        429,
        "a fourth address guessing the same Consumer"
    );
    assert_eq!(
        authenticate_as(&app, &app.keys, Some("198.51.100.5")).await,
        200
    );
    let (_, _, other) = create_organization(&app.store, &app.secrets, "Other", None).await;
    assert_eq!(
        authenticate_as(&app, &wrong_secret(&other), Some("198.51.100.6")).await,
        401,
        "another Consumer's failures are its own"
    );
}

/// A Consumer the store did not know is remembered as unknown for the
/// cache's lifetime: a flood of wrong keys costs one lookup, not one each.
async fn an_unknown_consumer_is_remembered_for_the_cache_lifetime(backend: Backend) {
    let config = canvas_api::ApiConfig {
        auth_cache_ttl: Duration::from_millis(500),
        ..test_config()
    };
    let app = spawn_app_with(backend, config).await;
    let pair = app.secrets.new_key_pair();
    let keys = Keys {
        consumer: pair.consumer.clone(),
        secret: pair.secret.clone(),
    };
    assert_eq!(authenticate_as(&app, &keys, None).await, 401);
    let hash = app.secrets.hash_secret(&pair.secret);
    app.store
        .create_key(app.admin, &pair.consumer, &hash, canvas_domain::time::now())
        .await
        .unwrap();

    let within = authenticate_as(&app, &keys, None).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = authenticate_as(&app, &keys, None).await;

    assert_eq!(
        (within, after),
        (401, 200),
        "unknown within the cache's lifetime, known after"
    );
}

both_backends!(
    wrong_keys_get_429_with_retry_after_once_the_limit_is_used_up,
    a_correct_key_is_accepted_after_failures_from_its_address,
    requests_without_a_key_are_not_counted_as_failures,
    guesses_spread_over_addresses_are_counted_per_consumer,
    an_unknown_consumer_is_remembered_for_the_cache_lifetime,
);
