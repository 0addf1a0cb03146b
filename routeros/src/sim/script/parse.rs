//! RouterOS script text to lines of words. A line is a command: `/ip hotspot user add name=x`,
//! `:local n 5`, `:if (...) do={...}`. Words are bare (`add`, `1h`, `!disabled`), quoted strings
//! with `$var`/`$(expr)`/`$[cmd]` inside, `$var`, `[command]`, `(expression)`, `{block}`, and
//! `key=value` / `key~value` / `key!=value` arguments.

/// A command line: its words.
pub(crate) type Line = Vec<Word>;

/// One word of a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Word {
    Bare(String),
    Str(Vec<Part>),
    Var(String),
    Sub(Vec<Line>),
    Group(Box<Expr>),
    Block(Vec<Line>),
    Arg {
        key: String,
        op: ArgOp,
        value: Box<Word>,
    },
}

/// How an argument relates its key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgOp {
    /// `key=value`.
    Eq,
    /// `key!=value` (in `find`).
    Ne,
    /// `key~regex` (in `find`).
    Match,
}

/// A piece of a quoted string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text(String),
    Var(String),
    Sub(Vec<Line>),
    Group(Box<Expr>),
}

/// An expression inside `( )`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Atom(Word),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

/// Binary operators, loosest first: `||`, `&&`, comparisons and `~`, `.`, `+ -`, `* /`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Match,
    Concat,
    Add,
    Sub,
    Mul,
    Div,
}

/// Why a script does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error (line {line}, column {column}): {message}")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
}

/// Scripts longer than this are refused (a router's script source is bounded too).
const MAX_SOURCE: usize = 256 * 1024;
/// Nesting deeper than this is refused.
const MAX_DEPTH: usize = 64;

/// Parses a whole script.
pub(crate) fn parse(source: &str) -> Result<Vec<Line>, ParseError> {
    let mut parser = Parser {
        chars: source.chars().collect(),
        pos: 0,
        depth: 0,
    };
    if source.len() > MAX_SOURCE {
        return Err(parser.error("script too long"));
    }
    parser.lines(None)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || ";[]{}()\"$".contains(c)
}

