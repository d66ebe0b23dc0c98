//! deb822 control data (Packages indexes, Release files, `.sources` files, a .deb's `control`):
//! paragraphs of `Field: value` lines with continuation lines, read without copying.
//! Written by hand because the crates for deb822 build a lossless syntax tree meant for editing, which
//! costs several times the memory and time on a 50 MB Packages index; pare only reads.

use crate::{Error, Result};

/// One paragraph: its fields in order, names and raw values borrowed from the text.
#[derive(Clone, Debug, Default)]
pub struct Paragraph<'a> {
    fields: Vec<(&'a str, &'a str)>,
    /// 1-based line where the paragraph starts, for error messages.
    pub line: usize,
}

impl<'a> Paragraph<'a> {
    /// The raw value of a field (case-insensitive name), continuation lines included with their
    /// newlines and leading space; surrounding whitespace trimmed.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The fields in order.
    pub fn fields(&self) -> &[(&'a str, &'a str)] {
        &self.fields
    }

    /// Whether the paragraph has no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Splits deb822 text into paragraphs. `what` names the source in errors. Lines starting with `#`
/// are comments (as in `.sources` files); blank lines separate paragraphs.
pub fn paragraphs<'a>(text: &'a str, what: &str) -> Result<Vec<Paragraph<'a>>> {
    let mut out = Vec::new();
    let mut current = Paragraph::default();
    // (name, value start offset, value end offset) of the field being read.
    let mut open: Option<(&'a str, usize, usize)> = None;
    let mut offset = 0usize;
    for (index, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw_line.len();
        let line = raw_line.trim_end_matches(['\n', '\r']);
        let number = index + 1;
        if line.trim().is_empty() {
            if let Some((name, start, end)) = open.take() {
                current.fields.push((name, text[start..end].trim()));
            }
            if !current.fields.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match open.as_mut() {
                Some((_, _, end)) => *end = line_start + line.len(),
                None => {
                    return Err(Error::Parse(format!(
                        "{what} line {number}: a continuation line with no field before it"
                    )))
                }
            }
            continue;
        }
        if let Some((name, start, end)) = open.take() {
            current.fields.push((name, text[start..end].trim()));
        }
        let colon = line.find(':').ok_or_else(|| {
            Error::Parse(format!(
                "{what} line {number}: {:?} is not a 'Field: value' line",
                truncate(line)
            ))
        })?;
        let name = &line[..colon];
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(Error::Parse(format!(
                "{what} line {number}: bad field name {:?}",
                truncate(name)
            )));
        }
        if current.fields.is_empty() {
            current.line = number;
        }
        open = Some((name, line_start + colon + 1, line_start + line.len()));
    }
    if let Some((name, start, end)) = open.take() {
        current.fields.push((name, text[start..end].trim()));
    }
    if !current.fields.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The non-empty lines of a field's value, each trimmed. For list fields whose first line is empty
/// (the `SHA256` list of a Release file) these are exactly the list's entries.
pub fn value_lines(value: &str) -> impl Iterator<Item = &str> {
    value.lines().map(str::trim).filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paragraphs_and_continuations() {
        let text = "Package: a\nVersion: 1.0\nDescription: short\n long line\n .\n more\n\n\n# c\nPackage: b\r\nDepends: x,\n y\n";
        let ps = paragraphs(text, "test").unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("a"));
        assert_eq!(
            ps[0].get("Description"),
            Some("short\n long line\n .\n more")
        );
        assert_eq!(ps[1].get("Depends"), Some("x,\n y"));
        assert_eq!(ps[1].line, 10);
        assert_eq!(
            value_lines(ps[0].get("Description").unwrap()).collect::<Vec<_>>(),
            ["short", "long line", ".", "more"]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(paragraphs(" leading continuation\n", "t").is_err());
        assert!(paragraphs("no colon here\n", "t").is_err());
        assert!(paragraphs("bad name: x\n", "t").is_err());
    }
}
