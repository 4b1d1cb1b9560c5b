//! The server log, in Redis' line format so that tools and the upstream test harness that grep
//! logs keep working:
//! `<pid>:<role> <dd Mon yyyy HH:MM:SS.mmm> <level char> <message>`, where the role is M
//! (master), S (replica) or C (child process) and the level char is `.` `-` `*` `#` for debug,
//! verbose, notice and warning.

use std::io::Write;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::Mutex;

pub const DEBUG: i32 = 0;
pub const VERBOSE: i32 = 1;
pub const NOTICE: i32 = 2;
pub const WARNING: i32 = 3;

static LEVEL: AtomicI32 = AtomicI32::new(NOTICE);
static ROLE: AtomicU8 = AtomicU8::new(b'M');
static FILE: Mutex<Option<String>> = Mutex::new(None);

/// Sets the minimum level and the destination (`None` or empty: standard output).
/// Whether lines also go to syslog (`syslog-enabled`).
static SYSLOG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts sending log lines to syslog too, under `ident`, with the facility index of the
/// `syslog-facility` directive (0 = user, 1..=8 = local0..local7).
pub fn enable_syslog(ident: &str, facility: i32) {
    let facilities = [
        libc::LOG_USER,
        libc::LOG_LOCAL0,
        libc::LOG_LOCAL1,
        libc::LOG_LOCAL2,
        libc::LOG_LOCAL3,
        libc::LOG_LOCAL4,
        libc::LOG_LOCAL5,
        libc::LOG_LOCAL6,
        libc::LOG_LOCAL7,
    ];
    let fac = facilities[facility.clamp(0, 8) as usize];
    // openlog keeps the pointer: the identity string must live for the whole process.
    let ident: &'static std::ffi::CStr = Box::leak(
        std::ffi::CString::new(ident.replace('\0', ""))
            .unwrap_or_default()
            .into_boxed_c_str(),
    );
    // SAFETY: `ident` is a NUL-terminated string that is never freed.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
            fac,
        )
    };
    SYSLOG.store(true, Ordering::Relaxed);
}

pub fn configure(level: i32, logfile: &str) {
    LEVEL.store(level, Ordering::Relaxed);
    *FILE.lock().unwrap() = if logfile.is_empty() {
        None
    } else {
        Some(logfile.to_string())
    };
}

pub fn set_level(level: i32) {
    LEVEL.store(level, Ordering::Relaxed);
}

/// Sets the role character shown in every line.
pub fn set_role(role: u8) {
    ROLE.store(role, Ordering::Relaxed);
}

pub fn enabled(level: i32) -> bool {
    level >= LEVEL.load(Ordering::Relaxed)
}

/// The role character shown in every line.
pub fn role() -> u8 {
    ROLE.load(Ordering::Relaxed)
}

/// The time as log lines show it (`dd Mon yyyy HH:MM:SS.mmm`).
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let mut buf = [0u8; 64];
    // SAFETY: `tm` and `buf` are valid for writes; the format is NUL-terminated.
    let n = unsafe {
        libc::localtime_r(&secs, &mut tm);
        libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%d %b %Y %H:%M:%S".as_ptr(),
            &tm,
        )
    };
    format!(
        "{}.{:03}",
        String::from_utf8_lossy(&buf[..n]),
        now.subsec_millis()
    )
}

/// Writes one line if `level` is enabled. Messages of "raw" form (no prefix) use `raw`.
pub fn log(level: i32, msg: &str) {
    if !enabled(level) {
        return;
    }
    let c = [b'.', b'-', b'*', b'#'][level.clamp(0, 3) as usize] as char;
    let line = format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        ROLE.load(Ordering::Relaxed) as char,
        timestamp(),
        c,
        msg
    );
    raw(&line);
    if SYSLOG.load(Ordering::Relaxed) {
        let prio = [
            libc::LOG_DEBUG,
            libc::LOG_INFO,
            libc::LOG_NOTICE,
            libc::LOG_WARNING,
        ][level.clamp(0, 3) as usize];
        if let Ok(text) = std::ffi::CString::new(msg.replace('\0', "")) {
            // SAFETY: both strings are NUL-terminated; "%s" consumes exactly one argument.
            unsafe { libc::syslog(prio, c"%s".as_ptr(), text.as_ptr()) };
        }
    }
}

/// Writes text as is to the log destination.
pub fn raw(text: &str) {
    let file = FILE.lock().unwrap().clone();
    match file {
        Some(path) => {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
            {
                let _ = f.write_all(text.as_bytes());
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

/// Writes text to the log destination from a signal handler: never waits for the log mutex
/// (the interrupted code may hold it) and writes standard output with a plain write(2), past
/// Rust's stdout lock and buffer. If the destination can't be read without waiting, the
/// text goes to standard error.
pub fn raw_from_handler(text: &str) {
    let fd_write = |fd: libc::c_int| {
        let mut rest = text.as_bytes();
        while !rest.is_empty() {
            // SAFETY: `rest` is a valid buffer of the given length.
            let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
            if n <= 0 {
                break;
            }
            rest = &rest[n as usize..];
        }
    };
    match FILE.try_lock() {
        Ok(guard) => match guard.as_deref() {
            Some(path) => {
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)
                {
                    let _ = f.write_all(text.as_bytes());
                }
            }
            None => fd_write(libc::STDOUT_FILENO),
        },
        Err(_) => fd_write(libc::STDERR_FILENO),
    }
}

#[macro_export]
macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        if $crate::server::log::enabled($level) {
            $crate::server::log::log($level, &format!($($arg)*));
        }
    };
}

#[macro_export]
macro_rules! log_notice { ($($arg:tt)*) => { $crate::log_at!($crate::server::log::NOTICE, $($arg)*) }; }
#[macro_export]
macro_rules! log_warning { ($($arg:tt)*) => { $crate::log_at!($crate::server::log::WARNING, $($arg)*) }; }
#[macro_export]
macro_rules! log_verbose { ($($arg:tt)*) => { $crate::log_at!($crate::server::log::VERBOSE, $($arg)*) }; }
#[macro_export]
macro_rules! log_debug { ($($arg:tt)*) => { $crate::log_at!($crate::server::log::DEBUG, $($arg)*) }; }
