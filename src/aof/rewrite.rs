//! AOF rewrite (BGREWRITEAOF, automatic rewrites, turning the AOF on): a forked child writes
//! the dataset as a new base file, either as an RDB image (`aof-use-rdb-preamble yes`) or as
//! the commands Redis 7.0 emits per type (RPUSH/SADD/ZADD/HMSET batches of 64 items,
//! XADD/XSETID/XGROUP/XCLAIM for streams, PEXPIREAT for TTLs), while the parent keeps
//! appending to a fresh incr file opened when the rewrite started. When the child succeeds,
//! the parent renames its file to the next base name, turns the files it covers into history
//! and writes the new manifest; history files are then deleted.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use super::{aof_path, FsyncJob, Logged, Status};
use crate::server::Server;
use crate::types::Value;

/// Items per command in a rewritten collection (Redis' AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_CMD: usize = 64;

/// fsync every this many bytes while writing a rewrite (`aof-rewrite-incremental-fsync`).
const AUTOSYNC_BYTES: usize = 4 * 1024 * 1024;

/// The rewrite's file writer: buffered, with the incremental fsync Redis does so a big
/// rewrite doesn't end in one huge flush of dirty pages.
struct RewriteWriter {
    inner: BufWriter<std::fs::File>,
    autosync: bool,
    since_sync: usize,
}

