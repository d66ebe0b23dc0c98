//! Unit tests of the parser: the cases hadolint and other parsers get wrong, and positions.

use super::*;

fn values(i: &Instruction) -> Vec<&str> {
    i.args.iter().map(|a| a.value.as_str()).collect()
}

#[test]
fn a_heredoc_that_is_not_the_first_word_is_read_and_the_next_instruction_too() {
    let df = parse(b"FROM debian\nRUN cat <<EOF > /x\nhello\nEOF\nUSER 65532\n");
    assert!(df.problems.is_empty(), "{:?}", df.problems);
    assert_eq!(df.instructions.len(), 3);
    let run = &df.instructions[1];
    assert_eq!(run.heredocs.len(), 1);
    assert_eq!(run.heredocs[0].name, "EOF");
    assert_eq!(run.heredocs[0].content, "hello\n");
    assert_eq!(run.heredocs[0].first_line, 3);
    assert_eq!((run.start.line, run.end_line), (2, 4));
    assert_eq!(df.instructions[2].keyword, Keyword::User);
    assert_eq!(df.instructions[2].start.line, 5);
}

#[test]
fn chomped_quoted_and_several_heredocs() {
    let df = parse(b"RUN <<-A cat - <<'B' 3<<\"C\"\n\t\tone\n\tA\n$two\nB\nc\nC\nCMD x\n");
    assert!(df.problems.is_empty(), "{:?}", df.problems);
    let docs = &df.instructions[0].heredocs;
    assert_eq!(docs.len(), 3);
    assert!(docs[0].chomp && docs[0].expand);
    assert_eq!(docs[0].body(), "one\n");
    assert_eq!(docs[0].content, "\t\tone\n");
    assert!(!docs[1].expand);
    assert_eq!(docs[1].content, "$two\n");
    assert_eq!((docs[2].fd, docs[2].name.as_str()), (3, "C"));
    assert_eq!(df.instructions[1].start.line, 8);
}

#[test]
fn heredocs_only_where_buildkit_reads_them() {
    // JSON form, other instructions and quoted words announce no heredoc.
    let df = parse(b"RUN [\"sh\", \"<<EOF\"]\nENV A <<EOF\nRUN echo \"<<EOF\" cat<<EOF\nEOF\n");
    assert!(df.instructions.iter().all(|i| i.heredocs.is_empty()));
    assert_eq!(df.instructions.len(), 4);
    // Unterminated: an error with the lines it covers.
    let df = parse(b"FROM x\nRUN <<EOF\nabc\n");
    assert_eq!(df.problems.len(), 1);
    assert_eq!(df.problems[0].message, "unterminated heredoc");
    assert_eq!((df.problems[0].start.line, df.problems[0].end_line), (2, 3));
}

#[test]
fn continuations_comments_and_empty_lines() {
    let df = parse(b"RUN apt-get update \\\n  # a comment\n\n    && apt-get install -y \\\n      curl\nEXPOSE 80\n");
    let run = &df.instructions[0];
    assert_eq!(
        values(run),
        vec!["apt-get update     && apt-get install -y       curl"]
    );
    assert_eq!((run.start.line, run.end_line), (1, 5));
    assert_eq!(df.problems[0].kind, ProblemKind::EmptyContinuation);
    assert_eq!(df.comments[0].line, 2);
    assert_eq!(df.instructions[1].start.line, 6);
}

#[test]
fn directives_and_the_escape_character() {
    let df = parse(b"# syntax=docker/dockerfile:1\n# escape=`\nFROM windows\nRUN dir `\n  c:\\\n");
    assert_eq!(df.escape, '`');
    assert_eq!(df.directive("syntax"), Some("docker/dockerfile:1"));
    assert_eq!(values(&df.instructions[1]), vec!["dir   c:\\"]);
    // A directive after a comment is only a comment.
    let df = parse(b"# hello\n# escape=`\nFROM x\n");
    assert_eq!(df.escape, '\\');
    assert!(df.directives.is_empty());
    let df = parse(b"# escape=x\nFROM x\n");
    assert!(df.has_errors());
    let df = parse(b"# syntax=a\n# syntax=b\nFROM x\n");
    assert!(df.problems[0].message.contains("only one syntax"));
}

