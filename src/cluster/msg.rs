//! The cluster bus wire format: encoding and decoding of the binary messages Redis 7.0 nodes
//! exchange on the cluster port (`clusterMsg` in Redis' `cluster.h`).
//!
//! This module owns only bytes <-> structs. It must stay byte-compatible with redis-server
//! 7.0.15 so that real Redis nodes and ferrodis nodes can form one cluster, which means the
//! layout, the byte order of every field and the `totlen` of every message type are dictated
//! by Redis rather than chosen here. Connection handling, the node table and what a message
//! *means* live elsewhere in `cluster`.
//!
//! # Layout
//!
//! Every message starts with a 2256-byte fixed header (see the `off` constants below for the
//! field offsets), followed by a type-specific body:
//!
//! * PING / PONG / MEET: `count` gossip entries of 104 bytes each, then, when
//!   `mflags[0] & EXT_DATA` is set, `extensions` ping extensions. Each extension is an 8-byte
//!   header (`u32` total length including that header, `u16` type, 2 unused bytes) followed by
//!   its data padded with NULs to a multiple of 8. Redis 7.0 only sends type 0, the announced
//!   hostname (NUL-terminated).
//! * FAIL: the 40-byte name of the failing node.
//! * PUBLISH / PUBLISHSHARD: `u32` channel length, `u32` message length, then both byte strings.
//! * UPDATE: `u64` config epoch, 40-byte node name, 2048-byte slot bitmap.
//! * MODULE: `u64` module id, `u32` payload length, `u8` message type, then the payload.
//! * FAILOVER_AUTH_REQUEST / FAILOVER_AUTH_ACK / MFSTART: nothing.
//!
//! # Byte order
//!
//! Integers are big-endian, with one exception: the MODULE message's `module_id`, which Redis
//! copies in host byte order on both ends (it is an opaque value compared for equality). Every
//! platform redis-server clusters run on is little-endian, so it is little-endian here.
//!
//! # Validation
//!
//! [`frame_len`] applies the checks Redis makes on the first 8 bytes of a message (failing them
//! closes the link); [`decode`] applies those Redis makes before acting on a whole message
//! (failing them drops the message). Where Redis would read past the end of a malformed
//! message (an extension shorter than its own header, lengths that overflow 32 bits), decoding
//! fails instead. `decode` never panics, whatever the input.

use std::fmt;

/// Number of hash slots.
pub const SLOTS: usize = 16384;
/// Length of a node name (40 hex characters, not NUL-terminated).
pub const NAMELEN: usize = 40;
/// Size of the NUL-padded IP address fields (`NET_IP_STR_LEN`).
pub const IP_LEN: usize = 46;
/// Size of the fixed header that precedes every message body (`CLUSTERMSG_MIN_LEN`).
pub const HEADER_LEN: usize = 2256;
/// Size of one gossip entry in PING/PONG/MEET bodies.
pub const GOSSIP_LEN: usize = 104;
/// Size of a ping extension's own header (length, type, padding).
pub const EXT_HEADER_LEN: usize = 8;
/// Ping extension type carrying the sender's announced hostname.
pub const EXT_TYPE_HOSTNAME: u16 = 0;
/// The only cluster bus protocol version Redis 7.0 speaks.
pub const PROTO_VER: u16 = 1;
/// The four bytes every message starts with ("Redis Cluster message bus").
pub const SIGNATURE: [u8; 4] = *b"RCmb";

// The sizes above must agree with the field offsets below (Redis pins the same numbers with
// static_asserts on its structs).
const _: () = assert!(off::DATA == HEADER_LEN && off::gossip::END == GOSSIP_LEN);

/// Body sizes Redis uses when computing `totlen` (fixed part of variable bodies only).
const FAIL_BODY_LEN: usize = NAMELEN;
const PUBLISH_FIXED_LEN: usize = 8;
const UPDATE_BODY_LEN: usize = 8 + NAMELEN + SLOTS / 8;
const MODULE_FIXED_LEN: usize = 13;

/// Message types (`CLUSTERMSG_TYPE_*`).
pub mod msg_type {
    pub const PING: u16 = 0;
    pub const PONG: u16 = 1;
    pub const MEET: u16 = 2;
    pub const FAIL: u16 = 3;
    pub const PUBLISH: u16 = 4;
    pub const FAILOVER_AUTH_REQUEST: u16 = 5;
    pub const FAILOVER_AUTH_ACK: u16 = 6;
    pub const UPDATE: u16 = 7;
    pub const MFSTART: u16 = 8;
    pub const MODULE: u16 = 9;
    pub const PUBLISHSHARD: u16 = 10;
    /// Number of known types; per-type statistics are kept for types below this.
    pub const COUNT: usize = 11;

    /// The name CLUSTER INFO uses for a type in its `cluster_stats_messages_*` fields.
    pub fn name(t: u16) -> &'static str {
        match t {
            PING => "ping",
            PONG => "pong",
            MEET => "meet",
            FAIL => "fail",
            PUBLISH => "publish",
            PUBLISHSHARD => "publishshard",
            FAILOVER_AUTH_REQUEST => "auth-req",
            FAILOVER_AUTH_ACK => "auth-ack",
            UPDATE => "update",
            MFSTART => "mfstart",
            MODULE => "module",
            _ => "unknown",
        }
    }
}

/// Node flags as carried in the header's and gossip entries' `flags` (`CLUSTER_NODE_*`).
pub mod node_flags {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;
}

/// Bits of `mflags[0]` (`CLUSTERMSG_FLAG0_*`).
pub mod mflags0 {
    /// The sending master is paused for a manual failover.
    pub const PAUSED: u8 = 1;
    /// FAILOVER_AUTH_REQUEST: vote even though the master is not failing (manual failover).
    pub const FORCEACK: u8 = 2;
    /// PING/PONG/MEET: ping extensions follow the gossip entries.
    pub const EXT_DATA: u8 = 4;
}

/// Field offsets inside a message, as pinned by the `static_assert`s in Redis' `cluster.h`.
mod off {
    use super::{IP_LEN, NAMELEN, SLOTS};

    pub const SIG: usize = 0;
    pub const TOTLEN: usize = 4;
    pub const VER: usize = 8;
    pub const PORT: usize = 10;
    pub const TYPE: usize = 12;
    pub const COUNT: usize = 14;
    pub const CURRENT_EPOCH: usize = 16;
    pub const CONFIG_EPOCH: usize = 24;
    pub const OFFSET: usize = 32;
    pub const SENDER: usize = 40;
    pub const MYSLOTS: usize = SENDER + NAMELEN;
    pub const SLAVEOF: usize = MYSLOTS + SLOTS / 8;
    pub const MYIP: usize = SLAVEOF + NAMELEN;
    pub const EXTENSIONS: usize = MYIP + IP_LEN;
    /// 30 reserved bytes follow `extensions`.
    pub const PPORT: usize = EXTENSIONS + 2 + 30;
    pub const CPORT: usize = PPORT + 2;
    pub const FLAGS: usize = CPORT + 2;
    pub const STATE: usize = FLAGS + 2;
    pub const MFLAGS: usize = STATE + 1;
    pub const DATA: usize = MFLAGS + 3;

    /// Within one gossip entry.
    pub mod gossip {
        use super::{IP_LEN, NAMELEN};

        pub const NAME: usize = 0;
        pub const PING_SENT: usize = NAMELEN;
        pub const PONG_RECEIVED: usize = PING_SENT + 4;
        pub const IP: usize = PONG_RECEIVED + 4;
        pub const PORT: usize = IP + IP_LEN;
        pub const CPORT: usize = PORT + 2;
        pub const FLAGS: usize = CPORT + 2;
        pub const PPORT: usize = FLAGS + 2;
        /// Two unused bytes follow `pport`.
        pub const END: usize = PPORT + 2 + 2;
    }

