//! Reading and checking the whole log on several connections and threads at once, for
//! `audit verify`, the checkpointer and the read floor.
//!
//! The log is read in one snapshot as a few *streams*, each the rows of one range of sequence
//! numbers in order: on PostgreSQL one binary `COPY` per connection, every connection in the
//! first one's exported snapshot (`pg_export_snapshot`, `SET TRANSACTION SNAPSHOT`); on SQLite
//! one read transaction per connection (rusqlite on the same libsqlite3 as sqlx), all of which
//! saw the same head row (every append advances it in the same transaction as its events, so
//! the same head means the same events; otherwise they are opened again). The last range has
//! no upper bound, so no stored row after `after` is left unread.
//!
//! Each stream is cut into *runs* of consecutive rows, and each run is checked on any thread:
//! every row decoded, encoded canonically and its leaf hashed and compared with the stored leaf
//! hash; every row after the run's first checked to follow the one before (sequence number) and
//! its stored chain hash recomputed from the previous row's *stored* chain hash and its own leaf.
//! [`join`] then takes the runs in log order and makes the same checks at each run's first row
//! against the previous run's last. Since a link is checked against the stored hash before it,
//! and every earlier link was checked too, the first row whose stored chain hash differs from
//! the chain recomputed from the start is exactly the first failing link: nothing stored is
//! trusted, and the first failing position is the one a one-thread pass would name.

use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt as _;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection, PgPool};
use tessera_audit::{Hash, chain_next};

use super::{AuditFault, AuditHead, FIELDS, RawRow, check_seq, hash32, raw_row};
use crate::pgcopy_read::{Splitter, Tuples};
use crate::{Result, StoreError};

/// Streams read at once on PostgreSQL (connections, each a server process producing its COPY).
const PG_STREAMS: usize = 2;
/// Streams read at once on SQLite (connections, each on a thread of its own).
const SQLITE_STREAMS: usize = 2;
/// Bytes of COPY tuples per run (about 3,000 events).
const PAGE_BYTES: usize = 1 << 20;
/// Rows per run on SQLite.
const SQLITE_RUN_ROWS: usize = 4096;
/// Tries at opening SQLite readers that agree on the head before giving up.
const SQLITE_TRIES: usize = 20;

/// The log after a sequence number and up to another (settings local to the transaction), as
/// binary COPY; the columns in the order of [`super::SELECT_AFTER`].
const COPY_RANGE: &str = "COPY (SELECT seq, time_us, actor, action, registry, organisation, target, purpose, outcome, \
                          client, request_id, leaf_hash, chain_hash FROM audit_events \
                          WHERE seq > current_setting('tessera.audit_after')::bigint \
                          AND seq <= current_setting('tessera.audit_upto')::bigint ORDER BY seq) \
                          TO STDOUT (FORMAT binary)";
/// The same range on SQLite.
const SELECT_RANGE: &str = "SELECT seq, time_us, actor, action, registry, organisation, target, purpose, outcome, \
                            client, request_id, leaf_hash, chain_hash FROM audit_events \
                            WHERE seq > ?1 AND seq <= ?2 ORDER BY seq";
const SELECT_HEAD: &str = "SELECT last_seq, chain_head FROM audit_head WHERE id = 1";

/// Why a run stopped before its end.
#[derive(Debug)]
pub(super) enum Stop {
    /// A row is not what was written.
    Fault(AuditFault),
    /// A row could not be read at all.
    Error(StoreError),
}

/// What is wrong with a row itself, found while hashing its leaf.
#[derive(Debug)]
enum RowProblem {
    /// Its fields are not an event.
    Bad(tessera_audit::EventError),
    /// Its fields do not give its stored leaf hash.
    Edited,
}

impl RowProblem {
    fn fault(&self, seq: u64) -> AuditFault {
        match self {
            RowProblem::Bad(e) => AuditFault::BadRow { seq, source: e.clone() },
            RowProblem::Edited => AuditFault::EditedRow { seq, what: "its fields do not give its stored leaf hash" },
        }
    }
}

fn chain_edited(seq: u64) -> AuditFault {
    AuditFault::EditedRow { seq, what: "its stored chain hash does not follow" }
}

/// A run's first row, whose link to the row before is checked by [`join`].
#[derive(Debug)]
struct FirstRow {
    seq: u64,
    leaf: std::result::Result<Hash, RowProblem>,
    chain: Hash,
}