#[test]
fn flags_forms_and_positions() {
    let df = parse(
        b"FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n  COPY --from=build --chown=65532:65532 /out/app /app\nCMD [\"/app\", \"--port\", \"80\"]\nENV A=1 B=\"two words\"\nENV LEGACY value with spaces\nHEALTHCHECK --interval=5s CMD [\"/app\", \"health\"]\nONBUILD RUN make\n",
    );
    assert!(df.problems.is_empty(), "{:?}", df.problems);
    let from = &df.instructions[0];
    assert_eq!(from.flag("platform"), Some("$BUILDPLATFORM"));
    assert_eq!(values(from), vec!["golang:1.22", "AS", "build"]);
    assert_eq!(
        from.args[2].position,
        Position {
            line: 1,
            column: 47
        }
    );
    let copy = &df.instructions[1];
    assert_eq!(copy.start, Position { line: 2, column: 3 });
    assert_eq!(copy.flag("from"), Some("build"));
    assert_eq!(
        copy.args[0].position,
        Position {
            line: 2,
            column: 41
        }
    );
    let cmd = &df.instructions[2];
    assert!(cmd.json);
    assert_eq!(values(cmd), vec!["/app", "--port", "80"]);
    assert_eq!(cmd.args[1].position.column, 14);
    let env = &df.instructions[3];
    assert_eq!(values(env), vec!["A", "1", "B", "\"two words\""]);
    assert!(!env.legacy_key_value);
    let legacy = &df.instructions[4];
    assert!(legacy.legacy_key_value);
    assert_eq!(values(legacy), vec!["LEGACY", "value with spaces"]);
    let health = &df.instructions[5];
    assert_eq!(values(health), vec!["CMD", "/app", "health"]);
    assert!(health.json);
    let onbuild = &df.instructions[6];
    let child = onbuild.onbuild.as_ref().unwrap();
    assert_eq!(child.keyword, Keyword::Run);
    assert_eq!(child.start, Position { line: 7, column: 9 });
    assert_eq!(values(child), vec!["make"]);
}

#[test]
fn positions_across_continuation_lines() {
    let df = parse(b"COPY a \\\n     b \\\n  c\n");
    let copy = &df.instructions[0];
    let at: Vec<(u32, u32)> = copy
        .args
        .iter()
        .map(|a| (a.position.line, a.position.column))
        .collect();
    assert_eq!(at, vec![(1, 6), (2, 6), (3, 3)]);
}

#[test]
fn malformed_instructions_are_problems_and_the_rest_is_read() {
    let df = parse(b"FROM x\nENV ONLYNAME\nCMD [\"a\", 1]\nLABEL a=b c\nUSER 65532\n");
    let messages: Vec<&str> = df.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].contains("ENV must have two arguments"));
    assert!(messages[1].contains("strings only"));
    assert!(messages[2].contains("can't find ="));
    assert_eq!(df.instructions.len(), 2);
    assert_eq!(df.instructions[1].keyword, Keyword::User);
    assert!(parse(b"").has_errors());
    assert!(parse(b"# only a comment\n").has_errors());
}

#[test]
fn an_escaped_escape_at_the_end_is_not_a_continuation() {
    let df = parse(b"RUN echo a\\\\\nRUN echo b\n");
    assert_eq!(df.instructions.len(), 2);
    assert_eq!(values(&df.instructions[0]), vec!["echo a\\\\"]);
}

#[test]
fn bom_crlf_and_invalid_utf8() {
    let df = parse(b"\xef\xbb\xbfFROM x\r\nRUN a \\\r\n b\r\nUSER \xff\r\n");
    assert_eq!(df.instructions.len(), 3);
    assert_eq!(values(&df.instructions[1]), vec!["a  b"]);
    assert_eq!(values(&df.instructions[2]), vec!["\u{fffd}"]);
}

proptest::proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn never_panics_on_dockerfile_like_text(text in "([A-Z]{2,6}( |\\t)(--[a-z]+=[a-z\"']*)? ?[ -~]{0,20}(<<-?[A-Z'\"]{1,4})?( \\\\)?\\n){0,12}") {
        let _ = parse(text.as_bytes());
    }
}
