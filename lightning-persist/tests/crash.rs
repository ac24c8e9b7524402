//! Crash safety: a child process writes a stream of versioned records and
//! reports each write on stdout once `write` has returned; the parent kills it
//! with SIGKILL at a random moment, reopens the store and checks that every
//! acknowledged write is there (same or newer version) and that every record
//! reads back whole. Many times per backend.
//!
//! The child is this test binary, re-run with `--ignored --exact
//! crash_child` and the job in `LN_PERSIST_CRASH_CHILD`; it is `#[ignore]`d
//! so that the main run does not pass it vacuously, and it prints `ready`
//! (the sentinel the parent waits for) once its store is open.
//!
//! The filesystem child compacts often: automatically (a 32 KiB log
//! threshold) and explicitly every seventh write, between the sentinels
//! `compacting` and `compacted` on stdout, so that the parent can count the
//! kills that landed in the middle of a compaction; the test requires some.
//! Its log grows in small preallocation steps (16 KiB of zeros written with
//! the append that needs them), and every third write is followed by an
//! explicit `reserve_log` between `preallocating` and `preallocated`, so
//! that kills land while zeros are being written too; the test requires
//! some of those as well.

// Test code may unwrap (clippy.toml allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]
#![cfg(any(feature = "fs", feature = "sqlite", feature = "postgres"))]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{value_for, value_is_valid};
use lightning_persist::{BatchOp, KvStore, PersistError};
use lightning_test_support::rng::Rng;

const CHILD_ENV: &str = "LN_PERSIST_CRASH_CHILD";
const ITERATIONS: u64 = 200;
const KEYS: u64 = 8;

/// Compacts the store now, or grows its log's zero-filled space.
type Compact = Box<dyn Fn() -> Result<(), PersistError>>;

/// The filesystem store's maintenance calls, for the child to interleave.
struct Maintenance {
    compact: Compact,
    preallocate: Compact,
}

/// Where a crash test keeps its records.
#[derive(Clone)]
enum Target {
    #[cfg(feature = "fs")]
    Fs(std::path::PathBuf),
    #[cfg(feature = "sqlite")]
    Sqlite(std::path::PathBuf),
    #[cfg(feature = "postgres")]
    Postgres { url: String, store: String },
}

impl Target {
    fn encode(&self) -> String {
        match self {
            #[cfg(feature = "fs")]
            Target::Fs(path) => format!("fs|{}", path.display()),
            #[cfg(feature = "sqlite")]
            Target::Sqlite(path) => format!("sqlite|{}", path.display()),
            #[cfg(feature = "postgres")]
            Target::Postgres { url, store } => format!("postgres|{url}|{store}"),
        }
    }

    fn decode(s: &str) -> Target {
        let parts: Vec<&str> = s.split('|').collect();
        match parts[0] {
            #[cfg(feature = "fs")]
            "fs" => Target::Fs(parts[1].into()),
            #[cfg(feature = "sqlite")]
            "sqlite" => Target::Sqlite(parts[1].into()),
            #[cfg(feature = "postgres")]
            "postgres" => Target::Postgres {
                url: parts[1].into(),
                store: parts[2].into(),
            },
            other => panic!("unknown crash target {other}"),
        }
    }

    /// Opens the store, waiting a little for a killed holder's lock to go.
    fn open(&self, instance: &str) -> Box<dyn KvStore> {
        self.open_compactable(instance).0
    }

