//! The event loop: one thread, `mio` readiness events for listeners and clients, the periodic
//! `server_cron` at `hz`, and the before-sleep hook that flushes replies and does the work Redis
//! does just before waiting again (fast expire cycle, closing clients, resuming paused clients).

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Registry, Token};

use crate::client::Conn;
use crate::server::cron::{ExpireCycle, ExpireState};
use crate::server::Server;

/// Event-loop tokens, from the top down (client ids count up from 1, far below all of these):
/// - `LISTENER_BASE..`: the listening sockets, one each;
/// - `MODULE_WAKER`: wakes the loop when a module thread queued work;
/// - `crate::replication::replica::LINK_TOKEN` (`usize::MAX - 128`): the link to our master
///   before it becomes a master client;
/// - `MODULE_FD_TOKENS`: file descriptors modules added to the loop (token = base + fd).
pub const LISTENER_BASE: usize = usize::MAX - 64;
pub const MODULE_WAKER: usize = LISTENER_BASE - 1;
pub const MODULE_FD_TOKENS: std::ops::Range<usize> =
    crate::module::eventloop::FD_TOKEN_BASE..(1 << 63);

/// The last termination signal received (0 = none), set by the signal handler.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Set by the handler when a signal schedules a shutdown, cleared when that shutdown is
/// aborted or fails: a second SIGINT meanwhile means "exit now".
static SHUTDOWN_PENDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// `temp-<pid>.rdb` as a C string, so the handler can remove the snapshot being written
/// without allocating.
static TEMP_RDB: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();

/// Forgets a signal-scheduled shutdown (SHUTDOWN ABORT, or the shutdown failed).
pub fn clear_shutdown_pending() {
    SHUTDOWN_PENDING.store(false, Ordering::SeqCst);
}

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGINT && SHUTDOWN_PENDING.load(Ordering::SeqCst) {
        // Asked twice: leave at once, without the final save, removing its partial file.
        if let Some(p) = TEMP_RDB.get() {
            // SAFETY: unlink and _exit are async-signal-safe; the path was built beforehand.
            unsafe {
                libc::unlink(p.as_ptr());
            }
        }
        // SAFETY: see above.
        unsafe { libc::_exit(1) };
    }
    SHUTDOWN_PENDING.store(true, Ordering::SeqCst);
    SIGNAL.store(sig, Ordering::SeqCst);
}

fn install_signal_handlers() {
    let _ = TEMP_RDB.set(
        std::ffi::CString::new(format!("temp-{}.rdb", std::process::id()))
            .expect("no NUL in a number"),
    );
    // SAFETY: the handler only touches atomics and calls async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

pub enum Listener {
    Tcp(TcpListener, String),
    Unix(UnixListener, String),
}

/// Opens a TCP listener the way Redis does: SO_REUSEADDR, IPV6_V6ONLY for IPv6, the configured
/// backlog.
fn listen_tcp(addr: &str, port: u16, backlog: i32) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let ip: std::net::IpAddr = match addr {
        "*" => "0.0.0.0".parse().unwrap(),
        "::*" => "::".parse().unwrap(),
        other => other
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "Invalid bind address"))?,
    };
    let sa = std::net::SocketAddr::new(ip, port);
    let sock = Socket::new(Domain::for_address(sa), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    if sa.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.bind(&sa.into())?;
    sock.listen(backlog)?;
    sock.set_nonblocking(true)?;
    Ok(TcpListener::from_std(sock.into()))
}

/// Opens TCP listeners on every `bind` address for `port` (none when the port is 0). A leading
/// '-' marks an address whose failure is tolerated when the address family isn't available.
/// Errors carry Redis' log text.
pub fn open_tcp_listeners(
    bind: &[String],
    port: i64,
    backlog: i32,
) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    if port == 0 {
        return Ok(out);
    }
    for raw in bind {
        let (optional, addr) = match raw.strip_prefix('-') {
            Some(a) => (true, a.to_string()),
            None => (false, raw.clone()),
        };
        match listen_tcp(&addr, port as u16, backlog) {
            Ok(l) => out.push(Listener::Tcp(l, addr)),
            Err(e) => {
                let unsupported = matches!(
                    e.raw_os_error(),
                    Some(libc::EAFNOSUPPORT)
                        | Some(libc::EADDRNOTAVAIL)
                        | Some(libc::EPROTONOSUPPORT)
                );
                if optional && unsupported {
                    continue;
                }
                return Err(format!(
                    "Warning: Could not create server TCP listening socket {}:{}: {}",
                    addr, port, e
                ));
            }
        }
    }
    Ok(out)
}

