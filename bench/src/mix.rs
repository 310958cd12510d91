//! Traffic mixes: which profiles make up a capture, in what shares, and when
//! each flow starts.
//!
//! Shares are exact: a capture of N flows has round(N × share) flows of each
//! profile (largest remainders). Flows start at uniformly random times over
//! the capture (a Poisson arrival process of the mix's rate), except the
//! C2-like profiles, whose single host starts one every T = duration / count
//! seconds with ±20 % jitter (T ≈ 5 s in the realistic mix).
//!
//! | realistic (default) | ‰ | | realistic | ‰ |
//! | --- | --- | --- | --- | --- |
//! | `relay` | 75 | | `imaps` | 25 |
//! | `relay_bad_helo` | 5 | | `pop3s` | 10 |
//! | `workstation_smtp` | 45 | | `c2_pop3_poll` | 5 |
//! | `submission_starttls` | 30 | | `c2_imap_poll` | 5 |
//! | `imap_login` | 25 | | `c2_smtp_beacon` | 5 |
//! | `pop3_user` | 20 | | `smtp_port_2525` | 5 |
//! | `imap_starttls` | 15 | | `smtp_nonstandard_port` | 5 |
//! | `pop3_stls` | 10 | | `https` | 520 |
//! | `smtps` | 15 | | `http` | 150 |
//! | | | | `ssh` | 20 |
//! | | | | `nonmail_on_mail_port` | 10 |
//!
//! Mail is 30 % of the realistic mix's flows. About 20 % of workstation
//! flows are IPv6 (where the server has an address) and every eighth
//! workstation is on a VLAN. `nonmail64` is only `tiny` flows (every frame
//! 60 bytes, 64 on the wire), `mailstorm` is `storm_relay` 20 %,
//! `storm_smtp` 40 %, `storm_imap` 20 %, `storm_pop3` 20 %.

use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use crate::profile::Profile;

/// Which traffic a capture holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mix {
    /// Office traffic: web, SSH and DNS with 30 % mail of every kind.
    Realistic,
    /// Minimal non-mail sessions of 64-byte frames, for packet-rate benchmarks.
    Nonmail64,
    /// Every flow a short mail handshake: a new-session storm.
    Mailstorm,
}

const REALISTIC: &[(Profile, u32)] = &[
    (Profile::Relay, 75),
    (Profile::RelayBadHelo, 5),
    (Profile::WorkstationSmtp, 45),
    (Profile::SubmissionStarttls, 30),
    (Profile::ImapLogin, 25),
    (Profile::Pop3User, 20),
    (Profile::ImapStarttls, 15),
    (Profile::Pop3Stls, 10),
    (Profile::Smtps, 15),
    (Profile::Imaps, 25),
    (Profile::Pop3s, 10),
    (Profile::C2Pop3Poll, 5),
    (Profile::C2ImapPoll, 5),
    (Profile::C2SmtpBeacon, 5),
    (Profile::SmtpPort2525, 5),
    (Profile::SmtpNonstandardPort, 5),
    (Profile::Https, 520),
    (Profile::Http, 150),
    (Profile::Ssh, 20),
    (Profile::NonMailOnMailPort, 10),
];

const NONMAIL64: &[(Profile, u32)] = &[(Profile::Tiny, 1000)];

const MAILSTORM: &[(Profile, u32)] =
    &[(Profile::StormRelay, 200), (Profile::StormSmtp, 400), (Profile::StormImap, 200), (Profile::StormPop3, 200)];

/// The capture's first moment: 2025-01-06T09:00:00Z, in µs since the Unix epoch.
pub const CAPTURE_START_US: u64 = 1_736_154_000_000_000;

impl Mix {
    /// Each profile's share in flows per thousand (they add up to 1000).
    pub fn shares(self) -> &'static [(Profile, u32)] {
        match self {
            Mix::Realistic => REALISTIC,
            Mix::Nonmail64 => NONMAIL64,
            Mix::Mailstorm => MAILSTORM,
        }
    }

    /// New flows per second.
    pub fn flows_per_second(self) -> u64 {
        match self {
            Mix::Realistic => 40,
            Mix::Nonmail64 => 20_000,
            Mix::Mailstorm => 2_000,
        }
    }
}

