//! The replication state the server keeps, for both roles: the history (replication ids and
//! offset, the backlog), the replicas attached to us, and when we follow a master, the link to
//! it. The behaviour around it lives in `primary.rs` (serving replicas) and `replica.rs`
//! (following a master).

use super::backlog::Backlog;
use super::SelectedDb;
use crate::client::ClientId;

/// A null replication id, as Redis prints an unset one.
pub const NULL_REPLID: &str = "0000000000000000000000000000000000000000";

/// Where an attached replica is in its synchronization (Redis' `SLAVE_STATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Announced itself with REPLCONF but hasn't asked for SYNC/PSYNC yet: not a replica yet.
    Handshake,
    /// Waiting for a snapshot to be started for it.
    WaitBgsaveStart,
    /// A snapshot for it is being produced (the stream since is held for it).
    WaitBgsaveEnd,
    /// Receiving the snapshot file.
    SendBulk,
    /// Streaming.
    Online,
}

impl SyncState {
    pub fn name(self) -> &'static str {
        match self {
            SyncState::Handshake => "",
            SyncState::WaitBgsaveStart | SyncState::WaitBgsaveEnd => "wait_bgsave",
            SyncState::SendBulk => "send_bulk",
            SyncState::Online => "online",
        }
    }
}

/// What we know about one replica attached to us.
#[derive(Debug)]
pub struct ReplicaInfo {
    pub id: ClientId,
    pub state: SyncState,
    /// REPLCONF listening-port / ip-address.
    pub listening_port: i64,
    pub announced_ip: Option<String>,
    /// The IP it connects from.
    pub peer_ip: String,
    /// REPLCONF capa eof / psync2.
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// Offset it acknowledged, and when (unix seconds).
    pub ack_off: i64,
    pub ack_time: i64,
    /// Our offset when its snapshot was taken (the +FULLRESYNC offset).
    pub psync_initial_offset: i64,
    /// Stream produced since its snapshot began, sent once the snapshot is through.
    pub held: Vec<u8>,
    /// Its snapshot is written to its socket by the child (diskless).
    pub diskless: bool,
    /// Synchronized by a diskless transfer: it starts streaming with its first ACK.
    pub put_online_on_ack: bool,
    /// Its ACK came while the diskless child was still being reaped: it loaded the
    /// snapshot, so it goes online as soon as the child is.
    pub acked_during_transfer: bool,
    /// Used old SYNC (no +FULLRESYNC line, never times out before its first ACK).
    pub pre_psync: bool,
    /// When it started waiting for a snapshot (unix seconds), for the diskless delay.
    pub wait_since: i64,
    /// What its snapshot leaves out (`REPLCONF rdb-filter-only`, as redis-cli
    /// `--functions-rdb` asks): filtered snapshots always go straight to the socket.
    pub rdb_filter: RdbFilter,
}

/// Parts of the dataset a replica's snapshot leaves out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RdbFilter {
    /// Keys and module aux data.
    pub exclude_data: bool,
    pub exclude_functions: bool,
}

impl RdbFilter {
    pub fn filters(&self) -> bool {
        self.exclude_data || self.exclude_functions
    }
}

/// The state of our link to a master (Redis' `REPL_STATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not a replica.
    None,
    /// Must connect (the cron or a disconnection does).
    Connect,
    /// Non-blocking connect in progress.
    Connecting,
    /// PING sent, waiting for its reply.
    ReceivePong,
    /// AUTH / REPLCONF sent pipelined, reading their replies.
    ReceiveReplies,
    /// PSYNC sent.
    ReceivePsync,
    /// Receiving the snapshot.
    Transfer,
    /// Streaming from the master client.
    Connected,
}

/// Replies still expected after the pipelined handshake commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeReply {
    Auth,
    Port,
    Ip,
    Capa,
}

/// The replica side's link to its master while it isn't a master client yet.
#[derive(Default)]
pub struct Link {
    pub stream: Option<mio::net::TcpStream>,
    pub inbuf: Vec<u8>,
    pub expected: std::collections::VecDeque<HandshakeReply>,
    /// +FULLRESYNC's replication id and offset.
    pub full_replid: String,
    pub full_offset: i64,
    /// Snapshot transfer: declared size or EOF mark, and what arrived so far.
    pub header_done: bool,
    pub size: Option<usize>,
    pub eof_mark: Option<Vec<u8>>,
    pub data: Vec<u8>,
    /// A transfer to disk: the temp file the payload is written to as it arrives, and its
    /// name (renamed to the dump file once complete, removed if the transfer fails).
    pub tmpfile: Option<(std::fs::File, String)>,
    /// Payload bytes already taken out of `data` (written to the temp file, or read by the
    /// loader).
    pub drained: usize,
    /// The snapshot is loaded from the link (the server is loading meanwhile).
    pub diskless_load: bool,
    /// That load, record by record as the payload arrives.
    pub loader: Option<Box<crate::rdb::file::Loader>>,
    /// What a swapdb load builds while the old dataset goes on being served: it replaces
    /// the old one when complete.
    pub staged: Option<(Vec<crate::db::Db>, crate::scripting::function::Functions)>,
    /// The loader stopped to let the event loop serve clients, with payload still to read.
    pub load_pending: bool,
    /// The last read stopped at its cap with the socket not drained: the transfer is read
    /// only as fast as it is consumed, and the rest is read without waiting for an event.
    pub undrained: bool,
    /// That load keeps the old dataset until it is complete (`repl-diskless-load swapdb`).
    pub swapdb: bool,
    /// A transfer saved to disk is being loaded, serving events between records: the link
    /// itself waits (it becomes the master client afterwards).
    pub blocking_load: bool,
}

