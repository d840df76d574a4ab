//! BUGGIFY: rare code paths run on purpose.
//!
//! `env.buggify("site")` is true now and then, but only in simulated runs whose
//! [`crate::world::WorldConfig`] enables it. Per run, each site is either activated or not, once:
//! the decision is a pure function of the run's `"buggify"` seed stream and the site's name, so
//! adding a new site never changes the decision for another. An activated site then fires with a
//! small probability each time it is asked, drawn from the asking node's own buggify stream.
//! Real runs use [`Disabled`], which never fires. Tests of a site use [`Forced`], which fires
//! the sites it names every time.
//!
//! The sites themselves live in the stack, one `&'static str` constant each, listed per crate in
//! a `SITES` table (`raft::buggify`, `net::buggify`, `engine::buggify`); the world counts how
//! often each fired ([`SiteMemo::fired`]) so a sweep can show that every site ran.

use std::collections::BTreeMap;

use rand::Rng as _;

use crate::env::Buggify;
use crate::seed::{fnv1a64, splitmix64, Rng, Seed};
use crate::time::Duration;

/// A site as its crate lists it in its `SITES` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteInfo {
    /// The name asked with `Env::buggify` (`<crate>.<component>.<what>`).
    pub name: &'static str,
    /// What happens when it fires, in a few words.
    pub what: &'static str,
}

/// BUGGIFY knobs for one run.
#[derive(Clone, Debug, PartialEq)]
pub struct BuggifyConfig {
    /// Master switch; when false no site ever fires.
    pub enabled: bool,
    /// Probability that a site is activated for the run.
    pub activation: f64,
    /// Probability that an activated site fires when asked.
    pub firing: f64,
    /// When given, only these sites may be activated (to pin a failure to a site: the others
    /// draw nothing, so the run differs from one with every site).
    pub only: Option<Vec<String>>,
}

impl Default for BuggifyConfig {
    fn default() -> BuggifyConfig {
        BuggifyConfig { enabled: false, activation: 0.25, firing: 0.05, only: None }
    }
}

/// The per-run decision of which sites are active.
#[derive(Clone, Debug)]
pub struct Sites {
    config: BuggifyConfig,
    key: u64,
}

impl Sites {
    /// Derives the run's site key from `seed`'s `"buggify"` stream.
    pub fn new(seed: Seed, config: BuggifyConfig) -> Sites {
        let key: u64 = seed.stream("buggify").random();
        Sites { config, key }
    }

    /// Whether `site` is activated in this run (stable: depends only on the seed and the name).
    pub fn is_active(&self, site: &str) -> bool {
        if !self.config.enabled {
            return false;
        }
        if let Some(only) = &self.config.only {
            if !only.iter().any(|o| o == site) {
                return false;
            }
        }
        let mut state = self.key ^ fnv1a64(site.as_bytes());
        let draw = splitmix64(&mut state) >> 11; // 53 random bits
        (draw as f64) < self.config.activation * (1u64 << 53) as f64
    }

    /// The configuration.
    pub fn config(&self) -> &BuggifyConfig {
        &self.config
    }
}

/// [`Sites`] with a memo of the decisions already taken, keyed by the site literal's address, so
/// a hot site is not re-hashed on every call. The memo only caches a pure function of the name:
/// results are exactly those of [`Sites::is_active`].
#[derive(Clone, Debug)]
pub struct SiteMemo {
    sites: Sites,
    /// (address, length, active) of up to [`SiteMemo::CAPACITY`] site literals.
    seen: Vec<(usize, usize, bool)>,
    /// How often each site fired in this run.
    fired: BTreeMap<&'static str, u64>,
}

impl SiteMemo {
    /// Sites beyond this many are decided afresh each time (still correct, just not memoised).
    const CAPACITY: usize = 64;

    pub fn new(sites: Sites) -> SiteMemo {
        SiteMemo { sites, seen: Vec::new(), fired: BTreeMap::new() }
    }

    /// How often each site fired so far in this run (sites that never fired are absent).
    pub fn fired(&self) -> &BTreeMap<&'static str, u64> {
        &self.fired
    }

    /// Whether BUGGIFY is on for this run at all.
    pub fn enabled(&self) -> bool {
        self.sites.config.enabled
    }

    /// [`Sites::is_active`] for `site`, memoised by the literal's address and length.
    pub fn is_active(&mut self, site: &'static str) -> bool {
        let key = (site.as_ptr() as usize, site.len());
        if let Some(&(_, _, active)) = self.seen.iter().find(|e| (e.0, e.1) == key) {
            return active;
        }
        let active = self.sites.is_active(site);
        if self.seen.len() < Self::CAPACITY {
            self.seen.push((key.0, key.1, active));
        }
        active
    }

    /// The firing probability of an active site.
    fn firing(&self) -> f64 {
        self.sites.config.firing
    }
}

/// BUGGIFY for one node's handler call: the run's sites plus the node's buggify stream.
pub struct NodeBuggify<'a> {
    pub sites: &'a mut SiteMemo,
    pub rng: &'a mut Rng,
    /// Extra time the handler's fired sites asked for ([`Buggify::stall`]); the world keeps
    /// the node busy that much longer.
    pub stall: Duration,
}

impl<'a> NodeBuggify<'a> {
    pub fn new(sites: &'a mut SiteMemo, rng: &'a mut Rng) -> NodeBuggify<'a> {
        NodeBuggify { sites, rng, stall: Duration::ZERO }
    }
}