impl Write for RewriteWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.since_sync += n;
        if self.autosync && self.since_sync >= AUTOSYNC_BYTES {
            self.inner.flush()?;
            self.inner.get_ref().sync_data()?;
            self.since_sync = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn bulk_count<W: Write>(w: &mut W, n: usize) -> io::Result<()> {
    write!(w, "*{}\r\n", n)
}

fn bulk<W: Write>(w: &mut W, s: &[u8]) -> io::Result<()> {
    write!(w, "${}\r\n", s.len())?;
    w.write_all(s)?;
    w.write_all(b"\r\n")
}

fn bulk_num<W: Write>(w: &mut W, n: impl std::fmt::Display) -> io::Result<()> {
    bulk(w, n.to_string().as_bytes())
}

fn stream_id(id: &crate::types::stream::StreamId) -> Vec<u8> {
    format!("{}-{}", id.ms, id.seq).into_bytes()
}

/// Emits `cmd key item...` commands of at most ITEMS_PER_CMD items each; an item is one
/// argument or a pair.
fn batched<W: Write>(w: &mut W, cmd: &[u8], key: &[u8], items: &[Vec<Vec<u8>>]) -> io::Result<()> {
    for chunk in items.chunks(ITEMS_PER_CMD) {
        let args: usize = chunk.iter().map(|i| i.len()).sum();
        bulk_count(w, 2 + args)?;
        bulk(w, cmd)?;
        bulk(w, key)?;
        for item in chunk {
            for a in item {
                bulk(w, a)?;
            }
        }
    }
    Ok(())
}

/// The commands rebuilding one value.
fn rewrite_value<W: Write>(w: &mut W, key: &[u8], v: &Value, db: usize) -> io::Result<()> {
    match v {
        // The module's aof_rewrite emits the commands (RedisModule_EmitAOF).
        Value::Module(mv) => w.write_all(&crate::module::io::aof_rewrite(mv, key, db as i32)?),
        Value::Str(s) => {
            w.write_all(b"*3\r\n$3\r\nSET\r\n")?;
            bulk(w, key)?;
            s.with_bytes(|b| bulk(w, b))
        }
        Value::List(l) => {
            let mut items = Vec::new();
            l.ql().for_each(|e| {
                items.push(vec![e.to_vec()]);
                true
            });
            batched(w, b"RPUSH", key, &items)
        }
        Value::Set(s) => {
            let items: Vec<Vec<Vec<u8>>> = s.members().iter().map(|m| vec![m.to_vec()]).collect();
            batched(w, b"SADD", key, &items)
        }
        Value::Zset(z) => {
            let mut items = Vec::new();
            z.for_each(|m, score| items.push(vec![crate::util::f64_g17(score), m.to_vec()]));
            batched(w, b"ZADD", key, &items)
        }
        Value::Hash(h) => {
            let items: Vec<Vec<Vec<u8>>> = h
                .iter()
                .map(|(f, v)| vec![f.to_vec(), v.to_vec()])
                .collect();
            batched(w, b"HMSET", key, &items)
        }
        Value::Stream(s) => rewrite_stream(w, key, s),
    }
}

fn rewrite_stream<W: Write>(
    w: &mut W,
    key: &[u8],
    s: &crate::types::stream::Stream,
) -> io::Result<()> {
    use crate::types::stream::StreamId;
    if s.length > 0 {
        let mut res: io::Result<()> = Ok(());
        s.for_range(StreamId::MIN, StreamId::MAX, false, false, true, |e| {
            res = (|| {
                bulk_count(w, 3 + e.fields.len())?;
                bulk(w, b"XADD")?;
                bulk(w, key)?;
                bulk(w, &stream_id(&e.id))?;
                for f in &e.fields {
                    bulk(w, f)?;
                }
                Ok(())
            })();
            res.is_ok()
        });
        res?;
    } else {
        // An empty stream comes from adding an entry with MAXLEN 0.
        bulk_count(w, 7)?;
        bulk(w, b"XADD")?;
        bulk(w, key)?;
        bulk(w, b"MAXLEN")?;
        bulk(w, b"0")?;
        bulk(w, &stream_id(&StreamId { ms: 0, seq: 1 }))?;
        bulk(w, b"x")?;
        bulk(w, b"y")?;
    }
    // The last id, entries-added and max-deleted id may differ from what XADD left.
    bulk_count(w, 7)?;
    bulk(w, b"XSETID")?;
    bulk(w, key)?;
    bulk(w, &stream_id(&s.last_id))?;
    bulk(w, b"ENTRIESADDED")?;
    bulk_num(w, s.entries_added)?;
    bulk(w, b"MAXDELETEDID")?;
    bulk(w, &stream_id(&s.max_deleted_entry_id))?;
    for (gname, g) in &s.groups {
        bulk_count(w, 7)?;
        bulk(w, b"XGROUP")?;
        bulk(w, b"CREATE")?;
        bulk(w, key)?;
        bulk(w, gname)?;
        bulk(w, &stream_id(&g.last_id))?;
        bulk(w, b"ENTRIESREAD")?;
        bulk_num(w, g.entries_read)?;
        for (cname, consumer) in &g.consumers {
            if consumer.pel.is_empty() {
                bulk_count(w, 5)?;
                bulk(w, b"XGROUP")?;
                bulk(w, b"CREATECONSUMER")?;
                bulk(w, key)?;
                bulk(w, gname)?;
                bulk(w, cname)?;
                continue;
            }
            for id in &consumer.pel {
                let Some(nack) = g.pel.get(id) else {
                    continue;
                };
                bulk_count(w, 12)?;
                bulk(w, b"XCLAIM")?;
                bulk(w, key)?;
                bulk(w, gname)?;
                bulk(w, cname)?;
                bulk(w, b"0")?;
                bulk(w, &stream_id(id))?;
                bulk(w, b"TIME")?;
                bulk_num(w, nack.delivery_time)?;
                bulk(w, b"RETRYCOUNT")?;
                bulk_num(w, nack.delivery_count)?;
                bulk(w, b"JUSTID")?;
                bulk(w, b"FORCE")?;
            }
        }
    }
    Ok(())
}

/// The whole dataset as commands (Redis' `rewriteAppendOnlyFileRio`).
pub fn rewrite_commands<W: Write>(srv: &Server, w: &mut W) -> io::Result<()> {
    if super::stored_bool(srv, "aof-timestamp-enabled") {
        write!(w, "#TS:{}\r\n", crate::util::mstime() / 1000)?;
    }
    // Function libraries first, as FUNCTION LOAD commands of their sources.
    for lib in srv.scripting.functions.libraries.values() {
        w.write_all(b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n")?;
        bulk(w, &lib.code)?;
    }
    let delay = super::stored_i64(srv, "rdb-key-save-delay");
    let mut rng = rand::thread_rng();
    for db in &srv.dbs {
        if db.dict.is_empty() {
            continue;
        }
        w.write_all(b"*2\r\n$6\r\nSELECT\r\n")?;
        bulk_num(w, db.id)?;
        for (key, o) in db.dict.iter() {
            rewrite_value(w, key, &o.value, db.id)?;
            if let Some(when) = db.expires.get(&key[..]) {
                w.write_all(b"*3\r\n$9\r\nPEXPIREAT\r\n")?;
                bulk(w, key)?;
                bulk_num(w, *when)?;
            }
            if delay != 0 {
                crate::rdb::file::debug_delay(delay, &mut rng);
            }
        }
    }
    Ok(())
}

fn temp_incr_name(filename: &str) -> String {
    format!("temp-{}.incr", filename)
}

fn remove_temp_files(pid: libc::pid_t) {
    super::bg_unlink(format!("temp-rewriteaof-bg-{}.aof", pid).into());
    super::bg_unlink(format!("temp-rewriteaof-{}.aof", pid).into());
}

impl Server {
    /// Writes the dataset to `path` through a temp file renamed into place (Redis'
    /// `rewriteAppendOnlyFile`).
    pub fn aof_rewrite_to_file(&self, path: &std::path::Path) -> Result<(), Logged> {
        let tmp = format!("temp-rewriteaof-{}.aof", std::process::id());
        let file = match std::fs::File::create(&tmp) {
            Ok(f) => f,
            Err(e) => {
                crate::log_warning!(
                    "Opening the temp file for AOF rewrite in rewriteAppendOnlyFile(): {}",
                    crate::rdb::persist::strerror(&e)
                );
                return Err(Logged);
            }
        };
        let w = RewriteWriter {
            inner: BufWriter::with_capacity(64 * 1024, file),
            autosync: super::stored_bool(self, "aof-rewrite-incremental-fsync"),
            since_sync: 0,
        };
        let result = (|| -> io::Result<RewriteWriter> {
            let mut w = if super::stored_bool(self, "aof-use-rdb-preamble") {
                crate::rdb::file::save_ext(self, w, &mut |_| {}, true)?
            } else {
                let mut w = w;
                rewrite_commands(self, &mut w)?;
                w
            };
            w.flush()?;
            w.inner.get_ref().sync_data()?;
            Ok(w)
        })();
        let w = match result {
            Ok(w) => w,
            Err(e) => {
                crate::log_warning!(
                    "Write error writing append only file on disk: {}",
                    crate::rdb::persist::strerror(&e)
                );
                let _ = std::fs::remove_file(&tmp);
                return Err(Logged);
            }
        };
        drop(w);
        if let Err(e) = std::fs::rename(&tmp, path) {
            crate::log_warning!(
                "Error moving temp append only file on the final destination: {}",
                crate::rdb::persist::strerror(&e)
            );
            let _ = std::fs::remove_file(&tmp);
            return Err(Logged);
        }
        Ok(())
    }

    /// At the start of a rewrite, writes go to a new incr file from now on (the temp incr
    /// file while the AOF waits for its first rewrite), so the rewrite covers exactly the
    /// files before it (Redis' `openNewIncrAofForAppend`).
    fn aof_open_new_incr_for_append(&mut self) -> Result<(), Logged> {
        if self.aof.status == Status::Off {
            return Ok(());
        }
        let dirname = self.config.appenddirname.clone();
        let filename = self.config.appendfilename.clone();
        let mut new_manifest = None;
        let name = if self.aof.status == Status::WaitRewrite {
            temp_incr_name(&filename)
        } else {
            let mut am = self.aof.manifest.clone();
            let n = am.new_incr_name(&filename);
            new_manifest = Some(am);
            n
        };
        let file = match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(aof_path(&dirname, &name))
        {
            Ok(f) => f,
            Err(e) => {
                crate::log_warning!(
                    "Can't open the append-only file {}: {}",
                    name,
                    crate::rdb::persist::strerror(&e)
                );
                return Err(Logged);
            }
        };
        if let Some(am) = &mut new_manifest {
            super::write_manifest_file(&dirname, &filename, &am.format())?;
            am.dirty = false;
        }
        crate::log_notice!("Creating AOF incr file {} on background rewrite", name);
        if let Some(old) = self.aof.file.take() {
            self.aof.fsync.submit(FsyncJob::SyncAndClose(old));
            self.aof.last_fsync = self.unix_time();
        }
        self.aof.file = Some(Arc::new(file));
        self.aof.last_incr_size = 0;
        self.aof.last_incr_fsync_offset = 0;
        if let Some(am) = new_manifest {
            self.aof.manifest = am;
        }
        Ok(())
    }

    /// Starts a rewrite in a forked child (Redis' `rewriteAppendOnlyFileBackground`).
    pub fn aof_rewrite_background(&mut self) -> Result<(), Logged> {
        if self.fork_child_active() {
            return Err(Logged);
        }
        let dirname = self.config.appenddirname.clone();
        if let Err(e) = super::dir_create_if_missing(&dirname) {
            crate::log_warning!(
                "Can't open or create append-only dir {}: {}",
                dirname,
                crate::rdb::persist::strerror(&e)
            );
            self.aof.lastbgrewrite_ok = false;
            return Err(Logged);
        }
        // The next command written must select its database: the new incr file starts fresh.
        self.aof.selected.reset();
        self.aof_flush(true);
        if self.aof_open_new_incr_for_append().is_err() {
            self.aof.lastbgrewrite_ok = false;
            return Err(Logged);
        }
        self.aof.rewrites += 1;
        let pid = match self.fork_child(crate::server::fork::ChildKind::Aof) {
            Ok(crate::server::fork::Forked::Child { info_fd }) => rewrite_child_main(self, info_fd),
            Ok(crate::server::fork::Forked::Parent { pid }) => pid,
            Err(e) => {
                self.aof.lastbgrewrite_ok = false;
                crate::log_warning!(
                    "Can't rewrite append only file in background: fork: {}",
                    crate::rdb::persist::strerror(&e)
                );
                return Err(Logged);
            }
        };
        crate::log_notice!(
            "Background append only file rewriting started by pid {}",
            pid
        );
        self.aof.rewrite_scheduled = false;
        self.aof.rewrite_time_start = crate::util::mstime() / 1000;
        self.aof.child_active = true;
        Ok(())
    }

    /// Stops a running rewrite child and waits for it (Redis' `killAppendOnlyChild`).
    pub fn kill_aof_child(&mut self) {
        if !self.aof.child_active {
            return;
        }
        let Some(pid) = self.persist.child_pid else {
            self.aof.child_active = false;
            return;
        };
        crate::log_notice!("Killing running AOF rewrite child: {}", pid);
        // SAFETY: signals and reaps our own child.
        unsafe {
            if libc::kill(pid, libc::SIGUSR1) != -1 {
                let mut status = 0;
                libc::waitpid(pid, &mut status, 0);
            }
        }
        remove_temp_files(pid);
        self.aof.child_active = false;
        self.reset_child_state();
        self.aof.rewrite_time_start = -1;
    }

    /// The rewrite child ended (Redis' `backgroundRewriteDoneHandler`).
    pub fn aof_rewrite_done(&mut self, pid: libc::pid_t, exitcode: i32, bysignal: i32) {
        self.aof.child_active = false;
        if bysignal == 0 && exitcode == 0 {
            self.aof_install_rewrite(pid);
        } else if bysignal == 0 {
            self.aof.lastbgrewrite_ok = false;
            self.aof.consecutive_failures += 1;
            crate::log_warning!("Background AOF rewrite terminated with error");
        } else {
            // SIGUSR1 is how we stop a child on purpose: not a failure.
            if bysignal != libc::SIGUSR1 {
                self.aof.lastbgrewrite_ok = false;
                self.aof.consecutive_failures += 1;
            }
            crate::log_warning!("Background AOF rewrite terminated by signal {}", bysignal);
        }
        remove_temp_files(pid);
        if self.aof.status == Status::WaitRewrite {
            // The first rewrite failed: what was buffered for it is dropped, a new attempt
            // starts over.
            self.aof.buf = Vec::new();
            let name = temp_incr_name(&self.config.appendfilename);
            crate::log_notice!("Removing the temp incr aof file {} in the background", name);
            super::bg_unlink(aof_path(&self.config.appenddirname, &name));
        }
        self.aof.rewrite_time_last = crate::util::mstime() / 1000 - self.aof.rewrite_time_start;
        self.aof.rewrite_time_start = -1;
        if self.aof.status == Status::WaitRewrite {
            self.aof.rewrite_scheduled = true;
        }
    }

    /// A successful rewrite: its file becomes the new base and the manifest is switched.
    fn aof_install_rewrite(&mut self, pid: libc::pid_t) {
        let start = crate::util::monotonic_us();
        crate::log_notice!("Background AOF rewrite terminated with success");
        let dirname = self.config.appenddirname.clone();
        let filename = self.config.appendfilename.clone();
        let tmpfile = format!("temp-rewriteaof-bg-{}.aof", pid);
        let mut am = self.aof.manifest.clone();
        let preamble = super::stored_bool(self, "aof-use-rdb-preamble");
        let new_base = am.new_base_name(&filename, preamble);
        let new_base_path = aof_path(&dirname, &new_base);
        let fail = |srv: &mut Server| {
            srv.aof.lastbgrewrite_ok = false;
            srv.aof.consecutive_failures += 1;
        };
        let t = crate::util::monotonic_us();
        if let Err(e) = std::fs::rename(&tmpfile, &new_base_path) {
            crate::log_warning!(
                "Error trying to rename the temporary AOF base file {} into {}: {}",
                tmpfile,
                new_base_path.display(),
                crate::rdb::persist::strerror(&e)
            );
            fail(self);
            return;
        }
        self.latency_add_sample_if_needed("aof-rename", (crate::util::monotonic_us() - t) / 1000);
        crate::log_notice!(
            "Successfully renamed the temporary AOF base file {} into {}",
            tmpfile,
            new_base
        );
        let mut new_incr_path = None;
        if self.aof.status == Status::WaitRewrite {
            let temp_name = temp_incr_name(&filename);
            let temp_path = aof_path(&dirname, &temp_name);
            let new_incr = am.new_incr_name(&filename);
            let path = aof_path(&dirname, &new_incr);
            let t = crate::util::monotonic_us();
            if let Err(e) = std::fs::rename(&temp_path, &path) {
                crate::log_warning!(
                    "Error trying to rename the temporary AOF incr file {} into {}: {}",
                    temp_path.display(),
                    path.display(),
                    crate::rdb::persist::strerror(&e)
                );
                super::bg_unlink(new_base_path);
                fail(self);
                return;
            }
            self.latency_add_sample_if_needed(
                "aof-rename",
                (crate::util::monotonic_us() - t) / 1000,
            );
            crate::log_notice!(
                "Successfully renamed the temporary AOF incr file {} into {}",
                temp_name,
                new_incr
            );
            new_incr_path = Some(path);
        }
        am.mark_rewritten_incr_as_history(self.aof.file.is_some());
        if super::write_manifest_file(&dirname, &filename, &am.format()).is_err() {
            super::bg_unlink(new_base_path);
            if let Some(p) = new_incr_path {
                super::bg_unlink(p);
            }
            fail(self);
            return;
        }
        am.dirty = false;
        self.aof.manifest = am;
        if self.aof.status != Status::Off {
            let base = self.aof_file_size(&new_base).unwrap_or(0);
            self.aof.current_size = base + self.aof.last_incr_size;
            self.aof.rewrite_base_size = self.aof.current_size;
        }
        self.aof_del_history_files();
        self.aof.lastbgrewrite_ok = true;
        self.aof.consecutive_failures = 0;
        crate::log_notice!("Background AOF rewrite finished successfully");
        if self.aof.status == Status::WaitRewrite {
            self.aof.status = Status::On;
        }
        crate::log_verbose!(
            "Background AOF rewrite signal handler took {}us",
            crate::util::monotonic_us() - start
        );
    }
}

/// The rewrite child: writes `temp-rewriteaof-bg-<pid>.aof` and exits 0 on success.
fn rewrite_child_main(srv: &mut Server, info_fd: libc::c_int) -> ! {
    // The rewrite reports no progress; the pipe only tells it when the parent is gone.
    let _ = info_fd;
    let tmp = format!("temp-rewriteaof-bg-{}.aof", std::process::id());
    // Module listeners hear about the rewrite from the child, as in Redis.
    use crate::module::events::{persistence_job, sub};
    let ok = persistence_job(srv, sub::PERSISTENCE_AOF_START, |srv| {
        srv.aof_rewrite_to_file(std::path::Path::new(&tmp)).is_ok()
    });
    if ok {
        crate::log_notice!("Successfully created the temporary AOF base file {}", tmp);
    }
    // SAFETY: leaves the child without running the parent's exit handlers or destructors.
    unsafe { libc::_exit(if ok { 0 } else { 1 }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_are_batched_by_64() {
        let items: Vec<Vec<Vec<u8>>> = (0..65).map(|i| vec![i.to_string().into_bytes()]).collect();
        let mut out = Vec::new();
        batched(&mut out, b"RPUSH", b"k", &items).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("*66\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$1\r\n0\r\n"));
        assert!(text.ends_with("*3\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$2\r\n64\r\n"));
    }
}
