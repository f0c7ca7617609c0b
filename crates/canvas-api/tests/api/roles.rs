//! The role matrix: who may act as whom with `ManagedAccountId` (README,
//! "Roles"). Every cell is a request; 200 means the request acted as the
//! target account, 403 that it was refused.

use crate::helpers::{
    Backend, Keys, TestApp, both_backends, create_organization, new_account, spawn_app,
};
use canvas_domain::account::AccountRole;
use serde_json::json;
use uuid::Uuid;

/// The accounts of the matrix: a partner tree (root organization with a
/// customer organization below it) and another tree.
struct Cast {
    admin: (Uuid, Keys),
    partner: (Uuid, Keys),
    user: (Uuid, Keys),
    /// Created by a manager, not yet activated (its own key cannot be used).
    inactive: Uuid,
    customer_admin: Uuid,
    customer_partner: (Uuid, Keys),
    customer_user: Uuid,
    stranger: Uuid,
}

async fn account(app: &TestApp, organization: Uuid, role: AccountRole, active: bool) -> Uuid {
    let mut account = new_account(
        organization,
        role,
        &format!("{}@example.com", Uuid::new_v4().simple()),
    );
    account.active = active;
    app.store.create_account(&account).await.unwrap();
    account.id
}

async fn cast(app: &TestApp) -> Cast {
    let root = app.organization;
    let (customer, customer_admin, _) =
        create_organization(&app.store, &app.secrets, "Customer", Some(root)).await;
    let (other, _, _) = create_organization(&app.store, &app.secrets, "Other", None).await;
    Cast {
        admin: (app.admin, app.keys.clone()),
        partner: app.account_with_key(root, AccountRole::SuperPartner).await,
        user: app.account_with_key(root, AccountRole::User).await,
        inactive: account(app, root, AccountRole::User, false).await,
        customer_admin,
        customer_partner: app
            .account_with_key(customer, AccountRole::SuperPartner)
            .await,
        customer_user: account(app, customer, AccountRole::User, true).await,
        stranger: account(app, other, AccountRole::User, true).await,
    }
}

/// The status of `GET /api/Workflows` with `keys`, acting as `target`.
async fn acting_as(app: &TestApp, keys: &Keys, target: Uuid) -> u16 {
    let target = target.to_string();
    app.get_as("/api/Workflows", keys, &[("ManagedAccountId", &target)])
        .await
        .status
}

async fn every_cell_of_the_role_matrix_holds(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let (admin, partner, user) = (&c.admin.1, &c.partner.1, &c.user.1);
    let cells = [
        // (key, key's name, target, target's name, expected)
        (admin, "Admin", c.admin.0, "itself", 200),
        (
            admin,
            "Admin",
            c.partner.0,
            "a SuperPartner of its organization",
            200,
        ),
        (admin, "Admin", c.user.0, "a User of its organization", 200),
        (
            admin,
            "Admin",
            c.inactive,
            "a not yet activated account",
            200,
        ),
        (
            admin,
            "Admin",
            c.customer_admin,
            "the customer's Admin",
            200,
        ),
        (
            admin,
            "Admin",
            c.customer_user,
            "a User of the customer",
            200,
        ),
        (
            admin,
            "Admin",
            c.stranger,
            "an account of another tree",
            403,
        ),
        (admin, "Admin", Uuid::new_v4(), "an unknown account", 403),
        (partner, "SuperPartner", c.partner.0, "itself", 200),
        (
            partner,
            "SuperPartner",
            c.admin.0,
            "its organization's Admin",
            403,
        ),
        (
            partner,
            "SuperPartner",
            c.user.0,
            "a User of its organization",
            200,
        ),
        (
            partner,
            "SuperPartner",
            c.inactive,
            "a not yet activated account",
            200,
        ),
        (
            partner,
            "SuperPartner",
            c.customer_partner.0,
            "a SuperPartner of the customer",
            200,
        ),
        (
            partner,
            "SuperPartner",
            c.customer_admin,
            "the customer's Admin",
            403,
        ),
        (
            partner,
            "SuperPartner",
            c.customer_user,
            "a User of the customer",
            200,
        ),
        (
            partner,
            "SuperPartner",
            c.stranger,
            "an account of another tree",
            403,
        ),
        (user, "User", c.user.0, "itself", 200),
        (user, "User", c.admin.0, "its organization's Admin", 403),
        (
            user,
            "User",
            c.inactive,
            "another User of its organization",
            403,
        ),
        (user, "User", c.customer_user, "a User of the customer", 403),
        (
            &c.customer_partner.1,
            "the customer's SuperPartner",
            c.user.0,
            "a User of the partner above",
            403,
        ),
        (
            &c.customer_partner.1,
            "the customer's SuperPartner",
            c.customer_user,
            "a User of its organization",
            200,
        ),
    ];
    for (keys, key_name, target, target_name, expected) in cells {
        let status = acting_as(&app, keys, target).await;
        assert_eq!(status, expected, "{key_name} acting as {target_name}");
    }
}

