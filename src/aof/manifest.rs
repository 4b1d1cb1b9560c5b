//! The AOF manifest: which files of the append-only directory make up the dataset (one base,
//! the incremental files in order) and which are history waiting for deletion. Parsing
//! reports Redis 7.0's error texts, because operators (and tests) read them in the log, and
//! formatting produces exactly the lines Redis writes so either server can take over the
//! directory.

/// The kind of a file listed in the manifest (the `type` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Base,
    Hist,
    Incr,
}

impl FileType {
    fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::Hist => 'h',
            FileType::Incr => 'i',
        }
    }
}

/// One file line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofInfo {
    pub name: String,
    pub seq: i64,
    pub kind: FileType,
}

impl AofInfo {
    /// The manifest line for this file: `file <name> seq <n> type <b|h|i>`, the name quoted
    /// (C-style escapes) when it holds characters that would break the line apart.
    pub fn format(&self) -> String {
        let needs_repr = self
            .name
            .bytes()
            .any(|b| b == b'\\' || b == b'"' || !b.is_ascii_graphic());
        let name = if needs_repr {
            let mut out = Vec::new();
            crate::util::push_repr(&mut out, self.name.as_bytes());
            String::from_utf8_lossy(&out).into_owned()
        } else {
            self.name.clone()
        };
        format!(
            "file {} seq {} type {}\n",
            name,
            self.seq,
            self.kind.letter()
        )
    }
}

/// The in-memory manifest, as Redis' `aofManifest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofInfo>,
    pub incr: Vec<AofInfo>,
    pub history: Vec<AofInfo>,
    pub curr_base_seq: i64,
    pub curr_incr_seq: i64,
    /// Changed since it was last written to disk.
    pub dirty: bool,
}

/// A manifest that can't be used; `line` is the offending line (number and text), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub line: Option<(usize, String)>,
    pub reason: &'static str,
}

/// Longest line Redis reads from a manifest.
const MAX_LINE: usize = 1024;

impl Manifest {
    /// Parses manifest text with Redis' rules: `#` lines are comments, every other line has
    /// key/value pairs (at least `file`, `seq` and `type`), incr files have increasing
    /// sequence numbers and there is at most one base.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut am = Manifest::default();
        let mut maxseq = 0i64;
        let mut linenum = 0usize;
        let mut pos = 0usize;
        loop {
            if pos >= text.len() {
                if linenum == 0 {
                    return Err(ManifestError {
                        line: None,
                        reason: "Found an empty AOF manifest",
                    });
                }
                break;
            }
            // Lines are read in chunks of at most MAX_LINE bytes, as fgets does.
            let rest = &text[pos..];
            let chunk_len = match rest.iter().take(MAX_LINE).position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => rest.len().min(MAX_LINE),
            };
            let chunk = &rest[..chunk_len];
            pos += chunk_len;
            linenum += 1;
            if chunk[0] == b'#' {
                continue;
            }
            let trimmed = trim(chunk);
            let shown = String::from_utf8_lossy(trimmed).into_owned();
            let err = |reason| {
                Err(ManifestError {
                    line: Some((linenum, shown.clone())),
                    reason,
                })
            };
            if !chunk.contains(&b'\n') {
                return err("The AOF manifest file contains too long line");
            }
            if trimmed.is_empty() {
                return err("Invalid AOF manifest file format");
            }
            let args = match crate::util::split_args(trimmed) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => return err("Invalid AOF manifest file format"),
            };
            let (mut name, mut seq, mut kind) = (None::<String>, 0i64, 0u8);
            for pair in args.chunks(2) {
                let (k, v) = (&pair[0], &pair[1]);
                if k.eq_ignore_ascii_case(b"file") {
                    let n = String::from_utf8_lossy(v).into_owned();
                    if n.contains('/') {
                        return err("File can't be a path, just a filename");
                    }
                    name = Some(n);
                } else if k.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(v);
                } else if k.eq_ignore_ascii_case(b"type") {
                    kind = v.first().copied().unwrap_or(0);
                }
            }
            let Some(name) = name.filter(|_| seq != 0 && kind != 0) else {
                return err("Invalid AOF manifest file format");
            };
            match kind {
                b'b' => {
                    if am.base.is_some() {
                        return err("Found duplicate base file information");
                    }
                    am.base = Some(AofInfo {
                        name,
                        seq,
                        kind: FileType::Base,
                    });
                    am.curr_base_seq = seq;
                }
                b'h' => am.history.push(AofInfo {
                    name,
                    seq,
                    kind: FileType::Hist,
                }),
                b'i' => {
                    if seq <= maxseq {
                        return err("Found a non-monotonic sequence number");
                    }
                    am.incr.push(AofInfo {
                        name,
                        seq,
                        kind: FileType::Incr,
                    });
                    am.curr_incr_seq = seq;
                    maxseq = seq;
                }
                _ => return err("Unknown AOF file type"),
            }
        }
        Ok(am)
    }

    /// The manifest's text: base first, then history, then the incr files.
    pub fn format(&self) -> String {
        let mut s = String::new();
        for ai in self.base.iter().chain(&self.history).chain(&self.incr) {
            s.push_str(&ai.format());
        }
        s
    }

    /// Names a new base file (`<appendfilename>.<seq>.base.rdb|aof`) and turns the current
    /// base, if any, into history.
    pub fn new_base_name(&mut self, appendfilename: &str, rdb_preamble: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = FileType::Hist;
            self.history.insert(0, old);
        }
        self.curr_base_seq += 1;
        let name = format!(
            "{}.{}.base.{}",
            appendfilename,
            self.curr_base_seq,
            if rdb_preamble { "rdb" } else { "aof" }
        );
        self.base = Some(AofInfo {
            name: name.clone(),
            seq: self.curr_base_seq,
            kind: FileType::Base,
        });
        self.dirty = true;
        name
    }

    /// Appends a new incr file (`<appendfilename>.<seq>.incr.aof`) and returns its name.
    pub fn new_incr_name(&mut self, appendfilename: &str) -> String {
        self.curr_incr_seq += 1;
        let name = format!("{}.{}.incr.aof", appendfilename, self.curr_incr_seq);
        self.incr.push(AofInfo {
            name: name.clone(),
            seq: self.curr_incr_seq,
            kind: FileType::Incr,
        });
        self.dirty = true;
        name
    }

    /// The incr file writes go to: the last one, created when there is none.
    pub fn last_incr_name(&mut self, appendfilename: &str) -> String {
        match self.incr.last() {
            Some(ai) => ai.name.clone(),
            None => self.new_incr_name(appendfilename),
        }
    }

    /// After a rewrite, the incr files it covers become history: all of them, or all but the
    /// last when the AOF is open (the last one holds what came after the rewrite started).
    pub fn mark_rewritten_incr_as_history(&mut self, aof_open: bool) {
        if self.incr.is_empty() {
            return;
        }
        let keep = usize::from(aof_open);
        let cut = self.incr.len() - keep;
        let moved: Vec<AofInfo> = self.incr.drain(..cut).collect();
        // Newest first at the head of the history, as Redis adds them.
        for mut ai in moved {
            ai.kind = FileType::Hist;
            self.history.insert(0, ai);
        }
        self.dirty = true;
    }
}

