//! The report `redis-check-rdb` prints, which Redis also writes (to its standard output)
//! when loading a snapshot at start-up fails: the file is walked again from the start,
//! printing the AUX fields and database switches it meets, and at the first error where it
//! stopped (offset, what it was doing, which key of which type) and how many keys it read.
//! Operators and tests read this report to locate the damage, so it follows Redis' texts.

use super::decode::Reader;
use super::object::{self, LoadOptions};
use super::*;

/// What the walk was doing when it stopped (Redis' `rdb_check_doing_string`).
#[derive(Clone, Copy)]
enum Doing {
    Start,
    ReadType,
    ReadExpire,
    ReadKey,
    ReadObjectValue,
    CheckSum,
    ReadLen,
    ReadAux,
    ReadModuleAux,
    ReadFunctions,
}

impl Doing {
    fn name(self) -> &'static str {
        match self {
            Doing::Start => "start",
            Doing::ReadType => "read-type",
            Doing::ReadExpire => "read-expire",
            Doing::ReadKey => "read-key",
            Doing::ReadObjectValue => "read-object-value",
            Doing::CheckSum => "check-sum",
            Doing::ReadLen => "read-len",
            Doing::ReadAux => "read-aux",
            Doing::ReadModuleAux => "read-module-aux",
            Doing::ReadFunctions => "read-functions",
        }
    }
}

/// The name redis-check-rdb gives a value type byte.
fn type_name(t: u8) -> &'static str {
    const NAMES: [&str; 19] = [
        "string",
        "list-linked",
        "set-hashtable",
        "zset-v1",
        "hash-hashtable",
        "zset-v2",
        "module-value",
        "",
        "",
        "hash-zipmap",
        "list-ziplist",
        "set-intset",
        "zset-ziplist",
        "hash-ziplist",
        "quicklist",
        "stream",
        "hash-listpack",
        "zset-listpack",
        "quicklist-v2",
    ];
    NAMES.get(t as usize).copied().unwrap_or("unknown")
}

struct State {
    out: String,
    doing: Doing,
    key: Option<Vec<u8>>,
    key_type: Option<u8>,
    keys: u64,
    expires: u64,
    already_expired: u64,
}

impl State {
    fn info(&mut self, pos: usize, msg: &str) {
        self.out.push_str(&format!("[offset {}] {}\n", pos, msg));
    }

    fn error(&mut self, pos: usize, msg: &str) {
        self.out.push_str("--- RDB ERROR DETECTED ---\n");
        self.info(pos, msg);
        self.out.push_str(&format!(
            "[additional info] While doing: {}\n",
            self.doing.name()
        ));
        if let Some(k) = &self.key {
            self.out.push_str(&format!(
                "[additional info] Reading key '{}'\n",
                String::from_utf8_lossy(k)
            ));
        }
        if let Some(t) = self.key_type {
            self.out.push_str(&format!(
                "[additional info] Reading type {} ({})\n",
                t,
                type_name(t)
            ));
        }
        self.generic_info();
    }

    fn generic_info(&mut self) {
        self.out.push_str(&format!(
            "[info] {} keys read\n[info] {} expires\n[info] {} already expired\n",
            self.keys, self.expires, self.already_expired
        ));
    }
}