    /// Within the body (relative to `DATA`).
    pub const PUBLISH_CHANNEL_LEN: usize = 0;
    pub const PUBLISH_MESSAGE_LEN: usize = 4;
    pub const PUBLISH_BULK: usize = 8;
    pub const UPDATE_CONFIG_EPOCH: usize = 0;
    pub const UPDATE_NODE: usize = 8;
    pub const UPDATE_SLOTS: usize = UPDATE_NODE + NAMELEN;
    pub const MODULE_ID: usize = 0;
    pub const MODULE_LEN: usize = 8;
    pub const MODULE_TYPE: usize = 12;
    pub const MODULE_BULK: usize = 13;

    /// Within a ping extension (relative to its start).
    pub const EXT_LENGTH: usize = 0;
    pub const EXT_TYPE: usize = 4;
    pub const EXT_DATA: usize = 8;
}

/// A node name: 40 hex characters, no terminator.
pub type NodeName = [u8; NAMELEN];
/// One bit per slot; slot `s` is bit `s & 7` (least significant first) of byte `s / 8`.
pub type SlotBitmap = [u8; SLOTS / 8];

/// A new all-clear slot bitmap.
pub fn empty_slots() -> Box<SlotBitmap> {
    Box::new([0; SLOTS / 8])
}

/// Whether `slot` is set in `bitmap`. Panics if `slot >= SLOTS`.
pub fn slot_bit(bitmap: &SlotBitmap, slot: usize) -> bool {
    bitmap[slot / 8] & (1 << (slot & 7)) != 0
}

/// Sets or clears `slot` in `bitmap`. Panics if `slot >= SLOTS`.
pub fn set_slot_bit(bitmap: &mut SlotBitmap, slot: usize, on: bool) {
    let mask = 1u8 << (slot & 7);
    if on {
        bitmap[slot / 8] |= mask;
    } else {
        bitmap[slot / 8] &= !mask;
    }
}

/// The fixed header: who the sender is and what it believes about itself and the cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// One of [`msg_type`]; decides which [`Body`] follows.
    pub msg_type: u16,
    /// Number of gossip entries. [`encode`] fills it in for PING/PONG/MEET and writes it
    /// unchanged for other types (Redis leaves it 0 there).
    pub count: u16,
    pub current_epoch: u64,
    /// The sender's config epoch, or its master's if it is a replica.
    pub config_epoch: u64,
    /// Replication offset (the master's, or what a replica has processed).
    pub offset: u64,
    pub sender: NodeName,
    /// Slots the sender serves, or its master's if it is a replica.
    pub myslots: Box<SlotBitmap>,
    /// The sender's master; all zeroes on the wire when it is a master itself.
    pub slaveof: Option<NodeName>,
    /// The sender's announced IP (at most 45 bytes); empty when the receiver should use the
    /// connection's peer address.
    pub myip: String,
    /// Client port (the TLS port when TLS is on).
    pub port: u16,
    /// Plaintext client port when `port` is the TLS one, otherwise 0.
    pub pport: u16,
    /// Cluster bus port.
    pub cport: u16,
    /// The sender's [`node_flags`].
    pub flags: u16,
    /// The sender's view of the cluster state: 0 ok, 1 fail.
    pub state: u8,
    /// Message flags; see [`mflags0`] for the first byte. [`encode`] manages
    /// [`mflags0::EXT_DATA`] for PING/PONG/MEET; [`decode`] reports the bytes as received.
    pub mflags: [u8; 3],
}

impl Header {
    /// A header of the given type from `sender` with every other field zero / empty.
    pub fn new(msg_type: u16, sender: NodeName) -> Header {
        Header {
            msg_type,
            count: 0,
            current_epoch: 0,
            config_epoch: 0,
            offset: 0,
            sender,
            myslots: empty_slots(),
            slaveof: None,
            myip: String::new(),
            port: 0,
            pport: 0,
            cport: 0,
            flags: 0,
            state: 0,
            mflags: [0; 3],
        }
    }
}

/// What the sender knows about one other node, piggybacked on PING/PONG/MEET.
#[derive(Clone, PartialEq, Eq)]
pub struct Gossip {
    pub name: NodeName,
    /// When the sender last pinged the node, in seconds (Unix time), 0 if no ping is pending.
    pub ping_sent: u32,
    /// When the sender last received a PONG from the node, in seconds (Unix time).
    pub pong_received: u32,
    /// The node's IP (at most 45 bytes).
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    /// The node's [`node_flags`] as the sender sees them.
    pub flags: u16,
    pub pport: u16,
}

/// The type-specific part of a message.
#[derive(Clone, PartialEq, Eq)]
pub enum Body {
    /// PING, PONG, MEET.
    Ping {
        gossip: Vec<Gossip>,
        /// The hostname ping extension; `None` when absent (Redis omits it when no hostname
        /// is announced, and a receiver then forgets any hostname it knew for the sender).
        /// Bytes after an embedded NUL do not survive the trip. Extensions of unknown types
        /// are skipped when decoding.
        hostname: Option<String>,
    },
    /// FAIL: `about` has been marked as failed by the sender.
    Fail { about: NodeName },
    /// PUBLISH and PUBLISHSHARD.
    Publish { channel: Vec<u8>, message: Vec<u8> },
    /// UPDATE: the current slot configuration of `node`, which has `config_epoch`.
    Update {
        config_epoch: u64,
        node: NodeName,
        slots: Box<SlotBitmap>,
    },
    /// MODULE: a message from a module to the same module on other nodes.
    Module {
        /// Opaque id of the module (little-endian on the wire, see the module docs).
        module_id: u64,
        module_type: u8,
        payload: Vec<u8>,
    },
    /// FAILOVER_AUTH_REQUEST, FAILOVER_AUTH_ACK, MFSTART (header only), and types this
    /// version does not know (whose bodies are ignored, as Redis does).
    Empty,
}

impl Body {
    /// Whether this body is the one a message of type `t` carries; [`encode`] expects it.
    pub fn matches_type(&self, t: u16) -> bool {
        use msg_type::*;
        match self {
            Body::Ping { .. } => matches!(t, PING | PONG | MEET),
            Body::Fail { .. } => t == FAIL,
            Body::Publish { .. } => matches!(t, PUBLISH | PUBLISHSHARD),
            Body::Update { .. } => t == UPDATE,
            Body::Module { .. } => t == MODULE,
            Body::Empty => {
                matches!(t, FAILOVER_AUTH_REQUEST | FAILOVER_AUTH_ACK | MFSTART)
                    || usize::from(t) >= COUNT
            }
        }
    }
}

/// Debug output shows names as text and slot bitmaps as ranges rather than 2048 numbers.
struct ShowName<'a>(&'a [u8]);

impl fmt::Debug for ShowName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

struct ShowSlots<'a>(&'a SlotBitmap);

impl fmt::Debug for ShowSlots<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut slot = 0;
        while slot < SLOTS {
            if !slot_bit(self.0, slot) {
                slot += 1;
                continue;
            }
            let start = slot;
            while slot < SLOTS && slot_bit(self.0, slot) {
                slot += 1;
            }
            if slot - start == 1 {
                list.entry(&start);
            } else {
                list.entry(&format_args!("{start}-{}", slot - 1));
            }
        }
        list.finish()
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("msg_type", &self.msg_type)
            .field("count", &self.count)
            .field("current_epoch", &self.current_epoch)
            .field("config_epoch", &self.config_epoch)
            .field("offset", &self.offset)
            .field("sender", &ShowName(&self.sender))
            .field("myslots", &ShowSlots(&self.myslots))
            .field("slaveof", &self.slaveof.as_ref().map(|n| ShowName(n)))
            .field("myip", &self.myip)
            .field("port", &self.port)
            .field("pport", &self.pport)
            .field("cport", &self.cport)
            .field("flags", &self.flags)
            .field("state", &self.state)
            .field("mflags", &self.mflags)
            .finish()
    }
}

