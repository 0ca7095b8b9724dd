//! Logging: human-readable in development, JSON in production, and a last safety net
//! that masks anything shaped like an Anthropic key before a line is written anywhere.

use std::{
    io::{self, Write},
    sync::LazyLock,
};

use regex::Regex;
use tracing_subscriber::{fmt::MakeWriter, EnvFilter};

use super::config::AppEnv;

static KEY_SHAPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"sk-ant-[A-Za-z0-9_\-]{6,}").expect("valid pattern"));

/// Replaces every key-shaped run with a fixed mask.
pub fn mask_keys(text: &str) -> std::borrow::Cow<'_, str> {
    KEY_SHAPE.replace_all(text, "sk-ant-[masked]")
}

/// Wraps a writer factory so every formatted log line passes through [`mask_keys`].
#[derive(Clone)]
pub struct Masking<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Masking<M> {
    type Writer = MaskingWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter(self.0.make_writer())
    }
}

pub struct MaskingWriter<W>(W);

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The formatter hands over one whole event per call, so a key never straddles calls.
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(mask_keys(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber, writing to `writer`. Returns false when one was already
/// installed (tests install one per process).
pub fn init<W>(env: AppEnv, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(Masking(writer));
    match env {
        AppEnv::Production => builder.json().with_current_span(true).try_init().is_ok(),
        AppEnv::Development => builder.with_target(false).try_init().is_ok(),
    }
}

/// Logs a panic as one error event through the subscriber (and so through the key mask),
/// with where it happened. The default hook would print the message to stderr unmasked.
pub fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".into());
    let location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let thread = std::thread::current();
    tracing::error!(
        target: "panic",
        thread = thread.name().unwrap_or("unnamed"),
        %location,
        "panicked: {}",
        mask_keys(&message)
    );
}

/// Replaces the default panic hook with [`log_panic`].
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(log_panic));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_key_shapes_and_leaves_hints_alone() {
        let line = "saving sk-ant-api03-CANARYcanary_key-0123456789 for sk-ant-api...X7f4";
        let masked = mask_keys(line);
        assert!(!masked.contains("CANARY"));
        assert!(masked.contains("sk-ant-api...X7f4"));
    }

    #[test]
    fn the_writer_masks_what_passes_through() {
        let mut out = MaskingWriter(Vec::new());
        out.write_all(b"key=sk-ant-api03-CANARYsecretsecret\n")
            .unwrap();
        let text = String::from_utf8(out.0).unwrap();
        assert_eq!(text, "key=sk-ant-[masked]\n");
    }
}
