//! The Anthropic stand-in as a process, for Playwright and local development.
//!
//! Listens on `STUB_ADDR` (default `127.0.0.1:3100`); point the app's Anthropic base URL
//! at the printed address. See `apexaurum::stubs::anthropic` for what it answers and
//! for the `/_stub/` control routes.

use apexaurum::stubs::anthropic::{router, StubState};

const DEFAULT_ADDR: &str = "127.0.0.1:3100";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("STUB_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    // The bound address, not the requested one, so `STUB_ADDR=127.0.0.1:0` prints the port.
    println!(
        "anthropic stand-in listening on http://{}",
        listener.local_addr()?
    );

    // No graceful shutdown on purpose: a hanging or slow request (which the stand-in
    // produces on demand) must not keep the process alive after Ctrl-C or SIGTERM.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::select! {
        served = axum::serve(listener, router(StubState::new())) => served,
        () = shutdown_signal() => Ok(()),
    }
}

/// Resolves on Ctrl-C, or on SIGTERM (what Playwright and process managers send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            eprintln!("cannot listen for Ctrl-C: {err}");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                eprintln!("cannot listen for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