impl fmt::Debug for Gossip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gossip")
            .field("name", &ShowName(&self.name))
            .field("ping_sent", &self.ping_sent)
            .field("pong_received", &self.pong_received)
            .field("ip", &self.ip)
            .field("port", &self.port)
            .field("cport", &self.cport)
            .field("flags", &self.flags)
            .field("pport", &self.pport)
            .finish()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Ping { gossip, hostname } => f
                .debug_struct("Ping")
                .field("gossip", gossip)
                .field("hostname", hostname)
                .finish(),
            Body::Fail { about } => f
                .debug_struct("Fail")
                .field("about", &ShowName(about))
                .finish(),
            Body::Publish { channel, message } => f
                .debug_struct("Publish")
                .field("channel", &ShowName(channel))
                .field("message", &ShowName(message))
                .finish(),
            Body::Update {
                config_epoch,
                node,
                slots,
            } => f
                .debug_struct("Update")
                .field("config_epoch", config_epoch)
                .field("node", &ShowName(node))
                .field("slots", &ShowSlots(slots))
                .finish(),
            Body::Module {
                module_id,
                module_type,
                payload,
            } => f
                .debug_struct("Module")
                .field("module_id", module_id)
                .field("module_type", module_type)
                .field("payload", &ShowName(payload))
                .finish(),
            Body::Empty => f.write_str("Empty"),
        }
    }
}

/// One cluster bus message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}

/// Why bytes are not an acceptable cluster bus message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than the 8 bytes holding the signature and the length.
    TooShort(usize),
    /// The message does not start with "RCmb". Redis closes the link.
    BadSignature,
    /// `totlen` is below the fixed header size. Redis closes the link.
    TotlenTooSmall(u32),
    /// The buffer handed to [`decode`] is not exactly `totlen` bytes.
    FrameMismatch { totlen: u32, buffered: usize },
    /// A protocol version other than [`PROTO_VER`].
    UnsupportedVersion(u16),
    /// `totlen` differs from the length implied by the type and the message's own counters.
    LengthMismatch {
        msg_type: u16,
        totlen: u32,
        expected: u64,
    },
    /// Ping extension number `index` does not fit in the message, has a length that is not a
    /// multiple of 8, or is shorter than its own header.
    BadExtension { index: u16, length: u32 },
}

