//! pare-dockerfile: reads a Dockerfile the way BuildKit's parser does (parser directives, line
//! continuations with the escape character, comments and empty lines inside continuations,
//! heredocs, JSON and shell forms, builder flags) and `.dockerignore` files the way BuildKit's
//! pattern matcher does, with a line and column for every instruction and argument. It never
//! panics and never stops at the first problem: a malformed instruction becomes a [`Problem`]
//! with its lines and the rest of the file is still read.
//!
//! Written by hand: no crate parses heredocs as BuildKit does (parse-dockerfile 0.1.9 misses a
//! heredoc that is not the first word, dockerfile-parser has none). The rules follow BuildKit's
//! `frontend/dockerfile/parser` as of 2026; where the PyPI `dockerfile` package (which wraps
//! BuildKit v0.12.5) reads differently, README's lint section lists it. Not here: what the
//! instructions mean for an image (that is `pare::lint` and `pare init`).

mod expand;
pub mod ignore;
mod words;

pub use expand::{expand, Expansion};

use std::collections::BTreeMap;

use serde::Serialize;

/// A line (1-based) and column (1-based, in characters) of the source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// A word of an instruction and where it starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Arg {
    pub value: String,
    pub position: Position,
}

/// The instructions BuildKit knows; anything else is `Unknown` (BuildKit reads it and refuses it
/// later, when it turns the parse into a build).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Keyword {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
    Unknown,
}

impl Keyword {
    /// The keyword of an instruction word, in any case.
    pub fn of(word: &str) -> Self {
        match word.to_ascii_lowercase().as_str() {
            "add" => Keyword::Add,
            "arg" => Keyword::Arg,
            "cmd" => Keyword::Cmd,
            "copy" => Keyword::Copy,
            "entrypoint" => Keyword::Entrypoint,
            "env" => Keyword::Env,
            "expose" => Keyword::Expose,
            "from" => Keyword::From,
            "healthcheck" => Keyword::Healthcheck,
            "label" => Keyword::Label,
            "maintainer" => Keyword::Maintainer,
            "onbuild" => Keyword::Onbuild,
            "run" => Keyword::Run,
            "shell" => Keyword::Shell,
            "stopsignal" => Keyword::Stopsignal,
            "user" => Keyword::User,
            "volume" => Keyword::Volume,
            "workdir" => Keyword::Workdir,
            _ => Keyword::Unknown,
        }
    }
}

/// A heredoc attached to an instruction (`RUN <<EOF` … `EOF`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The terminator word, quotes removed.
    pub name: String,
    /// The file descriptor before `<<` (`2<<EOF`), 0 when none.
    pub fd: u64,
    /// Whether variables are expanded in the body (the name was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body and the terminator.
    pub chomp: bool,
    /// The body as written, every line with its newline, the terminator excluded.
    pub content: String,
    /// The line of the body's first line.
    pub first_line: u32,
}

