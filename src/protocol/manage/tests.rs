//! The operator's commands over plain values: what they change, and the rules they keep
//! whichever way they come (the CLI or the pages).

use super::*;
use crate::protocol::testing::{user, World};
use crate::protocol::Change;
use crate::vocab::entropy::CountingEntropy;

fn run(w: &World, cmd: AdminRequest) -> Result<Decision, AdminError> {
    let ctx = w.ctx();
    let mut rng = CountingEntropy(0);
    let mut env = Env {
        dir: ctx.dir,
        pepper: ctx.pepper,
        policy: ctx.policy,
        algorithm: crate::jose::keys::SigningAlg::Es256,
        now: ctx.now,
        rng: &mut rng,
    };
    decide(cmd, &mut env)
}

fn edit(name: &str, email: Option<&str>, admin: Option<bool>) -> AdminRequest {
    AdminRequest::UserEdit {
        name: name.into(),
        person: spec::PersonArgs {
            email: email.map(str::to_string),
            ..Default::default()
        },
        email_verified: false,
        no_groups: false,
        admin,
        require_second_factor: None,
    }
}

fn written(d: &Decision) -> crate::vocab::record::UserRecord {
    match &d.changes[..] {
        [Change::ReplaceUser { user, .. }] => user.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_address_sent_back_unchanged_stays_as_verified_as_it_was() {
    let mut w = World::new(Default::default());
    let mut bea = user("bea", "", "g");
    bea.email = Some("bea@home.lan".into());
    bea.email_unverified = true;
    w.dir.users.insert("bea".into(), bea);
    let same = run(&w, edit("bea", Some("bea@home.lan"), None)).unwrap();
    assert!(
        written(&same).email_unverified,
        "a page's form sends the address back"
    );
    let new = run(&w, edit("bea", Some("bea@work.example"), None)).unwrap();
    assert!(!written(&new).email_unverified);
}

#[test]
fn the_only_operator_keeps_the_flag_and_stays() {
    let mut w = World::new(Default::default());
    let mut root = user("root", "", "g");
    root.admin = true;
    w.dir.users.insert("root".into(), root.clone());
    let alone = |w: &World| {
        for cmd in [
            edit("root", None, Some(false)),
            AdminRequest::UserRemove {
                name: "root".into(),
            },
        ] {
            match run(w, cmd) {
                Err(AdminError::Invalid(m)) => assert!(m.contains("only operator"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    };
    alone(&w);
    // With a second operator, either may go.
    let mut ops = root;
    ops.name = "ops".into();
    w.dir.users.insert("ops".into(), ops);
    assert!(!written(&run(&w, edit("root", None, Some(false))).unwrap()).admin);
    assert!(run(
        &w,
        AdminRequest::UserRemove {
            name: "root".into()
        }
    )
    .is_ok());
}