/// `atoll`: optional sign and leading digits, anything after ignored.
fn atoll(v: &[u8]) -> i64 {
    let s = std::str::from_utf8(v).unwrap_or("").trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(|b| b.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add((b - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let is_ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ws(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_round_trip() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.base.rdb seq 1 type h\n\
                    file appendonly.aof.3.incr.aof seq 3 type i\n\
                    file appendonly.aof.4.incr.aof seq 4 type i\n";
        let am = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(am.base.as_ref().unwrap().name, "appendonly.aof.2.base.rdb");
        assert_eq!(am.history.len(), 1);
        assert_eq!(am.incr.len(), 2);
        assert_eq!(am.curr_base_seq, 2);
        assert_eq!(am.curr_incr_seq, 4);
        assert_eq!(am.format(), text);
    }

    #[test]
    fn names_with_spaces_are_quoted_and_read_back() {
        let mut am = Manifest::default();
        let name = am.new_incr_name(" file seq \n\n.aof ");
        assert_eq!(name, " file seq \n\n.aof .1.incr.aof");
        let text = am.format();
        assert_eq!(
            text,
            "file \" file seq \\n\\n.aof .1.incr.aof\" seq 1 type i\n"
        );
        let back = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(back.incr[0].name, name);
    }

    #[test]
    fn comments_and_extra_keys_are_accepted() {
        let am = Manifest::parse(b"# a comment\nfile a.1.incr.aof seq 1 type i newkey newvalue\n")
            .unwrap();
        assert_eq!(am.incr[0].name, "a.1.incr.aof");
    }

    fn reason(text: &[u8]) -> &'static str {
        Manifest::parse(text).unwrap_err().reason
    }

    #[test]
    fn bad_manifests_are_rejected_with_redis_texts() {
        assert_eq!(reason(b""), "Found an empty AOF manifest");
        assert_eq!(
            reason(b"file a seq 1 type i\n\nfile b seq 2 type i\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            reason(b"file a seq 2 type i\nfile b seq 1 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(
            reason(b"file a seq 1 type b\nfile b seq 2 type b\n"),
            "Found duplicate base file information"
        );
        assert_eq!(reason(b"file a seq 1 type x\n"), "Unknown AOF file type");
        assert_eq!(
            reason(b"file a seq 1 typo i\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            reason(b"file a seq 1\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            reason(b"file a seq 1 type i extra\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            reason(b"file dir/a seq 1 type i\n"),
            "File can't be a path, just a filename"
        );
        let mut long = b"file a seq 1 type i ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 1100));
        long.push(b'\n');
        assert_eq!(
            reason(&long),
            "The AOF manifest file contains too long line"
        );
        // A last line without a newline is incomplete.
        assert_eq!(
            reason(b"file a seq 1 type i"),
            "The AOF manifest file contains too long line"
        );
    }

    #[test]
    fn rewrite_moves_files_to_history() {
        let mut am = Manifest::default();
        am.new_base_name("x", true);
        am.new_incr_name("x");
        am.new_incr_name("x");
        am.mark_rewritten_incr_as_history(true);
        assert_eq!(am.incr.len(), 1);
        assert_eq!(am.incr[0].name, "x.2.incr.aof");
        let base = am.new_base_name("x", false);
        assert_eq!(base, "x.2.base.aof");
        assert_eq!(
            am.history
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>(),
            vec!["x.1.base.rdb", "x.1.incr.aof"]
        );
    }
}
