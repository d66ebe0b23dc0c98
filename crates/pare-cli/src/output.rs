//! Terminal output helpers: human sizes, error chains, the reporter that prints warnings.

use std::io::IsTerminal;

use pare::Reporter;

pub use pare::units::human_bytes;

/// An error and its causes on one line, without repeating a cause the message already includes.
pub fn chain(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Prints a report as pretty JSON with its `schema` field.
pub fn print_json(value: &impl serde::Serialize, schema: &str) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(value)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("schema".into(), schema.into());
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// Refuses `--format markdown` for verbs that have no markdown form.
pub fn text_or_json(format: crate::cli::Format, verb: &str) -> anyhow::Result<()> {
    if matches!(
        format,
        crate::cli::Format::Markdown | crate::cli::Format::Sarif
    ) {
        return Err(crate::commands::UsageError(format!(
            "{verb} prints text or JSON; --format markdown is for diff and gate, sarif for audit"
        ))
        .into());
    }
    Ok(())
}

/// Prints warnings to stderr; on a terminal (and not --quiet) also steps, and a progress bar per blob
/// while blobs move.
pub struct TerminalReporter {
    quiet: bool,
    bars: Option<std::sync::Mutex<Bars>>,
}

struct Bars {
    multi: indicatif::MultiProgress,
    by_id: std::collections::HashMap<String, indicatif::ProgressBar>,
}

impl TerminalReporter {
    pub fn new(quiet: bool) -> Self {
        let interactive = !quiet && std::io::stderr().is_terminal();
        Self {
            quiet,
            bars: interactive.then(|| {
                std::sync::Mutex::new(Bars {
                    multi: indicatif::MultiProgress::new(),
                    by_id: std::collections::HashMap::new(),
                })
            }),
        }
    }

    fn bars(&self) -> Option<std::sync::MutexGuard<'_, Bars>> {
        // A poisoned lock only means a bar update panicked; drawing can go on.
        self.bars
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl Reporter for TerminalReporter {
    fn step(&self, message: &str) {
        if let Some(bars) = self.bars() {
            // Printing through the bars keeps them intact on screen.
            let _ = bars.multi.println(format!("  {message}"));
        }
    }

    fn warn(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bars() {
            Some(bars) => {
                let _ = bars.multi.println(format!("warning: {message}"));
            }
            None => eprintln!("warning: {message}"),
        }
    }

    fn transfer(&self, id: &str, done: u64, total: u64) {
        let Some(mut bars) = self.bars() else { return };
        let multi = bars.multi.clone();
        let bar = bars.by_id.entry(id.to_string()).or_insert_with(|| {
            let style = indicatif::ProgressStyle::with_template(
                "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            let short = id.strip_prefix("sha256:").unwrap_or(id);
            multi.add(
                indicatif::ProgressBar::new(total)
                    .with_style(style)
                    .with_message(short.chars().take(12).collect::<String>()),
            )
        });
        bar.set_position(done);
    }

    fn transfer_done(&self, id: &str) {
        if let Some(mut bars) = self.bars() {
            if let Some(bar) = bars.by_id.remove(id) {
                bar.finish_and_clear();
            }
        }
    }
}