/// One flow to make: its profile, its earliest start and its seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowPlan {
    /// What kind of flow.
    pub profile: Profile,
    /// When it starts (µs since the Unix epoch).
    pub start_us: u64,
    /// Its own seed.
    pub seed: u64,
}

/// How many flows of each profile a capture of `flows` flows has.
pub fn counts(mix: Mix, flows: u64) -> Vec<(Profile, u64)> {
    let shares = mix.shares();
    let mut counts: Vec<(Profile, u64)> = shares.iter().map(|&(p, s)| (p, flows * u64::from(s) / 1000)).collect();
    let assigned: u64 = counts.iter().map(|c| c.1).sum();
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    // Largest remainder first; table order breaks ties.
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(flows * u64::from(shares[i].1) % 1000));
    for &i in by_remainder.iter().take((flows - assigned) as usize) {
        counts[i].1 += 1;
    }
    counts
}

/// Every flow of a capture, in start order.
pub fn plan(mix: Mix, flows: u64, seed: u64) -> Vec<FlowPlan> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let duration_us = (flows * 1_000_000 / mix.flows_per_second()).max(1);
    let mut random = Vec::new();
    let mut plans = Vec::with_capacity(flows as usize);
    for (profile, count) in counts(mix, flows) {
        if profile.scheduled() && count > 0 {
            let period = duration_us / count;
            let offset = rng.random_range(0..period.max(1));
            for k in 0..count {
                let jitter = rng.random_range(0..=period * 2 / 5) as i64 - (period / 5) as i64;
                let at = (offset + k * period) as i64 + jitter;
                plans.push((profile, at.max(0) as u64));
            }
        } else {
            random.extend(std::iter::repeat_n(profile, count as usize));
        }
    }
    random.shuffle(&mut rng);
    plans.extend(random.into_iter().map(|p| (p, rng.random_range(0..duration_us))));
    plans.sort_by_key(|&(_, at)| at);
    plans
        .into_iter()
        .map(|(profile, at)| FlowPlan { profile, start_us: CAPTURE_START_US + at, seed: rng.random() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_a_thousand() {
        for mix in [Mix::Realistic, Mix::Nonmail64, Mix::Mailstorm] {
            assert_eq!(mix.shares().iter().map(|s| s.1).sum::<u32>(), 1000, "{mix:?}");
        }
    }

    #[test]
    fn counts_are_exact_and_complete() {
        for flows in [0, 1, 7, 999, 1000, 12_345] {
            let counts = counts(Mix::Realistic, flows);
            assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), flows);
            let https = counts.iter().find(|c| c.0 == Profile::Https).map(|c| c.1).unwrap_or(0);
            assert!(https.abs_diff(flows * 52 / 100) <= 1, "{flows}: {https}");
        }
    }

    #[test]
    fn realistic_mix_is_thirty_percent_mail() {
        let mail: u32 = Mix::Realistic.shares().iter().filter(|s| s.0.is_mail()).map(|s| s.1).sum();
        assert_eq!(mail, 300);
    }

    #[test]
    fn plans_are_sorted_and_scheduled_flows_are_periodic() {
        let plans = plan(Mix::Realistic, 4000, 7);
        assert_eq!(plans.len(), 4000);
        assert!(plans.windows(2).all(|w| w[0].start_us <= w[1].start_us));
        let polls: Vec<u64> = plans.iter().filter(|p| p.profile == Profile::C2Pop3Poll).map(|p| p.start_us).collect();
        assert_eq!(polls.len(), 20);
        // 4000 flows at 40/s = 100 s; 20 polls: every 5 s ± 20 %.
        for gap in polls.windows(2).map(|w| w[1] - w[0]) {
            assert!((3_000_000..=7_000_000).contains(&gap), "{gap}");
        }
    }
}
