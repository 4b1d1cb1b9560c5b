//! EVAL, EVALSHA, their read-only twins, and SCRIPT (LOAD, EXISTS, FLUSH, KILL, HELP): the
//! commands of Lua scripts sent by clients and cached by their SHA1.

use super::{kill, parse_shebang, prepare_run, run_script, Script};
use crate::client::Client;
use crate::commands::{reply_help, CmdProc};
use crate::server::Server;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "eval" => eval_command,
        "eval_ro" => eval_ro_command,
        "evalsha" => evalsha_command,
        "evalsha_ro" => evalsha_ro_command,
        "script|load" => script_load_command,
        "script|exists" => script_exists_command,
        "script|flush" => script_flush_command,
        "script|kill" => script_kill_command,
        "script|help" => script_help_command,
        _ => return None,
    })
}

const NOSCRIPT: &str = "-NOSCRIPT No matching script. Please use EVAL.";

fn eval_command(srv: &mut Server, c: &mut Client) {
    eval_generic(srv, c, false, false);
}

fn eval_ro_command(srv: &mut Server, c: &mut Client) {
    eval_generic(srv, c, false, true);
}

fn evalsha_command(srv: &mut Server, c: &mut Client) {
    eval_generic(srv, c, true, false);
}

fn evalsha_ro_command(srv: &mut Server, c: &mut Client) {
    eval_generic(srv, c, true, true);
}

/// Compiles a script into the cache (if it is not there yet) and returns its SHA1, or the
/// error to reply.
pub fn create_script(srv: &mut Server, body: &[u8]) -> Result<String, String> {
    let sha = srv.scripting.sha_of(body);
    if srv.scripting.scripts.contains_key(&sha) {
        return Ok(sha);
    }
    let (flags, shebang_len) = parse_shebang(body)?;
    let func = srv
        .scripting
        .engine
        .compile(&body[shebang_len..], "@user_script")
        .map_err(|e| format!("Error compiling script (new function): {}", e))?;
    srv.scripting.scripts_mem += sha.len() + body.len();
    srv.scripting.scripts.insert(
        sha.clone(),
        Script {
            body: body.to_vec(),
            flags,
            func,
        },
    );
    Ok(sha)
}

fn eval_generic(srv: &mut Server, c: &mut Client, evalsha: bool, ro: bool) {
    // EVAL skips the automatic monitor feed so that it shows before the commands it runs.
    if !srv.monitors.is_empty() {
        let argv = c.argv.clone();
        srv.feed_monitors(c, &argv);
    }
    let Some(numkeys) = super::arg_numkeys(c, crate::commands::errors::NOT_INTEGER) else {
        return;
    };
    let sha = if evalsha {
        if c.argv[1].len() != 40 {
            c.out.error(NOSCRIPT);
            return;
        }
        String::from_utf8_lossy(&c.argv[1]).to_ascii_lowercase()
    } else {
        let body = std::mem::take(&mut c.argv[1]);
        let created = create_script(srv, &body);
        c.argv[1] = body;
        match created {
            Ok(sha) => sha,
            Err(e) => {
                c.out.error(&e);
                return;
            }
        }
    };
    let Some(script) = srv.scripting.scripts.get(&sha) else {
        c.out.error(NOSCRIPT);
        return;
    };
    let flags = script.flags;
    let func = match srv.scripting.engine.function(&script.func) {
        Ok(f) => f,
        Err(e) => {
            c.out.error(&format!("Error running script: {}", e));
            return;
        }
    };
    let run = match prepare_run(srv, c, sha, flags, ro, true) {
        Ok(run) => run,
        Err(e) => {
            c.out.error(&e);
            return;
        }
    };
    let engine = srv.scripting.engine.clone();
    run_script(srv, c, run, &engine, &func, numkeys);
}

fn script_load_command(srv: &mut Server, c: &mut Client) {
    let body = std::mem::take(&mut c.argv[2]);
    let created = create_script(srv, &body);
    c.argv[2] = body;
    match created {
        Ok(sha) => c.out.bulk(sha.as_bytes()),
        Err(e) => c.out.error(&e),
    }
}

fn script_exists_command(srv: &mut Server, c: &mut Client) {
    c.out.array(c.argv.len() - 2);
    for i in 2..c.argv.len() {
        let sha = String::from_utf8_lossy(&c.argv[i]).to_ascii_lowercase();
        c.out.int(srv.scripting.scripts.contains_key(&sha) as i64);
    }
}

fn script_flush_command(srv: &mut Server, c: &mut Client) {
    let ok = match c.argv.len() {
        2 => true,
        3 => c.argv[2].eq_ignore_ascii_case(b"sync") || c.argv[2].eq_ignore_ascii_case(b"async"),
        _ => false,
    };
    if !ok {
        c.out.error("SCRIPT FLUSH only support SYNC|ASYNC option");
        return;
    }
    srv.scripting.flush();
    c.out.ok();
}

fn script_kill_command(_srv: &mut Server, c: &mut Client) {
    kill(c, true);
}

fn script_help_command(_srv: &mut Server, c: &mut Client) {
    reply_help(
        c,
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
}
