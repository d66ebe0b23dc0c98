//! Package relationship fields (`Depends`, `Pre-Depends`, `Provides`, `Conflicts`, `Breaks`):
//! comma-separated groups of `|`-separated alternatives, each a name with an optional architecture
//! qualifier and version constraint. Build-dependency restrictions (`[arch]`, `<profile>`) are read and
//! ignored: binary package indexes do not use them.

use crate::version::{Relation, Version};
use crate::{Error, Result};

/// One alternative: `name[:arch] [(op version)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    /// `any`, `native` or an architecture, when qualified.
    pub arch: Option<String>,
    pub constraint: Option<(Relation, Version)>,
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch {
            write!(f, ":{arch}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({} {v})", op.as_str())?;
        }
        Ok(())
    }
}

/// A group of alternatives, any one of which satisfies it.
pub type Alternatives = Vec<Dependency>;

/// Parses a relationship field's value. `what` names the package and field in errors.
pub fn parse_relations(value: &str, what: &str) -> Result<Vec<Alternatives>> {
    let mut groups = Vec::new();
    for group in value.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        let mut alternatives = Vec::new();
        for alternative in group.split('|') {
            alternatives.push(parse_one(alternative, what)?);
        }
        groups.push(alternatives);
    }
    Ok(groups)
}

fn parse_one(text: &str, what: &str) -> Result<Dependency> {
    let bad = |why: &str| Error::Parse(format!("{what}: {:?}: {why}", text.trim()));
    let mut rest = text.trim();
    // Drop build-profile and architecture restrictions: everything from the first '[' or '<'
    // outside the parentheses of a version constraint.
    let mut depth = 0i32;
    let cut = rest.char_indices().find(|(_, c)| {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        depth == 0 && matches!(c, '[' | '<')
    });
    if let Some((at, opener)) = cut {
        let closer = if opener == '[' { ']' } else { '>' };
        if !rest[at..].contains(closer) {
            return Err(bad("an unclosed restriction"));
        }
        rest = rest[..at].trim_end();
    }
    let (name_part, constraint) = match rest.find('(') {
        Some(open) => {
            let close = rest.rfind(')').ok_or_else(|| bad("a '(' without ')'"))?;
            if close < open {
                return Err(bad("a ')' before the '('"));
            }
            let inner = rest[open + 1..close].trim();
            let op_len = inner
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .unwrap_or(inner.len());
            let op = Relation::parse(&inner[..op_len])
                .ok_or_else(|| bad("an unknown version operator"))?;
            let version =
                Version::parse(inner[op_len..].trim()).map_err(|e| bad(&e.to_string()))?;
            (rest[..open].trim(), Some((op, version)))
        }
        None => (rest, None),
    };
    let (name, arch) = match name_part.split_once(':') {
        Some((n, a)) => (n, Some(a.to_string())),
        None => (name_part, None),
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
    {
        return Err(bad("not a valid package name"));
    }
    Ok(Dependency {
        name: name.to_string(),
        arch,
        constraint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_alternatives_and_constraints() {
        let r = parse_relations(
            "libc6 (>= 2.34), media-types | mime-support,\n python3:any (<< 3.12~) , foo [amd64] <!nocheck>",
            "t",
        )
        .unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0][0].name, "libc6");
        assert_eq!(
            r[0][0].constraint.as_ref().unwrap().0,
            Relation::GreaterEqual
        );
        assert_eq!(r[1].len(), 2);
        assert_eq!(r[2][0].arch.as_deref(), Some("any"));
        assert_eq!(r[2][0].to_string(), "python3:any (<< 3.12~)");
        assert_eq!(r[3][0].name, "foo");
    }

    #[test]
    fn rejects_bad_relations() {
        for bad in ["Foo", "a (>= )", "a (~ 1)", "a (>= 1", "a [amd64"] {
            assert!(parse_relations(bad, "t").is_err(), "{bad}");
        }
    }
}
