//! The Stripe stand-in as a process, for Playwright and `.ci/serve --stub`.
//!
//! Listens on `STUB_ADDR` (default `127.0.0.1:3101`) and sends its signed webhooks to
//! `STRIPE_STUB_WEBHOOK_URL` (default `http://127.0.0.1:3000/api/v1/billing/webhook`) with
//! `STRIPE_WEBHOOK_SECRET` (the app's setting of the same name). See
//! `apexaurum::stubs::stripe` for what it answers.

use apexaurum::stubs::stripe::{router, StripeStubState};

const DEFAULT_ADDR: &str = "127.0.0.1:3101";
const DEFAULT_WEBHOOK: &str = "http://127.0.0.1:3000/api/v1/billing/webhook";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let addr = var("STUB_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let Some(secret) = var("STRIPE_WEBHOOK_SECRET") else {
        eprintln!("invalid setting STRIPE_WEBHOOK_SECRET: the stand-in signs webhooks with it");
        std::process::exit(2);
    };
    let webhook = var("STRIPE_STUB_WEBHOOK_URL").unwrap_or_else(|| DEFAULT_WEBHOOK.to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    println!("stripe stand-in listening on {base_url}, webhooks to {webhook}");
    let state = StripeStubState::new(&base_url);
    state.set_webhook(&webhook, &secret);
    // No graceful shutdown: a hanging call (a fault on demand) must not keep it alive.
    tokio::select! {
        served = axum::serve(listener, router(state)) => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
        () = terminate() => Ok(()),
    }
}

async fn terminate() {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut sigterm) => {
            sigterm.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}
