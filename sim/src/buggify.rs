//! BUGGIFY: rare code paths run on purpose.
//!
//! `env.buggify("site")` is true now and then, but only in simulated runs whose
//! [`crate::world::WorldConfig`] enables it. Per run, each site is either activated or not, once:
//! the decision is a pure function of the run's `"buggify"` seed stream and the site's name, so
//! adding a new site never changes the decision for another. An activated site then fires with a
//! small probability each time it is asked, drawn from the asking node's own buggify stream.
//! Real runs use [`Disabled`], which never fires.

use rand::Rng as _;

use crate::env::Buggify;
use crate::seed::{fnv1a64, splitmix64, Rng, Seed};

/// BUGGIFY knobs for one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuggifyConfig {
    /// Master switch; when false no site ever fires.
    pub enabled: bool,
    /// Probability that a site is activated for the run.
    pub activation: f64,
    /// Probability that an activated site fires when asked.
    pub firing: f64,
}

impl Default for BuggifyConfig {
    fn default() -> BuggifyConfig {
        BuggifyConfig { enabled: false, activation: 0.25, firing: 0.05 }
    }
}

/// The per-run decision of which sites are active. Cheap to copy.
#[derive(Clone, Copy, Debug)]
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
        let mut state = self.key ^ fnv1a64(site.as_bytes());
        let draw = splitmix64(&mut state) >> 11; // 53 random bits
        (draw as f64) < self.config.activation * (1u64 << 53) as f64
    }

    /// The configuration.
    pub fn config(&self) -> BuggifyConfig {
        self.config
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
}

impl SiteMemo {
    /// Sites beyond this many are decided afresh each time (still correct, just not memoised).
    const CAPACITY: usize = 64;

    pub fn new(sites: Sites) -> SiteMemo {
        SiteMemo { sites, seen: Vec::new() }
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
}

impl Buggify for NodeBuggify<'_> {
    fn fire(&mut self, site: &'static str) -> bool {
        self.sites.is_active(site) && self.rng.random_bool(self.sites.firing())
    }
}

/// BUGGIFY that never fires (real runs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Disabled;

impl Buggify for Disabled {
    fn fire(&mut self, _site: &'static str) -> bool {
        false
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
        let mut b = NodeBuggify { sites: &mut memo, rng: &mut rng };
        assert!((0..1000).all(|_| !b.fire("any")));
        assert!(!Disabled.fire("any"));
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
        let mut memo = SiteMemo::new(sites);
        let mut b = NodeBuggify { sites: &mut memo, rng: &mut rng };
        let fired = (0..10_000).filter(|_| b.fire(site)).count();
        assert!((200..=900).contains(&fired), "fired {fired} of 10000 at 5%");
    }

    #[test]
    fn memo_agrees_with_sites_past_its_capacity() {
        let sites = Sites::new(Seed(9), enabled());
        let mut memo = SiteMemo::new(sites);
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