impl Heredoc {
    /// The body as the build sees it: leading tabs removed for `<<-`.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// One instruction.
#[derive(Clone, Debug, Serialize)]
pub struct Instruction {
    pub keyword: Keyword,
    /// The instruction word as written (`from`, `FROM`).
    pub word: String,
    /// Where the instruction word starts.
    pub start: Position,
    /// The last line of the instruction, its heredocs included.
    pub end_line: u32,
    /// The instruction's text with continuations joined, as BuildKit keeps it.
    pub original: String,
    /// Builder flags as written after unquoting (`--from=build`, `--mount=type=cache,target=/x`).
    pub flags: Vec<Arg>,
    /// The arguments as BuildKit's parse holds them: for the shell form of RUN, CMD, ENTRYPOINT
    /// and SHELL one argument with the whole command; for the JSON form one per element; for
    /// ENV and LABEL name, value, name, value …; for HEALTHCHECK the type and then its command.
    pub args: Vec<Arg>,
    /// The JSON (exec) form was used.
    pub json: bool,
    /// ENV or LABEL in the legacy `NAME value` form.
    pub legacy_key_value: bool,
    pub heredocs: Vec<Heredoc>,
    /// The instruction ONBUILD wraps.
    pub onbuild: Option<Box<Instruction>>,
}

impl Instruction {
    /// The value of a builder flag (`flag("from")` for `--from=build`); `Some("")` for a flag
    /// without a value.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find_map(|f| {
            let rest = f.value.strip_prefix("--")?;
            match rest.split_once('=') {
                Some((n, v)) if n.eq_ignore_ascii_case(name) => Some(v),
                None if rest.eq_ignore_ascii_case(name) => Some(""),
                _ => None,
            }
        })
    }

    /// Every value of a repeatable flag (`--mount`).
    pub fn flag_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.flags.iter().filter_map(move |f| {
            let (n, v) = f.value.strip_prefix("--")?.split_once('=')?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// ENV and LABEL as name/value pairs.
    pub fn pairs(&self) -> Vec<(&Arg, &Arg)> {
        self.args
            .chunks_exact(2)
            .map(|pair| (&pair[0], &pair[1]))
            .collect()
    }

    /// The shell-form command text, or the JSON words joined with spaces.
    pub fn command_text(&self) -> String {
        self.args
            .iter()
            .map(|a| a.value.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A parser directive (`# syntax=…`, `# escape=…`, `# check=…`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub line: u32,
}

/// A comment line, directives included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Comment {
    pub line: u32,
    /// The text after `#`, trimmed.
    pub text: String,
}

/// How bad a problem is: `Error` is what makes BuildKit refuse the file; `Warning` is what it
/// warns about (empty continuation lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemKind {
    Error,
    EmptyContinuation,
}

/// Something malformed, with the lines it spans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    pub start: Position,
    pub end_line: u32,
}

/// A parsed Dockerfile.
#[derive(Clone, Debug, Serialize)]
pub struct Dockerfile {
    pub directives: Vec<Directive>,
    /// The escape character (`\` unless `# escape=` says `` ` ``).
    pub escape: char,
    pub instructions: Vec<Instruction>,
    pub comments: Vec<Comment>,
    /// Malformed instructions and warnings, in file order.
    pub problems: Vec<Problem>,
}

impl Dockerfile {
    /// Whether BuildKit would refuse the file.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.kind == ProblemKind::Error)
    }

    /// A directive's value (`directive("syntax")`).
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }
}

/// A stage: its FROM, its name, its base (ARGs declared before the first FROM substituted) and
/// its instructions.
pub struct Stage<'a> {
    pub index: usize,
    pub from: &'a Instruction,
    pub base: String,
    pub name: Option<String>,
    pub instructions: Vec<&'a Instruction>,
}

/// The ARGs declared before the first FROM, with their defaults: the only variables FROM lines
/// can use.
pub fn global_args(df: &Dockerfile) -> BTreeMap<String, String> {
    df.instructions
        .iter()
        .take_while(|i| i.keyword != Keyword::From)
        .filter(|i| i.keyword == Keyword::Arg)
        .flat_map(|i| &i.args)
        .map(|arg| {
            let (name, value) = arg.value.split_once('=').unwrap_or((&arg.value, ""));
            (name.to_string(), expand(value, df.escape, &|_| None).value)
        })
        .collect()
}

/// The stages of a Dockerfile, the global ARGs substituted into the base names.
pub fn stages(df: &Dockerfile) -> Vec<Stage<'_>> {
    let global = global_args(df);
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in &df.instructions {
        if instruction.keyword == Keyword::From {
            let words: Vec<&str> = instruction.args.iter().map(|a| a.value.as_str()).collect();
            let raw = words.first().copied().unwrap_or("");
            let base = expand(raw, df.escape, &|n| global.get(n).cloned()).value;
            let name = (words.len() >= 3 && words[1].eq_ignore_ascii_case("as"))
                .then(|| words[2].to_string());
            stages.push(Stage {
                index: stages.len(),
                from: instruction,
                base,
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instruction);
        }
    }
    stages
}