impl Buggify for NodeBuggify<'_> {
    fn fire(&mut self, site: &'static str) -> bool {
        let fired = self.sites.is_active(site) && self.rng.random_bool(self.sites.firing());
        if fired {
            *self.sites.fired.entry(site).or_insert(0) += 1;
        }
        fired
    }
    fn enabled(&self) -> bool {
        self.sites.enabled()
    }
    fn stall(&mut self, extra: Duration) {
        self.stall = self.stall + extra;
    }
}

/// BUGGIFY that never fires (real runs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Disabled;

impl Buggify for Disabled {
    fn fire(&mut self, _site: &'static str) -> bool {
        false
    }
    fn enabled(&self) -> bool {
        false
    }
}

/// BUGGIFY for tests of a site: fires every site in `sites` each time it is asked (and no
/// other), counting the fires and the stalls asked for.
#[derive(Clone, Debug, Default)]
pub struct Forced {
    pub sites: Vec<&'static str>,
    /// How often each site was asked and fired.
    pub fired: BTreeMap<&'static str, u64>,
    /// The sum of the stalls asked for.
    pub stalled: Duration,
}

impl Forced {
    /// Fires exactly `sites`.
    pub fn new(sites: &[&'static str]) -> Forced {
        Forced { sites: sites.to_vec(), ..Forced::default() }
    }
    /// How often `site` fired.
    pub fn count(&self, site: &str) -> u64 {
        self.fired.get(site).copied().unwrap_or(0)
    }
}

impl Buggify for Forced {
    fn fire(&mut self, site: &'static str) -> bool {
        let fires = self.sites.contains(&site);
        if fires {
            *self.fired.entry(site).or_insert(0) += 1;
        }
        fires
    }
    fn stall(&mut self, extra: Duration) {
        self.stalled = self.stalled + extra;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> BuggifyConfig {
        BuggifyConfig { enabled: true, ..BuggifyConfig::default() }
    }

    #[test]
    fn disabled_never_fires() {
        let sites = Sites::new(Seed(3), BuggifyConfig::default());
        let mut rng = Seed(3).stream("x");
        let mut memo = SiteMemo::new(sites);
        let mut b = NodeBuggify::new(&mut memo, &mut rng);
        assert!(!b.enabled() && !Disabled.enabled());
        assert!((0..1000).all(|_| !b.fire("any")));
        assert!(!Disabled.fire("any"));
        assert!(memo.fired().is_empty());
    }

    #[test]
    fn activation_is_stable_per_site_and_seed() {
        let names: Vec<String> = (0..200).map(|i| format!("site-{i}")).collect();
        let a = Sites::new(Seed(9), enabled());
        let b = Sites::new(Seed(9), enabled());
        let active: Vec<bool> = names.iter().map(|n| a.is_active(n)).collect();
        assert_eq!(active, names.iter().map(|n| b.is_active(n)).collect::<Vec<_>>());
        let count = active.iter().filter(|x| **x).count();
        // 25% activation over 200 sites: far from 0 and from 200.
        assert!((20..=90).contains(&count), "{count} of 200 sites active");
        let other = Sites::new(Seed(10), enabled());
        assert_ne!(active, names.iter().map(|n| other.is_active(n)).collect::<Vec<_>>());
    }

    #[test]
    fn active_site_fires_rarely() {
        let sites = Sites::new(Seed(9), enabled());
        let site: &'static str = (0..100)
            .map(|i| -> &'static str { Box::leak(format!("s{i}").into_boxed_str()) })
            .find(|s| sites.is_active(s))
            .expect("some site is active at 25%");
        let mut rng = Seed(1).stream("node/1/buggify");
        let mut memo = SiteMemo::new(sites.clone());
        let mut b = NodeBuggify::new(&mut memo, &mut rng);
        assert!(b.enabled());
        let fired = (0..10_000).filter(|_| b.fire(site)).count();
        assert!((200..=900).contains(&fired), "fired {fired} of 10000 at 5%");
        b.stall(Duration::from_millis(3));
        b.stall(Duration::from_millis(4));
        assert_eq!(b.stall, Duration::from_millis(7));
        assert_eq!(memo.fired().get(site).copied(), Some(fired as u64), "fires are counted");
    }

    #[test]
    fn only_restricts_activation_to_the_named_sites() {
        let all = BuggifyConfig { activation: 1.0, ..enabled() };
        let only = BuggifyConfig { only: Some(vec!["b".into()]), ..all.clone() };
        let (all, only) = (Sites::new(Seed(4), all), Sites::new(Seed(4), only));
        assert!(all.is_active("a") && all.is_active("b"));
        assert!(!only.is_active("a") && only.is_active("b"));
    }

    #[test]
    fn forced_fires_only_its_sites_and_counts_them() {
        let mut f = Forced::new(&["a"]);
        assert!(f.fire("a") && f.fire("a") && !f.fire("b"));
        assert_eq!((f.count("a"), f.count("b")), (2, 0));
        f.stall(Duration::from_millis(5));
        assert_eq!(f.stalled, Duration::from_millis(5));
    }

    #[test]
    fn memo_agrees_with_sites_past_its_capacity() {
        let sites = Sites::new(Seed(9), enabled());
        let mut memo = SiteMemo::new(sites.clone());
        let names: Vec<&'static str> = (0..200)
            .map(|i| -> &'static str { Box::leak(format!("m{i}").into_boxed_str()) })
            .collect();
        for _ in 0..2 {
            for n in &names {
                assert_eq!(memo.is_active(n), sites.is_active(n), "site {n}");
            }
        }
        // A different literal with the same text gets the same decision.
        let copy: &'static str = Box::leak(names[0].to_string().into_boxed_str());
        assert_eq!(memo.is_active(copy), sites.is_active(names[0]));
    }
}