fn is_key(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn error(&self, message: &str) -> ParseError {
        let before = &self.chars[..self.pos.min(self.chars.len())];
        let line = before.iter().filter(|c| **c == '\n').count() + 1;
        let column = before.iter().rev().take_while(|c| **c != '\n').count() + 1;
        ParseError {
            message: message.to_owned(),
            line,
            column,
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deep"));
        }
        Ok(())
    }

    /// Spaces, tabs and `\` line continuations (not newlines).
    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t') => self.pos += 1,
                Some('\\') if matches!(self.peek_at(1), Some('\n' | '\r')) => {
                    self.pos += 1;
                    while matches!(self.peek(), Some('\n' | '\r')) {
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    /// Lines until `close` (consumed) or the end of the text.
    fn lines(&mut self, close: Option<char>) -> Result<Vec<Line>, ParseError> {
        self.enter()?;
        let mut lines = Vec::new();
        let mut line = Vec::new();
        loop {
            self.skip_blanks();
            match self.peek() {
                None if close.is_some() => return Err(self.error("missing closing bracket")),
                None => break,
                Some(c) if Some(c) == close => {
                    self.pos += 1;
                    break;
                }
                Some('\n' | '\r' | ';') => {
                    self.pos += 1;
                    if !line.is_empty() {
                        lines.push(std::mem::take(&mut line));
                    }
                }
                Some('#') if line.is_empty() => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                Some(']' | '}' | ')') => return Err(self.error("unexpected closing bracket")),
                Some(_) => line.push(self.word()?),
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        self.depth -= 1;
        Ok(lines)
    }

    fn word(&mut self) -> Result<Word, ParseError> {
        match self.peek() {
            Some('"') => Ok(Word::Str(self.string()?)),
            Some('$') => self.dollar(),
            Some('[') => {
                self.pos += 1;
                Ok(Word::Sub(self.lines(Some(']'))?))
            }
            Some('(') => {
                self.pos += 1;
                let expr = self.expression(')')?;
                Ok(Word::Group(Box::new(expr)))
            }
            Some('{') => {
                self.pos += 1;
                Ok(Word::Block(self.lines(Some('}'))?))
            }
            _ => self.bare_or_argument(),
        }
    }

    /// `$name`, `$"name"`, `$(expr)` or `$[cmd]` outside a string.
    fn dollar(&mut self) -> Result<Word, ParseError> {
        self.pos += 1;
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                Ok(Word::Group(Box::new(self.expression(')')?)))
            }
            Some('[') => {
                self.pos += 1;
                Ok(Word::Sub(self.lines(Some(']'))?))
            }
            Some('"') => {
                let parts = self.string()?;
                let name = parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => Ok(t.as_str()),
                        _ => Err(self.error("a variable name cannot hold variables")),
                    })
                    .collect::<Result<String, _>>()?;
                Ok(Word::Var(name))
            }
            _ => {
                let name = self.var_name();
                if name.is_empty() {
                    return Err(self.error("`$` without a variable name"));
                }
                Ok(Word::Var(name))
            }
        }
    }

    fn var_name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_var_char) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn bare_or_argument(&mut self) -> Result<Word, ParseError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let not_equal = c == '!' && self.peek_at(1) == Some('=') && self.pos > start;
            if is_delimiter(c) || c == '=' || c == '~' || not_equal {
                break;
            }
            self.pos += 1;
        }
        let key: String = self.chars[start..self.pos].iter().collect();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), _) => Some((ArgOp::Eq, 1)),
            (Some('~'), _) => Some((ArgOp::Match, 1)),
            (Some('!'), Some('=')) => Some((ArgOp::Ne, 2)),
            _ => None,
        };
        if let Some((op, len)) = op
            && is_key(&key)
        {
            self.pos += len;
            let value = self.value()?;
            return Ok(Word::Arg {
                key,
                op,
                value: Box::new(value),
            });
        }
        while self.peek().is_some_and(|c| !is_delimiter(c)) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("unexpected character"));
        }
        Ok(Word::Bare(self.chars[start..self.pos].iter().collect()))
    }

    /// The value after `key=`: any word, or a bare run (which may hold `=` and `~`).
    fn value(&mut self) -> Result<Word, ParseError> {
        match self.peek() {
            None => Ok(Word::Bare(String::new())),
            Some(c) if c.is_whitespace() || ";])}".contains(c) => Ok(Word::Bare(String::new())),
            Some('"' | '$' | '[' | '(' | '{') => self.word(),
            Some(_) => {
                let start = self.pos;
                while self.peek().is_some_and(|c| !is_delimiter(c)) {
                    self.pos += 1;
                }
                Ok(Word::Bare(self.chars[start..self.pos].iter().collect()))
            }
        }
    }

    /// A quoted string; the opening quote is next.
    fn string(&mut self) -> Result<Vec<Part>, ParseError> {
        self.pos += 1;
        let mut parts = Vec::new();
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += 1;
            match c {
                '"' => break,
                '\\' => {
                    let Some(next) = self.peek() else {
                        return Err(self.error("unterminated string"));
                    };
                    self.pos += 1;
                    match next {
                        'n' => text.push('\n'),
                        'r' => text.push('\r'),
                        't' => text.push('\t'),
                        '_' => text.push(' '),
                        '\n' | '\r' => {
                            while matches!(self.peek(), Some('\n' | '\r' | ' ' | '\t')) {
                                self.pos += 1;
                            }
                        }
                        other => text.push(other),
                    }
                }
                '$' => {
                    let part = match self.peek() {
                        Some('(') => {
                            self.pos += 1;
                            Part::Group(Box::new(self.expression(')')?))
                        }
                        Some('[') => {
                            self.pos += 1;
                            Part::Sub(self.lines(Some(']'))?)
                        }
                        Some(c) if is_var_char(c) => Part::Var(self.var_name()),
                        _ => {
                            text.push('$');
                            continue;
                        }
                    };
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(part);
                }
                other => text.push(other),
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(parts)
    }

    /// An expression up to `close` (consumed).
    fn expression(&mut self, close: char) -> Result<Expr, ParseError> {
        self.enter()?;
        let expr = self.binary(0)?;
        self.skip_space();
        if self.peek() != Some(close) {
            return Err(self.error("expected the end of the expression"));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(expr)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        if self.peek() == Some('\\') && matches!(self.peek_at(1), Some('\n' | '\r')) {
            self.pos += 1;
            self.skip_space();
        }
    }

    /// The operator at the cursor of precedence `level`, and its length.
    fn operator(&self, level: u8) -> Option<(BinOp, usize)> {
        let (a, b) = (self.peek()?, self.peek_at(1));
        let word = |w: &str| {
            let end = self.pos + w.len();
            self.chars
                .get(self.pos..end)
                .is_some_and(|s| s.iter().copied().eq(w.chars()))
                && self
                    .chars
                    .get(end)
                    .is_none_or(|c| !c.is_ascii_alphanumeric())
        };
        match level {
            0 if a == '|' && b == Some('|') => Some((BinOp::Or, 2)),
            0 if word("or") => Some((BinOp::Or, 2)),
            1 if a == '&' && b == Some('&') => Some((BinOp::And, 2)),
            1 if word("and") => Some((BinOp::And, 3)),
            2 => match (a, b) {
                ('!', Some('=')) => Some((BinOp::Ne, 2)),
                ('<', Some('=')) => Some((BinOp::Le, 2)),
                ('>', Some('=')) => Some((BinOp::Ge, 2)),
                ('=', _) => Some((BinOp::Eq, 1)),
                ('<', _) => Some((BinOp::Lt, 1)),
                ('>', _) => Some((BinOp::Gt, 1)),
                ('~', _) => Some((BinOp::Match, 1)),
                _ => None,
            },
            3 if a == '.' => Some((BinOp::Concat, 1)),
            4 if a == '+' => Some((BinOp::Add, 1)),
            4 if a == '-' => Some((BinOp::Sub, 1)),
            5 if a == '*' => Some((BinOp::Mul, 1)),
            5 if a == '/' => Some((BinOp::Div, 1)),
            _ => None,
        }
    }

    fn binary(&mut self, level: u8) -> Result<Expr, ParseError> {
        if level > 5 {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        loop {
            self.skip_space();
            let Some((op, len)) = self.operator(level) else {
                return Ok(left);
            };
            self.pos += len;
            let right = self.binary(level + 1)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.skip_space();
        match self.peek() {
            Some('!') => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some('-') => {
                self.pos += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some('"' | '$' | '[' | '(') => Ok(Expr::Atom(self.word()?)),
            Some(c) if c.is_ascii_alphanumeric() || c == '*' => {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    let dotted = c == '.' && self.peek_at(1).is_some_and(|n| n.is_ascii_digit());
                    if c.is_ascii_alphanumeric() || c == ':' || c == '_' || c == '*' || dotted {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                Ok(Expr::Atom(Word::Bare(
                    self.chars[start..self.pos].iter().collect(),
                )))
            }
            _ => Err(self.error("expected a value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bare(s: &str) -> Word {
        Word::Bare(s.to_owned())
    }

    #[test]
    fn reads_commands_arguments_and_blocks() {
        let lines = parse(
            "/ip hotspot user add name=alice comment=\"sitebox $n\" mac-address=AA:BB:CC:00:00:01\n\
             :foreach i in=[find comment~\"^sitebox\"] do={ remove $i }; # done\n",
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0][..4],
            [bare("/ip"), bare("hotspot"), bare("user"), bare("add")]
        );
        assert_eq!(
            lines[0][5],
            Word::Arg {
                key: "comment".into(),
                op: ArgOp::Eq,
                value: Box::new(Word::Str(vec![
                    Part::Text("sitebox ".into()),
                    Part::Var("n".into())
                ])),
            }
        );
        assert_eq!(
            lines[0][6],
            Word::Arg {
                key: "mac-address".into(),
                op: ArgOp::Eq,
                value: Box::new(bare("AA:BB:CC:00:00:01")),
            }
        );
        let Word::Arg { value, .. } = &lines[1][2] else {
            panic!("{:?}", lines[1]);
        };
        let Word::Sub(find) = &**value else {
            panic!("{value:?}");
        };
        assert!(matches!(
            &find[0][1],
            Word::Arg {
                op: ArgOp::Match,
                ..
            }
        ));
    }

    #[test]
    fn reads_expressions_with_precedence() {
        let lines = parse(":if ($a + 2 * 3 = 8 && !$b) do={}").unwrap();
        let Word::Group(expr) = &lines[0][1] else {
            panic!("{lines:?}");
        };
        let Expr::Bin(BinOp::And, left, right) = &**expr else {
            panic!("{expr:?}");
        };
        assert!(matches!(&**left, Expr::Bin(BinOp::Eq, ..)));
        assert!(matches!(&**right, Expr::Not(_)));
        let lines = parse(":local t (10.0.0.1 . \"x\")").unwrap();
        let Word::Group(expr) = &lines[0][2] else {
            panic!("{lines:?}");
        };
        assert_eq!(
            **expr,
            Expr::Bin(
                BinOp::Concat,
                Box::new(Expr::Atom(bare("10.0.0.1"))),
                Box::new(Expr::Atom(Word::Str(vec![Part::Text("x".into())])))
            )
        );
    }

    #[test]
    fn refuses_broken_scripts_with_a_place() {
        let error = parse("/ip hotspot user {\n add name=x\n").unwrap_err();
        assert_eq!(error.message, "missing closing bracket");
        assert!(parse(":put \"open").is_err());
        assert!(parse(":if ($a = ) do={}").is_err());
        assert!(parse("]").is_err());
        assert!(parse(&"[".repeat(200)).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "[ -~\\n]{0,200}") {
            let _ = parse(&text);
        }
    }
}
