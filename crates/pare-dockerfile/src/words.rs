//! How BuildKit cuts an instruction's text into words: builder flags (`--from=build`), the quoted
//! words of ENV/LABEL/ARG, whitespace-split lists, JSON arrays, and the shell lexer it runs over a
//! line to find heredoc words. Each follows BuildKit's own rules, quirks included (flags are read
//! byte by byte, as BuildKit does), and reports where each word starts. Not here: what the words
//! mean (that is `crate::Instruction` and the lint rules).

/// A word and the byte offset in the text it was cut from where it starts.
pub(crate) type Word = (String, usize);

/// Go's `unicode.IsSpace` applied to a byte taken as a code point, as BuildKit's flag and
/// HEALTHCHECK scanners do (so 0x85 and 0xA0 count as spaces there).
pub(crate) fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// `pos`, or the end of the character it falls inside. BuildKit walks some lines byte by byte
/// and takes 0x85 and 0xa0 for spaces, which in UTF-8 are only ever the tail of a character: a
/// word that ends there ends after that character, and what follows starts after it.
pub(crate) fn char_boundary(text: &str, pos: usize) -> usize {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos += 1;
    }
    pos
}

/// The separators of BuildKit's `reWhitespace` (`[\t\v\f\r ]+`).
pub(crate) fn is_separator(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits on runs of `[\t\v\f\r ]` (BuildKit's `parseStringsWhitespaceDelimited`); `text` has
/// been trimmed, so no word is empty unless the text is.
pub(crate) fn whitespace_split(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if is_separator(c) {
            if let Some(s) = start.take() {
                words.push((text[s..i].to_string(), s));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        words.push((text[s..].to_string(), s));
    }
    words
}

/// Splits `text` once at the first run of separators (`reWhitespace.Split(text, 2)`): the
/// keyword, and the rest with its offset.
pub(crate) fn split_keyword(text: &str) -> (&str, Option<(&str, usize)>) {
    match text.char_indices().find(|(_, c)| is_separator(*c)) {
        None => (text, None),
        Some((end, _)) => {
            let rest_start = text[end..]
                .char_indices()
                .find(|(_, c)| !is_separator(*c))
                .map(|(i, _)| end + i)
                .unwrap_or(text.len());
            (&text[..end], Some((&text[rest_start..], rest_start)))
        }
    }
}

/// BuildKit's `extractBuilderFlags`: the leading `--name[=value]` words of an instruction, and
/// the offset where the rest starts. Quotes group, the escape character escapes, a lone `--`
/// ends the flags. Bytes are read one at a time and taken as code points, as BuildKit does.
pub(crate) fn extract_flags(line: &str, escape: char) -> (usize, Vec<Word>) {
    let bytes = line.as_bytes();
    let escape = escape as u32;
    let mut words = Vec::new();
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut word_start = 0;
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= bytes.len() {
        let ch = bytes.get(pos).copied().unwrap_or(0);
        if phase == Phase::Spaces {
            if pos == bytes.len() {
                break;
            }
            if is_space_byte(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || bytes.get(pos + 1) != Some(&b'-') {
                return (char_boundary(line, pos), words);
            }
            phase = Phase::Word;
            word_start = pos;
        }
        if pos == bytes.len() {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push((word, word_start));
            }
            return (bytes.len(), words);
        }
        if phase == Phase::Word {
            if is_space_byte(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (char_boundary(line, pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push((std::mem::take(&mut word), word_start));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if u32::from(ch) == escape {
                if pos + 1 == bytes.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = bytes[pos];
            }
            word.push(char::from(c));
            pos += 1;
            continue;
        }
        // In a quote.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if u32::from(ch) == escape {
            if pos + 1 == bytes.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = bytes[pos];
        }
        word.push(char::from(c));
        pos += 1;
    }
    (bytes.len(), words)
}

/// BuildKit's `parseWords` (ENV, LABEL, ARG): words split on spaces, quotes kept in the word
/// (they are removed later, when values are expanded), an escaped character kept with its escape.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<Word> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = rest.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut start = 0;
    let mut i = 0;
    while i <= chars.len() {
        let ch = chars.get(i).map(|c| c.1).unwrap_or('\0');
        if phase == Phase::Spaces {
            if i == chars.len() {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
            start = chars[i].0;
        }
        if i == chars.len() {
            if blank_ok || !word.is_empty() {
                words.push((word, start));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push((std::mem::take(&mut word), start));
                }
                blank_ok = false;
                i += 1;
                continue;
            }
            let mut c = ch;
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
                c = chars[i].1;
            }
            word.push(c);
            i += 1;
            continue;
        }
        // In a quote.
        if ch == quote {
            phase = Phase::Word;
        }
        let mut c = ch;
        if ch == escape && quote != '\'' {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            word.push(ch);
            c = chars[i].1;
        }
        word.push(c);
        i += 1;
    }
    words
}

/// A JSON array of strings, as BuildKit's `parseJSON` takes it: `None` when the text is not a
/// JSON array (the instruction is then in shell form), `Some(Err)` when it is an array holding
/// something other than strings (BuildKit refuses the file). Offsets are those of each string's
/// opening quote.
pub(crate) fn json_array(text: &str) -> Option<Result<Vec<Word>, String>> {
    let trimmed = text.trim_start();
    let lead = text.len() - trimmed.len();
    if !trimmed.starts_with('[') {
        return None;
    }
    let values: Vec<serde_json::Value> = serde_json::from_str(trimmed).ok()?;
    let starts = string_starts(trimmed);
    let mut words = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        match value {
            serde_json::Value::String(s) => {
                words.push((s, lead + starts.get(i).copied().unwrap_or(0)));
            }
            _ => {
                return Some(Err(
                    "when using JSON array syntax, arrays must be comprised of strings only".into(),
                ))
            }
        }
    }
    Some(Ok(words))
}

/// Offsets of the top-level strings of a valid JSON array of strings.
fn string_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            starts.push(i);
        }
    }
    starts
}

