//! Variable expansion in instruction values (`$NAME`, `${NAME}`, `${NAME:-default}`,
//! `${NAME:+alt}`), with quotes removed and escapes applied, as BuildKit's word processing does
//! for FROM, USER, WORKDIR, ENV and the like. Enough for lint rules to see the values a build
//! would use, and which names were never defined. Not a shell: pattern modifiers (`#`, `%`, `/`)
//! keep the variable's value unchanged, and command substitution is not run.

/// The result of expanding a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    pub value: String,
    /// Names referenced but not defined, in order of first use.
    pub undefined: Vec<String>,
}

/// Expands `text` with `lookup` (escape character `escape`).
pub fn expand(text: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> Expansion {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Expansion::default();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match (c, quote) {
            ('\'', None) => quote = Some('\''),
            ('\'', Some('\'')) => quote = None,
            ('"', None) => quote = Some('"'),
            ('"', Some('"')) => quote = None,
            (c, q) if c == escape && q != Some('\'') => {
                if let Some(&next) = chars.get(i + 1) {
                    if q == Some('"') && !matches!(next, '"' | '$') && next != escape {
                        out.value.push(c);
                    }
                    out.value.push(next);
                    i += 1;
                }
            }
            ('$', q) if q != Some('\'') => {
                i = dollar(&chars, i + 1, escape, lookup, &mut out);
                continue;
            }
            (c, _) => out.value.push(c),
        }
        i += 1;
    }
    out
}

fn note_undefined(out: &mut Expansion, name: &str) {
    if !out.undefined.iter().any(|n| n == name) {
        out.undefined.push(name.to_string());
    }
}

/// Expands the reference after a `$` at `i`; returns the index after it.
fn dollar(
    chars: &[char],
    mut i: usize,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Expansion,
) -> usize {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    if chars.get(i) != Some(&'{') {
        let start = i;
        while i < chars.len() && is_name(chars[i]) {
            i += 1;
        }
        if start == i {
            out.value.push('$');
            return i;
        }
        let name: String = chars[start..i].iter().collect();
        match lookup(&name) {
            Some(v) => out.value.push_str(&v),
            None => note_undefined(out, &name),
        }
        return i;
    }
    i += 1;
    let start = i;
    while i < chars.len() && is_name(chars[i]) {
        i += 1;
    }
    let name: String = chars[start..i].iter().collect();
    // Find the closing brace, counting nested ones.
    let mut depth = 1;
    let mut end = i;
    while end < chars.len() {
        match chars[end] {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        end += 1;
    }
    let modifier: String = chars[i..end.min(chars.len())].iter().collect();
    let value = lookup(&name);
    let (null_is_unset, op) = match modifier.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, modifier.as_str()),
    };
    let set = value
        .as_deref()
        .is_some_and(|v| !(null_is_unset && v.is_empty()));
    let word = |w: &str, out: &mut Expansion| {
        let inner = expand(w, escape, lookup);
        for n in inner.undefined {
            note_undefined(out, &n);
        }
        inner.value
    };
    if let Some(default) = op.strip_prefix('-') {
        if set {
            out.value.push_str(value.as_deref().unwrap_or(""));
        } else {
            let w = word(default, out);
            out.value.push_str(&w);
        }
    } else if let Some(alt) = op.strip_prefix('+') {
        if set {
            let w = word(alt, out);
            out.value.push_str(&w);
        }
    } else {
        match value {
            Some(v) => out.value.push_str(&v),
            None if !op.starts_with('?') => note_undefined(out, &name),
            None => {}
        }
    }
    end + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "V" => Some("1.22".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn values_expand_and_undefined_names_are_noted() {
        let e = expand("golang:${V}-alpine", '\\', &env);
        assert_eq!(e.value, "golang:1.22-alpine");
        let e = expand("${EMPTY:-x} ${NOPE:-y} $NOPE \"q $V\" '$V'", '\\', &env);
        assert_eq!(e.value, "x y  q 1.22 $V");
        assert_eq!(e.undefined, vec!["NOPE".to_string()]);
        assert_eq!(expand("${V:+set}${NOPE:+x}", '\\', &env).value, "set");
        assert_eq!(expand(r"a\$V", '\\', &env).value, "a$V");
    }
}
