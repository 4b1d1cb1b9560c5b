//! Geo commands (Redis' geo.c): GEOADD, GEOPOS, GEODIST, GEOHASH, GEORADIUS,
//! GEORADIUSBYMEMBER and their _RO forms, GEOSEARCH and GEOSEARCHSTORE.
//!
//! A geo set is an ordinary sorted set whose scores are 52-bit geohashes
//! (`crate::types::geohash`), so GEOADD runs ZADD on rewritten arguments and searches walk
//! score ranges, one per geohash box. Replies use Redis' number formats: distances with four
//! fixed decimals, coordinates as "human" long doubles (RESP3 doubles).

use crate::client::Client;
use crate::commands::zset::{limits, zadd_generic};
use crate::commands::{errors, CmdProc};
use crate::config::table::notify;
use crate::server::Server;
use crate::types::geohash::{self, Shape, ShapeKind, LAT_MAX, LAT_MIN, LON_MAX, LON_MIN};
use crate::types::zset::{AddFlags, ScoreRange};
use crate::types::{Value, ZsetValue, WRONGTYPE};
use crate::util;

pub fn lookup(name: &str) -> Option<CmdProc> {
    Some(match name {
        "geoadd" => geoadd_command,
        "geopos" => geopos_command,
        "geodist" => geodist_command,
        "geohash" => geohash_command,
        "georadius" => georadius_command,
        "georadius_ro" => georadius_ro_command,
        "georadiusbymember" => georadiusbymember_command,
        "georadiusbymember_ro" => georadiusbymember_ro_command,
        "geosearch" => geosearch_command,
        "geosearchstore" => geosearchstore_command,
        _ => return None,
    })
}

const DECODE_ERR: &str = "could not decode requested zset member";

/// What a key holds for a geo read: nothing, a sorted set, or another type (WRONGTYPE
/// already replied).
enum Source {
    Missing,
    Zset,
    WrongType,
}

fn lookup_source(srv: &mut Server, c: &mut Client, key_idx: usize) -> Source {
    let db = c.db;
    match srv.lookup_read(db, &c.argv[key_idx]).map(|o| &o.value) {
        None => Source::Missing,
        Some(Value::Zset(_)) => Source::Zset,
        Some(_) => {
            c.out.error(WRONGTYPE);
            Source::WrongType
        }
    }
}

fn zref<'a>(srv: &'a Server, db: usize, key: &[u8]) -> &'a ZsetValue {
    match srv.dbs[db].dict.get(key).map(|o| &o.value) {
        Some(Value::Zset(z)) => z,
        _ => unreachable!("checked to be a sorted set"),
    }
}

/// A double argument with Redis' default or given error text.
fn arg_double(c: &mut Client, i: usize, msg: &str) -> Option<f64> {
    let v = util::parse_f64(&c.argv[i]);
    if v.is_none() {
        c.out.error(msg);
    }
    v
}

/// Longitude and latitude at argv[i], argv[i+1], checked against the encodable limits.
fn arg_lonlat(c: &mut Client, i: usize) -> Option<[f64; 2]> {
    let lon = arg_double(c, i, errors::NOT_FLOAT)?;
    let lat = arg_double(c, i + 1, errors::NOT_FLOAT)?;
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        c.out.error(&format!(
            "-ERR invalid longitude,latitude pair {},{}",
            c_fmt_f(lon),
            c_fmt_f(lat)
        ));
        return None;
    }
    Some([lon, lat])
}

/// C's "%f".
fn c_fmt_f(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{v:.6}")
    }
}

/// Meters per unit; None (error replied) for an unknown unit.
fn arg_unit(c: &mut Client, i: usize) -> Option<f64> {
    let u = &c.argv[i];
    let m = if util::eq_ic(u, "m") {
        1.0
    } else if util::eq_ic(u, "km") {
        1000.0
    } else if util::eq_ic(u, "ft") {
        0.3048
    } else if util::eq_ic(u, "mi") {
        1609.34
    } else {
        c.out
            .error("unsupported unit provided. please use M, KM, FT, MI");
        return None;
    };
    Some(m)
}

