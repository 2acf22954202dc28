//! The wildcards of the policy language: `*` matches any run of characters (none included),
//! `?` exactly one. Used for actions (compared in lower case), resources and `StringLike`.

/// A wildcard pattern, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    wild: bool,
    /// Holds policy variables (`${aws:username}`), filled in per request before matching.
    variables: bool,
}

impl Pattern {
    pub fn new(text: &str) -> Pattern {
        Pattern {
            text: text.to_string(),
            wild: text.contains(['*', '?']),
            variables: false,
        }
    }

    /// A pattern whose `${…}` are policy variables (documents of version 2012-10-17).
    pub fn with_variables(text: &str) -> Pattern {
        Pattern {
            variables: text.contains("${"),
            ..Pattern::new(text)
        }
    }

    pub fn has_variables(&self) -> bool {
        self.variables
    }

    /// The keys of the policy variables in the pattern, in lower case (`${*}`, `${?}` and
    /// `${$}` are escapes, not keys).
    pub fn variable_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut rest = self.text.as_str();
        while let Some(start) = rest.find("${") {
            let Some(after) = rest.get(start.saturating_add(2)..) else {
                break;
            };
            let Some(end) = after.find('}') else {
                break;
            };
            let key = after.get(..end).unwrap_or("").trim();
            if !matches!(key, "*" | "?" | "$") {
                keys.push(key.to_ascii_lowercase());
            }
            rest = after.get(end.saturating_add(1)..).unwrap_or("");
        }
        keys
    }

    /// The pattern with its variables replaced by `value(key)` (`${*}`, `${?}`, `${$}` by the
    /// character); `None` when a variable has no value, so that nothing matches.
    pub fn filled(&self, value: impl Fn(&str) -> Option<String>) -> Option<Pattern> {
        let mut out = String::with_capacity(self.text.len());
        let mut rest = self.text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(rest.get(..start)?);
            let after = rest.get(start.saturating_add(2)..)?;
            let end = after.find('}')?;
            let key = after.get(..end)?.trim();
            match key {
                "*" | "?" | "$" => out.push_str(key),
                _ => out.push_str(&value(&key.to_ascii_lowercase())?),
            }
            rest = after.get(end.saturating_add(1)..)?;
        }
        out.push_str(rest);
        Some(Pattern::new(&out))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has wildcards.
    pub fn is_wild(&self) -> bool {
        self.wild
    }

    pub fn matches(&self, value: &str) -> bool {
        if !self.wild {
            return self.text == value;
        }
        glob(self.text.as_bytes(), value.as_bytes())
    }
}

/// Whether `value` matches `pattern` (`*` any run, `?` one character). Iterative with one
/// backtrack point, never recursive whatever the input; ASCII is matched as bytes without
/// allocating.
pub fn glob(pattern: &[u8], value: &[u8]) -> bool {
    if pattern.is_ascii() && value.is_ascii() {
        return glob_slice(pattern, value, b'*', b'?');
    }
    let (Ok(p), Ok(v)) = (std::str::from_utf8(pattern), std::str::from_utf8(value)) else {
        return false;
    };
    let p: Vec<char> = p.chars().collect();
    let v: Vec<char> = v.chars().collect();
    glob_slice(&p, &v, '*', '?')
}

fn glob_slice<T: PartialEq + Copy>(p: &[T], v: &[T], any: T, one: T) -> bool {
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some(c) if *c == any => {
                star = Some((pi, vi));
                pi = pi.saturating_add(1);
            }
            Some(c) if *c == one || Some(c) == v.get(vi) => {
                pi = pi.saturating_add(1);
                vi = vi.saturating_add(1);
            }
            _ => match star {
                Some((sp, sv)) => {
                    let next = sv.saturating_add(1);
                    star = Some((sp, next));
                    pi = sp.saturating_add(1);
                    vi = next;
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == any))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wildcards() {
        assert!(glob(b"*", b""));
        assert!(glob(b"a*", b"abc"));
        assert!(glob(b"a*c", b"abbbc"));
        assert!(!glob(b"a*c", b"abbb"));
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"ac"));
        assert!(glob(b"bucket/*", b"bucket/a/b"));
        assert!(!glob(b"bucket/*", b"bucket2/a"));
        assert!(glob(b"*/x/*", b"a/x/b"));
        assert!(glob("é?".as_bytes(), "éà".as_bytes()));
        assert!(!Pattern::new("abc").matches("abcd"));
        assert!(Pattern::new("abc").matches("abc"));
    }

    #[test]
    fn variables() {
        let p = Pattern::with_variables("b/home/${aws:username}/*");
        assert!(p.has_variables());
        assert_eq!(p.variable_keys(), ["aws:username"]);
        let filled = p
            .filled(|k| (k == "aws:username").then(|| "alice".to_string()))
            .unwrap();
        assert!(filled.matches("b/home/alice/doc"));
        assert!(!filled.matches("b/home/bob/doc"));
        assert!(p.filled(|_| None).is_none());
        let escaped = Pattern::with_variables("b/${$}x");
        assert!(escaped.variable_keys().is_empty());
        assert!(escaped.filled(|_| None).unwrap().matches("b/$x"));
        assert!(!Pattern::new("b/${aws:username}").has_variables());
    }

    /// A plain reference: regex-free recursive matcher over chars.
    fn reference(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| reference(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && reference(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && reference(rest, &v[1..]),
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference(p in "[ab*?]{0,8}", v in "[ab]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let vc: Vec<char> = v.chars().collect();
            prop_assert_eq!(glob(p.as_bytes(), v.as_bytes()), reference(&pc, &vc));
        }

        #[test]
        fn a_literal_matches_itself(v in "[a-z/]{0,20}") {
            prop_assert!(Pattern::new(&v).matches(&v));
            let prefix = Pattern::new(&(v.clone() + "*"));
            prop_assert!(prefix.matches(&(v.clone() + "tail")));
        }
    }
}
