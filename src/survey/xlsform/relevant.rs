//! XLSForm `relevant` expressions, the subset Chorus skip logic can say: comparisons
//! `${q} = 'x'` and `selected(${q}, 'x')`, joined by `or` and `and` (with parentheses), read into
//! `all` or `any` of conditions "question q has one of these options". Written back by [`write`].

use crate::survey::Join;

/// Skip logic as read from a sheet, in ids: how conditions join, and each (question, options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Relevant {
    pub join: Join,
    pub conditions: Vec<(String, Vec<String>)>,
}

const WHY: &str = "only `${q} = 'x'`, `selected(${q}, 'x')`, and `and`/`or` of those are supported";
/// Parentheses deeper than this are refused (no real form needs them; a fuzzer's input would recurse).
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    /// (question, option): one comparison.
    Is(String, String),
}

#[derive(Debug)]
enum Expr {
    Is(String, String),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Read an expression into Chorus skip logic, or say why it cannot be.
pub(super) fn parse(expr: &str) -> Result<Relevant, String> {
    let tokens = tokenize(expr)?;
    let mut at = 0;
    let tree = or_expr(&tokens, &mut at, 0)?;
    if at != tokens.len() {
        return Err(format!("unexpected text after the condition ({WHY})"));
    }
    normalise(tree)
}

fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut rest = expr.trim();
    while !rest.is_empty() {
        let (token, tail) = if let Some(t) = rest.strip_prefix('(') {
            (Token::Open, t)
        } else if let Some(t) = rest.strip_prefix(')') {
            (Token::Close, t)
        } else if let Some(t) = word(rest, "and") {
            (Token::And, t)
        } else if let Some(t) = word(rest, "or") {
            (Token::Or, t)
        } else if let Some(t) = rest.strip_prefix("selected") {
            let t = t.trim_start().strip_prefix('(').ok_or(WHY)?;
            let (q, t) = reference(t)?;
            let t = t.trim_start().strip_prefix(',').ok_or(WHY)?;
            let (o, t) = quoted(t)?;
            let t = t.trim_start().strip_prefix(')').ok_or(WHY)?;
            (Token::Is(q, o), t)
        } else if rest.starts_with("${") {
            let (q, t) = reference(rest)?;
            let t = t.trim_start();
            let Some(t) = t.strip_prefix('=') else {
                return Err(format!("only `=` compares a question with an option ({WHY})"));
            };
            let (o, t) = quoted(t)?;
            (Token::Is(q, o), t)
        } else {
            let shown: String = rest.chars().take(20).collect();
            return Err(format!("`{shown}` is not understood ({WHY})"));
        };
        out.push(token);
        rest = tail.trim_start();
    }
    Ok(out)
}

/// `and`/`or` as a word (not the start of `order`).
fn word<'a>(s: &'a str, w: &str) -> Option<&'a str> {
    let t = s.strip_prefix(w)?;
    (t.is_empty() || t.starts_with(|c: char| c.is_whitespace() || c == '(')).then_some(t)
}

/// `${name}` → (name, rest).
fn reference(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start().strip_prefix("${").ok_or(WHY)?;
    let end = s.find('}').ok_or(WHY)?;
    let name = s[..end].trim();
    if name.is_empty() {
        return Err(WHY.to_owned());
    }
    Ok((name.to_owned(), &s[end + 1..]))
}

/// `'x'` or `"x"` → (x, rest).
fn quoted(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start();
    let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or(WHY)?;
    let s = &s[1..];
    let end = s.find(quote).ok_or(WHY)?;
    Ok((s[..end].trim().to_owned(), &s[end + 1..]))
}

fn or_expr(t: &[Token], at: &mut usize, depth: usize) -> Result<Expr, String> {
    let mut items = vec![and_expr(t, at, depth)?];
    while t.get(*at) == Some(&Token::Or) {
        *at += 1;
        items.push(and_expr(t, at, depth)?);
    }
    Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
}

fn and_expr(t: &[Token], at: &mut usize, depth: usize) -> Result<Expr, String> {
    let mut items = vec![primary(t, at, depth)?];
    while t.get(*at) == Some(&Token::And) {
        *at += 1;
        items.push(primary(t, at, depth)?);
    }
    Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
}

fn primary(t: &[Token], at: &mut usize, depth: usize) -> Result<Expr, String> {
    match t.get(*at) {
        Some(Token::Is(q, o)) => {
            *at += 1;
            Ok(Expr::Is(q.clone(), o.clone()))
        }
        Some(Token::Open) if depth < MAX_DEPTH => {
            *at += 1;
            let e = or_expr(t, at, depth + 1)?;
            if t.get(*at) != Some(&Token::Close) {
                return Err(format!("a parenthesis is not closed ({WHY})"));
            }
            *at += 1;
            Ok(e)
        }
        Some(Token::Open) => Err(format!("parentheses nested more than {MAX_DEPTH} deep")),
        _ => Err(format!("a condition is missing ({WHY})")),
    }
}