/// The stage before `before` that a name (case-insensitive) or an index refers to, as
/// `FROM name` and `COPY --from=name` do.
pub fn stage_named<'a, 'b>(
    stages: &'a [Stage<'b>],
    name: &str,
    before: usize,
) -> Option<&'a Stage<'b>> {
    if let Ok(n) = name.parse::<usize>() {
        return stages.get(n).filter(|s| s.index < before);
    }
    stages[..before.min(stages.len())].iter().find(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// The longest line BuildKit reads (bufio.Scanner's token limit), newline included.
const MAX_LINE: usize = 64 * 1024;

/// Where a physical line's part of a joined instruction line starts: its byte offset in the
/// joined line, and the line and column it came from.
#[derive(Clone, Copy)]
struct Segment {
    start: usize,
    line: u32,
    column: u32,
}

/// The segments of one joined line, in order.
struct Segments(Vec<Segment>);

impl Segments {
    /// The source position of byte `offset` of the joined line.
    fn position(&self, joined: &str, offset: usize) -> Position {
        let i = self
            .0
            .partition_point(|s| s.start <= offset)
            .saturating_sub(1);
        let segment = self.0.get(i).copied().unwrap_or(Segment {
            start: 0,
            line: 1,
            column: 1,
        });
        let offset = offset.min(joined.len());
        let chars = joined
            .get(segment.start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        Position {
            line: segment.line,
            column: segment.column + chars as u32,
        }
    }
}

/// Parses a Dockerfile. Invalid UTF-8 is read as U+FFFD.
pub fn parse(source: &[u8]) -> Dockerfile {
    let text = String::from_utf8_lossy(source);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    Parser::new(text).run()
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    next: usize,
    directives_done: bool,
    out: Dockerfile,
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            lines: text.split_inclusive('\n').collect(),
            next: 0,
            directives_done: false,
            out: Dockerfile {
                directives: Vec::new(),
                escape: '\\',
                instructions: Vec::new(),
                comments: Vec::new(),
                problems: Vec::new(),
            },
        }
    }

    fn problem(&mut self, kind: ProblemKind, message: String, start: Position, end_line: u32) {
        self.out.problems.push(Problem {
            kind,
            message,
            start,
            end_line,
        });
    }

    /// The next physical line and its 1-based number; a line over BuildKit's limit is a problem.
    fn take_line(&mut self) -> Option<(&'a str, u32)> {
        let line = *self.lines.get(self.next)?;
        self.next += 1;
        let number = self.next as u32;
        if line.len() > MAX_LINE {
            self.problem(
                ProblemKind::Error,
                format!(
                    "dockerfile line greater than max allowed size of {}",
                    MAX_LINE - 1
                ),
                Position {
                    line: number,
                    column: 1,
                },
                number,
            );
        }
        Some((line, number))
    }

    /// BuildKit's directive parser: only `#`-lines at the very top, each name once.
    fn directive(&mut self, line: &str, number: u32) {
        if self.directives_done {
            return;
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.directives_done = true;
            return;
        };
        let rest = rest.trim_start();
        let Some((name, value)) = directive_parts(rest) else {
            self.directives_done = true;
            return;
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.directives_done = true;
            return;
        }
        let at = Position {
            line: number,
            column: 1,
        };
        if self.out.directives.iter().any(|d| d.name == name) {
            self.problem(
                ProblemKind::Error,
                format!("only one {name} parser directive can be used"),
                at,
                number,
            );
            return;
        }
        if name == "escape" {
            match value {
                "\\" => self.out.escape = '\\',
                "`" => self.out.escape = '`',
                other => {
                    self.problem(
                        ProblemKind::Error,
                        format!("invalid escape token '{other}' does not match ` or \\"),
                        at,
                        number,
                    );
                    return;
                }
            }
        }
        self.out.directives.push(Directive {
            name,
            value: value.to_string(),
            line: number,
        });
    }

    fn comment(&mut self, line: &str, number: u32) {
        let text = line.trim_start().trim_start_matches('#').trim().to_string();
        self.out.comments.push(Comment { line: number, text });
    }

    /// Removes a trailing line continuation (`… \`), as BuildKit's regex does: an escape
    /// character at the end (spaces and tabs after it allowed) that is the whole line or follows
    /// a character other than itself.
    fn continuation<'l>(&self, line: &'l str) -> (&'l str, bool) {
        let body = line.trim_end_matches([' ', '\t']);
        let Some(before) = body.strip_suffix(self.out.escape) else {
            return (line, true);
        };
        if before.is_empty() || !before.ends_with(self.out.escape) {
            (before, false)
        } else {
            (line, true)
        }
    }

    fn run(mut self) -> Dockerfile {
        while let Some((raw, number)) = self.take_line() {
            let token = trim_newline(raw);
            let left = token.trim_start();
            let lead = token[..token.len() - left.len()].chars().count() as u32;
            self.directive(left, number);
            if left.starts_with('#') {
                self.comment(left, number);
                continue;
            }
            let (first, mut end_of_line) = self.continuation(left);
            if end_of_line && first.is_empty() {
                continue;
            }
            let mut joined = first.to_string();
            let mut segments = vec![Segment {
                start: 0,
                line: number,
                column: lead + 1,
            }];
            let mut last = number;
            let mut empty_continuation = false;
            while !end_of_line {
                let Some((raw, n)) = self.take_line() else {
                    break;
                };
                last = n;
                let token = trim_newline(raw);
                self.directive(token, n);
                if is_comment(token) {
                    self.comment(token, n);
                    continue;
                }
                if token.trim_start().is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (part, eol) = self.continuation(token);
                end_of_line = eol;
                segments.push(Segment {
                    start: joined.len(),
                    line: n,
                    column: 1,
                });
                joined.push_str(part);
            }
            let segments = Segments(segments);
            let start = segments.position(&joined, 0);
            if empty_continuation {
                self.problem(
                    ProblemKind::EmptyContinuation,
                    format!("Empty continuation line found in: {joined}"),
                    start,
                    last,
                );
            }
            let mut instruction = match node(&joined, 0, self.out.escape, &segments) {
                Ok(i) => i,
                Err(message) => {
                    self.problem(ProblemKind::Error, message, start, last);
                    continue;
                }
            };
            if joined.contains("<<") && can_contain_heredoc(&instruction) {
                match heredocs_of(&joined) {
                    Ok(docs) => {
                        for mut doc in docs {
                            doc.first_line = last + 1;
                            let mut terminated = false;
                            while let Some((raw, n)) = self.take_line() {
                                last = n;
                                let mut candidate = trim_newline(raw);
                                if doc.chomp {
                                    candidate = candidate.trim_start_matches('\t');
                                }
                                if candidate == doc.name {
                                    terminated = true;
                                    break;
                                }
                                doc.content.push_str(raw);
                            }
                            instruction.heredocs.push(doc);
                            if !terminated {
                                self.problem(
                                    ProblemKind::Error,
                                    "unterminated heredoc".into(),
                                    start,
                                    last,
                                );
                                break;
                            }
                        }
                    }
                    Err(message) => self.problem(ProblemKind::Error, message, start, last),
                }
            }
            instruction.end_line = last;
            if let Some(child) = instruction.onbuild.as_mut() {
                child.end_line = last;
            }
            self.out.instructions.push(instruction);
        }
        if self.out.instructions.is_empty() {
            let line = self.lines.len() as u32;
            self.problem(
                ProblemKind::Error,
                "file with no instructions".into(),
                Position { line, column: 1 },
                line,
            );
        }
        self.out
    }
}

