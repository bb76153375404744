//! Splitting the sidecar's stdout into protocol lines (docs/protocol.md §2): only `\n` ends a
//! line, a `\r` right before it is dropped, blank lines are skipped, and each line is decoded as
//! UTF-8 only once it is whole, so a character split across two reads arrives intact. U+2028,
//! U+2029 and U+0085 never end a line. No dependencies: `rustc --test src/lines.rs` runs the tests.

/// Feed it each stdout read; it returns the lines that read completed. A partial line is kept,
/// as bytes, until its `\n` arrives.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(offset) = chunk[start..].iter().position(|&byte| byte == b'\n') {
            let end = start + offset;
            let mut bytes = std::mem::take(&mut self.partial);
            bytes.extend_from_slice(&chunk[start..end]);
            start = end + 1;
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
            if bytes.iter().any(|byte| !byte.is_ascii_whitespace()) {
                lines.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        self.partial.extend_from_slice(&chunk[start..]);
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::LineSplitter;

    #[test]
    fn whole_lines_in_one_read() {
        let mut splitter = LineSplitter::default();
        let lines = splitter.push(b"{\"a\":1}\n{\"b\":2}\r\n\n  \n{\"c\":");
        assert_eq!(lines, vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(splitter.push(b"3}\n"), vec!["{\"c\":3}"]);
    }

    #[test]
    fn one_byte_per_read_keeps_multibyte_characters_and_separators() {
        let text = "{\"t\":\"Café 日本語 🙂 a\u{2028}b\u{2029}c\u{85}d x\ry\"}\n{\"t\":\"two\"}\n";
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        for byte in text.as_bytes() {
            lines.extend(splitter.push(std::slice::from_ref(byte)));
        }
        assert_eq!(
            lines,
            vec!["{\"t\":\"Café 日本語 🙂 a\u{2028}b\u{2029}c\u{85}d x\ry\"}", "{\"t\":\"two\"}"]
        );
    }

    #[test]
    fn nothing_before_the_newline() {
        let mut splitter = LineSplitter::default();
        assert!(splitter.push("{\"t\":\"\u{2028}\"}".as_bytes()).is_empty());
        assert_eq!(splitter.push(b"\n"), vec!["{\"t\":\"\u{2028}\"}"]);
    }
}