/// Binds every configured address and the unix socket. Errors are returned with Redis' log
/// text.
pub fn open_listeners(srv: &mut Server) -> Result<Vec<Listener>, String> {
    let port = srv.config.port;
    let mut out = open_tcp_listeners(&srv.config.bind, port, srv.config.tcp_backlog as i32)?;
    if !srv.config.unixsocket.is_empty() {
        let path = srv.config.unixsocket.clone();
        // sockaddr_un holds 108 bytes with the terminating NUL; Redis refuses longer paths
        // up front with this text rather than binding a truncated one.
        const SUN_PATH_BYTES: usize = 108;
        if path.len() > SUN_PATH_BYTES - 1 {
            return Err(format!(
                "Failed opening Unix socket: unix socket path too long ({}), must be under {}",
                path.len(),
                SUN_PATH_BYTES
            ));
        }
        let _ = std::fs::remove_file(&path);
        let l =
            UnixListener::bind(&path).map_err(|e| format!("Failed opening Unix socket: {}", e))?;
        if srv.config.unixsocketperm != 0 {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                &path,
                std::fs::Permissions::from_mode(srv.config.unixsocketperm as u32),
            );
        }
        out.push(Listener::Unix(l, path));
    }
    if out.is_empty() && port != 0 {
        return Err("Failed listening on port (tcp), aborting.".into());
    }
    srv.listen_addrs = out
        .iter()
        .map(|l| match l {
            Listener::Tcp(_, a) => format!("{}:{}", a, port),
            Listener::Unix(_, p) => p.clone(),
        })
        .collect();
    Ok(out)
}

fn accept_all(srv: &mut Server, registry: &Registry, l: &mut Listener) {
    loop {
        match l {
            Listener::Tcp(l, _) => match l.accept() {
                Ok((s, peer)) => {
                    let local = s.local_addr().map(|a| fmt_addr(&a)).unwrap_or_default();
                    srv.accept_client(registry, Conn::Tcp(s), fmt_addr(&peer), local);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::log_warning!("Accepting client connection: {}", e);
                    return;
                }
            },
            Listener::Unix(l, path) => match l.accept() {
                Ok((s, _)) => {
                    let p = path.clone();
                    // Both ends of a unix connection are named `path:0`, as Redis names them.
                    let name = format!("{}:0", p);
                    srv.accept_client(registry, Conn::Unix(s), name.clone(), name);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::log_warning!("Accepting client connection: {}", e);
                    return;
                }
            },
        }
    }
}

/// `ip:port`, with IPv6 addresses unbracketed as Redis prints them.
pub fn fmt_addr(a: &std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        std::net::SocketAddr::V6(v) => format!("{}:{}", v.ip(), v.port()),
    }
}

/// One readiness event of the current poll batch.
#[derive(Clone, Copy)]
pub struct ReadyEvent {
    pub token: usize,
    pub readable: bool,
    pub writable: bool,
    pub read_closed: bool,
}

