//! RedisModule_Fork and friends: a module forks the server's one background child (refused
//! with EEXIST while a BGSAVE, AOF rewrite or another module child runs), works in it on its
//! copy of the dataset, reports progress with SendChildHeartbeat (INFO current_fork_perc) and
//! leaves with ExitFromChild; the parent reaps it in the cron and calls the module's done
//! handler. The fork itself is the server's shared `fork_child`.

use std::ffi::{c_int, c_void};
use std::sync::Mutex;

use super::ctx::{REDISMODULE_ERR, REDISMODULE_OK};
use crate::server::fork::{ChildInfoKind, ChildInfoSender, ChildKind, Forked};
use crate::server::Server;

/// `RedisModuleForkDoneHandler`: exit code, terminating signal, the module's data.
pub type DoneHandler = unsafe extern "C" fn(c_int, c_int, *mut c_void);

/// The done handler of the running module child, kept by the parent.
#[derive(Default)]
pub struct ForkState {
    handler: Option<(DoneHandler, usize)>,
}

/// In a module child: its side of the progress pipe.
static CHILD_INFO: Mutex<Option<ChildInfoSender>> = Mutex::new(None);

unsafe extern "C" fn rm_fork(cb: Option<DoneHandler>, user_data: *mut c_void) -> c_int {
    let Some(srv) = super::command::current_server() else {
        return -1;
    };
    match srv.fork_child(ChildKind::Module) {
        Ok(Forked::Child { info_fd }) => {
            *CHILD_INFO.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(ChildInfoSender::new(info_fd, "Module fork"));
            0
        }
        Ok(Forked::Parent { pid }) => {
            srv.modules.fork.handler = cb.map(|f| (f, user_data as usize));
            crate::log_verbose!("Module fork started pid: {} ", pid);
            pid
        }
        Err(e) => {
            crate::log_warning!(
                "Can't fork for module: {}",
                crate::rdb::persist::strerror(&e)
            );
            super::set_errno(e.raw_os_error().unwrap_or(libc::EAGAIN));
            -1
        }
    }
}

/// In the child: reports progress (0..1) to the parent.
unsafe extern "C" fn send_child_heartbeat(progress: f64) {
    if let Some(s) = CHILD_INFO
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        s.send(ChildInfoKind::CurrentInfo, 0, progress);
    }
}

/// In the child: reports the copy-on-write size and exits with `retcode`.
unsafe extern "C" fn exit_from_child(retcode: c_int) -> c_int {
    if let Some(s) = CHILD_INFO
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        s.send(ChildInfoKind::ModuleCowSize, 0, -1.0);
    }
    // SAFETY: leaves the child without the parent's exit handlers or destructors.
    unsafe { libc::_exit(retcode) }
}

/// Stops the module child `pid` (waiting for it with `wait`); the done handler is not called.
/// False when the running child is not that module child.
pub fn terminate_child(srv: &mut Server, pid: libc::pid_t, wait: bool) -> bool {
    if !srv.persist.module_child || srv.persist.child_pid != Some(pid) {
        return false;
    }
    crate::log_verbose!("Killing running module fork child: {}", pid);
    // SAFETY: signals (and reaps) our own child.
    unsafe {
        if libc::kill(pid, libc::SIGUSR1) != -1 && wait {
            let mut status = 0;
            while libc::waitpid(pid, &mut status, 0) != pid {}
        }
    }
    srv.reset_child_state();
    srv.modules.fork.handler = None;
    true
}

unsafe extern "C" fn kill_fork_child(pid: c_int) -> c_int {
    let Some(srv) = super::command::current_server() else {
        return REDISMODULE_ERR;
    };
    if terminate_child(srv, pid, true) {
        REDISMODULE_OK
    } else {
        REDISMODULE_ERR
    }
}

/// The parent reaped the module child: log it and call the module's done handler.
pub fn child_done(srv: &mut Server, pid: libc::pid_t, exitcode: i32, bysignal: i32) {
    crate::log_notice!(
        "Module fork exited pid: {}, retcode: {}, bysignal: {}",
        pid,
        exitcode,
        bysignal
    );
    if let Some((f, data)) = srv.modules.fork.handler.take() {
        super::command::set_current_server(srv);
        // SAFETY: the handler the module registered with RedisModule_Fork, with its data.
        unsafe { f(exitcode, bysignal, data as *mut c_void) };
    }
}

pub fn entries() -> Vec<(&'static str, usize)> {
    super::api_entries! {
        "Fork" => rm_fork as unsafe extern "C" fn(Option<DoneHandler>, *mut c_void) -> c_int,
        "SendChildHeartbeat" => send_child_heartbeat as unsafe extern "C" fn(f64),
        "ExitFromChild" => exit_from_child as unsafe extern "C" fn(c_int) -> c_int,
        "KillForkChild" => kill_fork_child as unsafe extern "C" fn(c_int) -> c_int,
    }
}