/// Walks a snapshot as redis-check-rdb does and returns its report; `ok` tells whether the
/// file looked sane. `name` is how the file is named in the first line; `checksum` is the
/// `rdbchecksum` setting.
pub fn check(name: &str, buf: &[u8], opts: &LoadOptions, checksum: bool) -> (bool, String) {
    let mut st = State {
        out: String::new(),
        doing: Doing::Start,
        key: None,
        key_type: None,
        keys: 0,
        expires: 0,
        already_expired: 0,
    };
    st.info(0, &format!("Checking RDB file {}", name));
    let mut r = Reader::new(buf);
    let now = crate::util::mstime();
    let res: Result<(), String> = (|| {
        let eof = |_| "Unexpected EOF reading RDB file".to_string();
        let magic = r.take(9).map_err(eof)?;
        if &magic[..5] != b"REDIS" {
            return Err("Wrong signature trying to load DB from file".into());
        }
        let ver = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        if ver < 1 || ver > RDB_VERSION as i64 {
            return Err(format!("Can't handle RDB format version {}", ver));
        }
        let mut expire: Option<i64> = None;
        loop {
            st.doing = Doing::ReadType;
            let t = r.byte().map_err(eof)?;
            match t {
                opcode::EXPIRETIME => {
                    st.doing = Doing::ReadExpire;
                    expire = Some(r.seconds().map_err(eof)? as i64 * 1000);
                    continue;
                }
                opcode::EXPIRETIME_MS => {
                    st.doing = Doing::ReadExpire;
                    expire = Some(r.millis().map_err(eof)?);
                    continue;
                }
                opcode::FREQ => {
                    r.byte().map_err(eof)?;
                    continue;
                }
                opcode::IDLE => {
                    r.length().map_err(|e| e.to_string())?;
                    continue;
                }
                opcode::EOF => break,
                opcode::SELECTDB => {
                    st.doing = Doing::ReadLen;
                    let id = r.length().map_err(|e| e.to_string())?;
                    st.info(r.pos(), &format!("Selecting DB ID {}", id));
                    continue;
                }
                opcode::RESIZEDB => {
                    st.doing = Doing::ReadLen;
                    r.length().map_err(|e| e.to_string())?;
                    r.length().map_err(|e| e.to_string())?;
                    continue;
                }
                opcode::AUX => {
                    st.doing = Doing::ReadAux;
                    let k = r.string().map_err(|e| e.to_string())?;
                    let v = r.string().map_err(|e| e.to_string())?;
                    st.info(
                        r.pos(),
                        &format!(
                            "AUX FIELD {} = '{}'",
                            String::from_utf8_lossy(&k),
                            String::from_utf8_lossy(&v)
                        ),
                    );
                    continue;
                }
                opcode::MODULE_AUX => {
                    st.doing = Doing::ReadModuleAux;
                    // As redis-check-rdb: walked by its opcodes, without the module.
                    let id = r.length().map_err(|e| e.to_string())?;
                    let when_opcode = r.length().map_err(|e| e.to_string())?;
                    r.length().map_err(|e| e.to_string())?;
                    if when_opcode != 2 {
                        return Err("bad when_opcode".into());
                    }
                    crate::module::io::skip_value(&mut r, &module_type_name(id))
                        .map_err(|e| e.to_string())?;
                    continue;
                }
                opcode::FUNCTION_PRE_GA | opcode::FUNCTION2 => {
                    st.doing = Doing::ReadFunctions;
                    return Err("Failed loading library, no scripting engine".into());
                }
                t if !types::is_object_type(t) => {
                    return Err(format!("Invalid object type: {}", t));
                }
                _ => st.key_type = Some(t),
            }
            st.doing = Doing::ReadKey;
            let key = r.string().map_err(|e| e.to_string())?;
            st.key = Some(key);
            st.keys += 1;
            st.doing = Doing::ReadObjectValue;
            let res = if t == types::MODULE_2 {
                // Module values are checked by their opcodes, as redis-check-rdb does (it has
                // no modules).
                r.length()
                    .and_then(|id| crate::module::io::skip_value(&mut r, &module_type_name(id)))
            } else {
                object::load_value(&mut r, t, opts).map(|_| ())
            };
            match res {
                Ok(_) | Err(LoadError::EmptyKey) => {}
                Err(LoadError::Eof) => return Err(LoadError::Eof.to_string()),
                Err(e) => {
                    return Err(format!(
                        "Internal error in RDB reading offset 0, function at rdb.rs -> {}",
                        e
                    ))
                }
            }
            if let Some(e) = expire.take() {
                st.expires += 1;
                if e < now {
                    st.already_expired += 1;
                }
            }
            st.key = None;
            st.key_type = None;
        }
        if ver >= 5 && checksum {
            st.doing = Doing::CheckSum;
            let expected = crc64::update(0, r.consumed());
            let got = u64::from_le_bytes(r.take(8).map_err(eof)?.try_into().unwrap());
            if got == 0 {
                st.info(
                    r.pos(),
                    "RDB file was saved with checksum disabled: no check performed.",
                );
            } else if got != expected {
                return Err("RDB CRC error".into());
            } else {
                st.info(r.pos(), "Checksum OK");
            }
        }
        Ok(())
    })();
    match res {
        Ok(()) => {
            st.info(r.pos(), "\\o/ RDB looks OK! \\o/");
            st.generic_info();
            (true, st.out)
        }
        Err(msg) => {
            let pos = r.pos();
            st.error(pos, &msg);
            (false, st.out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LoadOptions {
        LoadOptions {
            set_max_intset_entries: 512,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            deep_sanitize: false,
            sanitized: Default::default(),
        }
    }

    fn file(body: &[u8]) -> Vec<u8> {
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(body);
        f.push(opcode::EOF);
        let crc = crc64::update(0, &f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    #[test]
    fn a_sane_file_reports_its_keys_and_checksum() {
        // AUX redis-ver=7, SELECTDB 0, "k" = "v" with an expire in the past.
        let mut body = vec![opcode::AUX, 9];
        body.extend_from_slice(b"redis-ver");
        body.extend_from_slice(&[1, b'7', opcode::SELECTDB, 0, opcode::EXPIRETIME_MS]);
        body.extend_from_slice(&1000i64.to_le_bytes());
        body.extend_from_slice(&[types::STRING, 1, b'k', 1, b'v']);
        let (ok, out) = check("dump.rdb", &file(&body), &opts(), true);
        assert!(ok, "{out}");
        assert!(out.starts_with("[offset 0] Checking RDB file dump.rdb\n"));
        assert!(out.contains("AUX FIELD redis-ver = '7'"));
        assert!(out.contains("Selecting DB ID 0"));
        assert!(out.contains("Checksum OK"));
        assert!(out.contains("[info] 1 keys read\n[info] 1 expires\n[info] 1 already expired"));
    }

    #[test]
    fn a_damaged_value_is_located() {
        // A hash ziplist whose blob is not a ziplist.
        let body = [types::HASH_ZIPLIST, 1, b'h', 3, 1, 2, 3];
        let (ok, out) = check("x.rdb", &file(&body), &opts(), true);
        assert!(!ok);
        assert!(out.contains("--- RDB ERROR DETECTED ---"));
        assert!(
            out.contains("Hash ziplist integrity check failed."),
            "{out}"
        );
        assert!(out.contains("[additional info] While doing: read-object-value"));
        assert!(out.contains("[additional info] Reading key 'h'"));
        assert!(out.contains("[additional info] Reading type 13 (hash-ziplist)"));
        // Truncation is an EOF.
        let f = file(&[types::STRING, 1, b'k', 5, b'v']);
        let (ok, out) = check("x.rdb", &f[..f.len() - 12], &opts(), true);
        assert!(!ok);
        assert!(out.contains("Unexpected EOF reading RDB file") || out.contains("EOF"));
    }
}