/// "radius unit" at argv[i]: (radius, meters per unit).
fn arg_distance(c: &mut Client, i: usize) -> Option<(f64, f64)> {
    let r = arg_double(c, i, "need numeric radius")?;
    if r < 0.0 {
        c.out.error("radius cannot be negative");
        return None;
    }
    Some((r, arg_unit(c, i + 1)?))
}

/// "width height unit" at argv[i]: (width, height, meters per unit).
fn arg_box(c: &mut Client, i: usize) -> Option<(f64, f64, f64)> {
    let w = arg_double(c, i, "need numeric width")?;
    let h = arg_double(c, i + 1, "need numeric height")?;
    if h < 0.0 || w < 0.0 {
        c.out.error("height or width cannot be negative");
        return None;
    }
    Some((w, h, arg_unit(c, i + 2)?))
}

/// A distance with exactly four decimals, rounded half-to-even on the scaled value as
/// Redis' fixed-point formatter does (`llrint`).
fn fmt_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let v = (d * 10000.0).round_ties_even() as i64;
    let neg = v < 0;
    let a = v.unsigned_abs();
    format!(
        "{}{}.{:04}",
        if neg { "-" } else { "" },
        a / 10000,
        a % 10000
    )
}

fn reply_distance(c: &mut Client, d: f64) {
    c.out.bulk(fmt_distance(d).as_bytes());
}

/// A coordinate as Redis' "human" long double: "%.17Lf" without trailing zeros (the value
/// is a double, so its long double expansion is the same); a RESP3 double.
fn reply_coord(c: &mut Client, v: f64) {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(t);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    if c.out.resp == 2 {
        c.out.bulk(s.as_bytes());
    } else {
        c.out.raw(b",");
        c.out.raw(s.as_bytes());
        c.out.raw(b"\r\n");
    }
}

// ---- GEOADD ---------------------------------------------------------------------------------

/// Runs ZADD with each "lon lat member" triple turned into "score member"; the ZADD form is
/// what replicas and the AOF get, while statistics and the slow log keep GEOADD.
fn geoadd_command(srv: &mut Server, c: &mut Client) {
    let (mut xx, mut nx) = (false, false);
    let mut longidx = 2;
    while longidx < c.argv.len() {
        let o = &c.argv[longidx];
        if util::eq_ic(o, "nx") {
            nx = true;
        } else if util::eq_ic(o, "xx") {
            xx = true;
        } else if !util::eq_ic(o, "ch") {
            break;
        }
        longidx += 1;
    }
    if !(c.argv.len() - longidx).is_multiple_of(3) || (xx && nx) {
        c.out.error(errors::SYNTAX);
        return;
    }
    let elements = (c.argv.len() - longidx) / 3;
    let mut zargv = Vec::with_capacity(longidx + elements * 2);
    zargv.push(b"zadd".to_vec());
    zargv.extend(c.argv[1..longidx].iter().cloned());
    for i in 0..elements {
        let [lon, lat] = match arg_lonlat(c, longidx + i * 3) {
            Some(xy) => xy,
            None => return,
        };
        let mut b = itoa::Buffer::new();
        zargv.push(b.format(geohash::score_of(lon, lat)).as_bytes().to_vec());
        zargv.push(c.argv[longidx + i * 3 + 2].clone());
    }
    let orig = std::mem::replace(&mut c.argv, zargv);
    let dirty = srv.dirty;
    zadd_generic(srv, c, false);
    let zargv = std::mem::replace(&mut c.argv, orig);
    if srv.dirty != dirty {
        c.propagate_argv = Some(zargv);
    }
}

// ---- GEOPOS / GEODIST / GEOHASH ---------------------------------------------------------------

fn geopos_command(srv: &mut Server, c: &mut Client) {
    let present = match lookup_source(srv, c, 1) {
        Source::WrongType => return,
        s => matches!(s, Source::Zset),
    };
    let db = c.db;
    c.out.array(c.argv.len() - 2);
    for j in 2..c.argv.len() {
        let xy = if present {
            zref(srv, db, &c.argv[1])
                .score(&c.argv[j])
                .and_then(geohash::decode_score)
        } else {
            None
        };
        match xy {
            Some([lon, lat]) => {
                c.out.array(2);
                reply_coord(c, lon);
                reply_coord(c, lat);
            }
            None => c.out.null_array(),
        }
    }
}