/// Consecutive rows of one stream, checked together (see the module notes).
#[derive(Debug)]
pub(super) struct Run {
    /// (stream, number in the stream): the order of runs in the log.
    key: (usize, usize),
    first: Option<FirstRow>,
    /// The leaves of the rows that passed, from the first.
    leaves: Vec<Hash>,
    /// The last row that passed.
    last_seq: u64,
    last_chain: Hash,
    /// The stored chain hashes of rows whose sequence number is a checkpoint's size.
    heads: Vec<(u64, Hash)>,
    stop: Option<Stop>,
}

/// Checks the rows of one run as they come.
struct RunChecker<'a> {
    run: Run,
    /// Checkpoint sizes, ascending.
    sizes: &'a [u64],
    buf: String,
}

impl<'a> RunChecker<'a> {
    fn new(key: (usize, usize), sizes: &'a [u64], rows: usize) -> Self {
        RunChecker {
            run: Run {
                key,
                first: None,
                leaves: Vec::with_capacity(rows),
                last_seq: 0,
                last_chain: [0; 32],
                heads: Vec::new(),
                stop: None,
            },
            sizes,
            buf: String::with_capacity(512),
        }
    }

    fn stopped(&self) -> bool {
        self.run.stop.is_some() || matches!(self.run.first, Some(FirstRow { leaf: Err(_), .. }))
    }

    /// Takes the next row; nothing more after the first that fails.
    fn push(&mut self, row: Result<RawRow<'_>>) {
        if self.stopped() {
            return;
        }
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                self.run.stop = Some(Stop::Error(e));
                return;
            }
        };
        let leaf = leaf_of(&row, &mut self.buf);
        let run = &mut self.run;
        if run.first.is_none() {
            let ok = leaf.as_ref().ok().copied();
            run.first = Some(FirstRow { seq: row.seq, leaf, chain: row.chain });
            match ok {
                Some(l) => run.leaves.push(l),
                None => return,
            }
        } else {
            let fault = match check_seq(run.last_seq, row.seq) {
                Err(f) => Some(f),
                Ok(()) => match leaf {
                    Err(p) => Some(p.fault(row.seq)),
                    Ok(l) if chain_next(&run.last_chain, &l) == row.chain => {
                        run.leaves.push(l);
                        None
                    }
                    Ok(_) => Some(chain_edited(row.seq)),
                },
            };
            if let Some(f) = fault {
                run.stop = Some(Stop::Fault(f));
                return;
            }
        }
        if self.sizes.binary_search(&row.seq).is_ok() {
            run.heads.push((row.seq, row.chain));
        }
        run.last_seq = row.seq;
        run.last_chain = row.chain;
    }

    fn finish(self) -> Run {
        self.run
    }
}

/// Encodes a row's event canonically, hashes its leaf and compares it with the stored one.
fn leaf_of(row: &RawRow<'_>, buf: &mut String) -> std::result::Result<Hash, RowProblem> {
    let event = row.event.as_ref().map_err(|e| RowProblem::Bad(e.clone()))?;
    buf.clear();
    event.write_canonical(buf).map_err(RowProblem::Bad)?;
    let leaf = tessera_audit::leaf_hash(buf.as_bytes());
    if leaf == row.leaf { Ok(leaf) } else { Err(RowProblem::Edited) }
}

/// Checks a run of binary COPY tuples.
fn check_tuples(key: (usize, usize), page: &Tuples, sizes: &[u64]) -> Run {
    let mut c = RunChecker::new(key, sizes, page.rows());
    for fields in page.iter::<FIELDS>() {
        c.push(fields.and_then(raw_row));
        if c.stopped() {
            break;
        }
    }
    c.finish()
}

/// The runs joined in log order up to the first failure.
#[derive(Debug)]
pub(super) struct Joined {
    /// The leaf of every row before the first failure, in order, in the pieces the runs
    /// hashed them into (moved, not copied: at 10M events one array would cost a serial copy of
    /// 320 MB and its fresh pages).
    pub leaves: Vec<Vec<Hash>>,
    /// How many leaves those are.
    pub len: u64,
    /// The last of those rows, and the chain hash after it (recomputed, equal to the stored).
    pub last_seq: u64,
    pub head: Hash,
    /// (seq, chain hash) of those rows whose seq is a checkpoint size, in order.
    heads: Vec<(u64, Hash)>,
    start: Hash,
    after: u64,
    /// The first failure, if any.
    pub stop: Option<Stop>,
}

