//! The commands a RUN executes, as far as lint rules need them: the shell text (or a heredoc
//! script) cut into simple commands at `&&`, `||`, `;`, `|` and newlines, each as words with quotes
//! removed, plus whether a pipe appears. Not a shell: no expansion, no subshell semantics; a
//! command inside `$(…)` or `sh -c '…'` is seen only as words.

/// One simple command: its words, and the environment assignments before it (`CGO_ENABLED=0 go
/// build`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimpleCommand {
    pub assignments: Vec<String>,
    pub words: Vec<String>,
}

impl SimpleCommand {
    /// The program name without its directory (`/usr/bin/apt-get` → `apt-get`).
    pub fn program(&self) -> &str {
        self.words
            .first()
            .map(|w| w.rsplit('/').next().unwrap_or(w))
            .unwrap_or("")
    }

    /// Whether a word equals `word`.
    pub fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }
}

/// The script of a RUN: its simple commands and whether any of them is in a pipeline.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub commands: Vec<SimpleCommand>,
    pub has_pipe: bool,
    pub text: String,
}

impl Script {
    /// Commands whose program is `program` (through `sudo`, `env` and the like).
    pub fn calls<'a>(&'a self, program: &'a str) -> impl Iterator<Item = &'a SimpleCommand> + 'a {
        self.commands.iter().filter(move |c| c.program() == program)
    }

    /// Whether the text mentions `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.text.contains(needle)
    }
}

/// Reads a shell text into simple commands.
pub fn script(text: &str) -> Script {
    let mut out = Script {
        text: text.to_string(),
        ..Script::default()
    };
    let chars: Vec<char> = text.chars().collect();
    let mut current: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    // Inside `case WORD in PATTERN|PATTERN)`: `|` separates patterns, it is not a pipe.
    let mut case_depth = 0usize;
    let mut inner: Vec<String> = Vec::new();
    let mut in_patterns = false;
    let mut i = 0;
    let finish_word = |current: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            current.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let mut finish_command = |current: &mut Vec<String>| {
        if current.is_empty() {
            return;
        }
        let mut words = std::mem::take(current);
        // Leading wrappers and assignments.
        let mut assignments = Vec::new();
        while let Some(first) = words.first() {
            if is_assignment(first) {
                assignments.push(words.remove(0));
            } else if matches!(
                first.as_str(),
                "sudo"
                    | "env"
                    | "exec"
                    | "time"
                    | "nohup"
                    | "then"
                    | "do"
                    | "else"
                    | "{"
                    | "("
                    | "!"
            ) {
                words.remove(0);
            } else {
                break;
            }
        }
        out.commands.push(SimpleCommand { assignments, words });
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1) == Some(&'\n') => i += 1,
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    word.push(n);
                    in_word = true;
                    i += 1;
                }
            }
            '\'' | '"' => {
                in_word = true;
                let mut j = i + 1;
                while j < chars.len() && chars[j] != c {
                    if c == '"' && chars[j] == '\\' && j + 1 < chars.len() {
                        j += 1;
                    }
                    word.push(chars[j]);
                    j += 1;
                }
                i = j;
            }
            // `$(…)` and `` `…` ``: one word here; the commands inside count too (a pipe in them
            // hides failures just the same).
            '$' if chars.get(i + 1) == Some(&'(') => {
                let mut depth = 0usize;
                let start = word.len();
                while i < chars.len() {
                    word.push(chars[i]);
                    match chars[i] {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                inner.push(
                    word[start..]
                        .trim_start_matches("$(")
                        .trim_end_matches(')')
                        .to_string(),
                );
                in_word = true;
            }
            '`' => {
                word.push('`');
                i += 1;
                let mut text = String::new();
                while i < chars.len() && chars[i] != '`' {
                    word.push(chars[i]);
                    text.push(chars[i]);
                    i += 1;
                }
                word.push('`');
                inner.push(text);
                in_word = true;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            ' ' | '\t' => {
                finish_word(&mut current, &mut word, &mut in_word);
                match current.last().map(String::as_str) {
                    Some("case") if current.len() == 1 => case_depth += 1,
                    Some("in")
                        if case_depth > 0
                            && current.first().map(String::as_str) == Some("case") =>
                    {
                        in_patterns = true
                    }
                    Some("esac") => case_depth = case_depth.saturating_sub(1),
                    _ => {}
                }
            }
            '|' if in_patterns => {}
            ')' if in_patterns => {
                in_patterns = false;
                finish_word(&mut current, &mut word, &mut in_word);
                current.clear();
            }
            ';' if case_depth > 0 && chars.get(i + 1) == Some(&';') => {
                finish_word(&mut current, &mut word, &mut in_word);
                finish_command(&mut current);
                in_patterns = true;
                i += 1;
            }
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                finish_word(&mut current, &mut word, &mut in_word);
                if c == '|'
                    && chars.get(i + 1) != Some(&'|')
                    && chars.get(i.wrapping_sub(1)) != Some(&'|')
                {
                    out.has_pipe = true;
                }
                if c == '&'
                    && chars.get(i + 1) != Some(&'&')
                    && chars.get(i.wrapping_sub(1)) == Some(&'>')
                {
                    // `>&2`: a redirection, not a separator.
                    word.push('&');
                    in_word = true;
                } else {
                    finish_command(&mut current);
                }
            }
            other => {
                word.push(other);
                in_word = true;
            }
        }
        i += 1;
    }
    finish_word(&mut current, &mut word, &mut in_word);
    finish_command(&mut current);
    for text in inner {
        let nested = script(&text);
        out.has_pipe |= nested.has_pipe;
        out.commands.extend(nested.commands);
    }
    out
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_pipes_and_assignments() {
        let s = script("apt-get update && CGO_ENABLED=0 go build -o /x . ; curl -fsSL 'a b' | sh\nsudo apk add --no-cache gcc || true");
        let programs: Vec<&str> = s.commands.iter().map(|c| c.program()).collect();
        assert_eq!(programs, vec!["apt-get", "go", "curl", "sh", "apk", "true"]);
        assert_eq!(s.commands[1].assignments, vec!["CGO_ENABLED=0"]);
        assert_eq!(s.commands[2].words, vec!["curl", "-fsSL", "a b"]);
        assert!(s.has_pipe);
        assert!(!script("a || b && c >&2").has_pipe);
        let case = script("case $(uname -m) in amd64|arm64) echo a ;; ppc*|s390x) echo b ;; esac");
        assert!(!case.has_pipe, "{:?}", case.commands);
        assert!(case.calls("echo").count() == 2, "{:?}", case.commands);
    }
}
