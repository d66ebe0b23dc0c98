//! Terminal output helpers: human sizes, error chains, the reporter that prints warnings.

use std::io::IsTerminal;

use pare::Reporter;

/// Formats a byte count in binary units with one decimal (`1.5 MiB`), bytes below 1 KiB.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(20 * 1024 * 1024), "20.0 MiB");
    }
}
