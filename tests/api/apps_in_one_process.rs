//! Several instances of the app in one process, as in this test binary (every test starts
//! its own), a benchmark or a host embedding it: starting one must not disturb the pages
//! another is rendering.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use apexaurum::server::startup::Application;

use crate::helpers::{captured_logs, settings_for, spawn_app, Backend, Options};

/// Starts instances of the app on other threads, one after another, until `stop` is set.
/// Each only builds its router (as every `spawn_app` does), on a SQLite database of its own.
fn keep_starting_apps(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}", data_dir.path().join("other.db").display());
        let mut started = 0;
        while !stop.load(Ordering::Relaxed) {
            let settings = settings_for(
                &Options::default(),
                &database_url,
                "http://127.0.0.1:9",
                data_dir.path().into(),
            );
            runtime
                .block_on(Application::build(settings))
                .expect("another app starts");
            started += 1;
        }
        started
    })
}

async fn pages_render_completely_while_other_apps_start_in_the_same_process(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;

    let stop = Arc::new(AtomicBool::new(false));
    let starters: Vec<_> = (0..2).map(|_| keep_starting_apps(stop.clone())).collect();
    let mut unfinished = Vec::new();
    for round in 0..30 {
        let page = ["/chat", "/settings"][round % 2];
        let loaded = tokio::time::timeout(Duration::from_secs(5), async {
            let response = app.get(page).await;
            assert_eq!(response.status(), 200, "{page}");
            response.text().await.expect("the whole page")
        })
        .await;
        if loaded.is_err() {
            unfinished.push(page);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let started: usize = starters
        .into_iter()
        .map(|s| s.join().expect("the other apps started"))
        .sum();

    let stateless = captured_logs()
        .matches("outside a request's reactive context")
        .count();
    assert!(started > 0, "no other app started during the page loads");
    assert!(
        unfinished.is_empty() && stateless == 0,
        "while {started} other apps started: pages that never finished: {unfinished:?}; \
         server functions run without the app state: {stateless}"
    );
}

crate::db_tests!(pages_render_completely_while_other_apps_start_in_the_same_process);