impl Link {
    /// How much of the buffered transfer is snapshot payload, and whether that is all of it:
    /// everything up to the declared size, or, with an EOF mark, everything before the mark
    /// once the data ends with it (then nothing more is coming). `hold_mark` keeps back the
    /// last bytes that might be the start of the mark.
    pub fn payload_window(&self, hold_mark: bool) -> (usize, bool) {
        let have = self.data.len();
        match self.size {
            Some(size) => {
                let left = size.saturating_sub(self.drained);
                (left.min(have), have >= left)
            }
            None => {
                let mark = self.eof_mark.as_deref().expect("mark or size");
                if self.data.ends_with(mark) {
                    (have - mark.len(), true)
                } else if hold_mark {
                    (have.saturating_sub(mark.len()), false)
                } else {
                    (have, false)
                }
            }
        }
    }
}

pub struct ReplState {
    /// The dump file was written by a BGSAVE for a replica's full sync while
    /// `rdb-del-sync-files` was on: it goes once no replica needs it, if we persist nothing.
    pub rdb_generated_by_replication: bool,
    /// Second replication id and the first offset it doesn't cover (after a promotion).
    pub replid2: String,
    pub second_replid_offset: i64,
    pub master_repl_offset: i64,
    pub backlog: Option<Backlog>,
    /// Unix seconds since when no replica is attached (backlog TTL).
    pub no_replicas_since: i64,
    pub replicas: Vec<ReplicaInfo>,
    /// Database the replication stream is in.
    pub seldb: SelectedDb,
    /// Replicas online with a lag within `min-replicas-max-lag`.
    pub good_replicas: i64,
    /// Seconds counted by the replication cron (PING period).
    pub cron_loops: u64,
    /// The running snapshot child writes to replica sockets (diskless).
    pub child_to_sockets: bool,
    /// Clients blocked in WAIT: (client, offset wanted, replicas wanted, deadline ms or 0).
    pub waiting: Vec<(ClientId, i64, i64, i64)>,
    /// Ask the replicas for an ACK before sleeping (a WAIT is pending).
    pub get_ack: bool,

    /// The master we follow, if any.
    pub master_host: Option<String>,
    pub master_port: i64,
    pub link_state: LinkState,
    pub link: Link,
    /// Connect in the next before-sleep (REPLICAOF, or the cron's retry).
    pub connect_now: bool,
    /// Unix seconds of the last connection attempt and of the transfer's start.
    pub last_connect_try: i64,
    pub transfer_started: i64,
    /// The master client once streaming.
    pub master_client: Option<ClientId>,
    /// We hold a history (our replid and offset) a master may continue (PSYNC).
    pub cached: bool,
    /// The database the master's stream was in when the link dropped: a continued stream
    /// doesn't repeat its SELECT.
    pub cached_db: usize,
    /// Stream bytes queued for the replica whose command is running (they are not replies).
    pub stream_to_current: usize,
    /// Keys given a time to live by our own clients on a writable replica: the master
    /// knows nothing of them, so we expire them ourselves (INFO `slave_expires_tracked_keys`).
    pub replica_keys_with_expire: std::collections::HashSet<(usize, Vec<u8>)>,
    /// A swapdb load of the same history we hold (Redis' async loading): clients keep being
    /// served from the old dataset while the new one arrives, except for the commands
    /// flagged `no-async-loading`.
    pub async_loading: bool,
    /// Bytes of the master stream consumed by the parser but not yet part of a whole
    /// command: they join the backlog with the command they belong to.
    pub master_partial: Vec<u8>,
    /// Unix seconds when the link went down (0 = never up since becoming a replica).
    pub down_since: i64,
    /// Unix seconds of the last handshake or transfer I/O.
    pub last_io: i64,
    /// The replication history found in the last loaded snapshot (`repl-id`, `repl-offset`).
    pub loaded_replid: Option<String>,
    pub loaded_offset: Option<i64>,
    /// INFO stats counters.
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    pub net_repl_input_bytes: u64,
    pub net_repl_output_bytes: u64,
}

impl Default for ReplState {
    fn default() -> Self {
        ReplState {
            replid2: NULL_REPLID.to_string(),
            second_replid_offset: -1,
            master_repl_offset: 0,
            backlog: None,
            no_replicas_since: crate::util::mstime() / 1000,
            replicas: Vec::new(),
            seldb: SelectedDb::default(),
            good_replicas: 0,
            cron_loops: 0,
            child_to_sockets: false,
            waiting: Vec::new(),
            get_ack: false,
            master_host: None,
            master_port: 0,
            link_state: LinkState::None,
            link: Link::default(),
            connect_now: false,
            last_connect_try: 0,
            transfer_started: 0,
            master_client: None,
            cached: false,
            cached_db: 0,
            stream_to_current: 0,
            replica_keys_with_expire: Default::default(),
            master_partial: Vec::new(),
            async_loading: false,
            rdb_generated_by_replication: false,
            down_since: 0,
            last_io: 0,
            loaded_replid: None,
            loaded_offset: None,
            sync_full: 0,
            sync_partial_ok: 0,
            sync_partial_err: 0,
            net_repl_input_bytes: 0,
            net_repl_output_bytes: 0,
        }
    }
}

impl ReplState {
    pub fn replica(&self, id: ClientId) -> Option<&ReplicaInfo> {
        self.replicas.iter().find(|r| r.id == id)
    }

    pub fn replica_mut(&mut self, id: ClientId) -> Option<&mut ReplicaInfo> {
        self.replicas.iter_mut().find(|r| r.id == id)
    }
}

/// A command as RESP multi-bulk, the form the replication stream carries.
pub fn encode_command(argv: &[Vec<u8>], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(argv.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}
