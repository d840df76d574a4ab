//! The world's event loop with a scripted probe actor: timer order, cancel, crash and restart
//! rebuilding from disk through the factory, crash at a disk operation, fatal halts, pause,
//! disk latency, clock drift, fault plans, BUGGIFY switching, run loops.

use std::cell::Cell;
use std::rc::Rc;

use sim::buggify::BuggifyConfig;
use sim::env::{Actor, Env, Halt, NodeId, TimerId};
use sim::fault::{Fault, FaultPlan};
use sim::io::{NetEvent, OpenOptions};
use sim::simulated::clock::ClockConfig;
use sim::world::{Status, World, WorldConfig};
use sim::{Duration, Instant, Seed};

const N: NodeId = NodeId(0);

#[derive(Debug)]
enum Req {
    Timer(Duration, u64),
    CancelLast,
    /// Writes `value` to the file `v`, synced or not.
    Write(u64, bool),
    Now,
    Fatal,
    Buggify(u32),
}

#[derive(Debug, PartialEq)]
enum Resp {
    /// A timer fired: its tag and the node's local time.
    Fired(u64, Instant),
    Now(Instant),
    Fired2(u32),
}

/// Records the value it found on disk at start.
struct Probe {
    loaded: Option<u64>,
    timers: Vec<TimerId>,
}

fn read_value(env: &mut Env<'_, Resp>) -> Result<Option<u64>, Halt> {
    let disk = env.disk();
    if !disk.exists("v")? {
        return Ok(None);
    }
    let f = disk.open("v", OpenOptions::read())?;
    let mut buf = [0u8; 8];
    Ok(match f.read_at(0, &mut buf)? {
        8 => Some(u64::from_le_bytes(buf)),
        _ => None,
    })
}

impl Actor for Probe {
    type Request = Req;
    type Response = Resp;

    fn on_start(&mut self, env: &mut Env<'_, Resp>) -> Result<(), Halt> {
        self.loaded = read_value(env)?;
        Ok(())
    }

    fn on_timer(&mut self, env: &mut Env<'_, Resp>, _id: TimerId, tag: u64) -> Result<(), Halt> {
        let now = env.now();
        env.respond(Resp::Fired(tag, now));
        Ok(())
    }

    fn on_net(&mut self, _env: &mut Env<'_, Resp>, _event: NetEvent) -> Result<(), Halt> {
        Ok(())
    }

    fn on_request(&mut self, env: &mut Env<'_, Resp>, req: Req) -> Result<(), Halt> {
        match req {
            Req::Timer(after, tag) => self.timers.push(env.set_timer(after, tag)),
            Req::CancelLast => {
                let id = self.timers.pop().expect("a timer to cancel");
                env.cancel_timer(id);
            }
            Req::Write(value, sync) => {
                let disk = env.disk();
                let f = disk.open("v", OpenOptions::create())?;
                f.write_at(0, &value.to_le_bytes())?;
                if sync {
                    f.sync()?;
                    disk.sync_dir("")?;
                }
            }
            Req::Now => {
                let now = env.now();
                env.respond(Resp::Now(now));
            }
            Req::Fatal => return Err(Halt::Fatal("probe gave up".into())),
            Req::Buggify(n) => {
                let fired = (0..n).filter(|_| env.buggify("probe/site")).count() as u32;
                env.respond(Resp::Fired2(fired));
            }
        }
        Ok(())
    }
}

