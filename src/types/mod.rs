//! Values stored in the keyspace.
//!
//! Each type is an enum over its encodings, named as `OBJECT ENCODING` reports them in Redis
//! 7.0, so that encoding conversions are explicit and the reported name can't drift from the
//! representation actually used.

pub mod embstr;
pub mod geohash;
pub mod hash;
pub mod hll;
pub mod list;
pub mod listpack;
pub mod rawstr;
pub mod set;
pub mod stream;
pub mod string;
pub mod zset;

pub use hash::HashValue;
pub use list::ListValue;
pub use set::SetValue;
pub use string::RStr;
pub use zset::ZsetValue;

/// A value of any type.
#[derive(Debug)]
pub enum Value {
    Str(RStr),
    // Collections are boxed so that a `Value` is two words whatever the type: it is stored
    // inline in every keyspace dict node, whose size is what most keys cost.
    List(Box<ListValue>),
    Set(Box<SetValue>),
    Hash(Box<HashValue>),
    Zset(Box<ZsetValue>),
    Stream(Box<stream::Stream>),
    /// A value of a module data type: the type and the module's opaque pointer.
    Module(Box<crate::module::datatype::ModuleValue>),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Hash(_) => "hash",
            Value::Zset(_) => "zset",
            Value::Stream(_) => "stream",
            Value::Module(m) => m.ty.name,
        }
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding_name(),
            Value::List(l) => l.encoding_name(),
            Value::Set(s) => s.encoding_name(),
            Value::Hash(h) => h.encoding_name(),
            Value::Zset(z) => z.encoding_name(),
            Value::Stream(_) => "stream",
            Value::Module(_) => "raw",
        }
    }
}

/// A keyspace entry: the value plus its access clock (LRU seconds or LFU counter + minutes), as
/// Redis keeps in each object header for `OBJECT IDLETIME/FREQ` and eviction.
#[derive(Debug)]
pub struct Obj {
    pub value: Value,
    pub lru: u32,
}

impl Obj {
    pub fn new(value: Value, lru: u32) -> Self {
        Obj { value, lru }
    }
}

/// The error for a command applied to a key of another type.
pub const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value";
