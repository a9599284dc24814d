//! Line starts of a text, to turn byte offsets into 1-based lines and columns: one index for the
//! readers that report positions (the XML reader, schematron trees, METADATA.XML, SVS files,
//! MIME messages, suite files).
//!
//! Built in one pass; each lookup is a binary search, so positions may be asked in any order.

/// The byte offsets at which the lines of a text start (the first is 0).
#[derive(Debug, Clone)]
pub struct Lines(Vec<usize>);

impl Lines {
    pub fn new(text: &[u8]) -> Lines {
        let mut starts = vec![0];
        // Every document is indexed before it is parsed: memchr finds newlines a word at a time.
        starts.extend(memchr::memchr_iter(b'\n', text).map(|i| i + 1));
        Lines(starts)
    }

    /// The 0-based index of the line holding `offset`.
    fn index(&self, offset: usize) -> usize {
        self.0.partition_point(|&s| s <= offset) - 1
    }

    /// 1-based line of a byte offset (past the end: the last line).
    pub fn line(&self, offset: usize) -> u32 {
        u32::try_from(self.index(offset) + 1).unwrap_or(u32::MAX)
    }

    /// 1-based line and column (in characters) of a byte offset of `text`, the text this index
    /// was built from; an offset past the end is the end.
    pub fn line_col(&self, text: &[u8], offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let i = self.index(offset);
        let col = text[self.0[i]..offset]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count();
        (
            u32::try_from(i + 1).unwrap_or(u32::MAX),
            u32::try_from(col + 1).unwrap_or(u32::MAX),
        )
    }
}

/// Positions asked in document order (a parser's errors, a walk of the tree): each answer
/// resumes the column count from the previous one on the same line, so a long line is not
/// counted again for every position on it.
pub struct Cursor<'a> {
    text: &'a [u8],
    lines: Lines,
    /// Last answer: (offset, line index, column).
    last: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a [u8]) -> Cursor<'a> {
        Cursor {
            text,
            lines: Lines::new(text),
            last: std::cell::Cell::new((0, 0, 0)),
        }
    }

    /// 1-based line and column (in characters) of a byte offset; past the end is the end.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.lines.index(offset);
        let (last_off, last_line, last_col) = self.last.get();
        let (from, base) = if last_line == line && last_off <= offset {
            (last_off, last_col)
        } else {
            (self.lines.0[line], 0)
        };
        let col = base
            + self.text[from..offset]
                .iter()
                .filter(|&&b| (b & 0xC0) != 0x80)
                .count();
        self.last.set((offset, line, col));
        (
            u32::try_from(line + 1).unwrap_or(u32::MAX),
            u32::try_from(col + 1).unwrap_or(u32::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn lines_and_columns() {
        let text = "ab\né€x\n\nz".as_bytes();
        let l = Lines::new(text);
        assert_eq!(l.line(0), 1);
        assert_eq!(l.line(2), 1);
        assert_eq!(l.line(3), 2);
        assert_eq!(l.line(1000), 4);
        assert_eq!(l.line_col(text, 0), (1, 1));
        // "é€" is 5 bytes, 2 characters: x is column 3.
        assert_eq!(l.line_col(text, 8), (2, 3));
        assert_eq!(l.line_col(text, 10), (3, 1));
        assert_eq!(l.line_col(text, 1000), (4, 2));
    }
}
