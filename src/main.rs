//! `apexaurum`            loads settings, builds the application, serves until SIGINT/SIGTERM.
//! `apexaurum rotate-keys` re-encrypts every stored API key under the current `JWT_SECRET`
//!                        (older secrets listed in `JWT_SECRET_PREVIOUS`) and prints counts.

use apexaurum::server::{
    api_keys::rotate_all,
    config::Settings,
    crypto::KeyCipher,
    db::Db,
    startup::{shutdown_signal, Application},
    telemetry,
};

#[tokio::main]
async fn main() {
    return_large_blocks_to_the_system();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => fail(2, &e.to_string()),
    };
    telemetry::init(settings.env, std::io::stderr);
    telemetry::install_panic_hook();

    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve(settings).await,
        Some("rotate-keys") => rotate_keys(settings).await,
        Some(other) => fail(
            2,
            &format!("unknown command {other:?}; expected `serve` or `rotate-keys`"),
        ),
    }
}

/// glibc serves a block the size of one just freed from its heaps from then on (a "dynamic
/// mmap threshold") and keeps those heaps: every argon2id hash (19 MiB) then grows the
/// process, measured at +366 MiB after 35 hashes. A fixed 1 MiB threshold maps every large
/// block afresh and unmaps it when freed: the same flood grows the process by 45 MiB
/// (`.ci/measure-flood`).
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called first thing, before other threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!("apexaurum: {message}");
    std::process::exit(code)
}

async fn serve(settings: Settings) {
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => fail(1, &e.to_string()),
    };
    let s = &app.state().settings;
    tracing::info!(
        database = app.state().db.kind(),
        anthropic = %s.anthropic_base_url,
        "ApexAurum listening on http://{}:{}", s.site_addr.ip(), app.port()
    );
    if let Err(e) = app.run_until_stopped(shutdown_signal()).await {
        fail(1, &format!("server error: {e}"));
    }
}

async fn rotate_keys(settings: Settings) {
    let db = match Db::connect(&settings.database_url).await {
        Ok(db) => db,
        Err(e) => fail(1, &format!("could not open the database: {e}")),
    };
    if let Err(e) = db.migrate().await {
        fail(1, &format!("could not apply database migrations: {e}"));
    }
    let cipher = KeyCipher::new(&settings.jwt_secret, &settings.jwt_secret_previous);
    match rotate_all(&db, &cipher).await {
        Ok(report) => {
            println!(
                "rewritten: {}, already current: {}, unreadable: {}",
                report.rewritten, report.current, report.unreadable
            );
            if report.unreadable > 0 {
                println!("unreadable keys need their owners to enter them again (Settings shows them how)");
            }
        }
        Err(e) => fail(1, &format!("rotation failed: {e}")),
    }
}
