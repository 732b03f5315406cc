//! The differencing attack that broke cell suppression, against the real application on each
//! backend: answers sealed and stored, releases made from the database with the passphrase.
//!
//! In each trial a fresh survey gets 60 answers and an attacker's ten; release A is made; the
//! attacker withdraws his ten and sends ten identical ones, and one woman with "no status" answers
//! (or, in the other world, does not); release B is made. The attacker guesses she is there when
//! B − A shows more than half a person in "no status". Under suppression he was right every time.
//! The bound is the one derived in `src/report/attacks.rs`: Phi(sqrt(rho / 2)) for the release
//! that includes her (rho = 0.5: 0.691), plus three standard errors of the trials.

use chorus::{
    report::{Snapshot, SnapshotSpec, run_snapshot},
    store::schema::responses,
    survey::{RawAnswers, Survey, ValidAnswers},
};
use diesel::prelude::*;
use secrecy::SecretString;

use crate::helpers::{Backend, PASSPHRASE, TestApp, run};

tests! {
    both: [differencing_around_the_attackers_churn_learns_no_more_than_the_guarantee],
}

const TRIALS_PER_WORLD: usize = 40;

fn answers(s: &Survey, status: &str) -> ValidAnswers {
    let mut raw = RawAnswers::default();
    raw.0.insert("status".into(), vec![status.into()]);
    s.validate(&raw).unwrap()
}

fn ids(app: &TestApp, slug: &str) -> Vec<String> {
    app.with_conn(|c| responses::table.filter(responses::survey_slug.eq(slug)).select(responses::id).load(c).unwrap())
}

fn release(app: &TestApp, slug: &str) -> Snapshot {
    let spec = SnapshotSpec {
        tables: vec!["status".into()],
        ..SnapshotSpec::new(slug, chorus::month::Month::now().to_string())
    };
    let mut conn = app.conn();
    run_snapshot(&mut conn, &app.state.intake.surveys, &SecretString::from(PASSPHRASE), &spec, "attacker", 0).unwrap()
}

fn no_status(s: &Snapshot) -> f64 {
    let t = s.tables.iter().find(|t| t.id == "status").unwrap();
    t.cells[t.rows.iter().position(|r| r == "no_status").unwrap()] as f64
}

fn trial(app: &TestApp, i: usize, present: bool) -> bool {
    let slug = format!("t{i}{}", u8::from(present));
    let text = chorus::survey::DEFAULT_SURVEY.replacen("slug = \"harms\"", &format!("slug = \"{slug}\""), 1);
    let survey = Survey::parse(&text).unwrap();
    app.with_conn(|c| chorus::store::surveys::import(c, &slug, survey.version, &text).unwrap());
    let keyring = &app.state.intake.keyring;
    let statuses = ["citizen", "permanent_resident", "work_permit", "refugee_claimant"];
    let others: Vec<ValidAnswers> = (0..60).map(|j| answers(&survey, statuses[j % 4])).collect();
    let attacker: Vec<ValidAnswers> = (0..10).map(|_| answers(&survey, "visitor")).collect();
    let store = |batch: &[ValidAnswers]| {
        app.with_conn(|c| chorus::intake::store_synthetic(keyring, c, &survey, batch).unwrap());
    };
    store(&others);
    let before_attacker = ids(app, &slug);
    store(&attacker);
    let a = release(app, &slug);
    // He withdraws his ten and sends ten identical ones; she answers, or not.
    let his: Vec<String> = ids(app, &slug).into_iter().filter(|id| !before_attacker.contains(id)).collect();
    app.with_conn(|c| diesel::delete(responses::table.filter(responses::id.eq_any(&his))).execute(c).unwrap());
    store(&attacker);
    if present {
        store(&[answers(&survey, "no_status")]);
    }
    let b = release(app, &slug);
    no_status(&b) - no_status(&a) > 0.5
}

fn differencing_around_the_attackers_churn_learns_no_more_than_the_guarantee(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let mut right = 0;
        for i in 0..TRIALS_PER_WORLD {
            right += usize::from(trial(&app, i, true));
            right += usize::from(!trial(&app, i, false));
        }
        let trials = (2 * TRIALS_PER_WORLD) as f64;
        let accuracy = right as f64 / trials;
        // Phi(sqrt(0.5 / 2)) = 0.6915.
        let bound = 0.6915 + 3.0 * (0.25 / trials).sqrt();
        assert!(accuracy <= bound, "the attacker was right {accuracy:.3} of the time; the guarantee allows {bound:.3}");
    });
}
