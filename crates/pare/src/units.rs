//! Sizes and percentages as people read them: binary units with the exact count kept elsewhere (JSON),
//! signed deltas, and percentages that say "n/a" instead of dividing by zero; and percent-encoding
//! for the URIs and package URLs reports carry.

/// Formats a signed byte delta with a sign and binary units.
pub fn signed_bytes(delta: i64) -> String {
    let sign = if delta < 0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(delta.unsigned_abs()))
}

/// Binary units with one decimal (`1.5 MiB`); bytes below 1 KiB as they are.
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

/// A percentage, or "n/a" when there is nothing to divide by.
pub fn percent(p: Option<f64>) -> String {
    match p {
        Some(p) => format!("{p:+.1}%"),
        None => "n/a".into(),
    }
}

/// Percent-encodes every byte of `text` but ASCII letters and digits and the bytes in `keep`
/// (`%2B` style, upper-case hex): for URIs (SARIF artifact locations) and package URLs.
pub fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
        assert_eq!(signed_bytes(-2048), "-2.0 KiB");
        assert_eq!(percent(None), "n/a");
    }
}
