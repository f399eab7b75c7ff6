//! Output lines as a log shows them: what a terminal would leave on screen,
//! without the escape sequences (colours, cursor moves) tools write to one.

/// `line` without terminal control: CSI (`ESC [ … final`), OSC (`ESC ] …`
/// ended by BEL or `ESC \`) and other escapes (`ESC ( B`) removed; of text a carriage
/// return rewrote (a progress counter), only the last; other control
/// characters but tab dropped.
pub fn plain_text(line: &str) -> String {
    let line = line.rsplit('\r').find(|s| !s.is_empty()).unwrap_or("");
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => {
                    // Parameters and intermediates, then one final byte.
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                // `ESC ( B` and the like: intermediates, then a final byte.
                Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
                    for c in chars.by_ref() {
                        if !('\u{20}'..='\u{2f}').contains(&c) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::plain_text;

    #[test]
    fn a_line_reads_as_a_terminal_would_show_it() {
        assert_eq!(plain_text("plain\ttext"), "plain\ttext");
        assert_eq!(
            plain_text("\u{1b}[1;32mok\u{1b}[0m: 3 files"),
            "ok: 3 files"
        );
        assert_eq!(plain_text("\u{1b}[2K\u{1b}[1Gdone"), "done");
        assert_eq!(
            plain_text("\u{1b}]0;title\u{7}after \u{1b}]8;;http://x\u{1b}\\link"),
            "after link"
        );
        assert_eq!(plain_text(" 10%\r 55%\r100%\r"), "100%");
        assert_eq!(
            plain_text("bell\u{7} and \u{1b}(B charset"),
            "bell and  charset"
        );
        assert_eq!(plain_text("unfinished \u{1b}["), "unfinished ");
        assert_eq!(plain_text("ünïcode ✓"), "ünïcode ✓");
    }
}