thread_local! {
    /// The rest of the current poll batch, last event first.
    static READY: std::cell::RefCell<Vec<ReadyEvent>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The next unprocessed event of the current poll batch (the loop's, or a module's nested
/// pass while it yields).
pub fn take_ready_event() -> Option<ReadyEvent> {
    READY.with(|r| r.borrow_mut().pop())
}

/// Work done just before waiting for events.
fn before_sleep(srv: &mut Server, registry: &Registry, expire: &mut ExpireState) {
    srv.update_cached_time();
    crate::module::before_sleep(srv);
    srv.free_clients_in_async_queue(registry);
    srv.resume_unpaused_clients(registry);
    srv.handle_blocked_clients_timeout();
    srv.active_expire_cycle(ExpireCycle::Fast, expire);
    srv.process_unblocked_clients(registry);
    srv.handle_clients_blocked_on_keys();
    // Serving may have unblocked clients with more commands pipelined.
    srv.process_unblocked_clients(registry);
    // BCAST clients hear about the keys changed under their prefixes in this iteration.
    srv.tracking_broadcast_invalidations();
    srv.flush_propagation();
    srv.repl_before_sleep();
    srv.repl_link_before_sleep(registry);
    srv.cluster_before_sleep();
    // Written (and with appendfsync always, synced) before any reply goes out.
    srv.aof_flush(false);
    srv.handle_pending_writes(registry);
    srv.evict_clients(None);
    srv.free_clients_in_async_queue(registry);
    // A module thread yielding for a pass of the loop may go on.
    crate::module::threads::main_pass_done();
}

/// Replaces the TCP listeners (keeping the unix socket) and re-registers all of them, since
/// their tokens are their positions.
fn swap_tcp_listeners(
    srv: &mut Server,
    poll: &Poll,
    listeners: &mut Vec<Listener>,
    new: Vec<Listener>,
) -> io::Result<()> {
    for l in listeners.iter_mut() {
        let _ = match l {
            Listener::Tcp(l, _) => poll.registry().deregister(l),
            Listener::Unix(l, _) => poll.registry().deregister(l),
        };
    }
    listeners.retain(|l| matches!(l, Listener::Unix(..)));
    let mut all = new;
    all.append(listeners);
    *listeners = all;
    for (i, l) in listeners.iter_mut().enumerate() {
        let token = Token(LISTENER_BASE + i);
        match l {
            Listener::Tcp(l, _) => poll.registry().register(l, token, Interest::READABLE)?,
            Listener::Unix(l, _) => poll.registry().register(l, token, Interest::READABLE)?,
        }
    }
    let port = srv.config.port;
    srv.listen_addrs = listeners
        .iter()
        .map(|l| match l {
            Listener::Tcp(_, a) => format!("{}:{}", a, port),
            Listener::Unix(_, p) => p.clone(),
        })
        .collect();
    Ok(())
}

/// Runs the server until it shuts down. Returns the process exit code.
pub fn run(srv: &mut Server, listeners: Vec<Listener>) -> i32 {
    match EventLoop::new(srv, listeners) {
        Ok(mut el) => el.run(srv),
        Err(code) => code,
    }
}

/// The event loop: readiness polling over the listeners and client sockets, before-sleep
/// work and the cron. Created before the dataset is loaded, so clients can be served (with
/// `-LOADING` for most commands) while a long load runs.
pub struct EventLoop {
    poll: Poll,
    listeners: Vec<Listener>,
    events: Events,
    expire: ExpireState,
    next_cron: u64,
}

impl EventLoop {
    pub fn new(srv: &mut Server, mut listeners: Vec<Listener>) -> Result<EventLoop, i32> {
        install_signal_handlers();
        let poll = match Poll::new() {
            Ok(p) => p,
            Err(e) => {
                crate::log_warning!("Failed creating the event loop: {}", e);
                return Err(1);
            }
        };
        for (i, l) in listeners.iter_mut().enumerate() {
            let token = Token(LISTENER_BASE + i);
            let res = match l {
                Listener::Tcp(l, _) => poll.registry().register(l, token, Interest::READABLE),
                Listener::Unix(l, _) => poll.registry().register(l, token, Interest::READABLE),
            };
            if let Err(e) = res {
                crate::log_warning!("Failed registering a listener: {}", e);
                return Err(1);
            }
        }
        srv.registry = Some(poll.registry().try_clone().expect("clone registry"));
        // Module threads wake the loop up (UnblockClient, one-shot callbacks), and modules
        // add their own fds to the same epoll instance.
        match mio::Waker::new(poll.registry(), Token(MODULE_WAKER)) {
            Ok(w) => crate::module::threads::install_waker(w),
            Err(e) => {
                crate::log_warning!("Failed creating the module waker: {}", e);
                return Err(1);
            }
        }
        crate::module::eventloop::set_epoll_fd(std::os::fd::AsRawFd::as_raw_fd(&poll));
        crate::module::threads::install_registry(
            poll.registry().try_clone().expect("clone registry"),
        );
        Ok(EventLoop {
            poll,
            listeners,
            events: Events::with_capacity(1024),
            expire: ExpireState::default(),
            next_cron: crate::util::monotonic_us(),
        })
    }

    /// Runs until the server exits; returns the exit code.
    pub fn run(&mut self, srv: &mut Server) -> i32 {
        // The first cron runs before anything is served, as Redis' serverCron (due 1 ms after
        // start-up, so by the first pass) runs before a connection queued meanwhile can become
        // a replica: a replica that attaches at once is not pinged by the first
        // replication cron.
        if !srv.cron_paused {
            srv.server_cron(&mut self.expire);
        }
        self.next_cron = crate::util::monotonic_us() + 1_000_000 / srv.hz.max(1) as u64;
        loop {
            if let Some(code) = self.iterate(srv, true) {
                return code;
            }
        }
    }

    /// Serves pending client events without waiting and without the cron, while a long
    /// operation (loading) keeps the loop from running (Redis' `processEventsWhileBlocked`).
    /// A shutdown signal meanwhile ends the process without saving.
    pub fn process_events_while_blocked(&mut self, srv: &mut Server) {
        for _ in 0..4 {
            if let Some(code) = self.iterate(srv, false) {
                // SHUTDOWN ran meanwhile (its replies are flushed): no point loading on.
                std::process::exit(code);
            }
        }
        if srv.shutdown_asap && srv.exit_code.is_none() {
            use crate::commands::server::shutdown_flags::NOSAVE;
            if srv.prepare_for_shutdown(NOSAVE) == crate::server::shutdown::Shutdown::Exit {
                std::process::exit(0);
            }
            crate::log_warning!("SIGTERM received but errors trying to shut down the server, check the logs for more information");
            srv.shutdown_asap = false;
            clear_shutdown_pending();
        }
    }

    /// One pass: before-sleep work, a poll (blocking until the next cron run when `normal`),
    /// the ready events, signals, and (when `normal`) the cron. Some(code) when the server
    /// must exit.
    fn iterate(&mut self, srv: &mut Server, normal: bool) -> Option<i32> {
        let (poll, listeners, events) = (&mut self.poll, &mut self.listeners, &mut self.events);
        if let Some(new) = srv.pending_tcp_listeners.take() {
            // CONFIG SET port/bind opened these already; swap them in for the TCP ones.
            if let Err(e) = swap_tcp_listeners(srv, poll, listeners, new) {
                crate::log_warning!("Failed registering a listener: {}", e);
            }
        }
        if normal {
            crate::module::events::fire_eventloop(srv, false);
        }
        let registry = srv.registry.take().expect("registry");
        before_sleep(srv, &registry, &mut self.expire);
        srv.registry = Some(registry);
        if let Some(code) = srv.exit_code {
            return Some(code);
        }
        let now = crate::util::monotonic_us();
        let mut wait = if normal
            && srv.pending_rereads.is_empty()
            && !srv.evict.proc_running
            && !srv.repl.link.load_pending
            && !srv.repl.link.undrained
        {
            self.next_cron.saturating_sub(now)
        } else {
            0
        };
        // Wake up for the earliest blocked client's timeout (a client times out once the
        // clock is past its deadline).
        if let Some(t) = srv.blocking.next_timeout() {
            // Saturating: an XREAD BLOCK deadline may be as far as i64::MAX.
            let until = (t.saturating_add(1) - crate::util::mstime())
                .max(0)
                .unsigned_abs()
                .saturating_mul(1000);
            wait = wait.min(until);
        }
        // And for the first module timer.
        if let Some(t) = srv.modules.timers.next_deadline_us() {
            let until = t.saturating_sub(crate::util::ustime() as u64);
            wait = wait.min(until);
        }
        // Work modules queued from their threads meanwhile is done without sleeping.
        if crate::module::has_pending_work() {
            wait = 0;
        }
        // Module threads may use the server (under the GIL) only while we wait.
        crate::module::threads::release_for_poll(srv);
        let polled = poll.poll(events, Some(Duration::from_micros(wait)));
        crate::module::threads::acquire_after_poll();
        if normal {
            crate::module::events::fire_eventloop(srv, true);
        }
        match polled {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                crate::log_warning!("Event loop failure: {}", e);
                return Some(1);
            }
        }
        srv.update_cached_time();
        let registry = srv.registry.take().expect("registry");
        for id in std::mem::take(&mut srv.pending_rereads) {
            if srv.clients.contains_key(&id) {
                srv.read_from_client(&registry, id, true);
            }
        }
        // The batch is kept where a module yielding inside one of these events' commands
        // can take the rest of it (`take_ready_event`): with edge-triggered sockets, events
        // already returned by this poll would not be reported to its own wait again.
        READY.with(|r| {
            let mut r = r.borrow_mut();
            r.clear();
            r.extend(events.iter().map(|ev| ReadyEvent {
                token: ev.token().0,
                readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                writable: ev.is_writable() || ev.is_write_closed(),
                read_closed: ev.is_read_closed(),
            }));
            r.reverse();
        });
        while let Some(ev) = take_ready_event() {
            let t = ev.token;
            if t == MODULE_WAKER {
                // Only wakes the loop: the queued work runs in before-sleep.
                continue;
            }
            if MODULE_FD_TOKENS.contains(&t) {
                crate::module::eventloop::dispatch(t, ev.readable, ev.writable);
                continue;
            }
            if t >= LISTENER_BASE {
                if let Some(l) = listeners.get_mut(t - LISTENER_BASE) {
                    accept_all(srv, &registry, l);
                }
                continue;
            }
            if srv.cluster_dispatch(t, ev.readable, ev.writable) {
                continue;
            }
            if t == crate::replication::replica::LINK_TOKEN {
                srv.repl_link_event(&registry);
                continue;
            }
            let id = t as u64;
            if ev.writable && srv.write_to_client(&registry, id) {
                // Writable again: pending output may also have been queued meanwhile.
            }
            if ev.readable && srv.clients.contains_key(&id) {
                srv.read_from_client(&registry, id, ev.read_closed);
            }
        }
        if crate::module::threads::take_deferred_accept() {
            // Connections a module's yield saw arrive (it could not accept them).
            for l in listeners.iter_mut() {
                accept_all(srv, &registry, l);
            }
        }
        let sig = SIGNAL.swap(0, Ordering::SeqCst);
        if sig != 0 {
            let name = if sig == libc::SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            if srv.loading {
                crate::log_warning!(
                    "Received shutdown signal during loading, scheduling shutdown."
                );
            } else {
                crate::log_warning!("Received {} scheduling shutdown...", name);
            }
            srv.shutdown_asap = true;
            srv.shutdown_flags = if sig == libc::SIGINT {
                srv.config.shutdown_on_sigint as u32
            } else {
                srv.config.shutdown_on_sigterm as u32
            };
        }
        if normal {
            if srv.evict.proc_running
                && srv.perform_evictions() != crate::server::evict::EvictResult::Running
            {
                // Under the limit again, or nothing left to evict.
                srv.evict.proc_running = false;
            }
            let now = crate::util::monotonic_us();
            if now >= self.next_cron {
                if !srv.cron_paused {
                    srv.server_cron(&mut self.expire);
                }
                self.next_cron = now + 1_000_000 / srv.hz.max(1) as u64;
            }
        }
        srv.registry = Some(registry);
        if normal && !srv.modules.timers.by_id.is_empty() {
            crate::module::timer::fire_due(srv);
        }
        if let Some(code) = srv.exit_code {
            let registry = srv.registry.take().expect("registry");
            srv.handle_pending_writes(&registry);
            return Some(code);
        }
        None
    }
}