impl Joined {
    /// The chain head after the first `size` events read (for checkpoint sizes and the end).
    pub fn chain_head_at(&self, size: u64) -> Hash {
        if size == 0 {
            return self.start;
        }
        if size == self.len {
            return self.head;
        }
        let seq = self.after + size;
        match self.heads.binary_search_by_key(&seq, |h| h.0) {
            Ok(i) => self.heads[i].1,
            // Only asked for checkpoint sizes among the rows read, which are all kept.
            Err(_) => [0; 32],
        }
    }
}

/// Joins checked runs in log order, checking each run's first row against the row before
/// (`after` and the chain head `start` before the first), up to the first failure.
pub(super) fn join(mut runs: Vec<Run>, after: u64, start: Hash) -> Joined {
    runs.sort_by_key(|r| r.key);
    let mut j = Joined {
        leaves: Vec::with_capacity(runs.len()),
        len: 0,
        last_seq: after,
        head: start,
        heads: Vec::new(),
        start,
        after,
        stop: None,
    };
    for run in runs {
        let Some(first) = &run.first else {
            if run.stop.is_some() {
                j.stop = run.stop;
                return j;
            }
            continue;
        };
        let fault = check_seq(j.last_seq, first.seq).err().or_else(|| match &first.leaf {
            Err(p) => Some(p.fault(first.seq)),
            Ok(l) => (chain_next(&j.head, l) != first.chain).then(|| chain_edited(first.seq)),
        });
        if let Some(f) = fault {
            j.stop = Some(Stop::Fault(f));
            return j;
        }
        j.len += run.leaves.len() as u64;
        j.leaves.push(run.leaves);
        j.heads.extend_from_slice(&run.heads);
        j.last_seq = run.last_seq;
        j.head = run.last_chain;
        if run.stop.is_some() {
            j.stop = run.stop;
            return j;
        }
    }
    j
}

/// The upper bounds of `streams` ranges over the rows after `after` up to `last` (the last
/// range unbounded).
fn bounds(after: u64, last: u64, streams: usize) -> Vec<(i64, i64)> {
    let after = after.min(i64::MAX as u64);
    let span = last.saturating_sub(after);
    let streams = (streams as u64).clamp(1, span.max(1));
    let step = span / streams;
    (0..streams)
        .map(|i| {
            let lo = after + i * step;
            let hi = if i + 1 == streams { i64::MAX as u64 } else { after + (i + 1) * step };
            (lo as i64, hi.min(i64::MAX as u64) as i64)
        })
        .collect()
}

/// What a reader does with each stream's rows: check them, or only read them (the floor).
#[derive(Debug, Clone)]
pub(super) enum Work {
    /// Check every row ([`Run`]s); checkpoint sizes, ascending, whose chain heads to keep.
    Check(Arc<Vec<u64>>),
    /// Split into tuples and count, neither decoding nor hashing.
    Count,
}

/// The runs read and checked, or the rows counted.
#[derive(Debug, Default)]
pub(super) struct Read {
    pub runs: Vec<Run>,
    pub rows: u64,
}

impl Read {
    fn merge(&mut self, other: Read) {
        self.runs.extend(other.runs);
        self.rows += other.rows;
    }
}

/// Reads the events after `after` in one snapshot on PostgreSQL (see the module notes), and
/// the head as of the same snapshot.
pub(super) async fn read_postgres(pool: &PgPool, after: u64, work: Work) -> Result<(Read, AuditHead)> {
    let options = pool.connect_options();
    let mut first = options.connect().await?;
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut first).await?;
    let (last_seq, chain_head): (i64, Vec<u8>) = sqlx::query_as(SELECT_HEAD).fetch_one(&mut first).await?;
    let head = AuditHead { last_seq: last_seq as u64, chain_head: hash32(&chain_head, "the audit head")? };
    let ranges = bounds(after, head.last_seq, PG_STREAMS);
    let mut conns = vec![first];
    if ranges.len() > 1 {
        let (snapshot,): (String,) = sqlx::query_as("SELECT pg_export_snapshot()").fetch_one(&mut conns[0]).await?;
        // SET TRANSACTION SNAPSHOT takes no parameters; the identifier comes from the server and
        // is checked to be hexadecimal digits and dashes before it goes into the statement.
        if snapshot.is_empty() || !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::Corrupt(format!("an unexpected snapshot identifier {snapshot:?}")));
        }
        for _ in 1..ranges.len() {
            let mut c = options.connect().await?;
            let sql = format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut c).await?;
            conns.push(c);
        }
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (tx, rx) = tokio::sync::mpsc::channel::<((usize, usize), Tuples)>(2 * workers);
    let rx = Arc::new(Mutex::new(rx));
    let checkers: Vec<_> = (0..workers)
        .map(|_| {
            let rx = rx.clone();
            let work = work.clone();
            tokio::task::spawn_blocking(move || {
                let mut read = Read::default();
                loop {
                    let next = rx.lock().map_err(|_| StoreError::Corrupt("a reader failed".into()))?.blocking_recv();
                    let Some((key, page)) = next else { break };
                    match &work {
                        Work::Check(sizes) => {
                            read.rows += page.rows() as u64;
                            read.runs.push(check_tuples(key, &page, sizes));
                        }
                        Work::Count => {
                            for t in page.iter::<FIELDS>() {
                                t?;
                                read.rows += 1;
                            }
                        }
                    }
                }
                Ok::<_, StoreError>(read)
            })
        })
        .collect();
    let streams: Vec<_> = conns
        .into_iter()
        .zip(ranges)
        .enumerate()
        .map(|(i, (conn, range))| tokio::spawn(copy_stream(conn, i, range, tx.clone())))
        .collect();
    drop(tx);
    let mut failed = None;
    for s in streams {
        let r = s.await.map_err(|e| StoreError::Corrupt(format!("an audit reader failed: {e}")));
        if let Err(e) | Ok(Err(e)) = r {
            failed.get_or_insert(e);
        }
    }
    let mut read = Read::default();
    for c in checkers {
        match c.await.map_err(|e| StoreError::Corrupt(format!("an audit checker failed: {e}"))) {
            Ok(Ok(r)) => read.merge(r),
            Ok(Err(e)) | Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok((read, head)),
    }
}