/// `name = value` of a directive (`^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`).
fn directive_parts(text: &str) -> Option<(&str, &str)> {
    let name_end = text
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    if name_end == 0 {
        return None;
    }
    let ascii_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r' | '\x0b');
    let rest = text[name_end..].trim_start_matches(ascii_space);
    let value = rest.strip_prefix('=')?.trim_matches(ascii_space);
    if value.is_empty() {
        return None;
    }
    Some((&text[..name_end], value))
}

fn can_contain_heredoc(instruction: &Instruction) -> bool {
    let target = match &instruction.onbuild {
        Some(child) => child,
        None => instruction,
    };
    matches!(target.keyword, Keyword::Add | Keyword::Copy | Keyword::Run) && !target.json
}

/// The heredocs a line announces, in order (BuildKit's `heredocsFromLine`).
fn heredocs_of(line: &str) -> Result<Vec<Heredoc>, String> {
    let Ok(words) = words::shell_words(line, true, true) else {
        return Ok(Vec::new());
    };
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = heredoc_word(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// A word that opens a heredoc: `^(\d*)<<(-?)\s*([^<]*)$` whose last part is one shell word.
fn heredoc_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    let rest = after.trim_start_matches([' ', '\t', '\n', '\x0c', '\r']);
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    let plain = words::shell_words(rest, false, false)?;
    if plain.len() != 1 {
        return Ok(None);
    }
    let raw = words::shell_words(rest, true, false)?;
    if raw.len() != plain.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    Ok(Some(Heredoc {
        expand: quotes(&plain[0]) == quotes(&raw[0]),
        name: plain.into_iter().next().unwrap_or_default(),
        // strconv.ParseUint: no digits is 0, too many is the largest value.
        fd: match &word[..digits] {
            "" => 0,
            d => d.parse().unwrap_or(u64::MAX),
        },
        chomp,
        content: String::new(),
        first_line: 0,
    }))
}

/// One instruction from its joined line (BuildKit's `newNodeFromLine` and the line parsers).
/// The text is `full[from..]` (ONBUILD's instruction starts inside its line); positions are
/// those of `full`.
fn node(full: &str, from: usize, escape: char, segments: &Segments) -> Result<Instruction, String> {
    let line = &full[from.min(full.len())..];
    let lead = line.len() - line.trim_start().len();
    let trimmed = line.trim();
    let (word, rest) = words::split_keyword(trimmed);
    let keyword = Keyword::of(word);
    let at = |offset: usize| segments.position(full, from + lead + offset);
    let mut instruction = Instruction {
        keyword,
        word: word.to_string(),
        start: at(0),
        end_line: 0,
        original: line.to_string(),
        flags: Vec::new(),
        args: Vec::new(),
        json: false,
        legacy_key_value: false,
        heredocs: Vec::new(),
        onbuild: None,
    };
    let Some((rest, rest_offset)) = rest else {
        return Ok(instruction);
    };
    let (args_offset, flags) = words::extract_flags(rest, escape);
    instruction.flags = flags
        .into_iter()
        .map(|(value, o)| Arg {
            value,
            position: at(rest_offset + o),
        })
        .collect();
    let args_raw = &rest[args_offset.min(rest.len())..];
    let args_lead = args_raw.len() - args_raw.trim_start().len();
    let args = args_raw.trim();
    let base = rest_offset + args_offset + args_lead;
    let make = |words: Vec<words::Word>| -> Vec<Arg> {
        words
            .into_iter()
            .map(|(value, o)| Arg {
                value,
                position: at(base + o),
            })
            .collect()
    };
    // The text as one argument (BuildKit's parseString and the shell form), none when empty.
    let whole = |text: &str| -> Vec<words::Word> {
        if text.is_empty() {
            Vec::new()
        } else {
            vec![(text.to_string(), 0)]
        }
    };
    match keyword {
        Keyword::Add | Keyword::Copy | Keyword::Volume => {
            let (words, json) = json_or(args, words::whitespace_split)?;
            instruction.args = make(words);
            instruction.json = json;
        }
        Keyword::Cmd | Keyword::Entrypoint | Keyword::Run | Keyword::Shell => {
            if !args.is_empty() {
                let (words, json) = json_or(args, whole)?;
                instruction.args = make(words);
                instruction.json = json;
            }
        }
        Keyword::Arg => instruction.args = make(words::parse_words(args, escape)),
        Keyword::Env | Keyword::Label => {
            let (pairs, legacy) = name_values(args, escape, word)?;
            instruction.legacy_key_value = legacy;
            instruction.args = make(pairs);
        }
        Keyword::Expose | Keyword::From => instruction.args = make(words::whitespace_split(args)),
        Keyword::Healthcheck => {
            let bytes = args.as_bytes();
            let sep = bytes
                .iter()
                .position(|b| words::is_space_byte(*b))
                .map_or(bytes.len(), |p| words::char_boundary(args, p));
            if sep > 0 {
                let next = bytes[sep..]
                    .iter()
                    .position(|b| !words::is_space_byte(*b))
                    .map_or(bytes.len(), |p| words::char_boundary(args, sep + p));
                let mut words = vec![(args[..sep].to_string(), 0)];
                let command = &args[next..];
                if !command.is_empty() {
                    let (ws, json) = json_or(command, whole)?;
                    instruction.json = json;
                    words.extend(ws.into_iter().map(|(v, o)| (v, next + o)));
                }
                instruction.args = make(words);
            }
        }
        Keyword::Maintainer | Keyword::Stopsignal | Keyword::User | Keyword::Workdir => {
            instruction.args = make(whole(args));
        }
        Keyword::Onbuild => {
            if !args.is_empty() {
                let child = node(full, from + lead + base, escape, segments)?;
                instruction.onbuild = Some(Box::new(child));
            }
        }
        Keyword::Unknown => {}
    }
    Ok(instruction)
}

/// The words of a JSON array of strings (and `true`), else `fallback`'s words of the text; a
/// JSON array holding anything but strings is BuildKit's error.
fn json_or(
    text: &str,
    fallback: impl FnOnce(&str) -> Vec<words::Word>,
) -> Result<(Vec<words::Word>, bool), String> {
    match words::json_array(text) {
        Some(Ok(words)) => Ok((words, true)),
        Some(Err(e)) => Err(e),
        None => Ok((fallback(text), false)),
    }
}

/// ENV and LABEL: `NAME=value …` pairs, or the legacy `NAME value`.
fn name_values(
    rest: &str,
    escape: char,
    keyword: &str,
) -> Result<(Vec<words::Word>, bool), String> {
    let words = words::parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok((Vec::new(), false));
    };
    if !first.0.contains('=') {
        let (name, Some((value, offset))) = words::split_keyword(rest) else {
            return Err(format!(
                "{} must have two arguments",
                keyword.to_ascii_uppercase()
            ));
        };
        return Ok((
            vec![(name.to_string(), 0), (value.to_string(), offset)],
            true,
        ));
    }
    let mut out = Vec::with_capacity(words.len() * 2);
    for (word, offset) in words {
        let Some((name, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.push((name.to_string(), offset));
        out.push((value.to_string(), offset + name.len() + 1));
    }
    Ok((out, false))
}

#[cfg(test)]
mod tests;

/// Splits a command line into words as a POSIX shell would without running anything (BuildKit's
/// shell lexer: quotes and backslashes, no variables set), for command-line options that take
/// a command (`pare slim --probe`).
pub fn shell_split(text: &str) -> Result<Vec<String>, String> {
    words::shell_words(text, false, false)
}
