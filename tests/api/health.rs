use crate::helpers::{spawn_app, Backend};

async fn healthz_answers_ok_while_the_database_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
}

async fn healthz_answers_503_when_the_database_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    app.db.close().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 503);
}

async fn unknown_pages_answer_404_with_a_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

crate::db_tests!(
    healthz_answers_ok_while_the_database_answers,
    healthz_answers_503_when_the_database_is_gone,
    unknown_pages_answer_404_with_a_page,
);