/// One condition: a comparison, or an `or` of comparisons on one question.
fn condition(e: &Expr) -> Option<(String, Vec<String>)> {
    match e {
        Expr::Is(q, o) => Some((q.clone(), vec![o.clone()])),
        Expr::Or(items) => {
            let mut out: Option<(String, Vec<String>)> = None;
            for item in items {
                let (q, os) = condition(item)?;
                match &mut out {
                    Some((oq, oos)) if *oq == q => oos.extend(os),
                    Some(_) => return None,
                    None => out = Some((q, os)),
                }
            }
            out
        }
        Expr::And(_) => None,
    }
}

/// Chorus says `all` of conditions or `any` of conditions, one level: an `or` of `and`s has no
/// such shape and is refused.
fn normalise(e: Expr) -> Result<Relevant, String> {
    if let Some(c) = condition(&e) {
        return Ok(Relevant { join: Join::All, conditions: vec![c] });
    }
    let nested = "an `or` of `and`s (or an `and` inside an `or`) is not supported: Chorus shows a question when all of its conditions hold, or when any does, one level";
    match e {
        Expr::And(items) => {
            let conditions = items.iter().map(condition).collect::<Option<Vec<_>>>().ok_or(nested)?;
            Ok(Relevant { join: Join::All, conditions })
        }
        Expr::Or(items) => {
            let mut conditions: Vec<(String, Vec<String>)> = Vec::new();
            for item in &items {
                let (q, os) = condition(item).ok_or(nested)?;
                match conditions.iter_mut().find(|(cq, _)| *cq == q) {
                    Some((_, cos)) => cos.extend(os),
                    None => conditions.push((q, os)),
                }
            }
            Ok(Relevant { join: Join::Any, conditions })
        }
        Expr::Is(..) => unreachable!("a comparison is a condition"),
    }
}

/// The XLSForm expression of Chorus skip logic, read back by [`parse`] to the same conditions.
pub(super) fn write(r: &Relevant) -> String {
    let one = |(q, os): &(String, Vec<String>), grouped: bool| {
        let parts: Vec<String> = os.iter().map(|o| format!("selected(${{{q}}}, '{o}')")).collect();
        if grouped && parts.len() > 1 { format!("({})", parts.join(" or ")) } else { parts.join(" or ") }
    };
    match r.join {
        Join::All => r.conditions.iter().map(|c| one(c, r.conditions.len() > 1)).collect::<Vec<_>>().join(" and "),
        Join::Any => r.conditions.iter().map(|c| one(c, false)).collect::<Vec<_>>().join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(q: &str, os: &[&str]) -> (String, Vec<String>) {
        (q.to_owned(), os.iter().map(|o| (*o).to_owned()).collect())
    }

    #[test]
    fn the_supported_forms() {
        let one = |q, os| Relevant { join: Join::All, conditions: vec![c(q, os)] };
        assert_eq!(parse("${a} = 'x'").unwrap(), one("a", &["x"]));
        assert_eq!(parse("selected(${a}, 'x') or selected(${a}, \"y\")").unwrap(), one("a", &["x", "y"]));
        assert_eq!(parse("(${a}='x')").unwrap(), one("a", &["x"]));
        assert_eq!(
            parse("${a} = 'x' and selected(${b}, 'y')").unwrap(),
            Relevant { join: Join::All, conditions: vec![c("a", &["x"]), c("b", &["y"])] }
        );
        assert_eq!(
            parse("(selected(${a}, 'x') or selected(${a}, 'z')) and ${b} = 'y'").unwrap(),
            Relevant { join: Join::All, conditions: vec![c("a", &["x", "z"]), c("b", &["y"])] }
        );
        assert_eq!(
            parse("${a} = 'x' or ${b} = 'y' or ${a} = 'z'").unwrap(),
            Relevant { join: Join::Any, conditions: vec![c("a", &["x", "z"]), c("b", &["y"])] }
        );
    }

    #[test]
    fn what_is_refused_says_why() {
        assert!(parse("${a} = 'x' and ${b} = 'y' or ${c} = 'z'").unwrap_err().contains("an `or` of `and`s"));
        assert!(parse("${a} > 3").unwrap_err().contains("only `=`"));
        assert!(parse("${a} != 'x'").unwrap_err().contains("only `=`"));
        assert!(parse("not(selected(${a}, 'x'))").unwrap_err().contains("not understood"));
        assert!(parse("(${a} = 'x'").unwrap_err().contains("not closed"));
        assert!(parse("${a} = 'x' and").unwrap_err().contains("missing"));
        assert!(parse("${a} = 'x' ${b} = 'y'").unwrap_err().contains("unexpected"));
        assert!(parse(&format!("{}${{a}} = 'x'{}", "(".repeat(50), ")".repeat(50))).unwrap_err().contains("nested"));
        assert!(parse("").is_err());
    }

    #[test]
    fn what_is_written_reads_back() {
        for r in [
            Relevant { join: Join::All, conditions: vec![c("a", &["x", "y"])] },
            Relevant { join: Join::All, conditions: vec![c("a", &["x", "y"]), c("b", &["z"])] },
            Relevant { join: Join::Any, conditions: vec![c("a", &["x", "y"]), c("b", &["z"])] },
            Relevant { join: Join::All, conditions: vec![c("a", &["x"]), c("a", &["y"])] },
        ] {
            assert_eq!(parse(&write(&r)).unwrap(), r, "{}", write(&r));
        }
    }
}
