//! Pingpong throughput: frames delivered per wall-clock second, ours against turmoil.
//!
//! Workload (both sides, as in `sim::world::pingpong`): node `i` of `n` listens on port 7000 and
//! dials node `(i + 1) % n`; over that connection it sends `messages` pings one at a time, each
//! answered by a pong before the next ping goes out. Frames are `[kind: u8][number: u64 LE]`
//! with a 4-byte length prefix on turmoil's TCP. A frame counts when its receiver has read it.
//!
//! Ours runs `sim::world::pingpong::run_pingpong`, which also persists a counter to the
//! simulated disk on every frame and runs under a seeded swarm fault plan (crashes, partitions,
//! ...), so it does strictly more work per frame than the turmoil side (no disk, no faults).
//! Turmoil gets its most favourable setting for this workload: link latency 0.5-0.7 ms (ours:
//! 0.5 ms + up to 0.2 ms jitter) with its default 1 ms tick, so every frame lands on the next
//! tick.
//!
//! Each side is measured in 3 alternating rounds of at least 0.5 s of repeated runs (seeds 1, 2,
//! ...) and its best round is reported. Two rates are printed: frames per wall second (the
//! figure the issue asks for), and frames per second this thread spent on a CPU (Linux
//! `schedstat`), which is steadier on a shared, loaded machine; both sides run on this thread.
//! Rows "swarm faults" run `run_pingpong` as is; rows "no faults" run the same actors in a
//! default, fault-free world (still with a disk write and sync per pong); rows "same work" run
//! fault-free nodes that keep their counters in memory ([`PingpongNode::in_memory`]): exactly
//! the turmoil side's work (connect, ping, pong; no disk, no faults).
//!
//! Run: `cargo bench -p sim --bench pingpong` (add `-- --quick` for smaller message counts).

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use sim::world::pingpong::{run_pingpong, PingpongNode};
use sim::world::{World, WorldConfig};
use sim::{Duration, Instant, NodeId, Seed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 7000;
const PING: u8 = 1;
const PONG: u8 = 2;

/// One workload size.
#[derive(Clone, Copy, Debug)]
struct Workload {
    nodes: u32,
    messages: u64,
}

/// Seconds spent: on the wall clock, and on a CPU by this thread (both sides run on the calling
/// thread; on a shared machine the CPU figure is the steadier one).
#[derive(Clone, Copy, Debug)]
struct Spent {
    wall: f64,
    cpu: f64,
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`); `None` elsewhere.
#[allow(clippy::disallowed_methods)] // a benchmark reads the kernel's accounting of real time
fn thread_cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Time taken by `f`, and its result. Without a CPU clock the CPU figure is the wall figure.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // a benchmark measures real time
fn timed<T>(f: impl FnOnce() -> T) -> (Spent, T) {
    let (cpu0, start) = (thread_cpu_nanos(), std::time::Instant::now());
    let out = f();
    let wall = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_nanos()) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e9,
        _ => wall,
    };
    (Spent { wall, cpu }, out)
}

/// Frames per second of wall time and of CPU time.
#[derive(Clone, Copy, Debug, Default)]
struct Rates {
    wall: f64,
    cpu: f64,
}

impl Rates {
    fn of(frames: u64, spent: Spent) -> Rates {
        Rates { wall: frames as f64 / spent.wall, cpu: frames as f64 / spent.cpu.max(1e-9) }
    }
    fn best(self, o: Rates) -> Rates {
        Rates { wall: self.wall.max(o.wall), cpu: self.cpu.max(o.cpu) }
    }
}

fn node_name(i: u32) -> String {
    format!("n{i}")
}

/// Runs the workload on turmoil; returns the number of frames delivered.
fn turmoil_pingpong(w: Workload, seed: u64) -> u64 {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(core::time::Duration::from_secs(24 * 3600))
        .min_message_latency(core::time::Duration::from_micros(500))
        .max_message_latency(core::time::Duration::from_micros(700))
        .rng_seed(seed)
        .build();
    let counts = Counts::default();
    for i in 0..w.nodes {
        sim.client(node_name(i), turmoil_node(i, w, counts.clone()));
    }
    sim.run().expect("turmoil run failed");
    assert_eq!(counts.pongs.get(), u64::from(w.nodes) * w.messages, "turmoil lost pongs");
    counts.frames.get()
}

/// Shared tallies of one turmoil run (turmoil runs every host on one thread).
#[derive(Clone, Default)]
struct Counts {
    frames: Rc<Cell<u64>>,
    pongs: Rc<Cell<u64>>,
}

impl Counts {
    fn bump(cell: &Cell<u64>) {
        cell.set(cell.get() + 1);
    }
}

/// One turmoil node: serve pings on every accepted connection, ping the next node `messages`
/// times, then stay up until every node got all its pongs (its successor still needs it).
async fn turmoil_node(me: u32, w: Workload, counts: Counts) -> turmoil::Result {
    let listener =
        turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    let served = counts.clone();
    tokio::task::spawn_local(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::task::spawn_local(turmoil_serve(stream, served.clone()));
        }
    });
    let mut out = turmoil_dial(&node_name((me + 1) % w.nodes)).await;
    for number in 0..w.messages {
        write_frame(&mut out, PING, number).await?;
        let (kind, got) = read_frame(&mut out).await?;
        assert_eq!((kind, got), (PONG, number), "node {me}: pong out of order");
        Counts::bump(&counts.frames);
        Counts::bump(&counts.pongs);
    }
    let total = u64::from(w.nodes) * w.messages;
    while counts.pongs.get() < total {
        tokio::time::sleep(core::time::Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Answers every ping on `stream` with a pong of the same number.
async fn turmoil_serve(mut stream: turmoil::net::TcpStream, counts: Counts) {
    while let Ok((PING, number)) = read_frame(&mut stream).await {
        Counts::bump(&counts.frames);
        if write_frame(&mut stream, PONG, number).await.is_err() {
            return;
        }
    }
}

/// Dials `host` until its listener is up (nodes start in some order).
async fn turmoil_dial(host: &str) -> turmoil::net::TcpStream {
    loop {
        match turmoil::net::TcpStream::connect((host, PORT)).await {
            Ok(stream) => return stream,
            Err(_) => tokio::time::sleep(core::time::Duration::from_millis(1)).await,
        }
    }
}

async fn write_frame(
    stream: &mut turmoil::net::TcpStream,
    kind: u8,
    number: u64,
) -> std::io::Result<()> {
    let mut wire = [0u8; 4 + 9];
    wire[..4].copy_from_slice(&9u32.to_be_bytes());
    wire[4] = kind;
    wire[5..].copy_from_slice(&number.to_le_bytes());
    stream.write_all(&wire).await
}

async fn read_frame(stream: &mut turmoil::net::TcpStream) -> std::io::Result<(u8, u64)> {
    let mut wire = [0u8; 4 + 9];
    stream.read_exact(&mut wire).await?;
    let len = u32::from_be_bytes(wire[..4].try_into().expect("4 bytes"));
    if len != 9 {
        return Err(std::io::Error::other(format!("unexpected frame length {len}")));
    }
    Ok((wire[4], u64::from_le_bytes(wire[5..].try_into().expect("8 bytes"))))
}

/// Runs a side repeatedly (seeds 1, 2, ...) for at least `min_secs` of wall time; returns
/// (rates, runs, runs where some node did not finish). The whole loop is timed at once, so the
/// CPU clock's granularity does not add up over many short runs.
fn repeated(min_secs: f64, mut run: impl FnMut(u64) -> (u64, bool)) -> (Rates, u64, u64) {
    let (spent, (frames, runs, unfinished)) = timed(|| {
        let (mut frames, mut runs, mut unfinished) = (0u64, 0u64, 0u64);
        let mut wall = 0.0;
        while wall < min_secs {
            runs += 1;
            let (took, (delivered, finished)) = timed_wall(|| run(runs));
            wall += took;
            frames += delivered;
            unfinished += u64::from(!finished);
        }
        (frames, runs, unfinished)
    });
    (Rates::of(frames, spent), runs, unfinished)
}

/// Wall seconds taken by `f`, and its result.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // a benchmark measures real time
fn timed_wall<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = std::time::Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// Ours with the swarm fault plan, exactly as `examples/pingpong.rs` runs it.
fn ours_with_faults(w: Workload, seed: u64) -> (u64, bool) {
    let report = run_pingpong(seed, w.nodes, w.messages);
    (report.frames_delivered, report.nodes_done == w.nodes)
}

/// Ours without faults: the same actors in a default (fault-free) world.
fn ours_fault_free(w: Workload, seed: u64) -> (u64, bool) {
    fault_free(w, seed, PingpongNode::new)
}

/// Ours without faults or disk: nodes keep their counters in memory, the turmoil side's work.
fn ours_same_work(w: Workload, seed: u64) -> (u64, bool) {
    fault_free(w, seed, PingpongNode::in_memory)
}

/// A fault-free world of nodes made by `node`, run to the end.
fn fault_free(w: Workload, seed: u64, node: fn(NodeId, u32, u64) -> PingpongNode) -> (u64, bool) {
    let mut world: World<PingpongNode> = World::new(Seed(seed), WorldConfig::default());
    for id in (0..w.nodes).map(NodeId) {
        let (nodes, messages) = (w.nodes, w.messages);
        world.add_node(id, move |id| node(id, nodes, messages));
    }
    world.run_until_quiescent(Instant::ZERO + Duration::from_secs(3600));
    let done = world.node_ids().iter().all(|&id| world.node(id).is_some_and(|n| n.done()));
    (world.net().stats().frames_delivered, done)
}

/// One run of ours for a seed: (frames delivered, whether every node finished).
type OursRun<'a> = &'a dyn Fn(u64) -> (u64, bool);

/// The best of `ROUNDS` measurements is reported for each side (the machine is shared, so the
/// best round is the least disturbed one); rounds alternate between the two sides.
const ROUNDS: usize = 3;

/// One turmoil run (it asserts that every frame arrived).
fn turmoil_run(w: Workload, seed: u64) -> (u64, bool) {
    let frames = turmoil_pingpong(w, seed);
    assert_eq!(frames, 2 * u64::from(w.nodes) * w.messages, "turmoil lost frames");
    (frames, true)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let min_secs = if quick { 0.2 } else { 0.5 };
    let workloads = [
        Workload { nodes: 3, messages: 2_000 / scale },
        Workload { nodes: 30, messages: 2_000 / scale },
    ];
    println!("frames delivered per second, best of {ROUNDS} alternating rounds per side");
    println!(
        "{:<34} {:>14} {:>16} {:>7} | {:>12} {:>12} {:>7}",
        "workload",
        "ours frames/s",
        "turmoil frames/s",
        "ratio",
        "ours /cpu-s",
        "turmoil /cpu-s",
        "ratio"
    );
    for w in workloads {
        let rows: [(&str, OursRun<'_>); 3] = [
            ("swarm faults", &|seed| ours_with_faults(w, seed)),
            ("no faults", &|seed| ours_fault_free(w, seed)),
            ("same work", &|seed| ours_same_work(w, seed)),
        ];
        let mut turmoil = Rates::default();
        let mut ours = [Rates::default(); 3];
        let (mut runs, mut unfinished) = ([0u64; 3], [0u64; 3]);
        for _ in 0..ROUNDS {
            turmoil = turmoil.best(repeated(min_secs, |seed| turmoil_run(w, seed)).0);
            for (k, (_, run)) in rows.iter().enumerate() {
                let (rates, r, u) = repeated(min_secs, run);
                ours[k] = ours[k].best(rates);
                runs[k] += r;
                unfinished[k] += u;
            }
        }
        for (k, (what, _)) in rows.iter().enumerate() {
            let label = format!("{} nodes x {} msgs, {what}", w.nodes, w.messages);
            println!(
                "{label:<34} {:>14.0} {:>16.0} {:>6.1}x | {:>12.0} {:>12.0} {:>6.1}x   ({} runs \
                 of ours, {} with unfinished nodes)",
                ours[k].wall,
                turmoil.wall,
                ours[k].wall / turmoil.wall,
                ours[k].cpu,
                turmoil.cpu,
                ours[k].cpu / turmoil.cpu,
                runs[k],
                unfinished[k]
            );
        }
    }
}
