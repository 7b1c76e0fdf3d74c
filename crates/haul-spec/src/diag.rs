//! Diagnostics: every problem a spec has, each with its `file:line:col`,
//! the span underlined, and a did-you-mean when one is close.

use std::fmt;
use std::ops::Range;

/// One problem in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong.
    pub message: String,
    /// Where, as a byte range of the spec text (`None`: the whole file).
    pub span: Option<Range<usize>>,
    /// A hint: a did-you-mean, or how to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(message: impl Into<String>, span: Option<Range<usize>>) -> Self {
        Self {
            message: message.into(),
            span,
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found in one spec file, renderable with the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    file: String,
    source: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(file: &str, source: &str, items: Vec<Diagnostic>) -> Self {
        let mut items = items;
        items.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
        Self {
            file: file.to_owned(),
            source: source.to_owned(),
            items,
        }
    }

    /// The problems, in the order they appear in the file.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// The spec's file name as given.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.source, offset)
    }

    /// `file:line:col` of a problem.
    pub fn location(&self, d: &Diagnostic) -> String {
        match &d.span {
            Some(span) => {
                let (line, col) = self.line_col(span.start);
                format!("{}:{line}:{col}", self.file)
            }
            None => self.file.clone(),
        }
    }

    /// Renders every problem: a one-line `error: file:line:col: message`
    /// heading, the source with the span underlined, and the help.
    pub fn render(&self) -> String {
        use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
        let renderer = Renderer::plain();
        let mut out = String::new();
        for d in &self.items {
            let title = format!("{}: {}", self.location(d), d.message);
            let title = Level::ERROR.primary_title(title);
            let group = match &d.span {
                Some(span) => {
                    let end = span.end.max(span.start + 1).min(self.source.len());
                    let start = span.start.min(end);
                    title.element(
                        Snippet::source(self.source.as_str())
                            .path(self.file.as_str())
                            .annotation(AnnotationKind::Primary.span(start..end)),
                    )
                }
                None => Group::with_title(title),
            };
            let mut report = vec![group];
            if let Some(help) = &d.help {
                report.push(Group::with_title(
                    Level::HELP.secondary_title(help.as_str()),
                ));
            }
            out.push_str(&renderer.render(&report));
            out.push_str("\n\n");
        }
        out.push_str(&format!(
            "{}: {} error{} found\n",
            self.file,
            self.items.len(),
            if self.items.len() == 1 { "" } else { "s" }
        ));
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// The candidate closest to `word`, if close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(&word.to_ascii_lowercase(), &c.to_ascii_lowercase());
        let limit = (c.len().max(word.len()) / 3).max(1);
        let close = d <= limit || c.contains(word) && word.len() >= 3;
        if close && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance counting a swap of two neighbours as one edit (`nmae` → `name`).
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_key() {
        assert_eq!(
            did_you_mean("paginatr", ["path", "paginator", "params"]),
            Some("paginator")
        );
        assert_eq!(did_you_mean("zzz", ["path", "paginator"]), None);
    }

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
