//! What the server writes when it dies or stalls: the crash report on a fatal signal
//! (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT — Redis' `sigsegvHandler`) and the software
//! watchdog's report when the event loop is stuck longer than `watchdog-period` (Redis'
//! `watchdogSignalHandler`). Both put a `STACK TRACE` section in the log, which is what people
//! (and the upstream suite) look for.
//!
//! Signal handlers can't take locks safely, so the log is written with `log::raw_from_handler`,
//! which never waits for the log mutex. Symbolizing the stack allocates: a crash inside the
//! allocator itself may then hang instead of reporting, a risk Redis' handler takes too (it
//! formats its INFO section with the allocator).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use super::log;

/// Signals that get a crash report before the process dies of them.
const FATAL_SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGABRT,
];

static HANDLERS_INSTALLED: AtomicBool = AtomicBool::new(false);

/// `use-exit-on-panic`: end a failed assertion with exit(1) rather than abort (the suite sets
/// it so that deliberate corruption tests don't leave core files and sanitizer noise).
static EXIT_ON_PANIC: AtomicBool = AtomicBool::new(false);

pub fn set_exit_on_panic(on: bool) {
    EXIT_ON_PANIC.store(on, Ordering::Relaxed);
}

/// The full name of the command running now (pointer and length of its bytes), for the crash
/// report. The bytes belong to the command table, which keeps them for as long as the
/// command exists; a report only reads them while the command runs.
static CURRENT_COMMAND: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static CURRENT_COMMAND_LEN: AtomicUsize = AtomicUsize::new(0);

/// Records that command `name` starts running; returns what was running before (a command
/// can run others: EXEC, module calls), for `leave_command`.
#[inline]
pub fn enter_command(name: &str) -> (*mut u8, usize) {
    let prev = (
        CURRENT_COMMAND.load(Ordering::Relaxed),
        CURRENT_COMMAND_LEN.load(Ordering::Relaxed),
    );
    CURRENT_COMMAND.store(name.as_ptr() as *mut u8, Ordering::Relaxed);
    CURRENT_COMMAND_LEN.store(name.len(), Ordering::Relaxed);
    prev
}

#[inline]
pub fn leave_command(prev: (*mut u8, usize)) {
    CURRENT_COMMAND.store(prev.0, Ordering::Relaxed);
    CURRENT_COMMAND_LEN.store(prev.1, Ordering::Relaxed);
}

fn current_command() -> Option<String> {
    let p = CURRENT_COMMAND.load(Ordering::Relaxed);
    let n = CURRENT_COMMAND_LEN.load(Ordering::Relaxed);
    if p.is_null() {
        return None;
    }
    // SAFETY: `enter_command` stored the pointer and length of a command name that the
    // command table keeps alive while that command runs, which is when a crash can see it.
    let bytes = unsafe { std::slice::from_raw_parts(p, n) };
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// Installs the crash-report handler for the fatal signals (when `crash-log-enabled`), on an
/// alternate stack so a stack overflow can still be reported.
pub fn install_crash_handlers() {
    const ALT_STACK_BYTES: usize = 256 * 1024;
    // The alternate stack lives as long as the process.
    let stack: &'static mut [u8] = Box::leak(vec![0u8; ALT_STACK_BYTES].into_boxed_slice());
    // SAFETY: `ss` points to a leaked buffer of the stated size, valid for the whole process;
    // sigaction is given a handler with the SA_SIGINFO signature and an initialized mask.
    unsafe {
        let ss = libc::stack_t {
            ss_sp: stack.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: stack.len(),
        };
        libc::sigaltstack(&ss, std::ptr::null_mut());
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut act.sa_mask);
        act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESETHAND | libc::SA_ONSTACK;
        act.sa_sigaction = crash_signal_handler as *const () as usize;
        for sig in FATAL_SIGNALS {
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
    HANDLERS_INSTALLED.store(true, Ordering::Relaxed);
}

pub fn handlers_installed() -> bool {
    HANDLERS_INSTALLED.load(Ordering::Relaxed)
}

/// Makes a Rust panic (an internal assertion that failed) end like Redis' failed
/// `serverAssert`: the assertion and a bug report with the stack trace go to the log, then the
/// process aborts, or exits with status 1 under `use-exit-on-panic`.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let pid = std::process::id();
        let line = |msg: &str| {
            log::raw_from_handler(&format!(
                "{}:{} {} # {}\n",
                pid,
                log::role() as char,
                log::timestamp(),
                msg
            ))
        };
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        line("=== ASSERTION FAILED ===");
        line(&format!("==> {} '{}'", place, what));
        log::raw_from_handler(
            "\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\n",
        );
        if let Some(name) = current_command() {
            line(&format!("Failed running the command: {}", name));
        }
        log::raw_from_handler("\n------ STACK TRACE ------\n");
        log_stack_trace();
        log::raw_from_handler(
            "\n=== REDIS BUG REPORT END. Make sure to include from START to END. ===\n\n",
        );
        if EXIT_ON_PANIC.load(Ordering::Relaxed) {
            // SAFETY: _exit ends the process at once, which is what is wanted here.
            unsafe { libc::_exit(1) };
        }
        // The abort that follows must not write a second report.
        remove_crash_handlers();
    }));
}