    /// Opens the store, and for the filesystem a way to compact it.
    fn open_compactable(&self, instance: &str) -> (Box<dyn KvStore>, Option<Maintenance>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut compact: Option<Maintenance> = None;
            let opened: Result<Box<dyn KvStore>, PersistError> = match self {
                #[cfg(feature = "fs")]
                Target::Fs(path) => {
                    let mut options = lightning_persist::FsOptions::default();
                    options.compact_min_log_bytes = 32 << 10;
                    options.log_preallocate_bytes = 16 << 10;
                    lightning_persist::FsStore::open_with(path, instance, &options).map(|s| {
                        let s = std::sync::Arc::new(s);
                        let for_compact = std::sync::Arc::clone(&s);
                        let for_reserve = std::sync::Arc::clone(&s);
                        compact = Some(Maintenance {
                            compact: Box::new(move || for_compact.compact()),
                            // Always grows the file: 64 KiB past what it
                            // has.
                            preallocate: Box::new(move || {
                                let space = for_reserve.log_space();
                                for_reserve.reserve_log(space.allocated - space.used + (64 << 10))
                            }),
                        });
                        Box::new(s) as _
                    })
                }
                #[cfg(feature = "sqlite")]
                Target::Sqlite(path) => {
                    lightning_persist::SqliteStore::open(path, instance).map(|s| Box::new(s) as _)
                }
                #[cfg(feature = "postgres")]
                Target::Postgres { url, store } => {
                    let mut options = lightning_persist::PostgresOptions::new(store, instance);
                    // The server notices the killed client's closed socket
                    // asynchronously; wait for it to drop the lock.
                    options.lock_wait = Some(Duration::from_secs(10));
                    lightning_persist::PostgresStore::open(url, &options).map(|s| Box::new(s) as _)
                }
            };
            match opened {
                Ok(store) => return (store, compact),
                // The OS releases a killed process's flock when it has been
                // reaped, which `wait` ensured; this is only a safety net.
                Err(PersistError::Locked { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("reopen after crash: {e}"),
            }
        }
    }
}

/// The record lengths the child writes: mostly small, now and then 64 KiB
/// so that a kill lands inside a larger write too.
fn record_len(seq: u64) -> usize {
    if seq % 16 == 15 {
        64 << 10
    } else {
        ((seq * 7919) % 2000) as usize + 1
    }
}

/// The child: writes until killed, acknowledging each write on stdout.
#[test]
#[ignore = "the child of the crash tests, run by them with --ignored --exact"]
fn crash_child() {
    let job = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!("crash_child runs only as the child of a crash test ({CHILD_ENV} unset)")
    });
    let (iteration, target) = job.split_once('#').unwrap();
    let iteration: u64 = iteration.parse().unwrap();
    let (store, maintenance) = Target::decode(target).open_compactable("crash-child");
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for seq in 0.. {
        let version = iteration * 1_000_000 + seq + 1;
        if seq % 5 == 4 {
            // A pair written in one batch: both land or neither does where
            // batches are atomic; in order otherwise. With it, as a node's
            // step does (records written, obsolete keys removed), the
            // batch writes `pair/mark` (even batches) or removes it (odd
            // ones): the removal is atomic with the writes too.
            let mut ops: Vec<BatchOp> = ["pair/a", "pair/b"]
                .iter()
                .map(|key| BatchOp::Write {
                    namespace: "crash".into(),
                    key: key.to_string(),
                    version,
                    value: value_for(key, version, record_len(seq)),
                })
                .collect();
            ops.push(if (seq / 5) % 2 == 0 {
                BatchOp::Write {
                    namespace: "crash".into(),
                    key: "pair/mark".into(),
                    version,
                    value: value_for("pair/mark", version, 40),
                }
            } else {
                BatchOp::Remove {
                    namespace: "crash".into(),
                    key: "pair/mark".into(),
                }
            });
            store.write_batch(&ops).unwrap();
            writeln!(out, "ack pair/a {version}\nack pair/b {version}").unwrap();
        } else {
            let key = format!("rec/{:02}", seq % KEYS);
            store
                .write(
                    "crash",
                    &key,
                    version,
                    &value_for(&key, version, record_len(seq)),
                )
                .unwrap();
            writeln!(out, "ack {key} {version}").unwrap();
        }
        out.flush().unwrap();
        if let Some(maintenance) = maintenance.as_ref().filter(|_| seq % 7 == 6) {
            writeln!(out, "compacting").unwrap();
            out.flush().unwrap();
            (maintenance.compact)().unwrap();
            writeln!(out, "compacted").unwrap();
            out.flush().unwrap();
        }
        if let Some(maintenance) = maintenance.as_ref().filter(|_| seq % 3 == 1) {
            writeln!(out, "preallocating").unwrap();
            out.flush().unwrap();
            (maintenance.preallocate)().unwrap();
            writeln!(out, "preallocated").unwrap();
            out.flush().unwrap();
        }
    }
}

/// Where the kills of a crash loop landed.
#[derive(Debug, Default)]
struct Kills {
    /// Between `compacting` and `compacted`.
    mid_compaction: u64,
    /// Between `preallocating` and `preallocated`.
    mid_preallocation: u64,
}

