//! Geohash arithmetic behind the GEO commands: the 52-bit interleaved encoding Redis stores
//! as sorted-set scores, box neighbours, the choice of box size for a search and the
//! distance/shape tests.
//!
//! Every step mirrors Redis 7.0's floating-point operations in the same order, because the
//! scores, the decoded coordinates and the set of boxes searched must be bit-for-bit those of
//! redis-server (GEOPOS, GEOHASH and the members a search finds depend on them).

use std::f64::consts::PI;

/// Bits per coordinate in a stored score (26 * 2 = 52, exact in a double).
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;

/// Mean Earth radius (WGS-84 quadratic mean) used for every distance.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = PI / 180.0;

#[inline]
fn deg_rad(a: f64) -> f64 {
    a * D_R
}

#[inline]
fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// A hash of `step` bits per coordinate; latitude in the even bits, longitude in the odd.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// The "no box" marker (a neighbour excluded from the search).
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    fn is_zero(&self) -> bool {
        self.min == 0.0 && self.max == 0.0
    }
}

/// The coordinates a hash box covers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Area {
    pub lon: Range,
    pub lat: Range,
}

/// The ranges of the stored encoding (Web Mercator cannot represent the poles).
pub const LON_RANGE: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spreads the 32 bits of `v` over the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// Gathers the even bits of `x` into a u32 (inverse of [`spread`]).
fn squash(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Encodes a point in the given ranges; None where Redis' encoder refuses (bad step, or a
/// point outside the stored encoding's limits or the given ranges).
pub fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if step > 32 || step == 0 || lat_r.is_zero() || lon_r.is_zero() {
        return None;
    }
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    // Truncation toward zero, as the C conversion to a 32-bit integer does.
    Some(HashBits {
        bits: spread(lat_off as u32) | (spread(lon_off as u32) << 1),
        step,
    })
}

/// Encodes a point of the stored encoding.
pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    encode(LON_RANGE, LAT_RANGE, lon, lat, step)
}

/// The box a hash names; None for the zero marker.
pub fn decode(lon_r: Range, lat_r: Range, h: HashBits) -> Option<Area> {
    if h.is_zero() || lat_r.is_zero() || lon_r.is_zero() {
        return None;
    }
    let ilat = squash(h.bits);
    let ilon = squash(h.bits >> 1);
    let div = (1u64 << h.step) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    // The +1 wraps in 32 bits like the C unsigned arithmetic (only reachable with scores
    // that were not written by GEOADD).
    Some(Area {
        lat: Range {
            min: lat_r.min + (ilat as f64 / div) * lat_scale,
            max: lat_r.min + (ilat.wrapping_add(1) as f64 / div) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (ilon as f64 / div) * lon_scale,
            max: lon_r.min + (ilon.wrapping_add(1) as f64 / div) * lon_scale,
        },
    })
}