/// Puts the default actions back (after a report, or when `crash-log-enabled` is turned off).
pub fn remove_crash_handlers() {
    // SAFETY: SIG_DFL is a valid disposition for these signals.
    unsafe {
        for sig in FATAL_SIGNALS {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    HANDLERS_INSTALLED.store(false, Ordering::Relaxed);
}

extern "C" fn crash_signal_handler(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // Only a fault the kernel raised (si_code > 0) has a faulting address; for a signal sent
    // by kill/raise that part of siginfo holds the sender's pid.
    let addr = (code > 0 && matches!(sig, libc::SIGSEGV | libc::SIGBUS))
        // SAFETY: as above; si_addr is valid for kernel-generated SIGSEGV/SIGBUS.
        .then(|| unsafe { (*info).si_addr() as usize });
    report_crash(sig, code, addr);
    die_of(sig);
}

/// Writes the crash report for signal `sig` (`si_code` `code`). `addr` is the faulting
/// address of a memory fault.
fn report_crash(sig: i32, code: i32, addr: Option<usize>) {
    let pid = std::process::id();
    let line = |msg: &str| {
        log::raw_from_handler(&format!(
            "{}:{} {} # {}\n",
            pid,
            log::role() as char,
            log::timestamp(),
            msg
        ))
    };
    log::raw_from_handler("\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\n");
    line(&format!(
        "Redis {} crashed by signal: {}, si_code: {}",
        super::REDIS_VERSION,
        sig,
        code
    ));
    if let Some(a) = addr {
        line(&format!("Accessing address: {:#x}", a));
    }
    if let Some(name) = current_command() {
        line(&format!("Crashed running the command: {}", name));
    }
    if let Some(label) = crate::module::crash::current_label() {
        line(&format!("Crashed inside {}", label));
    }
    log::raw_from_handler("\n------ STACK TRACE ------\n");
    log_stack_trace();
    log::raw_from_handler(
        "\n=== REDIS BUG REPORT END. Make sure to include from START to END. ===\n\n       \
         Please report the crash by opening an issue on github:\n\n           \
         http://github.com/redis/redis/issues\n\n",
    );
}

/// Ends the process with `sig` under its default action, so the exit status (and a core dump,
/// where enabled) is what the signal itself would have produced.
pub fn die_of(sig: i32) -> ! {
    remove_crash_handlers();
    // SAFETY: the default action is in place; raising the signal terminates the process.
    unsafe {
        libc::raise(sig);
    }
    std::process::abort();
}

fn log_stack_trace() {
    let bt = std::backtrace::Backtrace::force_capture();
    log::raw_from_handler(&format!(
        "Backtrace of thread {:?}:\n{}\n",
        thread_label(),
        bt
    ));
}

fn thread_label() -> String {
    std::thread::current()
        .name()
        .map(str::to_owned)
        .unwrap_or_else(|| "unnamed".into())
}

// ---- software watchdog ---------------------------------------------------------------------

thread_local! {
    /// The POSIX timer that raises SIGALRM on the main thread when the cron doesn't re-arm it
    /// in time (its handle as an integer). Created on first use, by and for the main thread.
    static WATCHDOG: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

fn watchdog_timer() -> Option<libc::timer_t> {
    if let Some(t) = WATCHDOG.with(|w| w.get()) {
        return Some(t as libc::timer_t);
    }
    // SAFETY: the handler has the SA_SIGINFO signature; the sigevent is zero-initialized and
    // then filled with a signal number and this thread's id, as SIGEV_THREAD_ID requires.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut act.sa_mask);
        act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESTART | libc::SA_ONSTACK;
        act.sa_sigaction = watchdog_signal_handler as *const () as usize;
        libc::sigaction(libc::SIGALRM, &act, std::ptr::null_mut());
        let mut sev: libc::sigevent = std::mem::zeroed();
        sev.sigev_notify = libc::SIGEV_THREAD_ID;
        sev.sigev_signo = libc::SIGALRM;
        sev.sigev_notify_thread_id = libc::gettid();
        let mut timer: libc::timer_t = std::ptr::null_mut();
        if libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut timer) != 0 {
            return None;
        }
        WATCHDOG.with(|c| c.set(Some(timer as usize)));
        Some(timer)
    }
}

/// Arms (or, with 0, disarms) the watchdog to fire once `period_ms` from now. Called from the
/// cron: if the event loop doesn't come back to re-arm it in time, the stack of whatever is
/// blocking it goes to the log.
pub fn watchdog_schedule(period_ms: i64) {
    if period_ms <= 0 && WATCHDOG.with(|w| w.get()).is_none() {
        return;
    }
    let Some(timer) = watchdog_timer() else {
        return;
    };
    let ms = period_ms.max(0);
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        },
    };
    // SAFETY: `timer` was created by timer_create on this thread and is never deleted.
    unsafe {
        libc::timer_settime(timer, 0, &spec, std::ptr::null_mut());
    }
}

extern "C" fn watchdog_signal_handler(
    _sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    log::raw_from_handler(&format!(
        "{}:{} {} # \n--- WATCHDOG TIMER EXPIRED ---\n",
        std::process::id(),
        log::role() as char,
        log::timestamp()
    ));
    log_stack_trace();
    log::raw_from_handler("--------\n");
}
