//! Proves that our `redismodule.h` is ABI-identical with Redis 7.0.15's: same constants, same
//! declarations (function pointers, typedefs, struct layouts) in the same order, and the same
//! set of functions fetched by `RedisModule_Init`. Comments, layout and the way Init is written
//! may differ; nothing a compiler sees in a module's binary interface may.

mod common;

use std::collections::BTreeMap;

fn upstream_header() -> String {
    let path = common::redis_src().join("src/redismodule.h");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn our_header() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/redismodule.h")).unwrap()
}

/// The text without C comments.
fn strip_comments(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = s[i + 2..].find("*/").expect("unterminated comment") + i + 4;
            out.push(' ');
            i = end;
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Lines with their backslash continuations joined.
fn logical_lines(s: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for l in s.lines() {
        if let Some(head) = l.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(l);
            lines.push(std::mem::take(&mut cur));
        }
    }
    lines
}

fn tokens(s: &str) -> Vec<String> {
    let mut spaced = String::new();
    for ch in s.chars() {
        if "(){}[];,*=<>|&+-".contains(ch) {
            spaced.push(' ');
            spaced.push(ch);
            spaced.push(' ');
        } else {
            spaced.push(ch);
        }
    }
    spaced.split_whitespace().map(str::to_string).collect()
}

struct Parsed {
    /// `#define` name -> normalized replacement (object-like and function-like macros).
    defines: BTreeMap<String, String>,
    /// Every declaration outside the preprocessor and outside RedisModule_Init's body.
    decls: Vec<String>,
    /// The API names RedisModule_Init fetches.
    fetched: Vec<String>,
}

/// Macros that only exist to write RedisModule_Init our way.
const OURS_ONLY: &[&str] = &["REDISMODULE_API_NAMES", "REDISMODULE_FETCH_ONE_"];

fn parse(text: &str) -> Parsed {
    let text = strip_comments(text);
    let mut defines = BTreeMap::new();
    let mut code = String::new();
    let mut api_names_macro = String::new();
    for line in logical_lines(&text) {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix('#') {
            let rest = rest.trim_start();
            if let Some(def) = rest.strip_prefix("define") {
                let def = def.trim();
                let name_end = def
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(def.len());
                let name = def[..name_end].to_string();
                let body = tokens(&def[name_end..]).join(" ");
                if name == "REDISMODULE_API_NAMES" {
                    api_names_macro = body.clone();
                }
                if !OURS_ONLY.contains(&name.as_str()) {
                    defines.insert(name, body);
                }
            }
            continue;
        }
        code.push_str(t);
        code.push('\n');
    }
    // Cut RedisModule_Init's body (the definition, not the prototype).
    let marker =
        "static int RedisModule_Init(RedisModuleCtx *ctx, const char *name, int ver, int apiver) {";
    let start = code.find(marker).expect("no RedisModule_Init definition");
    let body_start = start + marker.len();
    let mut depth = 1;
    let mut end = body_start;
    for (i, ch) in code[body_start..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = body_start + i + 1;
                    break;
                }
            }
            _ => {}
        }
    }
    let body = &code[body_start..end];
    let mut fetched: Vec<String> = Vec::new();
    // Upstream spells each fetch out; ours applies a macro to a name list.
    for part in body.split("REDISMODULE_GET_API(").skip(1) {
        fetched.push(part[..part.find(')').unwrap()].trim().to_string());
    }
    if !api_names_macro.is_empty() {
        let toks = tokens(&api_names_macro);
        for w in toks.windows(4) {
            if w[0] == "X" && w[1] == "(" && w[3] == ")" {
                fetched.push(w[2].clone());
            }
        }
    }
    let decl_code = format!("{}{}", &code[..start], &code[end..]);
    let decls = decl_code
        .split(';')
        .map(|d| tokens(d).join(" "))
        .filter(|d| !d.is_empty())
        .collect();
    Parsed {
        defines,
        decls,
        fetched,
    }
}

#[test]
fn redismodule_h_matches_redis_7_0_15() {
    let up = parse(&upstream_header());
    let ours = parse(&our_header());

    for (name, value) in &up.defines {
        match ours.defines.get(name) {
            None => panic!("#define {name} missing from our header"),
            Some(v) => assert_eq!(v, value, "#define {name} differs"),
        }
    }
    for name in ours.defines.keys() {
        assert!(
            up.defines.contains_key(name),
            "#define {name} is not in Redis 7.0.15's header"
        );
    }
    assert!(up.decls.len() > 400, "parsed too few upstream declarations");
    for (i, (a, b)) in up.decls.iter().zip(ours.decls.iter()).enumerate() {
        assert_eq!(a, b, "declaration #{i} differs");
    }
    assert_eq!(
        up.decls.len(),
        ours.decls.len(),
        "declaration count differs"
    );

    let mut a = up.fetched.clone();
    let mut b = ours.fetched.clone();
    assert!(a.len() > 300, "parsed too few upstream fetches");
    a.sort();
    b.sort();
    assert_eq!(
        a, b,
        "RedisModule_Init fetches a different set of functions"
    );
}