fn geodist_command(srv: &mut Server, c: &mut Client) {
    let mut to_meter = 1.0;
    if c.argv.len() == 5 {
        match arg_unit(c, 4) {
            Some(u) => to_meter = u,
            None => return,
        }
    } else if c.argv.len() > 5 {
        c.out.error(errors::SYNTAX);
        return;
    }
    match lookup_source(srv, c, 1) {
        Source::WrongType => return,
        Source::Missing => {
            c.out.null();
            return;
        }
        Source::Zset => {}
    }
    let z = zref(srv, c.db, &c.argv[1]);
    let (Some(s1), Some(s2)) = (z.score(&c.argv[2]), z.score(&c.argv[3])) else {
        c.out.null();
        return;
    };
    match (geohash::decode_score(s1), geohash::decode_score(s2)) {
        (Some(a), Some(b)) => {
            reply_distance(c, geohash::distance(a[0], a[1], b[0], b[1]) / to_meter)
        }
        _ => c.out.null(),
    }
}

fn geohash_command(srv: &mut Server, c: &mut Client) {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let present = match lookup_source(srv, c, 1) {
        Source::WrongType => return,
        s => matches!(s, Source::Zset),
    };
    let db = c.db;
    c.out.array(c.argv.len() - 2);
    for j in 2..c.argv.len() {
        let xy = if present {
            zref(srv, db, &c.argv[1])
                .score(&c.argv[j])
                .and_then(geohash::decode_score)
        } else {
            None
        };
        let Some([lon, lat]) = xy else {
            c.out.null();
            continue;
        };
        // The standard geohash uses latitudes -90..90, not the stored encoding's Mercator
        // limits: re-encode the decoded point in those ranges.
        let bits = geohash::encode(
            geohash::Range {
                min: -180.0,
                max: 180.0,
            },
            geohash::Range {
                min: -90.0,
                max: 90.0,
            },
            lon,
            lat,
            26,
        )
        .map_or(0, |h| h.bits);
        let mut buf = [0u8; 11];
        for (i, b) in buf.iter_mut().enumerate() {
            // 52 bits make ten characters; the eleventh of the classic format is '0'.
            let idx = if i == 10 {
                0
            } else {
                ((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
            };
            *b = ALPHABET[idx];
        }
        c.out.bulk(&buf);
    }
}

// ---- searches -------------------------------------------------------------------------------

/// Which search command runs (Redis' RADIUS_* / GEOSEARCH flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Radius { ro: bool },
    RadiusByMember { ro: bool },
    Search,
    SearchStore,
}

fn georadius_command(srv: &mut Server, c: &mut Client) {
    georadius_generic(srv, c, 1, Variant::Radius { ro: false });
}

fn georadius_ro_command(srv: &mut Server, c: &mut Client) {
    georadius_generic(srv, c, 1, Variant::Radius { ro: true });
}

fn georadiusbymember_command(srv: &mut Server, c: &mut Client) {
    georadius_generic(srv, c, 1, Variant::RadiusByMember { ro: false });
}

fn georadiusbymember_ro_command(srv: &mut Server, c: &mut Client) {
    georadius_generic(srv, c, 1, Variant::RadiusByMember { ro: true });
}

fn geosearch_command(srv: &mut Server, c: &mut Client) {
    georadius_generic(srv, c, 1, Variant::Search);
}

fn geosearchstore_command(srv: &mut Server, c: &mut Client) {
    georadius_generic(srv, c, 2, Variant::SearchStore);
}

/// One member found by a search.
struct Point {
    lon: f64,
    lat: f64,
    dist: f64,
    score: f64,
    member: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Collects the members of the zset inside the shape, box by box, stopping once `limit`
/// (0: none) points are found (Redis' `membersOfAllNeighbors`).
fn search(z: &ZsetValue, shape: &Shape, limit: usize) -> Vec<Point> {
    let area = geohash::areas_for_shape(shape);
    let boxes = area.boxes();
    let mut out = Vec::new();
    // Redis remembers the last visited box by index with 0 meaning "none", so a repeat of
    // the centre box itself is not recognised; kept for identical replies.
    let mut last = 0usize;
    for (i, b) in boxes.iter().enumerate() {
        if b.is_zero() {
            continue;
        }
        // Very large radii make neighbouring boxes coincide: skip a repeat of the box just
        // visited so members are not reported twice.
        if last != 0 && boxes[last] == *b {
            continue;
        }
        if !out.is_empty() && limit != 0 && out.len() >= limit {
            break;
        }
        let (min, max) = geohash::score_range_of_box(*b);
        let r = ScoreRange {
            min: min as f64,
            max: max as f64,
            minex: false,
            maxex: true,
        };
        z.walk_score_range(&r, |m, s| {
            if let Some([lon, lat]) = geohash::decode_score(s) {
                if let Some(dist) = shape.distance_if_within(lon, lat) {
                    out.push(Point {
                        lon,
                        lat,
                        dist,
                        score: s,
                        member: m.to_vec(),
                    });
                }
            }
            !(!out.is_empty() && limit != 0 && out.len() >= limit)
        });
        last = i;
    }
    out
}

fn georadius_generic(srv: &mut Server, c: &mut Client, src_idx: usize, v: Variant) {
    let db = c.db;
    let present = match lookup_source(srv, c, src_idx) {
        Source::WrongType => return,
        s => matches!(s, Source::Zset),
    };
    let is_search = matches!(v, Variant::Search | Variant::SearchStore);
    let mut storekey: Option<usize> = None;
    let mut storedist = false;
    let mut kind = ShapeKind::Circle { radius: 0.0 };
    let mut xy = [0.0f64; 2];
    let mut conversion = 0.0;
    let base_args;
    match v {
        Variant::Radius { .. } => {
            base_args = 6;
            let Some(p) = arg_lonlat(c, 2) else { return };
            xy = p;
            let Some((r, conv)) = arg_distance(c, 4) else {
                return;
            };
            kind = ShapeKind::Circle { radius: r };
            conversion = conv;
        }
        Variant::RadiusByMember { .. } => {
            base_args = 5;
            // Without the key the arguments are only parsed, to pick the right empty reply.
            if present {
                let p = zref(srv, db, &c.argv[src_idx])
                    .score(&c.argv[2])
                    .and_then(geohash::decode_score);
                let Some(p) = p else {
                    c.out.error(DECODE_ERR);
                    return;
                };
                xy = p;
                let Some((r, conv)) = arg_distance(c, 3) else {
                    return;
                };
                kind = ShapeKind::Circle { radius: r };
                conversion = conv;
            }
        }
        Variant::Search => base_args = 2,
        Variant::SearchStore => {
            base_args = 3;
            storekey = Some(1);
        }
    }
    let no_store = matches!(
        v,
        Variant::Radius { ro: true } | Variant::RadiusByMember { ro: true }
    );
    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let argc = c.argv.len();
    let mut i = base_args;
    while i < argc {
        let remaining_after = argc - i - 1;
        let a = &c.argv[i];
        if util::eq_ic(a, "withdist") {
            withdist = true;
        } else if util::eq_ic(a, "withhash") {
            withhash = true;
        } else if util::eq_ic(a, "withcoord") {
            withcoords = true;
        } else if util::eq_ic(a, "any") {
            any = true;
        } else if util::eq_ic(a, "asc") {
            sort = Sort::Asc;
        } else if util::eq_ic(a, "desc") {
            sort = Sort::Desc;
        } else if util::eq_ic(a, "count") && remaining_after >= 1 {
            let Some(n) = crate::commands::arg_i64(c, i + 1) else {
                return;
            };
            if n <= 0 {
                c.out.error("COUNT must be > 0");
                return;
            }
            count = n;
            i += 1;
        } else if util::eq_ic(a, "store") && remaining_after >= 1 && !no_store && !is_search {
            storekey = Some(i + 1);
            storedist = false;
            i += 1;
        } else if util::eq_ic(a, "storedist") && remaining_after >= 1 && !no_store && !is_search {
            storekey = Some(i + 1);
            storedist = true;
            i += 1;
        } else if util::eq_ic(a, "storedist") && v == Variant::SearchStore {
            storedist = true;
        } else if util::eq_ic(a, "frommember") && remaining_after >= 1 && is_search && !fromloc {
            if present {
                let p = zref(srv, db, &c.argv[src_idx])
                    .score(&c.argv[i + 1])
                    .and_then(geohash::decode_score);
                let Some(p) = p else {
                    c.out.error(DECODE_ERR);
                    return;
                };
                xy = p;
            }
            frommember = true;
            i += 1;
        } else if util::eq_ic(a, "fromlonlat") && remaining_after >= 2 && is_search && !frommember {
            let Some(p) = arg_lonlat(c, i + 1) else {
                return;
            };
            xy = p;
            fromloc = true;
            i += 2;
        } else if util::eq_ic(a, "byradius") && remaining_after >= 2 && is_search && !bybox {
            let Some((r, conv)) = arg_distance(c, i + 1) else {
                return;
            };
            kind = ShapeKind::Circle { radius: r };
            conversion = conv;
            byradius = true;
            i += 2;
        } else if util::eq_ic(a, "bybox") && remaining_after >= 3 && is_search && !byradius {
            let Some((w, h, conv)) = arg_box(c, i + 1) else {
                return;
            };
            kind = ShapeKind::Rect {
                width: w,
                height: h,
            };
            conversion = conv;
            bybox = true;
            i += 3;
        } else {
            c.out.error(errors::SYNTAX);
            return;
        }
        i += 1;
    }
    if storekey.is_some() && (withdist || withhash || withcoords) {
        c.out.error(&format!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if v == Variant::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        ));
        return;
    }
    if is_search && !(frommember || fromloc) {
        let name = String::from_utf8_lossy(&c.argv[0]).into_owned();
        c.out.error(&format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
        return;
    }
    if is_search && !(byradius || bybox) {
        let name = String::from_utf8_lossy(&c.argv[0]).into_owned();
        c.out.error(&format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
        return;
    }
    if any && count == 0 {
        c.out.error("the ANY argument requires COUNT argument");
        return;
    }
    let storekey = storekey.map(|k| c.argv[k].clone());
    if !present {
        match storekey {
            Some(dst) => {
                if srv.db_delete(db, &dst) {
                    srv.signal_modified_key(db, &dst);
                    srv.notify_keyspace_event(notify::GENERIC, "del", &dst, db);
                    srv.dirty += 1;
                }
                c.out.int(0);
            }
            None => c.out.empty_array(),
        }
        return;
    }
    // The nearest N need a sort; ANY takes the first N found instead.
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        kind,
        xy,
        conversion,
    };
    let limit = if any { count as usize } else { 0 };
    let mut points = search(zref(srv, db, &c.argv[src_idx]), &shape, limit);
    if points.is_empty() && storekey.is_none() {
        c.out.empty_array();
        return;
    }
    let total = points.len();
    let returned = if count == 0 || (total as i64) < count {
        total
    } else {
        count as usize
    };
    if sort != Sort::None {
        let cmp = |a: &Point, b: &Point| {
            let o = a
                .dist
                .partial_cmp(&b.dist)
                .unwrap_or(std::cmp::Ordering::Equal);
            if sort == Sort::Desc {
                o.reverse()
            } else {
                o
            }
        };
        if returned < total {
            // Only the first `returned` need to be in order.
            points.select_nth_unstable_by(returned - 1, cmp);
            points.truncate(returned);
        }
        points.sort_by(cmp);
    }
    points.truncate(returned);
    match storekey {
        None => {
            let options = withdist as usize + withcoords as usize + withhash as usize;
            c.out.array(returned);
            for p in &points {
                if options > 0 {
                    c.out.array(options + 1);
                }
                c.out.bulk(&p.member);
                if withdist {
                    reply_distance(c, p.dist / conversion);
                }
                if withhash {
                    c.out.int(p.score as i64);
                }
                if withcoords {
                    c.out.array(2);
                    reply_coord(c, p.lon);
                    reply_coord(c, p.lat);
                }
            }
        }
        Some(dst) => {
            if returned > 0 {
                let lim = limits(srv);
                let mut z = ZsetValue::new_skiplist();
                let (mut maxelelen, mut totelelen) = (0, 0);
                for p in &points {
                    let score = if storedist {
                        p.dist / conversion
                    } else {
                        p.score
                    };
                    maxelelen = maxelelen.max(p.member.len());
                    totelelen += p.member.len();
                    z.add(score, &p.member, AddFlags::default(), lim);
                }
                z.convert_to_listpack_if_needed(maxelelen, totelelen, lim);
                srv.set_key(db, &dst, Value::Zset(Box::new(z)), false);
                let event = if is_search {
                    "geosearchstore"
                } else {
                    "georadiusstore"
                };
                srv.notify_keyspace_event(notify::ZSET, event, &dst, db);
                srv.dirty += returned as i64;
            } else if srv.db_delete(db, &dst) {
                srv.signal_modified_key(db, &dst);
                srv.notify_keyspace_event(notify::GENERIC, "del", &dst, db);
                srv.dirty += 1;
            }
            c.out.int(returned as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_support::{encoding, run, setup};

    #[test]
    fn geoadd_propagates_as_zadd_and_only_when_it_writes() {
        let (mut srv, mut c) = setup();
        let (r, p) = run(
            &mut srv,
            &mut c,
            &["GEOADD", "g", "ch", "13.361389", "38.115556", "Palermo"],
        );
        assert_eq!(r, b":1\r\n");
        assert_eq!(
            p,
            vec![vec!["zadd", "g", "ch", "3479099956230698", "Palermo"]]
        );
        assert_eq!(c.argv[0], b"GEOADD");
        // Same point again: nothing changes, nothing is propagated.
        let (r, p) = run(
            &mut srv,
            &mut c,
            &["GEOADD", "g", "13.361389", "38.115556", "Palermo"],
        );
        assert_eq!(r, b":0\r\n");
        assert!(p.is_empty());
        let (r, _) = run(&mut srv, &mut c, &["GEOADD", "g", "181", "0", "x"]);
        assert_eq!(
            r,
            b"-ERR invalid longitude,latitude pair 181.000000,0.000000\r\n".to_vec()
        );
    }

    #[test]
    fn store_writes_a_sorted_set_and_propagates_verbatim() {
        let (mut srv, mut c) = setup();
        run(
            &mut srv,
            &mut c,
            &[
                "GEOADD",
                "g",
                "13.361389",
                "38.115556",
                "a",
                "15.087269",
                "37.502669",
                "b",
            ],
        );
        let cmd = ["GEORADIUS", "g", "15", "37", "200", "km", "STOREDIST", "d"];
        let (r, p) = run(&mut srv, &mut c, &cmd);
        assert_eq!(r, b":2\r\n");
        assert_eq!(
            p,
            vec![cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>()]
        );
        assert_eq!(encoding(&srv, "d"), "listpack");
        let (r, _) = run(&mut srv, &mut c, &["ZRANGE", "d", "0", "-1"]);
        // Scores are distances: the nearer member first.
        assert_eq!(r, b"*2\r\n$1\r\nb\r\n$1\r\na\r\n".to_vec());
        // Nothing found: the destination is deleted.
        let (r, p) = run(
            &mut srv,
            &mut c,
            &[
                "GEOSEARCHSTORE",
                "d",
                "g",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "m",
            ],
        );
        assert_eq!(r, b":0\r\n");
        assert_eq!(p.len(), 1);
        assert!(srv.dbs[0].dict.get(b"d".as_slice()).is_none());
    }

    #[test]
    fn distances_have_four_rounded_decimals() {
        assert_eq!(fmt_distance(0.0), "0.0000");
        assert_eq!(fmt_distance(166274.15156960033), "166274.1516");
        assert_eq!(fmt_distance(0.25), "0.2500");
        assert_eq!(fmt_distance(0.00004), "0.0000");
        assert_eq!(fmt_distance(12.5), "12.5000");
    }

    #[test]
    fn c_percent_f() {
        assert_eq!(c_fmt_f(200.0), "200.000000");
        assert_eq!(c_fmt_f(-0.5), "-0.500000");
        assert_eq!(c_fmt_f(f64::INFINITY), "inf");
    }
}
