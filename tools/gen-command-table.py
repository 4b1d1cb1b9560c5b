#!/usr/bin/env python3
"""Generate src/commands/table.rs from the Redis 7.0 command reference.

Usage: tools/gen-command-table.py [REDIS_SOURCE_TREE] [OUTPUT]

REDIS_SOURCE_TREE is an extracted redis-7.0.15 tree (default:
~/.cache/ferrodis/redis-7.0.15); every src/commands/*.json file in it is read.
OUTPUT defaults to src/commands/table.rs next to this script's repository.

The output is a single `pub static COMMANDS: &[CommandSpec]` built from the types
in src/commands/spec.rs. Top-level commands are sorted by name; the JSON files
that name a "container" become entries in that container's `subcommands`, also
sorted. Sentinel-only commands (flag ONLY_SENTINEL) are left out, since ferrodis
does not run as a sentinel.

Only the Python standard library is used. If `rustfmt` is on PATH the output is
passed through it so that `cargo fmt --check` stays clean (the big static carries
`#[rustfmt::skip]` and keeps the generator's layout, because its long reference
strings exceed rustfmt's line width).
"""

import glob
import json
import os
import shutil
import subprocess
import sys

DEFAULT_SOURCE = os.path.expanduser("~/.cache/ferrodis/redis-7.0.15")
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_OUTPUT = os.path.join(REPO_ROOT, "src", "commands", "table.rs")

# JSON names -> constants in spec.rs. Every name the reference uses must be listed, so an
# unexpected one stops the generator instead of being silently dropped.
COMMAND_FLAGS = {
    "WRITE": "WRITE",
    "READONLY": "READONLY",
    "DENYOOM": "DENYOOM",
    "MODULE": "MODULE",
    "ADMIN": "ADMIN",
    "PUBSUB": "PUBSUB",
    "NOSCRIPT": "NOSCRIPT",
    "BLOCKING": "BLOCKING",
    "LOADING": "LOADING",
    "STALE": "STALE",
    "SKIP_MONITOR": "SKIP_MONITOR",
    "SKIP_SLOWLOG": "SKIP_SLOWLOG",
    "ASKING": "ASKING",
    "FAST": "FAST",
    "NO_AUTH": "NO_AUTH",
    "MAY_REPLICATE": "MAY_REPLICATE",
    "SENTINEL": "SENTINEL",
    "ONLY_SENTINEL": "ONLY_SENTINEL",
    "NO_MANDATORY_KEYS": "NO_MANDATORY_KEYS",
    "PROTECTED": "PROTECTED",
    "NO_ASYNC_LOADING": "NO_ASYNC_LOADING",
    "NO_MULTI": "NO_MULTI",
    "ALLOW_BUSY": "ALLOW_BUSY",
    "TOUCHES_ARBITRARY_KEYS": "TOUCHES_ARBITRARY_KEYS",
}

ACL_CATEGORIES = {
    "KEYSPACE", "READ", "WRITE", "SET", "SORTEDSET", "LIST", "HASH", "STRING", "BITMAP",
    "HYPERLOGLOG", "GEO", "STREAM", "PUBSUB", "ADMIN", "FAST", "SLOW", "BLOCKING", "DANGEROUS",
    "CONNECTION", "TRANSACTION", "SCRIPTING",
}

KEY_FLAGS = {
    "RO", "RW", "OW", "RM", "ACCESS", "UPDATE", "INSERT", "DELETE", "NOT_KEY", "INCOMPLETE",
    "VARIABLE_FLAGS",
}

DOC_FLAGS = {"DEPRECATED", "SYSCMD"}

ARG_TYPES = {
    "string": "String",
    "integer": "Integer",
    "double": "Double",
    "key": "Key",
    "pattern": "Pattern",
    "unix-time": "UnixTime",
    "pure-token": "PureToken",
    "oneof": "OneOf",
    "block": "Block",
}

# `get_keys_function` in the JSON -> GetKeysProc variant in spec.rs.
GET_KEYS_PROCS = {
    "setGetKeys": "Set",
    "bitfieldGetKeys": "Bitfield",
    "sortGetKeys": "Sort",
    "sortROGetKeys": "SortRo",
    "migrateGetKeys": "Migrate",
    "georadiusGetKeys": "Georadius",
    "xreadGetKeys": "Xread",
    "evalGetKeys": "Eval",
    "functionGetKeys": "Function",
    "sintercardGetKeys": "Sintercard",
    "zunionInterDiffGetKeys": "ZunionInterDiff",
    "zunionInterDiffStoreGetKeys": "ZunionInterDiffStore",
    "lmpopGetKeys": "Lmpop",
    "blmpopGetKeys": "Blmpop",
    "zmpopGetKeys": "Zmpop",
}