/// One stream: the rows with `range.0 < seq <= range.1`, as runs of whole tuples, on a
/// connection already in the snapshot's transaction; commits and closes it.
async fn copy_stream(
    mut conn: PgConnection,
    stream: usize,
    range: (i64, i64),
    pages: tokio::sync::mpsc::Sender<((usize, usize), Tuples)>,
) -> Result<()> {
    // COPY takes no bind parameters: the bounds go in through settings local to the transaction.
    // The planner cannot see them, so it guesses a few thousand rows and picks a parallel bitmap
    // scan and a sort spilled to disk (with JIT): twice the server's work of reading the range in
    // primary-key order, which the settings below leave as the only plan.
    sqlx::query(
        "SELECT set_config('tessera.audit_after', $1, true), set_config('tessera.audit_upto', $2, true), \
         set_config('max_parallel_workers_per_gather', '0', true), set_config('jit', 'off', true), \
         set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true), \
         set_config('enable_seqscan', 'off', true)",
    )
    .bind(range.0.to_string())
    .bind(range.1.to_string())
    .execute(&mut conn)
    .await?;
    let mut split = Splitter::new(PAGE_BYTES + (64 << 10));
    let mut n = 0;
    let mut open = true;
    {
        let mut chunks = conn.copy_out_raw(COPY_RANGE).await?;
        while let Some(chunk) = chunks.try_next().await? {
            if !open {
                // Read to the end, so the connection ends cleanly.
                continue;
            }
            split.push(&chunk)?;
            if split.waiting() >= PAGE_BYTES {
                open = pages.send(((stream, n), split.take())).await.is_ok();
                n += 1;
            }
        }
    }
    let last = split.finish()?;
    if open && last.rows() > 0 {
        let _ = pages.send(((stream, n), last)).await;
    }
    sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

fn sqlite_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::other(format!("reading the audit log: {e}"))))
}

/// Opens a read-only connection to the SQLite file and starts a read transaction in it, by
/// reading the head.
fn sqlite_reader(path: &Path) -> Result<(rusqlite::Connection, (i64, Vec<u8>))> {
    use rusqlite::OpenFlags;
    let conn =
        rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(sqlite_error)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite_error)?;
    conn.execute_batch("BEGIN").map_err(sqlite_error)?;
    let head = conn.query_row(SELECT_HEAD, [], |r| Ok((r.get(0)?, r.get(1)?))).map_err(sqlite_error)?;
    Ok((conn, head))
}

