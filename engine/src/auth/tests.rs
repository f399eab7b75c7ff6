use super::*;

fn actor(role: Role) -> Actor {
    Actor {
        user_id: 1,
        login: "x".into(),
        role,
        groups: vec!["oidc:ops".into()],
        credential: Credential::Session,
    }
}

fn token_actor(role: Role, scopes: &[&str]) -> Actor {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    Actor {
        credential: Credential::Token {
            id: 7,
            scopes: Scopes::parse(&scopes).unwrap(),
            reach: Default::default(),
        },
        ..actor(role)
    }
}

#[test]
fn token_scopes_narrow_the_role() {
    let ci = token_actor(Role::Deployer, &["builds:write"]);
    assert!(ci.require(Permission::RegisterBuild).is_ok());
    assert!(ci.require(Permission::Deploy).is_err());
    assert!(ci.require(Permission::Read).is_err());
    let reader = token_actor(Role::Viewer, &["deploy", "read"]);
    assert!(reader.require(Permission::Read).is_ok());
    assert!(
        reader.require(Permission::Deploy).is_err(),
        "scope never lifts the role"
    );
    let admin = token_actor(Role::Admin, &["read", "deploy", "builds:write"]);
    assert!(
        admin.require(Permission::ManageUsers).is_err(),
        "admin work needs a session"
    );
    assert!(admin.require(Permission::ManageOwnAccount).is_err());
}

#[test]
fn scopes_reject_unknown_and_empty() {
    assert!(Scopes::parse(&["admin".into()]).is_err());
    assert!(Scopes::parse(&[]).is_err());
    let s = Scopes::parse(&["deploy".into(), "read".into(), "read".into()]).unwrap();
    assert_eq!(s.to_db(), "read deploy");
}

#[test]
fn principals_are_user_or_group() {
    assert_eq!(
        Principal::parse("user:alice").unwrap(),
        Principal::User("alice".into())
    );
    assert_eq!(
        Principal::parse(" group:gitlab:org/ops ").unwrap(),
        Principal::Group {
            provider: "gitlab".into(),
            name: "org/ops".into()
        }
    );
    let unqualified = Principal::parse("group:ops").unwrap_err();
    assert!(unqualified.message.contains("name the identity provider"));
    for bad in [
        "alice",
        "role:admin",
        "user:",
        "user:a b",
        "group:oidc:$(id)",
        "group::ops",
        "group:a/b:ops",
        "user:x;y",
        "user:a/b",
    ] {
        assert!(Principal::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_group_counts_only_from_its_own_provider() {
    let env = Environment {
        id: 1,
        application_id: 1,
        application: "shop".into(),
        name: "production".into(),
        kind: crate::domain::EnvironmentKind::Permanent,
        config: crate::domain::BackendConfig::Local(
            crate::domain::settings::local::LocalConfig::new("/srv/shop"),
        ),
        protected: true,
        auto_deploy: None,
        previews: None,
        queue_deploys: false,
        approvals: Default::default(),
        promotes_from: None,
        lock: None,
        expires_at: None,
        destroyed_at: None,
        created_at: crate::time::now(),
        updated_at: crate::time::now(),
    };
    let deployer = actor(Role::Deployer);
    let named = |raw: &str| vec![Principal::parse(raw).unwrap()];
    assert!(deployer
        .require_on(Permission::Deploy, &env, &named("group:oidc:ops"))
        .is_ok());
    assert!(deployer
        .require_on(Permission::Deploy, &env, &named("group:github:ops"))
        .is_err());
}

#[test]
fn roles_are_ordered_and_deny_by_default() {
    assert!(actor(Role::Viewer).require(Permission::Read).is_ok());
    assert!(actor(Role::Viewer).require(Permission::Deploy).is_err());
    assert!(actor(Role::Deployer).require(Permission::Deploy).is_ok());
    assert!(actor(Role::Deployer)
        .require(Permission::ManageEnvironments)
        .is_err());
    assert!(actor(Role::Admin).require(Permission::ManageUsers).is_ok());
}

#[test]
fn tokens_are_random_and_hashed() {
    let (a, b) = (new_secret_token(), new_secret_token());
    assert_ne!(a, b);
    assert_eq!(a.len(), 64);
    assert_ne!(token_hash(&a), a);
    assert_eq!(token_hash(&a), token_hash(&a));
}
