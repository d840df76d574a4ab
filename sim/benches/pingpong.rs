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

/// Wall-clock seconds taken by `f`, and its result.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // a benchmark measures real time
fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = std::time::Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
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
/// (seconds, frames delivered, runs, runs where some node did not finish).
fn repeated(min_secs: f64, mut run: impl FnMut(u64) -> (u64, bool)) -> (f64, u64, u64, u64) {
    let (mut secs, mut frames, mut runs, mut unfinished) = (0.0, 0u64, 0u64, 0u64);
    while secs < min_secs {
        runs += 1;
        let (took, (delivered, finished)) = timed(|| run(runs));
        secs += took;
        frames += delivered;
        unfinished += u64::from(!finished);
    }
    (secs, frames, runs, unfinished)
}

/// Ours with the swarm fault plan, exactly as `examples/pingpong.rs` runs it.
fn ours_with_faults(w: Workload, seed: u64) -> (u64, bool) {
    let report = run_pingpong(seed, w.nodes, w.messages);
    (report.frames_delivered, report.nodes_done == w.nodes)
}

/// Ours without faults: the same actors in a default (fault-free) world.
fn ours_fault_free(w: Workload, seed: u64) -> (u64, bool) {
    let mut world: World<PingpongNode> = World::new(Seed(seed), WorldConfig::default());
    for id in (0..w.nodes).map(NodeId) {
        let (nodes, messages) = (w.nodes, w.messages);
        world.add_node(id, move |id| PingpongNode::new(id, nodes, messages));
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
    println!(
        "{:<34} {:>14} {:>16} {:>8}",
        "workload (best of 3 rounds)", "ours frames/s", "turmoil frames/s", "ratio"
    );
    for w in workloads {
        let rows: [(&str, OursRun<'_>); 2] = [
            ("swarm faults", &|seed| ours_with_faults(w, seed)),
            ("no faults", &|seed| ours_fault_free(w, seed)),
        ];
        let mut turmoil_best = 0.0f64;
        let mut ours_best = [0.0f64; 2];
        let (mut runs, mut unfinished) = ([0u64; 2], [0u64; 2]);
        for _ in 0..ROUNDS {
            let (secs, frames, _, _) = repeated(min_secs, |seed| turmoil_run(w, seed));
            turmoil_best = turmoil_best.max(frames as f64 / secs);
            for (k, (_, run)) in rows.iter().enumerate() {
                let (secs, frames, r, u) = repeated(min_secs, run);
                ours_best[k] = ours_best[k].max(frames as f64 / secs);
                runs[k] += r;
                unfinished[k] += u;
            }
        }
        for (k, (what, _)) in rows.iter().enumerate() {
            let label = format!("{} nodes x {} msgs, {what}", w.nodes, w.messages);
            println!(
                "{label:<34} {:>14.0} {turmoil_best:>16.0} {:>7.1}x   ({} runs of ours, {} with \
                 unfinished nodes)",
                ours_best[k],
                ours_best[k] / turmoil_best,
                runs[k],
                unfinished[k]
            );
        }
    }
}
