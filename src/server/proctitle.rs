//! The process title (`set-proc-title`, `proc-title-template`): what `ps` and
//! `/proc/<pid>/cmdline` show for the server and its children. Tools and tests read it, so it
//! follows Redis on Linux: the expanded template is written over the memory that holds the
//! command line, extended over the environment strings that follow it once those have been
//! copied elsewhere (the kernel then reports the title as the command line).
//!
//! The area's bounds come from /proc/self/stat (arg_start .. env_end), so nothing has to catch
//! `argv` before `main`. The server keeps its own copy of its arguments (`exec_argv`), taken
//! before the first title is written.

use std::ffi::{c_char, CString};
use std::sync::Mutex;

use crate::server::Server;

/// The writable command-line area, once the environment was moved out of it.
struct Area {
    start: usize,
    len: usize,
}

static AREA: Mutex<Option<Area>> = Mutex::new(None);

extern "C" {
    static mut environ: *mut *mut c_char;
}

/// Expands `template` for this server (Redis' variables; surrounding blanks trimmed).
pub fn expand(srv: &Server, template: &str, title: &str) -> String {
    let cfg = &srv.config;
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let var = &rest[open + 1..open + close];
        match var {
            "title" => out.push_str(title),
            "listen-addr" if cfg.port != 0 => {
                let addr = cfg.bind.first().map_or("*", |b| b.as_str());
                out.push_str(&format!("{addr}:{}", cfg.port));
            }
            "listen-addr" => out.push_str(&format!("unixsocket:{}", cfg.unixsocket)),
            // No cluster or sentinel mode: always empty.
            "server-mode" => {}
            "config-file" => out.push_str(cfg.config_file.as_deref().unwrap_or("-")),
            "port" => out.push_str(&cfg.port.to_string()),
            "tls-port" => out.push('0'),
            "unixsocket" => out.push_str(&cfg.unixsocket),
            _ => {}
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.trim_matches(' ').to_string()
}

/// Sets the title from the template, `title` standing for `{title}` (the executable as
/// started when None). Does nothing when `set-proc-title` is off or the area is unknown.
pub fn set(srv: &Server, title: Option<&str>) {
    if !srv.config.set_proc_title {
        return;
    }
    let name = title
        .map(str::to_string)
        .or_else(|| srv.exec_argv.first().cloned())
        .unwrap_or_default();
    let text = expand(srv, &srv.config.proc_title_template, &name);
    write(&text);
}

fn write(text: &str) {
    let mut area = AREA.lock().unwrap_or_else(|e| e.into_inner());
    if area.is_none() {
        *area = claim_area();
    }
    let Some(a) = area.as_ref() else {
        return;
    };
    let n = text.len().min(a.len - 1);
    // SAFETY: [start, start + len) is this process' command-line and environment string
    // memory (bounds from the kernel), which nothing reads any more: the environment was
    // copied out of it by `claim_area` and the server keeps its own copy of the arguments.
    unsafe {
        let p = a.start as *mut u8;
        std::ptr::copy_nonoverlapping(text.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, a.len - n);
    }
}

/// Finds the command-line area and, if the environment strings follow it, moves the
/// environment to the heap so the area can grow over them (as Redis' setproctitle does).
fn claim_area() -> Option<Area> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain blanks) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    // arg_start, arg_end, env_start, env_end are fields 48..51 (1-based), i.e. 45..48 here.
    let num = |i: usize| fields.get(i)?.trim().parse::<usize>().ok();
    let (arg_start, arg_end, env_start, env_end) = (num(45)?, num(46)?, num(47)?, num(48)?);
    if arg_start == 0 || arg_end <= arg_start {
        return None;
    }
    let mut end = arg_end;
    if env_start == arg_end && env_end > env_start && move_environment(env_start, env_end) {
        end = env_end;
    }
    Some(Area {
        start: arg_start,
        len: end - arg_start,
    })
}

/// Copies every environment string that lives in [start, end) to the heap and points
/// `environ` at the copies. Returns false (changing nothing) if the list can't be read.
fn move_environment(start: usize, end: usize) -> bool {
    // SAFETY: at start-up `environ` is libc's NULL-terminated array of C strings; it is read
    // and replaced on the main thread before the server starts threads that could read it.
    unsafe {
        let env = environ;
        if env.is_null() {
            return true;
        }
        let mut copies: Vec<*mut c_char> = Vec::new();
        let mut i = 0;
        loop {
            let s = *env.add(i);
            if s.is_null() {
                break;
            }
            let owned = std::ffi::CStr::from_ptr(s).to_owned();
            // Strings outside the area (set by the process itself) stay where they are.
            copies.push(if (s as usize) >= start && (s as usize) < end {
                CString::into_raw(owned)
            } else {
                s
            });
            i += 1;
        }
        copies.push(std::ptr::null_mut());
        // The new array and strings live as long as the process, as the originals did.
        environ = Box::leak(copies.into_boxed_slice()).as_mut_ptr();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_variables_expand_as_redis_does() {
        let mut srv = crate::commands::test_support::test_server();
        srv.config.port = 7000;
        srv.config.bind = vec!["127.0.0.1".into(), "::1".into()];
        srv.config.unixsocket = "/tmp/s".into();
        srv.config.config_file = Some("/etc/redis.conf".into());
        let t = "TEST {title} {listen-addr} {port} {tls-port} {unixsocket} {config-file}";
        assert_eq!(
            expand(&srv, t, "/bin/redis-server"),
            "TEST /bin/redis-server 127.0.0.1:7000 7000 0 /tmp/s /etc/redis.conf"
        );
        // The default template, with its empty {server-mode} trimmed away.
        assert_eq!(
            expand(&srv, "{title} {listen-addr} {server-mode}", "x"),
            "x 127.0.0.1:7000"
        );
        srv.config.port = 0;
        srv.config.bind.clear();
        srv.config.config_file = None;
        assert_eq!(
            expand(&srv, "{listen-addr} {config-file}", "x"),
            "unixsocket:/tmp/s -"
        );
    }
}