/// A world with one probe node; the returned counter counts factory calls.
fn world_with(config: WorldConfig) -> (World<Probe>, Rc<Cell<u32>>) {
    let builds = Rc::new(Cell::new(0));
    let b = Rc::clone(&builds);
    let mut w = World::new(Seed(42), config);
    w.add_node(N, move |_| {
        b.set(b.get() + 1);
        Probe { loaded: None, timers: Vec::new() }
    });
    w.run_until(Instant::ZERO);
    (w, builds)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(n: u64) -> Instant {
    Instant::ZERO + ms(n)
}

fn fired(w: &mut World<Probe>) -> Vec<(u64, Instant)> {
    w.take_responses()
        .into_iter()
        .filter_map(|(_, t, r)| match r {
            Resp::Fired(tag, _) => Some((tag, t)),
            _ => None,
        })
        .collect()
}

#[test]
fn timers_fire_in_time_order_then_set_order_and_cancel_works() {
    let (mut w, _) = world_with(WorldConfig::default());
    for (after, tag) in [(30, 1), (10, 2), (20, 3), (10, 4), (5, 5)] {
        w.request(N, Req::Timer(ms(after), tag));
    }
    w.request(N, Req::CancelLast); // cancels tag 5
    assert!(w.run_until_quiescent(at(1000)));
    assert_eq!(fired(&mut w), vec![(2, at(10)), (4, at(10)), (3, at(20)), (1, at(30))]);
    assert_eq!(w.now(), at(30));
}

#[test]
fn crash_loses_memory_and_restart_rebuilds_from_disk_via_factory() {
    let (mut w, builds) = world_with(WorldConfig::default());
    assert_eq!(builds.get(), 1);
    assert_eq!(w.node(N).expect("up").loaded, None);
    w.request(N, Req::Write(7, true));
    w.request(N, Req::Timer(ms(50), 9));
    w.run_until(at(1));
    w.crash(N);
    assert!(!w.is_up(N));
    assert_eq!(w.status(N), Status::Crashed);
    assert!(w.node(N).is_none(), "memory dropped");
    assert_eq!(w.halts(), &[(at(1), N, Halt::Crashed)]);
    w.run_until(at(100));
    assert!(fired(&mut w).is_empty(), "a timer of the dead incarnation fired");
    w.restart(N);
    w.run_until(at(101));
    assert_eq!(builds.get(), 2, "factory called again on restart");
    assert_eq!(w.node(N).expect("up again").loaded, Some(7), "synced value survives a crash");
}

#[test]
fn crash_at_disk_op_crashes_the_node_inside_its_handler() {
    let (mut w, _) = world_with(WorldConfig::default());
    w.crash_at_disk_op(N, 0);
    w.request(N, Req::Write(1, true));
    w.run_until(at(1));
    assert_eq!(w.status(N), Status::Crashed);
    assert_eq!(w.halts().len(), 1);
    assert_eq!(w.halts()[0].2, Halt::Crashed);
    // Requests to a down node are lost (and traced), not delivered.
    w.request(N, Req::Now);
    w.run_until(at(2));
    assert!(w.take_responses().is_empty());
    w.restart(N);
    w.request_at(at(3), N, Req::Now);
    w.run_until(at(3));
    assert!(w.is_up(N), "the disk works again after the crash");
    assert_eq!(w.take_responses().len(), 1);
}

#[test]
fn fatal_halt_stops_the_node_for_good_and_is_recorded() {
    let (mut w, builds) = world_with(WorldConfig::default());
    w.request(N, Req::Fatal);
    w.run_until(at(1));
    assert_eq!(w.status(N), Status::Halted);
    assert_eq!(w.halts(), &[(at(0), N, Halt::Fatal("probe gave up".into()))]);
    w.run_until(at(1000));
    assert_eq!(builds.get(), 1, "no automatic restart");
}

#[test]
fn pause_delays_events_in_order() {
    let (mut w, _) = world_with(WorldConfig::default());
    w.request(N, Req::Timer(ms(10), 1));
    w.request(N, Req::Timer(ms(12), 2));
    w.run_until(at(5));
    w.pause(N, ms(20));
    w.request_at(at(6), N, Req::Now);
    w.run_until(at(100));
    let responses = w.take_responses();
    let times: Vec<Instant> = responses.iter().map(|(_, t, _)| *t).collect();
    assert_eq!(times, vec![at(25), at(25), at(25)], "{responses:?}");
    assert_eq!(responses[0].2, Resp::Now(at(25)), "the request came first (earliest)");
    assert!(matches!(responses[1].2, Resp::Fired(1, _)));
    assert!(matches!(responses[2].2, Resp::Fired(2, _)));
}

#[test]
fn disk_latency_delays_the_next_event() {
    let (mut w, _) = world_with(WorldConfig::default());
    w.disk(N).set_latency(ms(1), ms(10));
    w.request(N, Req::Write(1, true)); // open + write + sync + sync_dir
    w.request(N, Req::Now);
    w.run_until(at(100));
    let (_, t, r) = w.take_responses().pop().expect("response");
    assert_eq!(r, Resp::Now(t));
    assert!(t >= at(20), "busy for two syncs and the other operations, answered at {t}");
}

#[test]
fn clock_skew_and_drift_change_local_time_and_timer_firing() {
    let config = WorldConfig {
        clock: ClockConfig { skew_ns: 1_000_000, drift_ppm: 100_000 },
        ..WorldConfig::default()
    };
    let (mut w, _) = world_with(config);
    w.request(N, Req::Timer(ms(110), 1));
    w.run_until(at(1000));
    let responses = w.take_responses();
    let (_, t, r) = &responses[0];
    // 110ms of a clock 10% fast is 100ms of global time; local time is skewed by 1ms + 10%.
    assert_eq!(*t, at(100));
    assert_eq!(*r, Resp::Fired(1, at(100) + ms(1) + ms(10)));
}

#[test]
fn fault_plan_applies_at_its_times() {
    let (mut w, builds) = world_with(WorldConfig::default());
    let plan = FaultPlan::from_json(
        r#"{"faults": [{"at": 5000000, "fault": {"kind": "crash", "node": 0}},
                       {"at": 9000000, "fault": {"kind": "restart", "node": 0}},
                       {"at": 9000000, "fault": {"kind": "crash", "node": 77}}]}"#,
    )
    .expect("valid plan");
    w.install_plan(&plan);
    w.run_until(at(7));
    assert!(!w.is_up(N));
    w.run_until(at(10));
    assert!(w.is_up(N));
    assert_eq!(builds.get(), 2);
    assert_eq!(w.halts(), &[(at(5), N, Halt::Crashed)]);
    w.apply(&Fault::Pause { node: 0, for_ns: ms(5).as_nanos() });
    w.request(N, Req::Now);
    w.run_until(at(100));
    assert_eq!(w.take_responses()[0].1, at(15));
}

