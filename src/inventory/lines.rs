//! The lines of a byte stream, split in place in a block buffer (`Lines`), with the longest line allowed.

use std::io::{self, Read};

/// Longest line read; a longer one is an error for that line (a binary file cannot exhaust memory).
pub const MAX_LINE_BYTES: usize = 4096;

/// Bytes read from the file at a time (more than a line: a whole line always fits beside what is left).
pub(super) const BLOCK_BYTES: usize = 64 << 10;

/// The lines of a byte stream, split in a block buffer.
pub(super) struct Lines {
    input: Box<dyn Read + Send>,
    pub(super) buf: Vec<u8>,
    /// Unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    /// Where the newlines of the unread bytes are, found for each block read at once (one vectorised search per
    /// block instead of one per line); `newlines[next..]` are still ahead.
    newlines: Vec<usize>,
    next: usize,
    eof: bool,
}

/// One line of input.
pub(super) enum Line {
    /// `buf[start..end]`, without its `\n`.
    Text(usize, usize),
    /// Longer than `MAX_LINE_BYTES` (skipped to its end).
    TooLong,
}

impl Lines {
    pub(super) fn new(input: Box<dyn Read + Send>, block: usize) -> Self {
        Lines {
            input,
            buf: vec![0; block.max(MAX_LINE_BYTES + 1)],
            pos: 0,
            end: 0,
            newlines: Vec::new(),
            next: 0,
            eof: false,
        }
    }

    /// The position of the next newline, if the unread bytes hold one.
    pub(super) fn newline(&mut self) -> Option<usize> {
        let i = *self.newlines.get(self.next)?;
        self.next += 1;
        Some(i)
    }

    /// Reads more input after the unread bytes (moved to the front; they hold no newline); `false` at the end of
    /// the input.
    pub(super) fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    let new = self.end..self.end + n;
                    self.end += n;
                    self.newlines.clear();
                    self.next = 0;
                    let found = memchr::memchr_iter(b'\n', &self.buf[new.clone()]);
                    self.newlines.extend(found.map(|i| new.start + i));
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next line, or `None` at the end of the input.
    pub(super) fn next(&mut self) -> io::Result<Option<Line>> {
        loop {
            if let Some(i) = self.newline() {
                let start = std::mem::replace(&mut self.pos, i + 1);
                return Ok(Some(if i - start > MAX_LINE_BYTES {
                    Line::TooLong
                } else {
                    Line::Text(start, i)
                }));
            }
            if self.end - self.pos > MAX_LINE_BYTES {
                self.skip_line()?;
                return Ok(Some(Line::TooLong));
            }
            if !self.fill()? {
                // The last line, without a newline.
                if self.pos == self.end {
                    return Ok(None);
                }
                let start = std::mem::replace(&mut self.pos, self.end);
                return Ok(Some(Line::Text(start, self.end)));
            }
        }
    }

    /// Consumes the rest of an over-long line.
    pub(super) fn skip_line(&mut self) -> io::Result<()> {
        loop {
            if let Some(i) = self.newline() {
                self.pos = i + 1;
                return Ok(());
            }
            self.pos = self.end;
            if !self.fill()? {
                return Ok(());
            }
        }
    }
}