impl DecodeError {
    /// Whether Redis would close the link over this error rather than drop the message.
    pub fn closes_link(&self) -> bool {
        matches!(
            self,
            DecodeError::BadSignature | DecodeError::TotlenTooSmall(_)
        )
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::TooShort(n) => write!(f, "cluster bus message too short ({n} bytes)"),
            DecodeError::BadSignature => f.write_str("bad cluster bus message signature"),
            DecodeError::TotlenTooSmall(n) => {
                write!(f, "cluster bus message length {n} below the header size")
            }
            DecodeError::FrameMismatch { totlen, buffered } => write!(
                f,
                "cluster bus message of length {totlen} decoded from {buffered} bytes"
            ),
            DecodeError::UnsupportedVersion(v) => {
                write!(f, "unsupported cluster bus protocol version {v}")
            }
            DecodeError::LengthMismatch {
                msg_type: t,
                totlen,
                expected,
            } => write!(
                f,
                "invalid {} packet of length {totlen} but expected length {expected}",
                msg_type::name(t)
            ),
            DecodeError::BadExtension { index, length } => {
                write!(f, "invalid ping extension #{index} of length {length}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Rounds up to a multiple of 8, as ping extension data is padded.
fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Size of the hostname extension for a hostname of `len` bytes (data is NUL-terminated, then
/// padded).
fn hostname_ext_len(len: usize) -> usize {
    EXT_HEADER_LEN + align8(len + 1)
}

/// The `totlen` [`encode`] will write for `msg`, computed as Redis does for each type.
pub fn encoded_len(msg: &Message) -> usize {
    HEADER_LEN
        + match &msg.body {
            Body::Ping { gossip, hostname } => {
                GOSSIP_LEN * gossip.len()
                    + hostname.as_ref().map_or(0, |h| hostname_ext_len(h.len()))
            }
            Body::Fail { .. } => FAIL_BODY_LEN,
            Body::Publish { channel, message } => PUBLISH_FIXED_LEN + channel.len() + message.len(),
            Body::Update { .. } => UPDATE_BODY_LEN,
            Body::Module { payload, .. } => MODULE_FIXED_LEN + payload.len(),
            Body::Empty => 0,
        }
}

fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

fn put_bytes(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Writes `s` into a zeroed `IP_LEN`-byte field, truncated so that a NUL always ends it (Redis
/// does the same with the addresses it sends).
fn put_ip(buf: &mut [u8], at: usize, s: &str) {
    let bytes = s.as_bytes();
    put_bytes(buf, at, &bytes[..bytes.len().min(IP_LEN - 1)]);
}

/// A length Redis carries in 32 bits; anything larger cannot be sent.
fn wire_u32(n: usize, what: &str) -> u32 {
    u32::try_from(n).unwrap_or_else(|_| panic!("cluster bus {what} of {n} bytes exceeds 32 bits"))
}

/// Serializes `msg` exactly as redis-server 7.0 would: signature, version 1, `totlen` per
/// type, and for PING/PONG/MEET the gossip `count`, the `extensions` count and the
/// [`mflags0::EXT_DATA`] bit (set iff a hostname is present).
///
/// `msg.body` should match `msg.header.msg_type` (see [`Body::matches_type`]); the body is
/// laid out as given and the type written as given, so a mismatch yields a message peers
/// reject (debug builds assert against it).
///
/// # Panics
///
/// If the message would exceed 4 GiB, a PUBLISH channel/message or MODULE payload exceeds
/// `u32::MAX` bytes, or there are more than `u16::MAX` gossip entries.
pub fn encode(msg: &Message) -> Vec<u8> {
    debug_assert!(
        msg.body.matches_type(msg.header.msg_type),
        "cluster bus body does not match message type {}",
        msg.header.msg_type
    );
    let total = encoded_len(msg);
    let mut buf = vec![0u8; total];
    let h = &msg.header;

    let mut count = h.count;
    let mut mflags = h.mflags;
    let mut extensions = 0u16;
    if let Body::Ping { gossip, hostname } = &msg.body {
        count = u16::try_from(gossip.len())
            .unwrap_or_else(|_| panic!("{} gossip entries exceed 16 bits", gossip.len()));
        if hostname.is_some() {
            mflags[0] |= mflags0::EXT_DATA;
            extensions = 1;
        } else {
            mflags[0] &= !mflags0::EXT_DATA;
        }
    }

    put_bytes(&mut buf, off::SIG, &SIGNATURE);
    put_u32(&mut buf, off::TOTLEN, wire_u32(total, "message"));
    put_u16(&mut buf, off::VER, PROTO_VER);
    put_u16(&mut buf, off::PORT, h.port);
    put_u16(&mut buf, off::TYPE, h.msg_type);
    put_u16(&mut buf, off::COUNT, count);
    put_u64(&mut buf, off::CURRENT_EPOCH, h.current_epoch);
    put_u64(&mut buf, off::CONFIG_EPOCH, h.config_epoch);
    put_u64(&mut buf, off::OFFSET, h.offset);
    put_bytes(&mut buf, off::SENDER, &h.sender);
    put_bytes(&mut buf, off::MYSLOTS, &h.myslots[..]);
    if let Some(master) = &h.slaveof {
        put_bytes(&mut buf, off::SLAVEOF, master);
    }
    put_ip(&mut buf, off::MYIP, &h.myip);
    put_u16(&mut buf, off::EXTENSIONS, extensions);
    put_u16(&mut buf, off::PPORT, h.pport);
    put_u16(&mut buf, off::CPORT, h.cport);
    put_u16(&mut buf, off::FLAGS, h.flags);
    buf[off::STATE] = h.state;
    put_bytes(&mut buf, off::MFLAGS, &mflags);

    let data = off::DATA;
    match &msg.body {
        Body::Ping { gossip, hostname } => {
            for (i, g) in gossip.iter().enumerate() {
                let at = data + i * GOSSIP_LEN;
                put_bytes(&mut buf, at + off::gossip::NAME, &g.name);
                put_u32(&mut buf, at + off::gossip::PING_SENT, g.ping_sent);
                put_u32(&mut buf, at + off::gossip::PONG_RECEIVED, g.pong_received);
                put_ip(&mut buf, at + off::gossip::IP, &g.ip);
                put_u16(&mut buf, at + off::gossip::PORT, g.port);
                put_u16(&mut buf, at + off::gossip::CPORT, g.cport);
                put_u16(&mut buf, at + off::gossip::FLAGS, g.flags);
                put_u16(&mut buf, at + off::gossip::PPORT, g.pport);
            }
            if let Some(name) = hostname {
                let at = data + gossip.len() * GOSSIP_LEN;
                let len = hostname_ext_len(name.len());
                put_u32(
                    &mut buf,
                    at + off::EXT_LENGTH,
                    wire_u32(len, "hostname extension"),
                );
                put_u16(&mut buf, at + off::EXT_TYPE, EXT_TYPE_HOSTNAME);
                // The terminating NUL and the padding are already zero.
                put_bytes(&mut buf, at + off::EXT_DATA, name.as_bytes());
            }
        }
        Body::Fail { about } => put_bytes(&mut buf, data, about),
        Body::Publish { channel, message } => {
            put_u32(
                &mut buf,
                data + off::PUBLISH_CHANNEL_LEN,
                wire_u32(channel.len(), "channel"),
            );
            put_u32(
                &mut buf,
                data + off::PUBLISH_MESSAGE_LEN,
                wire_u32(message.len(), "message"),
            );
            let at = data + off::PUBLISH_BULK;
            put_bytes(&mut buf, at, channel);
            put_bytes(&mut buf, at + channel.len(), message);
        }
        Body::Update {
            config_epoch,
            node,
            slots,
        } => {
            put_u64(&mut buf, data + off::UPDATE_CONFIG_EPOCH, *config_epoch);
            put_bytes(&mut buf, data + off::UPDATE_NODE, node);
            put_bytes(&mut buf, data + off::UPDATE_SLOTS, &slots[..]);
        }
        Body::Module {
            module_id,
            module_type,
            payload,
        } => {
            put_bytes(&mut buf, data + off::MODULE_ID, &module_id.to_le_bytes());
            put_u32(
                &mut buf,
                data + off::MODULE_LEN,
                wire_u32(payload.len(), "module payload"),
            );
            buf[data + off::MODULE_TYPE] = *module_type;
            put_bytes(&mut buf, data + off::MODULE_BULK, payload);
        }
        Body::Empty => {}
    }
    buf
}

/// Bounds-checked reads from a received message; every failure is reported as the given
/// error so that a short or lying message can never cause a panic.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn slice(&self, at: usize, len: usize) -> Option<&'a [u8]> {
        self.buf.get(at..at.checked_add(len)?)
    }

    fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.slice(at, N)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        self.array(at).map(u16::from_be_bytes)
    }

    fn u32(&self, at: usize) -> Option<u32> {
        self.array(at).map(u32::from_be_bytes)
    }

    fn u64(&self, at: usize) -> Option<u64> {
        self.array(at).map(u64::from_be_bytes)
    }

    /// A NUL-terminated (or field-filling) string from a fixed-width field.
    fn cstr(&self, at: usize, width: usize) -> Option<String> {
        Some(c_string(self.slice(at, width)?))
    }
}

/// The bytes up to the first NUL (all of them if there is none), lossily as UTF-8.
fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// How many bytes the message at the start of `buf` occupies, once its first 8 bytes are
/// buffered: `Ok(None)` while fewer than 8 bytes are available. Fails, as Redis does before
/// closing the link, when the signature is not "RCmb" or `totlen` is below [`HEADER_LEN`].
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(prefix) = buf.get(..8) else {
        return Ok(None);
    };
    if prefix[..4] != SIGNATURE {
        return Err(DecodeError::BadSignature);
    }
    let totlen = u32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    if (totlen as usize) < HEADER_LEN {
        return Err(DecodeError::TotlenTooSmall(totlen));
    }
    Ok(Some(totlen as usize))
}

/// Parses one whole message (`buf.len()` must equal its `totlen`), accepting exactly what
/// redis-server 7.0 accepts: version 1 only, and `totlen` equal to the length implied by
/// the type (gossip count and extension lengths for PING/PONG/MEET, the declared lengths
/// for PUBLISH and MODULE, fixed sizes otherwise; any length for unknown types, whose body is
/// then ignored). Redis silently drops messages that fail these checks.
pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
    let totlen_usize = frame_len(buf)?.ok_or(DecodeError::TooShort(buf.len()))?;
    // frame_len read the length from 4 bytes, so it fits in u32.
    let totlen = totlen_usize as u32;
    if buf.len() != totlen_usize {
        return Err(DecodeError::FrameMismatch {
            totlen,
            buffered: buf.len(),
        });
    }
    let r = Reader { buf };
    // The whole header is present from here on (totlen >= HEADER_LEN), but reads stay
    // checked anyway; a failed one reports a frame mismatch, which cannot actually happen.
    let short = DecodeError::FrameMismatch {
        totlen,
        buffered: buf.len(),
    };

    let ver = r.u16(off::VER).ok_or(short)?;
    if ver != PROTO_VER {
        return Err(DecodeError::UnsupportedVersion(ver));
    }
    let slaveof: NodeName = r.array(off::SLAVEOF).ok_or(short)?;
    let header = Header {
        msg_type: r.u16(off::TYPE).ok_or(short)?,
        count: r.u16(off::COUNT).ok_or(short)?,
        current_epoch: r.u64(off::CURRENT_EPOCH).ok_or(short)?,
        config_epoch: r.u64(off::CONFIG_EPOCH).ok_or(short)?,
        offset: r.u64(off::OFFSET).ok_or(short)?,
        sender: r.array(off::SENDER).ok_or(short)?,
        myslots: Box::new(r.array(off::MYSLOTS).ok_or(short)?),
        slaveof: (slaveof != [0; NAMELEN]).then_some(slaveof),
        myip: r.cstr(off::MYIP, IP_LEN).ok_or(short)?,
        port: r.u16(off::PORT).ok_or(short)?,
        pport: r.u16(off::PPORT).ok_or(short)?,
        cport: r.u16(off::CPORT).ok_or(short)?,
        flags: r.u16(off::FLAGS).ok_or(short)?,
        state: *buf.get(off::STATE).ok_or(short)?,
        mflags: r.array(off::MFLAGS).ok_or(short)?,
    };

    let t = header.msg_type;
    let mismatch = |expected: u64| DecodeError::LengthMismatch {
        msg_type: t,
        totlen,
        expected,
    };
    // Checks totlen against the exact length a body implies (computed without overflow).
    let expect = |expected: u64| {
        if expected == u64::from(totlen) {
            Ok(())
        } else {
            Err(mismatch(expected))
        }
    };
    let base = HEADER_LEN as u64;
    let data = off::DATA;

    let body = match t {
        msg_type::PING | msg_type::PONG | msg_type::MEET => decode_ping(&r, &header, totlen)
            .map_err(|e| match e {
                PingError::Length(expected) => mismatch(expected),
                PingError::Other(e) => e,
            })?,
        msg_type::FAIL => {
            expect(base + FAIL_BODY_LEN as u64)?;
            Body::Fail {
                about: r.array(data).ok_or(short)?,
            }
        }
        msg_type::PUBLISH | msg_type::PUBLISHSHARD => {
            let lens = r
                .u32(data + off::PUBLISH_CHANNEL_LEN)
                .zip(r.u32(data + off::PUBLISH_MESSAGE_LEN));
            let Some((channel_len, message_len)) = lens else {
                return Err(mismatch(base + PUBLISH_FIXED_LEN as u64));
            };
            expect(
                base + PUBLISH_FIXED_LEN as u64 + u64::from(channel_len) + u64::from(message_len),
            )?;
            let at = data + off::PUBLISH_BULK;
            let channel_len = channel_len as usize;
            Body::Publish {
                channel: r.slice(at, channel_len).ok_or(short)?.to_vec(),
                message: r
                    .slice(at + channel_len, message_len as usize)
                    .ok_or(short)?
                    .to_vec(),
            }
        }
        msg_type::UPDATE => {
            expect(base + UPDATE_BODY_LEN as u64)?;
            Body::Update {
                config_epoch: r.u64(data + off::UPDATE_CONFIG_EPOCH).ok_or(short)?,
                node: r.array(data + off::UPDATE_NODE).ok_or(short)?,
                slots: Box::new(r.array(data + off::UPDATE_SLOTS).ok_or(short)?),
            }
        }
        msg_type::MODULE => {
            let Some(len) = r.u32(data + off::MODULE_LEN) else {
                return Err(mismatch(base + MODULE_FIXED_LEN as u64));
            };
            expect(base + MODULE_FIXED_LEN as u64 + u64::from(len))?;
            Body::Module {
                module_id: u64::from_le_bytes(r.array(data + off::MODULE_ID).ok_or(short)?),
                module_type: *buf.get(data + off::MODULE_TYPE).ok_or(short)?,
                payload: r
                    .slice(data + off::MODULE_BULK, len as usize)
                    .ok_or(short)?
                    .to_vec(),
            }
        }
        msg_type::FAILOVER_AUTH_REQUEST | msg_type::FAILOVER_AUTH_ACK | msg_type::MFSTART => {
            expect(base)?;
            Body::Empty
        }
        // Unknown types are accepted whatever their length; their body means nothing to us.
        _ => Body::Empty,
    };
    Ok(Message { header, body })
}

enum PingError {
    /// `totlen` disagrees with the gossip count and extensions; carries the expected length.
    Length(u64),
    Other(DecodeError),
}

/// The PING/PONG/MEET body: `header.count` gossip entries, then the extensions if
/// `EXT_DATA` is set (Redis ignores the `extensions` counter otherwise).
fn decode_ping(r: &Reader<'_>, header: &Header, totlen: u32) -> Result<Body, PingError> {
    let totlen = u64::from(totlen);
    let count = usize::from(header.count);
    let mut expected = HEADER_LEN as u64 + (GOSSIP_LEN * count) as u64;
    if expected > totlen {
        return Err(PingError::Length(expected));
    }
    let entry = |i: usize| -> Option<Gossip> {
        let at = off::DATA + i * GOSSIP_LEN;
        Some(Gossip {
            name: r.array(at + off::gossip::NAME)?,
            ping_sent: r.u32(at + off::gossip::PING_SENT)?,
            pong_received: r.u32(at + off::gossip::PONG_RECEIVED)?,
            ip: r.cstr(at + off::gossip::IP, IP_LEN)?,
            port: r.u16(at + off::gossip::PORT)?,
            cport: r.u16(at + off::gossip::CPORT)?,
            flags: r.u16(at + off::gossip::FLAGS)?,
            pport: r.u16(at + off::gossip::PPORT)?,
        })
    };
    let gossip = (0..count)
        .map(entry)
        .collect::<Option<Vec<_>>>()
        .ok_or(PingError::Length(expected))?;

    let mut hostname = None;
    if header.mflags[0] & mflags0::EXT_DATA != 0 {
        let extensions = r.u16(off::EXTENSIONS).ok_or(PingError::Length(expected))?;
        for index in 0..extensions {
            // `expected <= totlen == r.buf.len()` here, so this fits in usize.
            let at = expected as usize;
            let remaining = totlen - expected;
            let bad = |length| PingError::Other(DecodeError::BadExtension { index, length });
            let (Some(length), Some(ext_type)) =
                (r.u32(at + off::EXT_LENGTH), r.u16(at + off::EXT_TYPE))
            else {
                return Err(bad(0));
            };
            // Redis only checks the padding and the bound; a length below the extension's
            // own header would make it read past the message, so it is refused here too.
            if length % 8 != 0
                || (length as usize) < EXT_HEADER_LEN
                || u64::from(length) > remaining
            {
                return Err(bad(length));
            }
            if ext_type == EXT_TYPE_HOSTNAME {
                let data = r
                    .slice(at + off::EXT_DATA, length as usize - EXT_HEADER_LEN)
                    .ok_or_else(|| bad(length))?;
                // Like Redis, the last hostname extension wins.
                hostname = Some(c_string(data));
            }
            expected += u64::from(length);
        }
    }
    if expected != totlen {
        return Err(PingError::Length(expected));
    }
    Ok(Body::Ping { gossip, hostname })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(c: u8) -> NodeName {
        [c; NAMELEN]
    }

    fn gossip(i: u8) -> Gossip {
        Gossip {
            name: name(b'a' + i),
            ping_sent: 0x0102_0304 + u32::from(i),
            pong_received: 0x0506_0708,
            ip: format!("10.0.0.{i}"),
            port: 7000 + u16::from(i),
            cport: 17000 + u16::from(i),
            flags: node_flags::MASTER | node_flags::PFAIL,
            pport: 6000,
        }
    }

    fn header(t: u16) -> Header {
        let mut h = Header::new(t, name(b'S'));
        h.current_epoch = 0x1122_3344_5566_7788;
        h.config_epoch = 0x99aa_bbcc_ddee_ff00;
        h.offset = 0x0102_0304_0506_0708;
        set_slot_bit(&mut h.myslots, 0, true);
        set_slot_bit(&mut h.myslots, 9, true);
        set_slot_bit(&mut h.myslots, SLOTS - 1, true);
        h.slaveof = Some(name(b'M'));
        h.myip = "192.168.1.20".to_string();
        h.port = 0x1234;
        h.pport = 0x2345;
        h.cport = 0x3456;
        h.flags = node_flags::SLAVE | node_flags::MYSELF;
        h.state = 1;
        h.mflags = [mflags0::PAUSED, 0, 0];
        h
    }

    /// One message of every body kind and every known type (plus an unknown one).
    fn samples() -> Vec<Message> {
        let mut slots = empty_slots();
        for s in [1, 100, 8191, 16383] {
            set_slot_bit(&mut slots, s, true);
        }
        let mut out = Vec::new();
        for t in [msg_type::PING, msg_type::PONG, msg_type::MEET] {
            for (n, hostname) in [
                (0u8, None),
                (3, None),
                (0, Some("h")),
                (2, Some("node-7.example.com")),
            ] {
                let mut header = header(t);
                header.count = u16::from(n);
                if hostname.is_some() {
                    header.mflags[0] |= mflags0::EXT_DATA;
                }
                out.push(Message {
                    header,
                    body: Body::Ping {
                        gossip: (0..n).map(gossip).collect(),
                        hostname: hostname.map(str::to_string),
                    },
                });
            }
        }
        out.push(Message {
            header: header(msg_type::FAIL),
            body: Body::Fail { about: name(b'F') },
        });
        for t in [msg_type::PUBLISH, msg_type::PUBLISHSHARD] {
            out.push(Message {
                header: header(t),
                body: Body::Publish {
                    channel: b"news".to_vec(),
                    message: b"hello\0world".to_vec(),
                },
            });
            out.push(Message {
                header: header(t),
                body: Body::Publish {
                    channel: Vec::new(),
                    message: Vec::new(),
                },
            });
        }
        out.push(Message {
            header: header(msg_type::UPDATE),
            body: Body::Update {
                config_epoch: 42,
                node: name(b'U'),
                slots,
            },
        });
        out.push(Message {
            header: header(msg_type::MODULE),
            body: Body::Module {
                module_id: 0x0123_4567_89ab_cdef,
                module_type: 200,
                payload: b"xyz".to_vec(),
            },
        });
        for t in [
            msg_type::FAILOVER_AUTH_REQUEST,
            msg_type::FAILOVER_AUTH_ACK,
            msg_type::MFSTART,
            77,
        ] {
            out.push(Message {
                header: header(t),
                body: Body::Empty,
            });
        }
        out
    }

    fn be16(buf: &[u8], at: usize) -> u16 {
        u16::from_be_bytes(buf[at..at + 2].try_into().unwrap())
    }

    fn be32(buf: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(buf[at..at + 4].try_into().unwrap())
    }

    fn be64(buf: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(buf[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn offsets_match_redis_static_asserts() {
        let pairs = [
            (off::SIG, 0),
            (off::TOTLEN, 4),
            (off::VER, 8),
            (off::PORT, 10),
            (off::TYPE, 12),
            (off::COUNT, 14),
            (off::CURRENT_EPOCH, 16),
            (off::CONFIG_EPOCH, 24),
            (off::OFFSET, 32),
            (off::SENDER, 40),
            (off::MYSLOTS, 80),
            (off::SLAVEOF, 2128),
            (off::MYIP, 2168),
            (off::EXTENSIONS, 2214),
            (off::PPORT, 2246),
            (off::CPORT, 2248),
            (off::FLAGS, 2250),
            (off::STATE, 2252),
            (off::MFLAGS, 2253),
            (off::DATA, 2256),
            (HEADER_LEN, 2256),
            (off::gossip::END, 104),
            (GOSSIP_LEN, 104),
            (UPDATE_BODY_LEN, 2096),
        ];
        for (got, want) in pairs {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn header_fields_land_at_redis_offsets() {
        let msg = Message {
            header: header(msg_type::PING),
            body: Body::Ping {
                gossip: vec![gossip(1)],
                hostname: Some("abc".into()),
            },
        };
        let buf = encode(&msg);
        assert_eq!(&buf[0..4], b"RCmb");
        assert_eq!(be32(&buf, 4) as usize, buf.len());
        assert_eq!(be16(&buf, 8), 1);
        assert_eq!(be16(&buf, 10), 0x1234);
        assert_eq!(be16(&buf, 12), msg_type::PING);
        assert_eq!(be16(&buf, 14), 1);
        assert_eq!(be64(&buf, 16), 0x1122_3344_5566_7788);
        assert_eq!(be64(&buf, 24), 0x99aa_bbcc_ddee_ff00);
        assert_eq!(be64(&buf, 32), 0x0102_0304_0506_0708);
        assert_eq!(&buf[40..80], &[b'S'; 40]);
        // Slots 0 and 9 in the first two bytes, slot 16383 in the top bit of the last one.
        assert_eq!(buf[80], 0x01);
        assert_eq!(buf[81], 0x02);
        assert_eq!(buf[2127], 0x80);
        assert!(buf[82..2127].iter().all(|&b| b == 0));
        assert_eq!(&buf[2128..2168], &[b'M'; 40]);
        assert_eq!(&buf[2168..2180], b"192.168.1.20");
        assert!(buf[2180..2214].iter().all(|&b| b == 0));
        assert_eq!(be16(&buf, 2214), 1);
        assert!(buf[2216..2246].iter().all(|&b| b == 0));
        assert_eq!(be16(&buf, 2246), 0x2345);
        assert_eq!(be16(&buf, 2248), 0x3456);
        assert_eq!(be16(&buf, 2250), node_flags::SLAVE | node_flags::MYSELF);
        assert_eq!(buf[2252], 1);
        assert_eq!(
            &buf[2253..2256],
            &[mflags0::PAUSED | mflags0::EXT_DATA, 0, 0]
        );
        assert_eq!(&buf[2256..2296], &[b'b'; 40]);
    }

    #[test]
    fn gossip_entry_layout() {
        let msg = Message {
            header: header(msg_type::PONG),
            body: Body::Ping {
                gossip: vec![gossip(0), gossip(1)],
                hostname: None,
            },
        };
        let buf = encode(&msg);
        assert_eq!(buf.len(), HEADER_LEN + 2 * 104);
        let g = &buf[HEADER_LEN + 104..];
        assert_eq!(g.len(), 104);
        assert_eq!(&g[0..40], &[b'b'; 40]);
        assert_eq!(be32(g, 40), 0x0102_0305);
        assert_eq!(be32(g, 44), 0x0506_0708);
        assert_eq!(&g[48..56], b"10.0.0.1");
        assert!(g[56..94].iter().all(|&b| b == 0));
        assert_eq!(be16(g, 94), 7001);
        assert_eq!(be16(g, 96), 17001);
        assert_eq!(be16(g, 98), node_flags::MASTER | node_flags::PFAIL);
        assert_eq!(be16(g, 100), 6000);
        assert_eq!(be16(g, 102), 0);
        // No extensions: flag clear, counter zero.
        assert_eq!(buf[off::MFLAGS] & mflags0::EXT_DATA, 0);
        assert_eq!(be16(&buf, off::EXTENSIONS), 0);
    }

    #[test]
    fn hostname_extension_layout() {
        let longest = "a".repeat(255);
        for (host, ext_len) in [
            ("", 16),
            ("abc", 16),
            ("1234567", 16),
            ("12345678", 24),
            (longest.as_str(), 264),
        ] {
            let mut h = header(msg_type::MEET);
            h.count = 1;
            h.mflags[0] |= mflags0::EXT_DATA;
            let msg = Message {
                header: h,
                body: Body::Ping {
                    gossip: vec![gossip(3)],
                    hostname: Some(host.to_string()),
                },
            };
            let buf = encode(&msg);
            assert_eq!(buf.len(), HEADER_LEN + 104 + ext_len, "{host:?}");
            let ext = &buf[HEADER_LEN + 104..];
            assert_eq!(be32(ext, 0) as usize, ext_len);
            assert_eq!(be16(ext, 4), EXT_TYPE_HOSTNAME);
            assert_eq!(be16(ext, 6), 0);
            assert_eq!(&ext[8..8 + host.len()], host.as_bytes());
            assert!(ext[8 + host.len()..].iter().all(|&b| b == 0));
            assert_eq!(decode(&buf).unwrap(), msg);
        }
    }

    #[test]
    fn totlen_per_type_matches_redis() {
        let mk = |t, body| {
            encode(&Message {
                header: header(t),
                body,
            })
        };
        assert_eq!(
            mk(msg_type::FAIL, Body::Fail { about: name(b'x') }).len(),
            2296
        );
        let update = Body::Update {
            config_epoch: 1,
            node: name(b'x'),
            slots: empty_slots(),
        };
        assert_eq!(mk(msg_type::UPDATE, update).len(), 4352);
        let publish = Body::Publish {
            channel: b"ch".to_vec(),
            message: b"hello".to_vec(),
        };
        assert_eq!(mk(msg_type::PUBLISH, publish).len(), 2256 + 16 - 8 + 2 + 5);
        let module = Body::Module {
            module_id: 1,
            module_type: 2,
            payload: b"abcd".to_vec(),
        };
        assert_eq!(mk(msg_type::MODULE, module).len(), 2256 + 16 - 3 + 4);
        for t in [
            msg_type::FAILOVER_AUTH_REQUEST,
            msg_type::FAILOVER_AUTH_ACK,
            msg_type::MFSTART,
        ] {
            assert_eq!(mk(t, Body::Empty).len(), 2256);
        }
        let ping = Body::Ping {
            gossip: (0..3).map(gossip).collect(),
            hostname: Some("host1".into()),
        };
        assert_eq!(mk(msg_type::PING, ping).len(), 2256 + 3 * 104 + 8 + 8);
        for m in samples() {
            let buf = encode(&m);
            assert_eq!(buf.len(), encoded_len(&m));
            assert_eq!(be32(&buf, 4) as usize, buf.len());
        }
    }

    #[test]
    fn body_layouts() {
        let publish = encode(&Message {
            header: header(msg_type::PUBLISHSHARD),
            body: Body::Publish {
                channel: b"ch".to_vec(),
                message: b"msg".to_vec(),
            },
        });
        assert_eq!(be32(&publish, 2256), 2);
        assert_eq!(be32(&publish, 2260), 3);
        assert_eq!(&publish[2264..], b"chmsg");

        let module = encode(&Message {
            header: header(msg_type::MODULE),
            body: Body::Module {
                module_id: 0x0102_0304_0506_0708,
                module_type: 9,
                payload: b"p".to_vec(),
            },
        });
        // Host (little-endian) order, as Redis copies the id without conversion.
        assert_eq!(&module[2256..2264], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(be32(&module, 2264), 1);
        assert_eq!(module[2268], 9);
        assert_eq!(&module[2269..], b"p");

        let mut slots = empty_slots();
        set_slot_bit(&mut slots, 16, true);
        let update = encode(&Message {
            header: header(msg_type::UPDATE),
            body: Body::Update {
                config_epoch: 0x0a0b,
                node: name(b'n'),
                slots,
            },
        });
        assert_eq!(be64(&update, 2256), 0x0a0b);
        assert_eq!(&update[2264..2304], &[b'n'; 40]);
        assert_eq!(update[2304 + 2], 1);

        let fail = encode(&Message {
            header: header(msg_type::FAIL),
            body: Body::Fail { about: name(b'f') },
        });
        assert_eq!(&fail[2256..], &[b'f'; 40]);
    }

    #[test]
    fn round_trip_every_kind() {
        for m in samples() {
            assert!(m.body.matches_type(m.header.msg_type));
            let buf = encode(&m);
            assert_eq!(frame_len(&buf), Ok(Some(buf.len())));
            assert_eq!(decode(&buf).as_ref(), Ok(&m), "type {}", m.header.msg_type);
        }
    }

    #[test]
    fn master_and_unset_ip_round_trip() {
        let mut h = header(msg_type::PING);
        h.slaveof = None;
        h.myip.clear();
        let m = Message {
            header: h,
            body: Body::Ping {
                gossip: vec![],
                hostname: None,
            },
        };
        let buf = encode(&m);
        assert!(buf[2128..2214].iter().all(|&b| b == 0));
        assert_eq!(decode(&buf).unwrap(), m);
    }

    #[test]
    fn overlong_ip_is_truncated_and_terminated() {
        let mut h = header(msg_type::PING);
        h.myip = "x".repeat(60);
        let buf = encode(&Message {
            header: h,
            body: Body::Ping {
                gossip: vec![],
                hostname: None,
            },
        });
        assert_eq!(buf[off::MYIP + IP_LEN - 1], 0);
        assert_eq!(decode(&buf).unwrap().header.myip, "x".repeat(45));
    }

    #[test]
    fn encode_manages_ext_data_flag() {
        let mut h = header(msg_type::PING);
        h.mflags[0] = mflags0::EXT_DATA;
        let buf = encode(&Message {
            header: h.clone(),
            body: Body::Ping {
                gossip: vec![],
                hostname: None,
            },
        });
        assert_eq!(buf[off::MFLAGS], 0);
        h.mflags[0] = 0;
        let buf = encode(&Message {
            header: h,
            body: Body::Ping {
                gossip: vec![],
                hostname: Some("x".into()),
            },
        });
        assert_eq!(buf[off::MFLAGS], mflags0::EXT_DATA);
    }

    /// Appends a raw extension to a ping built without one, fixing up the header.
    fn with_extensions(exts: &[(u32, u16, &[u8])], extra: usize) -> Vec<u8> {
        let mut buf = encode(&Message {
            header: header(msg_type::PING),
            body: Body::Ping {
                gossip: vec![gossip(1)],
                hostname: None,
            },
        });
        for (len, ty, data) in exts {
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&ty.to_be_bytes());
            buf.extend_from_slice(&[0, 0]);
            buf.extend_from_slice(data);
        }
        buf.resize(buf.len() + extra, 0);
        let total = buf.len() as u32;
        buf[4..8].copy_from_slice(&total.to_be_bytes());
        buf[off::EXTENSIONS..off::EXTENSIONS + 2]
            .copy_from_slice(&(exts.len() as u16).to_be_bytes());
        buf[off::MFLAGS] |= mflags0::EXT_DATA;
        buf
    }

    fn hostname_of(buf: &[u8]) -> Option<String> {
        match decode(buf).unwrap().body {
            Body::Ping { hostname, .. } => hostname,
            other => panic!("not a ping: {other:?}"),
        }
    }

    #[test]
    fn unknown_extensions_are_skipped() {
        let buf = with_extensions(
            &[
                (16, 7, &[1; 8]),
                (16, EXT_TYPE_HOSTNAME, b"redis-1\0"),
                (8, 9, &[]),
            ],
            0,
        );
        assert_eq!(hostname_of(&buf).as_deref(), Some("redis-1"));
        // The last hostname wins; one without a NUL uses its whole data.
        let buf = with_extensions(&[(16, 0, b"first\0\0\0"), (16, 0, b"8bytes!!")], 0);
        assert_eq!(hostname_of(&buf).as_deref(), Some("8bytes!!"));
        // An empty hostname extension.
        let buf = with_extensions(&[(8, 0, &[])], 0);
        assert_eq!(hostname_of(&buf).as_deref(), Some(""));
    }

    #[test]
    fn extensions_ignored_without_ext_data_flag() {
        let mut buf = encode(&Message {
            header: header(msg_type::PING),
            body: Body::Ping {
                gossip: vec![],
                hostname: None,
            },
        });
        // A counter with no flag: Redis validates nothing and neither do we.
        buf[off::EXTENSIONS + 1] = 3;
        assert_eq!(hostname_of(&buf), None);
    }

    #[test]
    fn invalid_extensions_are_rejected() {
        let bad = |buf: &[u8]| matches!(decode(buf), Err(DecodeError::BadExtension { .. }));
        // Length not a multiple of 8.
        assert!(bad(&with_extensions(&[(12, 0, b"abcd")], 0)));
        // Shorter than its own header.
        assert!(bad(&with_extensions(&[(0, 0, &[])], 0)));
        // Runs past the end of the message.
        assert!(bad(&with_extensions(&[(24, 0, b"abcdefgh")], 0)));
        assert!(bad(&with_extensions(&[(u32::MAX - 7, 0, b"abcdefgh")], 0)));
        // Counter promises more extensions than there are bytes.
        let mut buf = with_extensions(&[(16, 0, b"abcdefgh")], 0);
        buf[off::EXTENSIONS + 1] = 2;
        assert!(bad(&buf));
        // Bytes left over after the last extension.
        assert!(matches!(
            decode(&with_extensions(&[(16, 0, b"abcdefgh")], 8)),
            Err(DecodeError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn length_checks_per_type() {
        for m in samples() {
            let mut buf = encode(&m);
            let known = usize::from(m.header.msg_type) < msg_type::COUNT;
            // One extra byte, declared in totlen: only unknown types accept it.
            buf.push(0);
            let total = buf.len() as u32;
            buf[4..8].copy_from_slice(&total.to_be_bytes());
            assert_eq!(decode(&buf).is_err(), known, "type {}", m.header.msg_type);
        }
        // Gossip count larger than the message.
        let mut buf = encode(&samples()[1]);
        buf[off::COUNT..off::COUNT + 2].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(
            decode(&buf),
            Err(DecodeError::LengthMismatch { .. })
        ));
        // PUBLISH lengths whose 32-bit sum would wrap around.
        let mut buf = encode(&Message {
            header: header(msg_type::PUBLISH),
            body: Body::Publish {
                channel: vec![],
                message: vec![],
            },
        });
        buf[2256..2260].copy_from_slice(&u32::MAX.to_be_bytes());
        buf[2260..2264].copy_from_slice(&1u32.to_be_bytes());
        assert!(matches!(
            decode(&buf),
            Err(DecodeError::LengthMismatch { .. })
        ));
        // A PUBLISH or MODULE too short to hold its own lengths.
        for t in [msg_type::PUBLISH, msg_type::MODULE] {
            let mut buf = encode(&Message {
                header: header(msg_type::MFSTART),
                body: Body::Empty,
            });
            buf[off::TYPE..off::TYPE + 2].copy_from_slice(&t.to_be_bytes());
            assert!(matches!(
                decode(&buf),
                Err(DecodeError::LengthMismatch { .. })
            ));
        }
    }

    #[test]
    fn unknown_type_ignores_body() {
        let mut buf = encode(&Message {
            header: header(500),
            body: Body::Empty,
        });
        buf.extend_from_slice(b"whatever");
        let total = buf.len() as u32;
        buf[4..8].copy_from_slice(&total.to_be_bytes());
        let m = decode(&buf).unwrap();
        assert_eq!(m.header.msg_type, 500);
        assert_eq!(m.body, Body::Empty);
    }

    #[test]
    fn version_and_framing() {
        let good = encode(&samples()[0]);
        let mut v2 = good.clone();
        v2[9] = 2;
        assert_eq!(decode(&v2), Err(DecodeError::UnsupportedVersion(2)));

        assert_eq!(frame_len(&good[..7]), Ok(None));
        assert_eq!(frame_len(&good[..8]), Ok(Some(good.len())));
        assert_eq!(frame_len(b"RCmX\0\0\x10\0"), Err(DecodeError::BadSignature));
        assert_eq!(
            frame_len(b"RCmb\0\0\x08\xcf"),
            Err(DecodeError::TotlenTooSmall(2255))
        );
        assert_eq!(frame_len(b"RCmb\0\0\x08\xd0"), Ok(Some(2256)));
        assert!(DecodeError::BadSignature.closes_link());
        assert!(DecodeError::TotlenTooSmall(0).closes_link());
        assert!(!DecodeError::UnsupportedVersion(2).closes_link());

        assert_eq!(decode(&good[..5]), Err(DecodeError::TooShort(5)));
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(
            decode(&longer),
            Err(DecodeError::FrameMismatch {
                totlen: good.len() as u32,
                buffered: good.len() + 1
            })
        );
    }

    #[test]
    fn slot_bits_follow_redis_bitmap_order() {
        let mut b = empty_slots();
        set_slot_bit(&mut b, 10, true);
        assert_eq!(b[1], 0b100);
        assert!(slot_bit(&b, 10));
        assert!(!slot_bit(&b, 11));
        set_slot_bit(&mut b, 16383, true);
        assert_eq!(b[2047], 0x80);
        set_slot_bit(&mut b, 10, false);
        assert_eq!(b[1], 0);
        assert!(slot_bit(&b, 16383));
    }

    #[test]
    fn type_names() {
        assert_eq!(msg_type::name(msg_type::FAILOVER_AUTH_REQUEST), "auth-req");
        assert_eq!(msg_type::name(msg_type::PUBLISHSHARD), "publishshard");
        assert_eq!(msg_type::name(11), "unknown");
    }

    /// xorshift64*: deterministic bytes without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn never_panics_on_prefixes() {
        for m in samples() {
            let buf = encode(&m);
            for n in 0..buf.len() {
                assert!(decode(&buf[..n]).is_err());
                let _ = frame_len(&buf[..n]);
            }
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            let len = rng.below(3000);
            let buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = decode(&buf);
            let _ = frame_len(&buf);
        }
        // Garbage behind a plausible prefix, so parsing gets past the framing checks.
        for _ in 0..2000 {
            let len = HEADER_LEN + rng.below(600);
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            buf[..4].copy_from_slice(&SIGNATURE);
            buf[4..8].copy_from_slice(&(len as u32).to_be_bytes());
            buf[8..10].copy_from_slice(&PROTO_VER.to_be_bytes());
            buf[12..14].copy_from_slice(&(rng.below(12) as u16).to_be_bytes());
            if rng.below(2) == 0 {
                buf[off::COUNT..off::COUNT + 2]
                    .copy_from_slice(&(rng.below(8) as u16).to_be_bytes());
                buf[off::EXTENSIONS..off::EXTENSIONS + 2]
                    .copy_from_slice(&(rng.below(8) as u16).to_be_bytes());
            }
            let _ = decode(&buf);
        }
    }

    #[test]
    fn never_panics_on_mutations() {
        let mut rng = Rng(12345);
        let valid: Vec<Vec<u8>> = samples().iter().map(encode).collect();
        for _ in 0..5000 {
            let mut buf = valid[rng.below(valid.len())].clone();
            for _ in 0..1 + rng.below(4) {
                // Favour the counters and the body, where the length logic lives.
                let at = match rng.below(3) {
                    0 => [4, 5, 6, 7, 14, 15, 2214, 2215, 2253][rng.below(9)],
                    _ => HEADER_LEN.saturating_sub(8) + rng.below(buf.len() - HEADER_LEN + 8),
                };
                if let Some(b) = buf.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
            match rng.below(3) {
                0 => buf.truncate(rng.below(buf.len() + 1)),
                1 => buf.extend((0..rng.below(40)).map(|_| rng.next() as u8)),
                _ => {}
            }
            if let Ok(m) = decode(&buf) {
                // Outside PING/PONG/MEET (where skipped extensions and NUL-truncated
                // hostnames shrink), whatever decodes re-encodes to the same length.
                let known = usize::from(m.header.msg_type) < msg_type::COUNT;
                if known && !matches!(m.body, Body::Ping { .. }) {
                    assert_eq!(encoded_len(&m), buf.len());
                }
            }
        }
    }
}