#[test]
fn buggify_is_off_by_default_and_fires_when_enabled() {
    let (mut w, _) = world_with(WorldConfig::default());
    w.request(N, Req::Buggify(10_000));
    w.run_until(at(1));
    assert_eq!(w.take_responses()[0].2, Resp::Fired2(0));
    // Enabled with certain activation: fires about 5% of the time.
    let config = WorldConfig {
        buggify: BuggifyConfig { enabled: true, activation: 1.0, firing: 0.05, only: None },
        ..WorldConfig::default()
    };
    let (mut w, _) = world_with(config);
    w.request(N, Req::Buggify(10_000));
    w.run_until(at(1));
    let Resp::Fired2(n) = w.take_responses().remove(0).2 else { panic!("wrong response") };
    assert!((300..=700).contains(&n), "fired {n} of 10000");
}

#[test]
fn run_while_stops_when_the_predicate_fails_and_stop_is_clean() {
    let (mut w, _) = world_with(WorldConfig::default());
    for i in 1..=10 {
        w.request(N, Req::Timer(ms(i), i));
    }
    let stopped = w.run_while(at(1000), |w| w.now() < at(4));
    assert!(stopped);
    assert_eq!(w.now(), at(4));
    w.stop(N);
    assert_eq!(w.status(N), Status::Stopped);
    assert!(w.halts().is_empty(), "a clean stop is not a halt");
    let before = w.events();
    w.run_until(at(1000));
    assert_eq!(w.events(), before, "timers of a stopped node do not fire");
    assert!(!w.run_while(at(2000), |_| true), "queue drained: stops without the predicate");
}

#[test]
fn trace_hash_is_independent_of_record_keeping() {
    let run = |keep: bool| {
        let (mut w, _) = world_with(WorldConfig { keep_trace: keep, ..WorldConfig::default() });
        w.request(N, Req::Timer(ms(3), 1));
        w.request(N, Req::Write(5, false));
        w.run_until(at(10));
        (w.trace_hash(), w.trace().records().len(), w.events())
    };
    let (h1, r1, e1) = run(false);
    let (h2, r2, e2) = run(true);
    assert_eq!(h1, h2);
    assert_eq!(e1, e2);
    assert_eq!(r1, 0);
    assert!(r2 as u64 >= e2, "every event is recorded when keeping records");
}

