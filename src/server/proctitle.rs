//! The process title (`set-proc-title`, `proc-title-template`): what `ps` and
//! `/proc/<pid>/cmdline` show for the server and its children. Tools and tests read it, so it
//! follows Redis on Linux: the expanded template is written over the memory that holds the
//! command line, extended over the environment strings that follow it once those have been
//! copied elsewhere (the kernel then reports the title as the command line).
//!
//! The area is found from the process' own `argv`, as Redis finds it from `main`'s: glibc
//! hands `argc, argv, envp` to every `.init_array` function, and `capture_argv` keeps them.
//! The area runs from `argv[0]` over every argument and environment string that follows the
//! previous one without a gap. (Not the kernel's arg_start..env_end from /proc/self/stat:
//! under valgrind those bounds are valgrind's own command line, not the program's.) The
//! server keeps its own copy of its arguments (`exec_argv`), taken before the first title
//! is written.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
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

/// `argc` and `argv` as the process started, kept by `capture_argv`.
static ARGC: AtomicUsize = AtomicUsize::new(0);
static ARGV: AtomicPtr<*mut c_char> = AtomicPtr::new(std::ptr::null_mut());

/// Called by glibc before `main` with the process' `argc`, `argv` and `envp` (glibc passes
/// them to `.init_array` functions; Rust's own runtime reads its arguments the same way).
extern "C" fn capture_argv(argc: c_int, argv: *mut *mut c_char, _envp: *mut *mut c_char) {
    ARGC.store(argc.max(0) as usize, Ordering::Relaxed);
    ARGV.store(argv, Ordering::Relaxed);
}

#[used]
#[link_section = ".init_array.00099"]
static CAPTURE_ARGV: extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) = capture_argv;

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
    // SAFETY: [start, start + len) is this process' argument and environment string memory
    // (contiguous strings found from argv), which nothing reads any more: the environment was
    // copied out of it by `claim_area` and the server keeps its own copy of the arguments.
    unsafe {
        let p = a.start as *mut u8;
        std::ptr::copy_nonoverlapping(text.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, a.len - n);
    }
}

/// Finds the command-line area (`argv[0]` and the strings contiguous with it) and, if
/// environment strings continue it, moves the environment to the heap so the area can grow
/// over them (as Redis' setproctitle does).
fn claim_area() -> Option<Area> {
    let (argc, argv) = (ARGC.load(Ordering::Relaxed), ARGV.load(Ordering::Relaxed));
    if argc == 0 || argv.is_null() {
        return None;
    }
    // SAFETY: `argv` is the process' argument vector as glibc handed it over, `argc` valid
    // NUL-terminated strings; nothing has written to them (this runs once, at the first title).
    let args: Vec<*mut c_char> = unsafe { (0..argc).map(|i| *argv.add(i)).collect() };
    let start = args[0] as usize;
    let arg_end = contiguous_end(start, &args);
    let mut end = arg_end;
    // SAFETY: `environ` is libc's NULL-terminated array, read on the main thread at start-up.
    let env = unsafe { null_terminated(environ) };
    let env_end = contiguous_end(arg_end, &env);
    if env_end > arg_end && move_environment(arg_end, env_end) {
        end = env_end;
    }
    Some(Area {
        start,
        len: end - start,
    })
}

/// Where the run of strings starting exactly at `from` ends: each string must begin where
/// the previous one's NUL left off.
fn contiguous_end(from: usize, strings: &[*mut c_char]) -> usize {
    let mut end = from;
    for &s in strings {
        if s.is_null() || s as usize != end {
            break;
        }
        // SAFETY: a valid NUL-terminated string of argv or environ.
        end += unsafe { CStr::from_ptr(s) }.to_bytes_with_nul().len();
    }
    end
}

/// The entries of a NULL-terminated pointer array.
///
/// # Safety
/// `list` is null or a NULL-terminated array of pointers.
unsafe fn null_terminated(list: *mut *mut c_char) -> Vec<*mut c_char> {
    let mut out = Vec::new();
    if list.is_null() {
        return out;
    }
    let mut i = 0;
    loop {
        // SAFETY: within the array, up to and including its NULL (the caller's contract).
        let s = unsafe { *list.add(i) };
        if s.is_null() {
            return out;
        }
        out.push(s);
        i += 1;
    }
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
            let owned = CStr::from_ptr(s).to_owned();
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