/// The centre of a box, clamped to the encodable limits: [lon, lat].
pub fn area_center(a: &Area) -> [f64; 2] {
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// The double-to-unsigned conversion of x86-64 C code: values below 2^63 go through a
/// signed conversion (so negatives wrap), larger ones are offset first; out-of-range values
/// give the "integer indefinite" pattern.
pub fn c_double_to_u64(s: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    fn cvtt(v: f64) -> i64 {
        if !(-TWO63..TWO63).contains(&v) {
            i64::MIN
        } else {
            v as i64
        }
    }
    if s < TWO63 || s.is_nan() {
        cvtt(s) as u64
    } else {
        (cvtt(s - TWO63) as u64) ^ (1u64 << 63)
    }
}

/// Coordinates [lon, lat] of a stored score; None when the score does not name a box.
pub fn decode_score(score: f64) -> Option<[f64; 2]> {
    let h = HashBits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    decode(LON_RANGE, LAT_RANGE, h).map(|a| area_center(&a))
}

/// The score GEOADD stores for a point (already validated).
pub fn score_of(lon: f64, lat: f64) -> u64 {
    encode_wgs84(lon, lat, STEP_MAX).map_or(0, align52)
}

/// The hash shifted to a 52-bit score prefix.
pub fn align52(h: HashBits) -> u64 {
    h.bits << (52 - h.step as u32 * 2)
}

fn mask_shr(mask: u64, step: u8) -> u64 {
    mask.checked_shr(64 - step as u32 * 2).unwrap_or(0)
}

fn move_x(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = mask_shr(0x5555_5555_5555_5555, h.step);
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= mask_shr(0xaaaa_aaaa_aaaa_aaaa, h.step);
    h.bits = x | y;
}

fn move_y(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let zz = mask_shr(0xaaaa_aaaa_aaaa_aaaa, h.step);
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= mask_shr(0x5555_5555_5555_5555, h.step);
    h.bits = x | y;
}

/// The eight boxes around a hash (wrapping around at the edges of the grid).
#[derive(Debug, Clone, Copy, Default)]
pub struct Neighbors {
    pub north: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub south: HashBits,
    pub north_east: HashBits,
    pub south_east: HashBits,
    pub north_west: HashBits,
    pub south_west: HashBits,
}

pub fn neighbors(h: HashBits) -> Neighbors {
    let at = |dx: i8, dy: i8| {
        let mut n = h;
        move_x(&mut n, dx);
        move_y(&mut n, dy);
        n
    };
    Neighbors {
        east: at(1, 0),
        west: at(-1, 0),
        south: at(0, -1),
        north: at(0, 1),
        north_west: at(-1, 1),
        north_east: at(1, 1),
        south_east: at(1, -1),
        south_west: at(-1, -1),
    }
}

/// Box size (bits per coordinate) for a search radius: the largest box that still covers
/// the radius, made coarser towards the poles.
pub fn estimate_steps_by_radius(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers: a circle of `radius` or a `width` x `height` box, both in the
/// user's unit (`conversion` turns them into meters), centred on `xy` = [lon, lat].
#[derive(Debug, Clone, Copy)]
pub enum ShapeKind {
    Circle { radius: f64 },
    Rect { width: f64, height: f64 },
}

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub kind: ShapeKind,
    pub xy: [f64; 2],
    pub conversion: f64,
}

impl Shape {
    /// [min lon, min lat, max lon, max lat] of the area the shape can touch.
    pub fn bounding_box(&self) -> [f64; 4] {
        let [lon, lat] = self.xy;
        let (h, w) = match self.kind {
            ShapeKind::Circle { radius } => (radius, radius),
            ShapeKind::Rect { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let lon_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
        // The wider edge is the one nearer the equator.
        let d = if lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [lon - d, lat - lat_delta, lon + d, lat + lat_delta]
    }

    /// Distance in meters from the centre to a point when the point is inside the shape.
    pub fn distance_if_within(&self, lon: f64, lat: f64) -> Option<f64> {
        let [x1, y1] = self.xy;
        match self.kind {
            ShapeKind::Circle { radius } => {
                let d = distance(x1, y1, lon, lat);
                (d <= radius * self.conversion).then_some(d)
            }
            ShapeKind::Rect { width, height } => {
                let (w, h) = (width * self.conversion, height * self.conversion);
                // The cheaper latitude test first.
                if lat_distance(lat, y1) > h / 2.0 {
                    return None;
                }
                if distance(lon, lat, x1, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, lon, lat))
            }
        }
    }
}

/// The centre box of a search and the neighbours worth visiting (the others zeroed).
#[derive(Debug, Clone, Copy)]
pub struct SearchArea {
    pub hash: HashBits,
    pub neighbors: Neighbors,
    pub area: Area,
}

impl SearchArea {
    /// The nine boxes in Redis' visiting order: centre, N, S, E, W, NE, NW, SE, SW.
    pub fn boxes(&self) -> [HashBits; 9] {
        let n = &self.neighbors;
        [
            self.hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ]
    }
}

/// Chooses the boxes a search visits (Redis' `geohashCalculateAreasByShapeWGS84`).
pub fn areas_for_shape(shape: &Shape) -> SearchArea {
    let [min_lon, min_lat, max_lon, max_lat] = shape.bounding_box();
    let [lon, lat] = shape.xy;
    let radius_meters = match shape.kind {
        ShapeKind::Circle { radius } => radius,
        ShapeKind::Rect { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_meters, lat);
    let compute = |steps: u8| {
        let hash = encode_wgs84(lon, lat, steps).unwrap_or(HashBits {
            bits: 0,
            step: steps,
        });
        let nb = neighbors(hash);
        let area = decode(LON_RANGE, LAT_RANGE, hash).unwrap_or_default();
        (hash, nb, area)
    };
    let (mut hash, mut nb, mut area) = compute(steps);
    // Near an edge of the centre box the estimated boxes can be too small to reach the
    // whole search area: then one step coarser.
    let dec = |h: HashBits| decode(LON_RANGE, LAT_RANGE, h).unwrap_or_default();
    let decrease = dec(nb.north).lat.max < max_lat
        || dec(nb.south).lat.min > min_lat
        || dec(nb.east).lon.max < max_lon
        || dec(nb.west).lon.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        (hash, nb, area) = compute(steps);
    }
    // Neighbours on a side the search area does not reach are skipped.
    if steps >= 2 {
        let zero = HashBits::default();
        if area.lat.min < min_lat {
            nb.south = zero;
            nb.south_west = zero;
            nb.south_east = zero;
        }
        if area.lat.max > max_lat {
            nb.north = zero;
            nb.north_east = zero;
            nb.north_west = zero;
        }
        if area.lon.min < min_lon {
            nb.west = zero;
            nb.south_west = zero;
            nb.north_west = zero;
        }
        if area.lon.max > max_lon {
            nb.east = zero;
            nb.south_east = zero;
            nb.north_east = zero;
        }
    }
    SearchArea {
        hash,
        neighbors: nb,
        area,
    }
}

/// [min, max) scores of the members inside a box.
pub fn score_range_of_box(h: HashBits) -> (u64, u64) {
    let min = align52(h);
    let max = align52(HashBits {
        bits: h.bits.wrapping_add(1),
        step: h.step,
    });
    (min, max)
}

pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters between two [lon, lat] points.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    // Same meridian: the latitude difference alone, without the trigonometry.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_squash_are_inverse() {
        for v in [0u32, 1, 0x3ff_ffff, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(spread(v) & 0xaaaa_aaaa_aaaa_aaaa, 0);
        }
    }

    #[test]
    fn scores_as_redis_stores_them() {
        // Values read back from redis-server 7.0.15 (ZSCORE after GEOADD).
        assert_eq!(score_of(13.361389, 38.115556), 3479099956230698);
        assert_eq!(score_of(15.087269, 37.502669), 3479447370796909);
        assert_eq!(score_of(0.0, 0.0), 3377699720527872);
    }

    #[test]
    fn decode_round_trips_within_a_box() {
        let s = score_of(13.361389, 38.115556) as f64;
        let [lon, lat] = decode_score(s).unwrap();
        assert!((lon - 13.361389).abs() < 1e-5 && (lat - 38.115556).abs() < 1e-5);
        assert!(decode_score(0.0).is_some());
    }

    #[test]
    fn neighbours_are_adjacent() {
        let h = encode_wgs84(10.0, 10.0, 10).unwrap();
        let a = decode(LON_RANGE, LAT_RANGE, h).unwrap();
        let n = neighbors(h);
        let north = decode(LON_RANGE, LAT_RANGE, n.north).unwrap();
        let east = decode(LON_RANGE, LAT_RANGE, n.east).unwrap();
        assert_eq!(north.lat.min, a.lat.max);
        assert_eq!(north.lon, a.lon);
        assert_eq!(east.lon.min, a.lon.max);
        assert_eq!(east.lat, a.lat);
    }

    #[test]
    fn steps_for_radius() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(1.0, 0.0), 24);
        assert_eq!(estimate_steps_by_radius(1000.0, 0.0), 14);
        assert_eq!(estimate_steps_by_radius(1000.0, 70.0), 13);
        assert_eq!(estimate_steps_by_radius(1000.0, -85.0), 12);
        assert_eq!(estimate_steps_by_radius(1e9, 0.0), 1);
    }

    #[test]
    fn distances() {
        // GEODIST measures between the decoded box centres; redis-server says 166274.1516.
        let a = decode_score(score_of(13.361389, 38.115556) as f64).unwrap();
        let b = decode_score(score_of(15.087269, 37.502669) as f64).unwrap();
        let d = distance(a[0], a[1], b[0], b[1]);
        assert!((d - 166274.1516).abs() < 0.00005, "{d}");
        assert_eq!(distance(1.0, 1.0, 1.0, 2.0), lat_distance(1.0, 2.0));
    }

    #[test]
    fn x86_unsigned_conversion() {
        assert_eq!(c_double_to_u64(-1.0), u64::MAX);
        assert_eq!(c_double_to_u64(1e300), 0);
        assert_eq!(c_double_to_u64(12.0), 12);
        assert_eq!(c_double_to_u64(9223372036854775808.0), 1 << 63);
    }
}