/// Acting for an account is acting as it: what is made lands in its data.
async fn a_manager_acting_for_an_inactive_account_sets_it_up(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = cast(&app).await;
    let inactive = c.inactive.to_string();
    let headers = [("ManagedAccountId", inactive.as_str())];
    let chain = json!([{"blockName": "S", "script": "return [];"}]);
    let template = json!({"name": "T", "state": "Published", "applications": [], "chain": chain});
    let t = app
        .post_as(
            "/api/WorkflowTemplate",
            &c.partner.1,
            &headers,
            template.to_string(),
        )
        .await;
    assert_eq!(
        t.status, 403,
        "a User account makes no templates: {}",
        t.text
    );
    let mine = app.post("/api/WorkflowTemplate", &template).await;
    let body = json!({"workflowTemplateId": mine.body, "applications": {}}).to_string();

    let made = app
        .post_as("/api/Workflow", &c.partner.1, &headers, body)
        .await;

    assert_eq!(made.status, 200, "{}", made.text);
    let listed = app.get_as("/api/Workflows", &c.partner.1, &headers).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.text);
    assert_eq!(
        app.get("/api/Workflows").await.body,
        json!([]),
        "not the Admin's own"
    );
}

/// Email addresses are unique within a tree; another tree may use the
/// same address, and learns nothing of the account that has it.
async fn an_address_of_another_tree_neither_conflicts_nor_reveals(backend: Backend) {
    let app = spawn_app(backend).await;
    let (other_org, _, other_keys) =
        create_organization(&app.store, &app.secrets, "Other", None).await;
    let taken = new_account(other_org, AccountRole::User, "ada@example.com");
    app.store.create_account(&taken).await.unwrap();
    let body = |email: &str| {
        json!({"firstName": "Ada", "lastName": "L", "email": email, "roleName": "User", "activated": true})
            .to_string()
    };

    let here = app
        .post_as("/api/Account", &app.keys, &[], body("ADA@example.com"))
        .await;
    let again = app
        .post_as("/api/Account", &app.keys, &[], body("ada@example.com"))
        .await;
    let there = app
        .post_as("/api/Account", &other_keys, &[], body("ada@example.com"))
        .await;

    assert_eq!(
        here.status, 200,
        "another tree's address is free here: {}",
        here.text
    );
    assert_eq!(
        (again.status, again.body["Msg"].as_str()),
        (409, Some("Account has already been created")),
        "within the tree the seed's message stays"
    );
    assert_eq!(there.status, 409, "{}", there.text);
}

both_backends!(
    every_cell_of_the_role_matrix_holds,
    a_manager_acting_for_an_inactive_account_sets_it_up,
    an_address_of_another_tree_neither_conflicts_nor_reveals
);