KNOWN_COMMAND_FIELDS = {
    "summary", "complexity", "group", "since", "arity", "function", "get_keys_function",
    "history", "command_flags", "acl_categories", "key_specs", "arguments", "container",
    "command_tips", "deprecated_since", "replaced_by", "doc_flags",
}
KNOWN_ARG_FIELDS = {
    "name", "type", "key_spec_index", "token", "summary", "since", "optional", "multiple",
    "multiple_token", "deprecated_since", "arguments",
}


class GenError(Exception):
    pass


def rust_str(value):
    """A Rust string literal holding `value` (None and "" both become "")."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise GenError("expected a string, got %r" % (value,))
    out = ['"']
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def bits(module, names, known, where):
    """`module::A | module::B`, or `0` for no flags. Duplicates are folded."""
    seen = []
    for name in names:
        if name not in known:
            raise GenError("%s: unknown %s flag %r" % (where, module, name))
        const = known[name] if isinstance(known, dict) else name
        if const not in seen:
            seen.append(const)
    if not seen:
        return "0"
    return " | ".join("%s::%s" % (module, c) for c in seen)


class Writer:
    """Accumulates indented lines of Rust."""

    def __init__(self):
        self.lines = []
        self.depth = 0

    def line(self, text=""):
        self.lines.append(("    " * self.depth + text) if text else "")

    def or_field(self, field, expr):
        """`field: a | b | c,` on one line if it fits in 100 columns, else one operand a line."""
        one = "%s: %s," % (field, expr)
        if len(one) + 4 * self.depth <= 100 or " | " not in expr:
            self.line(one)
            return
        ops = expr.split(" | ")
        self.line("%s: %s" % (field, ops[0]))
        self.depth += 1
        for op in ops[1:-1]:
            self.line("| %s" % op)
        self.line("| %s," % ops[-1])
        self.depth -= 1

    def open(self, text):
        self.line(text)
        self.depth += 1

    def close(self, text):
        self.depth -= 1
        self.line(text)

    def text(self):
        return "\n".join(self.lines) + "\n"


def emit_str_slice(w, field, values):
    if not values:
        w.line("%s: &[]," % field)
        return
    w.open("%s: &[" % field)
    for v in values:
        w.line("%s," % rust_str(v))
    w.close("],")


def emit_key_spec(w, spec, where):
    for k in spec:
        if k not in ("notes", "flags", "begin_search", "find_keys"):
            raise GenError("%s: unknown key spec field %r" % (where, k))
    bs = spec["begin_search"]
    fk = spec["find_keys"]
    if "index" in bs:
        begin = "BeginSearch::Index(%d)" % bs["index"]["pos"]
    elif "keyword" in bs:
        begin = "BeginSearch::Keyword {\n keyword: %s,\n startfrom: %d,\n }" % (
            rust_str(bs["keyword"]["keyword"]),
            bs["keyword"]["startfrom"],
        )
    elif "unknown" in bs:
        begin = "BeginSearch::Unknown"
    else:
        raise GenError("%s: bad begin_search %r" % (where, bs))
    if "range" in fk:
        r = fk["range"]
        find = "FindKeys::Range {\n lastkey: %d,\n keystep: %d,\n limit: %d,\n }" % (
            r["lastkey"], r["step"], r["limit"])
    elif "keynum" in fk:
        r = fk["keynum"]
        find = "FindKeys::Keynum {\n keynumidx: %d,\n firstkey: %d,\n keystep: %d,\n }" % (
            r["keynumidx"], r["firstkey"], r["step"])
    elif "unknown" in fk:
        find = "FindKeys::Unknown"
    else:
        raise GenError("%s: bad find_keys %r" % (where, fk))

    w.open("KeySpec {")
    w.line("notes: %s," % rust_str(spec.get("notes")))
    w.or_field("flags", bits("keyflags", spec.get("flags", []), KEY_FLAGS, where))
    emit_multiline_field(w, "begin_search", begin)
    emit_multiline_field(w, "find_keys", find)
    w.close("},")


def emit_multiline_field(w, field, expr):
    """Emit `field: expr,` where expr may carry "\\n " separators for a braced body."""
    parts = expr.split("\n")
    if len(parts) == 1:
        w.line("%s: %s," % (field, expr))
        return
    w.open("%s: %s" % (field, parts[0]))
    for p in parts[1:-1]:
        w.line(p.strip())
    w.close(parts[-1].strip() + ",")


def emit_args(w, field, args, where, nkeyspecs):
    if not args:
        w.line("%s: &[]," % field)
        return
    w.open("%s: &[" % field)
    for a in args:
        emit_arg(w, a, where, nkeyspecs)
    w.close("],")


def emit_arg(w, a, where, nkeyspecs):
    for k in a:
        if k not in KNOWN_ARG_FIELDS:
            raise GenError("%s: unknown argument field %r" % (where, k))
    name = a["name"].lower()
    here = "%s %s" % (where, name)
    if a["type"] not in ARG_TYPES:
        raise GenError("%s: unknown argument type %r" % (here, a["type"]))
    ksi = a.get("key_spec_index", -1)
    if ksi != -1 and not (0 <= ksi < nkeyspecs):
        raise GenError("%s: key_spec_index %d out of range" % (here, ksi))
    flags = []
    if a.get("optional"):
        flags.append("OPTIONAL")
    if a.get("multiple"):
        flags.append("MULTIPLE")
    if a.get("multiple_token"):
        if not a.get("multiple"):
            raise GenError("%s: multiple_token without multiple" % here)
        flags.append("MULTIPLE_TOKEN")
    token = a.get("token")
    if token:
        token = token.upper()  # COMMAND DOCS reports tokens upper-cased

    w.open("Arg {")
    w.line("name: %s," % rust_str(name))
    w.line("kind: ArgType::%s," % ARG_TYPES[a["type"]])
    w.line("key_spec_index: %d," % ksi)
    w.line("token: %s," % rust_str(token))
    w.line("summary: %s," % rust_str(a.get("summary")))
    w.line("since: %s," % rust_str(a.get("since")))
    w.or_field("flags", " | ".join("argflags::%s" % f for f in flags) if flags else "0")
    w.line("deprecated_since: %s," % rust_str(a.get("deprecated_since")))
    w.line('display_text: "",')
    if a["type"] in ("oneof", "block"):
        if not a.get("arguments"):
            raise GenError("%s: %s argument without sub-arguments" % (here, a["type"]))
        emit_args(w, "subargs", a["arguments"], here, nkeyspecs)
    else:
        if a.get("arguments"):
            raise GenError("%s: sub-arguments on a %s argument" % (here, a["type"]))
        w.line("subargs: &[],")
    w.close("},")


class Command:
    def __init__(self, key, desc, filename):
        for k in desc:
            if k not in KNOWN_COMMAND_FIELDS:
                raise GenError("%s: unknown command field %r" % (filename, k))
        self.name = key.lower()
        self.desc = desc
        self.filename = filename
        self.container = desc.get("container", "").lower()
        self.group = desc["group"]
        self.subcommands = []

    def full_name(self):
        return "%s|%s" % (self.container, self.name) if self.container else self.name

    def flag_names(self):
        return self.desc.get("command_flags", [])

    def emit(self, w):
        d = self.desc
        where = "%s (%s)" % (self.full_name(), self.filename)
        key_specs = d.get("key_specs", [])
        history = d.get("history") or []
        gk = d.get("get_keys_function")
        if gk is not None and gk not in GET_KEYS_PROCS:
            raise GenError("%s: unknown get_keys_function %r" % (where, gk))

        w.open("CommandSpec {")
        w.line("name: %s," % rust_str(self.name))
        w.line("summary: %s," % rust_str(d.get("summary")))
        w.line("since: %s," % rust_str(d.get("since")))
        w.line("group: %s," % rust_str(self.group))
        w.line("complexity: %s," % rust_str(d.get("complexity")))
        w.line("doc_flags: %s," % bits("docflags", d.get("doc_flags", []), DOC_FLAGS, where))
        w.line("deprecated_since: %s," % rust_str(d.get("deprecated_since")))
        w.line("replaced_by: %s," % rust_str(d.get("replaced_by")))
        if history:
            w.open("history: &[")
            for entry in history:
                if len(entry) != 2:
                    raise GenError("%s: bad history entry %r" % (where, entry))
                w.line("(%s, %s)," % (rust_str(entry[0]), rust_str(entry[1])))
            w.close("],")
        else:
            w.line("history: &[],")
        # Upstream's own generator lower-cases the tips ("request_policy:all_shards").
        emit_str_slice(w, "tips", [t.lower() for t in d.get("command_tips", [])])
        w.line("arity: %d," % d["arity"])
        w.or_field("flags", bits("flags", self.flag_names(), COMMAND_FLAGS, where))
        w.or_field("acl_categories",
                   bits("acl", d.get("acl_categories", []), {c: c for c in ACL_CATEGORIES}, where))
        if key_specs:
            w.open("key_specs: &[")
            for i, spec in enumerate(key_specs):
                emit_key_spec(w, spec, "%s key spec %d" % (where, i))
            w.close("],")
        else:
            w.line("key_specs: &[],")
        w.line("get_keys: %s," % ("Some(GetKeysProc::%s)" % GET_KEYS_PROCS[gk] if gk else "None"))
        emit_args(w, "args", d.get("arguments", []), where, len(key_specs))
        if self.subcommands:
            w.open("subcommands: &[")
            for sub in sorted(self.subcommands, key=lambda c: c.name):
                sub.emit(w)
            w.close("],")
        else:
            w.line("subcommands: &[],")
        w.close("},")


def load(source):
    pattern = os.path.join(source, "src", "commands", "*.json")
    files = sorted(glob.glob(pattern))
    if not files:
        raise GenError("no command JSON files match %s" % pattern)
    commands = []
    for path in files:
        with open(path, "r", encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as err:
                raise GenError("%s: %s" % (path, err))
        for key, desc in data.items():
            commands.append(Command(key, desc, os.path.basename(path)))
    return commands


def build_tree(commands):
    """Drop sentinel-only commands, attach subcommands; return (top, nsubs, skipped)."""
    skipped = [c for c in commands if "ONLY_SENTINEL" in c.flag_names()]
    kept = [c for c in commands if "ONLY_SENTINEL" not in c.flag_names()]
    skipped_containers = {c.name for c in skipped if not c.container}

    top = {}
    for c in kept:
        if not c.container:
            if c.name in top:
                raise GenError("duplicate command %s" % c.name)
            top[c.name] = c
    nsubs = 0
    for c in kept:
        if not c.container:
            continue
        parent = top.get(c.container)
        if parent is None:
            if c.container in skipped_containers:
                skipped.append(c)
                continue
            raise GenError("%s: container %s does not exist" % (c.filename, c.container))
        if any(s.name == c.name for s in parent.subcommands):
            raise GenError("duplicate subcommand %s" % c.full_name())
        # Like upstream, a subcommand is reported in its container's group.
        c.group = parent.group
        parent.subcommands.append(c)
        nsubs += 1
    return [top[n] for n in sorted(top)], nsubs, skipped


def render(source, top, nsubs):
    w = Writer()
    w.line("// @generated by tools/gen-command-table.py -- DO NOT EDIT BY HAND.")
    w.line("//")
    w.line("// Source: the Redis 7.0.15 command reference, src/commands/*.json in the upstream tree")
    w.line("// (%s)." % os.path.basename(os.path.normpath(source)))
    w.line("// Sentinel-only commands are omitted. Regenerate with:")
    w.line("//     python3 tools/gen-command-table.py [path/to/redis-7.0.15]")
    w.line("//")
    w.line("// %d top-level commands, %d subcommands." % (len(top), nsubs))
    w.line()
    w.line("use super::spec::{")
    w.line("    acl, argflags, docflags, flags, keyflags, Arg, ArgType, BeginSearch, CommandSpec,"
           " FindKeys,")
    w.line("    GetKeysProc, KeySpec,")
    w.line("};")
    w.line()
    w.line("/// Every command of Redis 7.0.15 (except sentinel-only ones), sorted by name.")
    w.line("// Some reference strings are longer than rustfmt's line width, so rustfmt could not lay")
    w.line("// this out anyway; the generator's own layout is kept as is.")
    w.line("#[rustfmt::skip]")
    w.open("pub static COMMANDS: &[CommandSpec] = &[")
    for c in top:
        c.emit(w)
    w.close("];")
    return w.text()


def main(argv):
    source = argv[1] if len(argv) > 1 else DEFAULT_SOURCE
    output = argv[2] if len(argv) > 2 else DEFAULT_OUTPUT
    try:
        commands = load(source)
        top, nsubs, skipped = build_tree(commands)
        text = render(source, top, nsubs)
    except GenError as err:
        sys.stderr.write("gen-command-table: %s\n" % err)
        return 1

    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    rustfmt = shutil.which("rustfmt")
    if rustfmt:
        res = subprocess.run([rustfmt, "--edition", "2021", tmp])
        if res.returncode != 0:
            sys.stderr.write("gen-command-table: rustfmt failed on %s\n" % tmp)
            return 1
    else:
        sys.stderr.write("gen-command-table: rustfmt not found, output left unformatted\n")
    os.replace(tmp, output)
    print("wrote %s: %d commands, %d subcommands (%d sentinel-only entries skipped)"
          % (os.path.relpath(output), len(top), nsubs, len(skipped)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
