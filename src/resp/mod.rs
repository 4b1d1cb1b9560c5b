//! The Redis protocol: parsing requests (multibulk and inline) and encoding replies for RESP2
//! and RESP3. Framing only — nothing here knows about commands or sockets.

pub mod reply;
pub mod request;

pub use reply::ReplyBuf;
pub use request::{ParseOutcome, RequestParser};