/// The words BuildKit's shell lexer (`shell.Lex.ProcessWords`, escape `\`, no variables set,
/// unset variables kept as written) makes of `text`, with quotes and escapes kept when asked
/// (`raw_quotes`, `raw_escapes`). Used to find heredoc words and their names. An error is what
/// the lexer would report (an unmatched quote, a bad `${}`).
pub(crate) fn shell_words(
    text: &str,
    raw_quotes: bool,
    raw_escapes: bool,
) -> Result<Vec<String>, String> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        raw_quotes,
    };
    let (_, words) = lexer.process_until(None, raw_escapes)?;
    Ok(words)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
}

#[derive(Default)]
struct WordsBuilder {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl WordsBuilder {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

const ESCAPE: char = '\\';

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = WordsBuilder::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let tmp = self.dollar()?;
                    result.push_str(&tmp);
                    words.add_string(&tmp);
                }
                '<' => {
                    let tmp = self.possible_heredoc();
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                '\'' => {
                    let tmp = self.single_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                '"' => {
                    let tmp = self.double_quote(raw_escapes)?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                _ => {
                    self.next();
                    if ch == ESCAPE {
                        if raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            None => break,
                            Some(c) => {
                                words.add_raw_char(c);
                                result.push(c);
                            }
                        }
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next().unwrap_or('\'');
        if self.raw_quotes {
            result.push(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self, raw_escapes: bool) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next().unwrap_or('"');
        if self.raw_quotes {
            result.push(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or(ESCAPE);
                    if ch == ESCAPE {
                        if raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some('"') | Some('$') | Some(ESCAPE) => {
                                ch = self.next().unwrap_or(ESCAPE);
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// `$name`, `${name}`, `${name:-word}` … with no variable set: kept as written.
    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(format!("${name}"));
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{') | Some('}') | Some(':') => {
                return Err("syntax error: bad substitution".into())
            }
            _ => {}
        }
        let name = self.name();
        let ch = self.next();
        let mut modifier = ch.map(String::from).unwrap_or_default();
        match ch {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':') | Some('+') | Some('-') | Some('?') | Some('#') | Some('%') => {
                let mut op = ch;
                let null_is_unset = ch == Some(':');
                if null_is_unset {
                    op = self.next();
                    if let Some(c) = op {
                        modifier.push(c);
                    }
                }
                let raw = matches!(op, Some('#') | Some('%'));
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({modifier}) in substitution"));
                }
                let word = match self.process_until(Some('}'), raw) {
                    Ok((word, _)) => word,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                Ok(format!("${{{name}{modifier}{word}}}"))
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.next();
                }
                let (pattern, _) = self
                    .process_until(Some('/'), true)
                    .map_err(|_| "syntax error: missing '/' in ${}".to_string())?;
                let (replacement, _) = self
                    .process_until(Some('}'), true)
                    .map_err(|_| "syntax error: missing '}'".to_string())?;
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|c| c.is_numeric()) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, ' ' | '\t' | '\r')) {
            result.push(c);
            self.next();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_end_at_the_first_other_word() {
        let (rest, flags) = extract_flags("--from=build --chown=1:1 /a /b", '\\');
        assert_eq!(
            flags,
            vec![("--from=build".into(), 0), ("--chown=1:1".into(), 13)]
        );
        assert_eq!(rest, 25);
        let (rest, flags) = extract_flags("--mount=\"type=cache,target=/x y\" -- cmd", '\\');
        assert_eq!(flags[0].0, "--mount=type=cache,target=/x y");
        assert_eq!(&"--mount=\"type=cache,target=/x y\" -- cmd"[rest..], " cmd");
    }

    /// Found by the `dockerfile` fuzz target: `\u{a0}`'s UTF-8 tail byte counts as a space, so
    /// the flags of `--lin\u{a0}x` ended inside the character.
    #[test]
    fn flags_that_end_inside_a_character_leave_a_char_boundary() {
        for line in [
            "--lin\u{a0}x /src",
            "--a\u{826}b",
            "--\u{85}",
            "--x=\u{a0}\u{a0} y",
        ] {
            let (rest, _) = extract_flags(line, '\\');
            assert!(line.is_char_boundary(rest), "{line:?}: {rest}");
            let _ = &line[rest..];
        }
    }

    #[test]
    fn a_boundary_is_the_end_of_the_character_a_byte_falls_in() {
        let text = "a\u{a0}b\u{826}";
        assert_eq!(char_boundary(text, 1), 1);
        assert_eq!(char_boundary(text, 2), 3);
        assert_eq!(char_boundary(text, 5), 7);
        assert_eq!(char_boundary(text, 99), text.len());
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        let words: Vec<String> = parse_words(r#"A="x y" B=\"z C='q\'"#, '\\')
            .into_iter()
            .map(|w| w.0)
            .collect();
        assert_eq!(words, vec![r#"A="x y""#, r#"B=\"z"#, r"C='q\'"]);
    }

    #[test]
    fn json_arrays_and_their_offsets() {
        assert_eq!(
            json_array(r#" ["a", "b\"c"]"#),
            Some(Ok(vec![("a".into(), 2), ("b\"c".into(), 7)]))
        );
        assert_eq!(json_array("echo [x]"), None);
        assert_eq!(json_array("[x]"), None);
        assert!(matches!(json_array("[1]"), Some(Err(_))));
    }

    #[test]
    fn the_shell_lexer_splits_as_buildkit_does() {
        assert_eq!(
            shell_words(r#"RUN cat <<EOF > "/x y" $A ${B:-c d}"#, true, true).unwrap(),
            vec!["RUN", "cat", "<<EOF", ">", "\"/x y\"", "$A", "${B:-c", "d}"]
        );
        assert_eq!(
            shell_words("<< EOF 2<<-X", true, true).unwrap(),
            vec!["<< EOF", "2<<-X"]
        );
        assert!(shell_words("echo 'open", true, true).is_err());
        assert!(shell_words("${}", true, true).is_err());
        assert_eq!(shell_words(r#""EOF""#, false, false).unwrap(), vec!["EOF"]);
    }
}
