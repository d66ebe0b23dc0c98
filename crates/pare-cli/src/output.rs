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

/// `text` with every control character but newline and tab shown as `\x1b`-style escapes (C0, DEL
/// and C1), so a hostile file name or history line cannot move the cursor, retitle or clear the
/// terminal. JSON output is unchanged by it: serde already escapes control characters in strings.
/// History lines longer than this are shortened in human output (JSON keeps them whole).
pub const HISTORY_WIDTH: usize = 200;

/// `text` cut to `max` characters with a note of how much was left out (a 4 KB `RUN` line from
/// another tool's history would otherwise fill the screen).
pub fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let count = text.chars().count();
    if count <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let kept: String = text.chars().take(max).collect();
    std::borrow::Cow::Owned(format!(
        "{kept}... ({} more characters; --format json shows it whole)",
        count - max
    ))
}

pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let hostile = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hostile(c) {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Set once standard output's reader has gone away.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes to standard output. When the reader went away (`pare audit IMAGE | head -1`) the rest of
/// the output is dropped quietly and pare ends with the exit code its work decides (0, or 1 for a
/// failed audit or gate), never a panic; any other write error ends pare with exit 3 and the reason
/// on stderr. Every line the CLI prints goes through here ([`say!`]).
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let raw = args.to_string();
    let text = printable(&raw);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            return;
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(i32::from(crate::EXIT_INTERNAL));
    }
}

/// `println!` through [`write_stdout`].
macro_rules! say {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes text as it is (markdown, SARIF) to standard output.
pub fn out(text: &str) -> anyhow::Result<()> {
    write_stdout(format_args!("{text}"));
    Ok(())
}

/// Prints a report as pretty JSON with its `schema` field.
pub fn print_json(value: &impl serde::Serialize, schema: &str) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(value)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("schema".into(), schema.into());
    }
    say!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// Whether warnings are printed as JSON lines (`--format json`).
static JSON_MESSAGES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes warnings JSON lines on stderr (`{"warning": "..."}`) for a command asked for JSON.
pub fn set_json_messages(on: bool) {
    JSON_MESSAGES.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Prints warnings to stderr; on a terminal (and not --quiet) also steps, and a progress bar per blob
/// while blobs move. Without a terminal (a CI log) it prints a plain progress line (the current step,
/// or bytes moved) at most every few seconds instead, so a long step shows it is alive without
/// flooding the log. pare prints no color codes anywhere, so `NO_COLOR` always holds.
pub struct TerminalReporter {
    quiet: bool,
    bars: Option<std::sync::Mutex<Bars>>,
    /// For plain progress lines: when the last one was printed, and the interval.
    plain: Option<std::sync::Mutex<PlainProgress>>,
}

/// The rate limit of plain progress lines.
struct PlainProgress {
    interval: std::time::Duration,
    last: Option<std::time::Instant>,
}

/// Seconds between plain progress lines without a terminal (`PARE_PROGRESS_INTERVAL_MS` overrides).
const PLAIN_PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

impl PlainProgress {
    /// True when a line may be printed now (and records that it is).
    fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        let due = self
            .last
            .is_none_or(|t| now.duration_since(t) >= self.interval);
        if due {
            self.last = Some(now);
        }
        due
    }
}

struct Bars {
    multi: indicatif::MultiProgress,
    by_id: std::collections::HashMap<String, indicatif::ProgressBar>,
}

impl TerminalReporter {
    pub fn new(quiet: bool) -> Self {
        let interactive = !quiet && std::io::stderr().is_terminal();
        let interval = std::env::var("PARE_PROGRESS_INTERVAL_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(PLAIN_PROGRESS_INTERVAL, std::time::Duration::from_millis);
        Self {
            quiet,
            bars: interactive.then(|| {
                std::sync::Mutex::new(Bars {
                    multi: indicatif::MultiProgress::new(),
                    by_id: std::collections::HashMap::new(),
                })
            }),
            // The first line waits one interval too: a command that is done by then prints none.
            plain: (!quiet && !interactive).then(|| {
                std::sync::Mutex::new(PlainProgress {
                    interval,
                    last: (!interval.is_zero()).then(std::time::Instant::now),
                })
            }),
        }
    }

    /// Prints `message` as a plain progress line when one is due (no terminal, not quiet).
    fn plain_line(&self, message: &str) {
        let Some(plain) = &self.plain else { return };
        let mut plain = plain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !plain.due() {
            return;
        }
        if JSON_MESSAGES.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("{}", serde_json::json!({ "progress": message }));
        } else {
            eprintln!("  {}", printable(message));
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
            let _ = bars.multi.println(format!("  {}", printable(message)));
            return;
        }
        self.plain_line(message);
    }

    fn warn(&self, message: &str) {
        if self.quiet {
            return;
        }
        if JSON_MESSAGES.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("{}", serde_json::json!({ "warning": message }));
            return;
        }
        match self.bars() {
            Some(bars) => {
                let _ = bars
                    .multi
                    .println(format!("warning: {}", printable(message)));
            }
            None => eprintln!("warning: {}", printable(message)),
        }
    }

    fn transfer(&self, id: &str, done: u64, total: u64) {
        let Some(mut bars) = self.bars() else {
            if self.plain.is_some() {
                let short: String = id
                    .strip_prefix("sha256:")
                    .unwrap_or(id)
                    .chars()
                    .take(12)
                    .collect();
                self.plain_line(&format!(
                    "{short}: {} of {} ({}%)",
                    human_bytes(done),
                    human_bytes(total),
                    (done * 100).checked_div(total).unwrap_or(100)
                ));
            }
            return;
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_history_lines_are_shortened_and_short_ones_kept() {
        assert_eq!(shorten("RUN true", 200), "RUN true");
        let long = "é".repeat(250);
        let short = shorten(&long, 200);
        assert!(short.starts_with(&"é".repeat(200)));
        assert!(short.ends_with("(50 more characters; --format json shows it whole)"));
    }
}
