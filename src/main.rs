//! Loads settings, builds the application and serves until SIGINT/SIGTERM.

use apexaurum::server::{
    config::Settings,
    startup::{shutdown_signal, Application},
    telemetry,
};

#[tokio::main]
async fn main() {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("apexaurum: {e}");
            std::process::exit(2);
        }
    };
    telemetry::init(settings.env, std::io::stdout);

    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("start-up failed: {e}");
            eprintln!("apexaurum: {e}");
            std::process::exit(1);
        }
    };
    let s = &app.state().settings;
    tracing::info!(
        database = app.state().db.kind(),
        anthropic = %s.anthropic_base_url,
        "ApexAurum listening on http://{}:{}", s.site_addr.ip(), app.port()
    );
    if let Err(e) = app.run_until_stopped(shutdown_signal()).await {
        eprintln!("apexaurum: server error: {e}");
        std::process::exit(1);
    }
}
