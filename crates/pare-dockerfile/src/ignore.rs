//! `.dockerignore`: patterns read and matched the way BuildKit's context transfer does
//! (moby/patternmatcher): comments are lines starting with `#`, patterns are trimmed and cleaned
//! (`./a/../b` is `b`, a leading `/` dropped), `!` re-includes, the last matching pattern wins,
//! `*` and `?` stay within a path segment, `**` spans any number of segments, and a pattern that
//! matches a parent directory excludes what is inside it. Not here: walking a context directory.

/// One pattern of a `.dockerignore`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// The cleaned pattern, without `!`.
    pub text: String,
    /// `!pattern`: re-includes what earlier patterns excluded.
    pub exception: bool,
    /// 1-based line in the file.
    pub line: u32,
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    One,
    /// `**` followed by more pattern: `(.*/)?`.
    AnyDirs,
    /// `**` at the end: anything.
    Rest,
    /// `[...]`: a character class.
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// A parsed `.dockerignore`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    pub patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Reads the file's text.
    pub fn parse(text: &str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            if raw.starts_with('#') {
                continue;
            }
            let mut pattern = raw.trim();
            if pattern.is_empty() {
                continue;
            }
            let exception = pattern.starts_with('!');
            if exception {
                pattern = pattern[1..].trim();
            }
            let mut cleaned = String::new();
            if !pattern.is_empty() {
                cleaned = clean(pattern);
                if cleaned.len() > 1 && cleaned.starts_with('/') {
                    cleaned.remove(0);
                }
            }
            patterns.push(Pattern {
                tokens: compile(&cleaned),
                text: cleaned,
                exception,
                line: i as u32 + 1,
            });
        }
        Self { patterns }
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context:
    /// the last pattern that matches it or one of its parent directories decides.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path.trim_start_matches('/'));
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exception != matched {
                continue;
            }
            let mut hit = matches(&pattern.tokens, &path);
            if !hit {
                for i in 0..parents.len() {
                    if matches(&pattern.tokens, &parents[..=i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !pattern.exception;
            }
        }
        matched
    }

    /// The first pattern that matches `path` itself exactly or as a parent, for messages.
    pub fn matching(&self, path: &str) -> Option<&Pattern> {
        let path = clean(path.trim_start_matches('/'));
        self.patterns
            .iter()
            .rev()
            .find(|p| !p.exception && matches(&p.tokens, &path))
    }
}

/// Go's `filepath.Clean` for `/`-separated paths.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn compile(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                tokens.push(if i >= chars.len() {
                    Token::Rest
                } else {
                    Token::AnyDirs
                });
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            '\\' => match chars.get(i) {
                Some(&next) => {
                    tokens.push(Token::Literal(next));
                    i += 1;
                }
                None => tokens.push(Token::Literal('\\')),
            },
            '[' => {
                let mut j = i;
                let negated = matches!(chars.get(j), Some('^') | Some('!'));
                if negated {
                    j += 1;
                }
                let mut items = Vec::new();
                let mut closed = false;
                let mut first = true;
                while j < chars.len() {
                    let mut lo = chars[j];
                    if lo == ']' && !first {
                        closed = true;
                        j += 1;
                        break;
                    }
                    first = false;
                    if lo == '\\' && j + 1 < chars.len() {
                        j += 1;
                        lo = chars[j];
                    }
                    let mut hi = lo;
                    if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|c| *c != ']')
                    {
                        hi = chars[j + 2];
                        j += 2;
                    }
                    items.push((lo, hi));
                    j += 1;
                }
                if closed {
                    tokens.push(Token::Class { negated, items });
                    i = j;
                } else {
                    tokens.push(Token::Literal('['));
                }
            }
            other => tokens.push(Token::Literal(other)),
        }
    }
    tokens
}

fn matches(tokens: &[Token], path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    match_at(tokens, &chars, 0)
}

fn match_at(tokens: &[Token], text: &[char], budget: usize) -> bool {
    // A pattern is short; bound the backtracking anyway.
    if budget > 10_000 {
        return false;
    }
    let Some((first, rest)) = tokens.split_first() else {
        return text.is_empty();
    };
    match first {
        Token::Literal(c) => text.first() == Some(c) && match_at(rest, &text[1..], budget + 1),
        Token::One => {
            text.first().is_some_and(|c| *c != '/') && match_at(rest, &text[1..], budget + 1)
        }
        Token::Class { negated, items } => text.first().is_some_and(|c| {
            *c != '/'
                && (items.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated)
                && match_at(rest, &text[1..], budget + 1)
        }),
        Token::Star => {
            for n in 0..=text.len() {
                if match_at(rest, &text[n..], budget + n + 1) {
                    return true;
                }
                if text.get(n) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Token::Rest => true,
        Token::AnyDirs => {
            if match_at(rest, text, budget + 1) {
                return true;
            }
            (0..text.len())
                .filter(|&n| text[n] == '/')
                .any(|n| match_at(rest, &text[n + 1..], budget + n + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_buildkit_does() {
        let ignore = DockerIgnore::parse(
            "# comment\n.git\n**/node_modules\n*.pem\n!keep.pem\ntarget/\n/build/**\n  docs/*.md  \n",
        );
        assert!(ignore.excludes(".git"));
        assert!(ignore.excludes(".git/config"));
        assert!(ignore.excludes("node_modules/x/package.json"));
        assert!(ignore.excludes("web/node_modules"));
        assert!(ignore.excludes("key.pem"));
        assert!(!ignore.excludes("keep.pem"));
        assert!(!ignore.excludes("sub/key.pem"), "* does not cross /");
        assert!(ignore.excludes("target/release/app"));
        assert!(ignore.excludes("build/a/b"));
        assert!(ignore.excludes("docs/x.md"));
        assert!(!ignore.excludes("docs/a/x.md"));
        assert!(!ignore.excludes("src/main.rs"));
        assert_eq!(ignore.patterns[3].text, "keep.pem");
        assert!(ignore.patterns[3].exception);
    }

    #[test]
    fn classes_and_escapes() {
        let ignore = DockerIgnore::parse("file[0-9].txt\n\\*.log\n");
        assert!(ignore.excludes("file3.txt"));
        assert!(!ignore.excludes("filex.txt"));
        assert!(ignore.excludes("*.log"));
        assert!(!ignore.excludes("a.log"));
    }
}