#[test]
fn plans_installed_later_merge_by_time() {
    let (mut w, builds) = world_with(WorldConfig { keep_trace: true, ..WorldConfig::default() });
    let mut late = FaultPlan::default();
    late.push(at(20), Fault::Restart { node: 0 });
    w.install_plan(&late);
    w.run_until(at(2));
    let mut early = FaultPlan::default();
    early.push(at(10), Fault::Crash { node: 0 });
    early.push(at(1), Fault::Pause { node: 0, for_ns: 1 }); // in the past: applies now
    w.install_plan(&early);
    w.run_until(at(30));
    let faults: Vec<(Instant, String)> = w
        .trace()
        .records()
        .iter()
        .filter(|r| r.kind == "fault")
        .map(|r| (r.time, r.detail.clone()))
        .collect();
    let kinds: Vec<(Instant, &str)> =
        faults.iter().map(|(t, d)| (*t, d.split('"').nth(3).unwrap_or(""))).collect();
    assert_eq!(kinds, vec![(at(2), "pause"), (at(10), "crash"), (at(20), "restart")]);
    assert!(w.is_up(N));
    assert_eq!(builds.get(), 2);
    assert_eq!(w.installed_faults(), 3, "every installed fault counts, applied or not");
}

#[test]
fn last_stepped_node_names_the_node_whose_event_ran() {
    let (mut w, _) = world_with(WorldConfig::default());
    let m = NodeId(1);
    w.add_node(m, |_| Probe { loaded: None, timers: Vec::new() });
    assert!(w.step(), "m's start");
    assert_eq!(w.last_stepped_node(), Some(m));
    w.request(N, Req::Timer(ms(5), 1));
    assert!(w.step(), "the request");
    assert_eq!(w.last_stepped_node(), Some(N));
    w.schedule(at(1), |_| {});
    assert!(w.step(), "the action");
    assert_eq!(w.last_stepped_node(), None, "an action may touch any node");
    assert!(w.step(), "the timer");
    assert_eq!(w.last_stepped_node(), Some(N));
}

#[test]
fn swap_responses_hands_over_the_answers_and_clears_the_buffer_first() {
    let (mut w, _) = world_with(WorldConfig::default());
    let mut buf = Vec::with_capacity(8);
    w.request(N, Req::Now);
    w.run_until(at(1));
    w.swap_responses(&mut buf);
    assert_eq!(buf.len(), 1, "{buf:?}");
    assert_eq!(buf[0].2, Resp::Now(at(0)));
    // What the caller left in the buffer is not handed back as new answers.
    w.request_at(at(2), N, Req::Now);
    w.run_until(at(2));
    w.swap_responses(&mut buf);
    assert_eq!(buf.len(), 1, "{buf:?}");
    assert_eq!(buf[0].2, Resp::Now(at(2)));
    w.swap_responses(&mut buf);
    assert!(buf.is_empty(), "nothing new: {buf:?}");
    assert!(w.take_responses().is_empty());
}

#[test]
fn the_probe_sees_each_handler_and_a_disk_tap_can_kill_inside_it() {
    use sim::simulated::disk::DiskOpKind;
    use sim::world::Probe as P;
    let script = |w: &mut World<Probe>| {
        w.request(N, Req::Timer(ms(5), 1));
        w.request(N, Req::Write(3, true));
        w.run_until(at(10));
    };
    let (mut plain, _) = world_with(WorldConfig::default());
    script(&mut plain);
    let (mut w, _) = world_with(WorldConfig::default());
    let handlers = Rc::new(Cell::new(0u32));
    let h = Rc::clone(&handlers);
    w.on_probe(Box::new(move |p| {
        if let P::Handler { node } = p {
            assert_eq!(node, N);
            h.set(h.get() + 1);
        }
    }));
    script(&mut w);
    assert_eq!(handlers.get(), 3, "two requests and a timer (the start ran before the probe)");
    assert_eq!(w.trace_hash(), plain.trace_hash(), "probing changes nothing");
    // A tap that kills the process at its first write: the sync after it fails, and the world
    // crashes the node when the handler returns.
    let disk = w.disk(N);
    let weak = Rc::downgrade(&disk);
    disk.tap(Box::new(move |op| {
        if op.kind == DiskOpKind::Write {
            weak.upgrade().expect("disk").kill_process();
        }
    }));
    let before = disk.durable_generation();
    w.request(N, Req::Write(9, true));
    w.run_until(at(20));
    assert_eq!(w.status(N), Status::Crashed);
    assert_eq!(w.halts().last(), Some(&(at(10), N, Halt::Crashed)), "inside that handler");
    assert_eq!(disk.durable_generation(), before + 1, "no sync happened, only the crash");
}