/// Reads the events after `after` in one snapshot on SQLite (see the module notes), and the
/// head as of the same snapshot. Blocking.
pub(super) fn read_sqlite(path: &Path, after: u64, work: Work) -> Result<(Read, AuditHead)> {
    let mut tries = 0;
    let (conns, head) = loop {
        let (first, head) = sqlite_reader(path)?;
        let last_seq = u64::try_from(head.0).unwrap_or(0);
        let mut conns = vec![first];
        let mut agree = true;
        for _ in 1..bounds(after, last_seq, SQLITE_STREAMS).len() {
            let (c, h) = sqlite_reader(path)?;
            agree &= h == head;
            conns.push(c);
        }
        tries += 1;
        if agree {
            break (conns, head);
        }
        if tries == SQLITE_TRIES {
            return Err(StoreError::Conflict("the audit log kept growing while its readers opened".into()));
        }
    };
    let head = AuditHead { last_seq: head.0 as u64, chain_head: hash32(&head.1, "the audit head")? };
    let ranges = bounds(after, head.last_seq, conns.len());
    let reads = std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .zip(ranges)
            .enumerate()
            .map(|(i, (conn, range))| {
                let work = &work;
                s.spawn(move || sqlite_stream(&conn, i, range, work))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| StoreError::Corrupt("an audit reader failed".into())))
            .collect::<Vec<_>>()
    });
    let mut read = Read::default();
    for r in reads {
        read.merge(r??);
    }
    Ok((read, head))
}

/// A row's fields as borrowed bytes; integers as 8 big-endian bytes (in `ints`), as binary COPY
/// gives them, so both databases share [`raw_row`].
fn sqlite_fields<'r>(row: &'r rusqlite::Row<'_>, ints: &'r mut [[u8; 8]; 2]) -> Result<[Option<&'r [u8]>; FIELDS]> {
    use rusqlite::types::ValueRef;
    for (i, slot) in ints.iter_mut().enumerate() {
        match row.get_ref(i).map_err(sqlite_error)? {
            ValueRef::Integer(v) => *slot = v.to_be_bytes(),
            _ => return Err(StoreError::Corrupt(format!("an audit event's column {} is not an integer", i + 1))),
        }
    }
    let ints: &'r [[u8; 8]; 2] = ints;
    let [seq, time] = ints;
    let mut out: [Option<&[u8]>; FIELDS] = [None; FIELDS];
    out[0] = Some(seq);
    out[1] = Some(time);
    for (i, slot) in out.iter_mut().enumerate().skip(2) {
        *slot = match row.get_ref(i).map_err(sqlite_error)? {
            ValueRef::Null => None,
            ValueRef::Text(b) | ValueRef::Blob(b) => Some(b),
            ValueRef::Integer(_) | ValueRef::Real(_) => {
                return Err(StoreError::Corrupt(format!("an audit event's column {} is a number", i + 1)));
            }
        };
    }
    Ok(out)
}

/// One SQLite stream: the rows with `range.0 < seq <= range.1`, checked in runs (or counted).
fn sqlite_stream(conn: &rusqlite::Connection, stream: usize, range: (i64, i64), work: &Work) -> Result<Read> {
    let mut stmt = conn.prepare(SELECT_RANGE).map_err(sqlite_error)?;
    let mut rows = stmt.query([range.0, range.1]).map_err(sqlite_error)?;
    let mut read = Read::default();
    let mut ints = [[0u8; 8]; 2];
    match work {
        Work::Count => {
            while let Some(row) = rows.next().map_err(sqlite_error)? {
                sqlite_fields(row, &mut ints)?;
                read.rows += 1;
            }
        }
        Work::Check(sizes) => {
            let mut n = 0;
            let mut run = RunChecker::new((stream, n), sizes, SQLITE_RUN_ROWS);
            let mut in_run = 0;
            while let Some(row) = rows.next().map_err(sqlite_error)? {
                run.push(sqlite_fields(row, &mut ints).and_then(raw_row));
                read.rows += 1;
                in_run += 1;
                if run.stopped() {
                    // Nothing after the first failure of a stream matters.
                    break;
                }
                if in_run == SQLITE_RUN_ROWS {
                    n += 1;
                    read.runs.push(
                        std::mem::replace(&mut run, RunChecker::new((stream, n), sizes, SQLITE_RUN_ROWS)).finish(),
                    );
                    in_run = 0;
                }
            }
            read.runs.push(run.finish());
        }
    }
    drop(rows);
    drop(stmt);
    conn.execute_batch("COMMIT").map_err(sqlite_error)?;
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::bounds;

    #[test]
    fn the_ranges_cover_every_row_after_the_start() {
        assert_eq!(bounds(0, 0, 2), vec![(0, i64::MAX)]);
        assert_eq!(bounds(0, 1, 2), vec![(0, i64::MAX)]);
        assert_eq!(bounds(0, 10, 2), vec![(0, 5), (5, i64::MAX)]);
        assert_eq!(bounds(4, 11, 3), vec![(4, 6), (6, 8), (8, i64::MAX)]);
        assert_eq!(bounds(12, 11, 3), vec![(12, i64::MAX)]);
    }
}