/// Runs the crash loop; says how many kills landed inside the child's
/// maintenance calls.
fn run_crashes(name: &str, target: Target, max_delay_ms: u64) -> Kills {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("{name}: seed {seed}");
    let mut rng = Rng::new(seed);
    let exe = std::env::current_exe().unwrap();
    let mut acked: HashMap<String, u64> = HashMap::new();
    let (mut total_acks, mut killed_mid_stream) = (0u64, 0u64);
    let mut kills = Kills::default();
    let started = Instant::now();
    for iteration in 1..=ITERATIONS {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(CHILD_ENV, format!("{iteration}#{}", target.encode()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for the child to have opened the store, then let it write for
        // a random few milliseconds.
        let mut lines = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("{name}: child {iteration} never became ready"));
            if line == "ready" {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(max_delay_ms * 1000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        let mut acks_now = 0;
        for line in &lines {
            let Some(rest) = line.strip_prefix("ack ") else {
                continue;
            };
            let (key, version) = rest.split_once(' ').unwrap();
            let version: u64 = version.parse().unwrap();
            let max = acked.entry(key.to_owned()).or_default();
            *max = (*max).max(version);
            acks_now += 1;
        }
        total_acks += acks_now;
        let last_sentinel = lines.iter().rev().find(|l| {
            ["compacting", "compacted", "preallocating", "preallocated"].contains(&l.as_str())
        });
        match last_sentinel.map(String::as_str) {
            Some("compacting") => kills.mid_compaction += 1,
            Some("preallocating") => kills.mid_preallocation += 1,
            _ => {}
        }
        if acks_now > 0 {
            killed_mid_stream += 1;
        }

        let store = target.open("crash-parent");
        for (key, &version) in &acked {
            let record = store
                .read("crash", key)
                .unwrap_or_else(|e| panic!("{name} iteration {iteration}: {key}: {e}"))
                .unwrap_or_else(|| {
                    panic!("{name} iteration {iteration}: acknowledged {key}@{version} is gone")
                });
            assert!(
                record.version >= version,
                "{name} iteration {iteration}: {key} is at version {} below the acknowledged {version}",
                record.version
            );
            assert!(
                record.version <= iteration * 1_000_000 + 999_999,
                "{name}: {key} has a version never written"
            );
            assert!(
                value_is_valid(key, record.version, &record.value),
                "{name} iteration {iteration}: {key}@{} holds the wrong bytes",
                record.version
            );
        }
        let pair = |key: &str| store.read("crash", key).unwrap().map(|r| r.version);
        let (a, b) = (pair("pair/a"), pair("pair/b"));
        if store.batch_is_atomic() {
            assert_eq!(
                a, b,
                "{name} iteration {iteration}: an atomic batch landed in part"
            );
            // The last batch that landed wrote `pair/mark` (even batch) or
            // removed it (odd batch).
            let mark = pair("pair/mark");
            let expected = a.filter(|&v| {
                let seq = v - 1 - (v / 1_000_000) * 1_000_000;
                (seq / 5) % 2 == 0
            });
            assert_eq!(
                mark, expected,
                "{name} iteration {iteration}: a batch's removal and its writes landed apart"
            );
        } else {
            assert!(
                a >= b,
                "{name} iteration {iteration}: batch ops landed out of order"
            );
        }
        for key in store.list("crash").unwrap() {
            let record = store.read("crash", &key).unwrap().unwrap();
            assert!(
                value_is_valid(&key, record.version, &record.value),
                "{name}: {key} torn"
            );
        }
    }
    eprintln!(
        "{name}: {ITERATIONS} kills in {:.1}s, {total_acks} acknowledged writes, {killed_mid_stream} kills after at least one, {} in the middle of a compaction, {} in the middle of a preallocation",
        started.elapsed().as_secs_f64(),
        kills.mid_compaction,
        kills.mid_preallocation,
    );
    assert!(
        killed_mid_stream >= ITERATIONS / 2,
        "{name}: too few kills landed mid-stream ({killed_mid_stream})"
    );
    kills
}

#[cfg(feature = "fs")]
#[test]
fn fs_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let kills = run_crashes("fs", Target::Fs(dir.path().join("store")), 40);
    assert!(
        kills.mid_compaction >= 10,
        "fs: only {} kills landed in the middle of a compaction",
        kills.mid_compaction
    );
    assert!(
        kills.mid_preallocation >= 5,
        "fs: only {} kills landed in the middle of a preallocation",
        kills.mid_preallocation
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    run_crashes("sqlite", Target::Sqlite(dir.path().join("kv.sqlite")), 20);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_survives_sigkill() {
    let Some(url) =
        lightning_test_support::external::postgres_url("crash::postgres_survives_sigkill")
    else {
        return;
    };
    run_crashes(
        "postgres",
        Target::Postgres {
            url,
            store: lightning_test_support::external::unique_name("crash"),
        },
        25,
    );
}
