//! Platform-paid usage reaches Stripe's Billing Meters exactly once per answer: through
//! Stripe errors and outages, across a restart, and with several instances on one database.

use std::{collections::HashMap, time::Duration};

use apexaurum::{
    server::db::{
        billing::{LedgerEntry, Payer},
        Db,
    },
    stubs::stripe::Fault,
};

use crate::{
    billing::pro_user,
    helpers::{spawn_app_on, spawn_app_with, Backend, Options, TestApp},
};

/// Records `n` answers paid by `payer` for the user, as the chat does; returns their ids.
async fn answers(db: &Db, email: &str, n: usize, payer: Payer) -> Vec<String> {
    let user = db.find_user_by_email(email).await.unwrap().unwrap();
    let customer = user
        .settings
        .0
        .subscription
        .and_then(|s| s.stripe_customer_id);
    let mut ids = Vec::new();
    for i in 0..n {
        let id = uuid::Uuid::new_v4().to_string();
        let entry = LedgerEntry {
            message_id: &id,
            user_id: user.id,
            model: "claude-sonnet-4-5",
            input_tokens: 100 + i as i64,
            output_tokens: 20,
            cache_creation_input_tokens: 3,
            cache_read_input_tokens: 7,
            payer,
        };
        db.record_usage(&entry, customer.as_deref(), false, None)
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// Waits until `reported` rows are marked reported (at most 30 s).
pub async fn until_reported(db: &Db, reported: i64) {
    for _ in 0..600 {
        let counts = db.meter_outbox_counts().await.unwrap();
        if counts.reported >= reported && counts.pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "reports still pending: {:?}",
        db.meter_outbox_counts().await.unwrap()
    );
}

/// Meter-event calls Stripe received per identifier (every call, replays included).
fn calls_per_identifier(app: &TestApp) -> HashMap<String, usize> {
    let mut calls = HashMap::new();
    for r in app.stripe.state.requests() {
        if r.path == "/v1/billing/meter_events" && r.status == 200 {
            *calls
                .entry(r.field("identifier").unwrap().to_string())
                .or_default() += 1;
        }
    }
    calls
}

async fn stripe_failing_then_recovering_reports_each_answer_exactly_once(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (email, _) = pro_user(&app).await;
    app.stripe.state.set_fault(Fault::Status(500));
    let ids = answers(&app.db, &email, 3, Payer::Platform).await;
    // Let the worker fail a few times, then hang once (a timeout), then recover.
    for _ in 0..200 {
        let failed = app
            .stripe
            .state
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/billing/meter_events")
            .count();
        if failed >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stripe.state.set_fault_for(Fault::Hang, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.stripe.state.clear_fault();
    until_reported(&app.db, 3).await;

    let events = app.stripe.state.meter_events();
    assert_eq!(events.len(), 3, "{events:?}");
    let customer = app.settings_of(&email).await["subscription"]["stripe_customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    for (i, id) in ids.iter().enumerate() {
        let event = events
            .iter()
            .find(|e| &e.identifier == id)
            .expect("reported");
        assert_eq!(event.event_name, "apexaurum_tokens");
        assert_eq!(event.customer, customer);
        assert_eq!(
            event.value,
            100 + i as i64 + 20 + 3 + 7,
            "every billed token"
        );
        assert!(event.timestamp.is_some());
    }
    for r in app.stripe.state.requests() {
        if r.path == "/v1/billing/meter_events" {
            let id = r.field("identifier").unwrap();
            assert_eq!(
                r.idempotency_key.as_deref(),
                Some(format!("meter-{id}").as_str())
            );
        }
    }
    assert!(calls_per_identifier(&app).values().all(|&n| n == 1));
}

async fn byok_answers_are_never_reported(backend: Backend) {
    let app = spawn_app_with(backend, Options::billing()).await;
    let (email, _) = pro_user(&app).await;
    answers(&app.db, &email, 2, Payer::Byok).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        app.db.meter_outbox_counts().await.unwrap(),
        Default::default()
    );
    assert!(app.stripe.state.meter_events().is_empty());
}

async fn reports_left_by_a_stopped_instance_are_sent_once_after_restart(backend: Backend) {
    let mut first = spawn_app_with(backend, Options::billing()).await;
    let (email, _) = pro_user(&first).await;
    first.stripe.state.set_fault(Fault::Status(503));
    let mut ids = answers(&first.db, &email, 3, Payer::Platform).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.stop().await;

    // Killed between answering and reporting, or halfway through a claim: two more answers
    // committed, claimed by a worker that will never come back.
    let db = Db::connect(&first.database_url).await.unwrap();
    ids.extend(answers(&db, &email, 2, Payer::Platform).await);
    let now = chrono::Utc::now();
    let claimed = db
        .claim_meter_reports("dead-worker", now, now + chrono::Duration::seconds(2), 100)
        .await
        .unwrap();
    assert!(!claimed.is_empty());
    db.close().await;

    first.stripe.state.clear_fault();
    let second = spawn_app_on(
        &first.database_url,
        tempfile::tempdir().unwrap(),
        Options {
            stripe_base_url: Some(first.stripe.base_url.clone()),
            ..Options::billing()
        },
    )
    .await;
    until_reported(&second.db, 5).await;
    let calls = calls_per_identifier(&first);
    assert_eq!(calls.len(), 5);
    for id in &ids {
        assert_eq!(calls.get(id), Some(&1), "{id} reported once");
    }
}

async fn two_instances_on_one_database_report_each_answer_once(backend: Backend) {
    let first = spawn_app_with(backend, Options::billing()).await;
    let second = spawn_app_on(
        &first.database_url,
        tempfile::tempdir().unwrap(),
        Options {
            stripe_base_url: Some(first.stripe.base_url.clone()),
            ..Options::billing()
        },
    )
    .await;
    let (email, _) = pro_user(&first).await;
    let ids = answers(&first.db, &email, 30, Payer::Platform).await;
    until_reported(&second.db, 30).await;
    let calls = calls_per_identifier(&first);
    assert_eq!(calls.len(), 30);
    for id in &ids {
        assert_eq!(calls.get(id), Some(&1), "{id} reported once");
    }
    assert_eq!(first.stripe.state.meter_events().len(), 30);
}

crate::db_tests!(
    stripe_failing_then_recovering_reports_each_answer_exactly_once,
    byok_answers_are_never_reported,
    reports_left_by_a_stopped_instance_are_sent_once_after_restart,
    two_instances_on_one_database_report_each_answer_once,
);
