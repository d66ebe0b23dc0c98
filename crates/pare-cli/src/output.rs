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
    if format == crate::cli::Format::Markdown {
        return Err(crate::commands::UsageError(format!(
            "{verb} prints text or JSON; --format markdown is for pare diff and pare gate"
        ))
        .into());
    }
    Ok(())
}

/// Prints warnings to stderr, and steps too when stderr is a terminal and not --quiet.
pub struct TerminalReporter {
    quiet: bool,
    show_steps: bool,
}

impl TerminalReporter {
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            show_steps: !quiet && std::io::stderr().is_terminal(),
        }
    }
}

impl Reporter for TerminalReporter {
    fn step(&self, message: &str) {
        if self.show_steps {
            eprintln!("  {message}");
        }
    }

    fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }
}
