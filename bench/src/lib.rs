//! Traffic generation for mailgate: realistic captures with known ground
//! truth for the demo and the tests, minimal-frame and session-storm
//! captures for benchmarks, and the packet synthesis underneath, for tests
//! that craft their own captures.
//!
//! - [`gen::generate`] (the `mailgate-bench gen` command) writes a capture of
//!   a [`mix::Mix`] and its [`truth`] file; the same seed gives the same bytes.
//! - [`synth::TcpSession`] scripts one TCP session (handshake, data in either
//!   direction with the segmentation you choose, close) and returns its
//!   [`frame::Frame`]s: valid Ethernet / 802.1Q / IPv4 / IPv6 / TCP with
//!   every checksum right.
//! - [`hello::HelloMaker`] produces TLS ClientHellos with a real rustls
//!   client (optionally with the X25519MLKEM768 key share, which makes the
//!   hello longer than one segment); [`records`] the TLS records around it.
//! - [`pcap::Writer`] writes classic pcap.
//! - [`run`] is the benchmark suite (`mailgate-bench run`, results in
//!   `bench/RESULTS.md`); [`send`] the DPDK traffic generator (a capture or
//!   generated flows into two ports at a fixed rate), behind its latency figure.
//!
//! # Crafting a capture
//!
//! An SMTP session whose EHLO arrives one byte per segment and whose AUTH
//! line arrives out of order, with a retransmission:
//!
//! ```
//! use mailgate_bench::pcap::Writer;
//! use mailgate_bench::synth::{Dir, Segmentation, SessionSpec, TcpSession};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = SessionSpec::new("198.51.100.23:40001".parse()?, "203.0.113.25:587".parse()?);
//! let mut s = TcpSession::new(spec, 1_736_154_000_000_000)?;
//! s.handshake();
//! s.send(Dir::ToClient, b"220 smtp.mailhost.test ESMTP\r\n");
//! s.send_with(Dir::ToServer, b"EHLO ws-023.office.test\r\n", &Segmentation::EveryByte)?;
//! s.send(Dir::ToClient, b"250-smtp.mailhost.test\r\n250 AUTH PLAIN\r\n");
//! let auth = b"AUTH PLAIN AGFsaWNlAFB3LXNlY3JldC14\r\n";
//! s.send_ranges(Dir::ToServer, auth, &[10..auth.len(), 0..10, 10..20])?;
//! s.send(Dir::ToClient, b"235 2.7.0 Authentication successful\r\n");
//! s.close(Dir::ToServer);
//! let frames = s.into_frames();
//!
//! let mut pcap = Writer::new(Vec::new())?;
//! pcap.write_all(&frames)?;
//! assert_eq!(pcap.frames(), frames.len() as u64);
//! # Ok(())
//! # }
//! ```
//!
//! Timestamps are microseconds since the Unix epoch. Frames come back in
//! time order; ACKs, sequence numbers and TCP timestamps follow from the
//! script (see [`synth`] for the exact rules).

pub mod dialogue;
pub mod frame;
pub mod gen;
pub mod hello;
pub mod hosts;
pub mod mix;
pub mod pcap;
pub mod profile;
pub mod records;
pub mod run;
pub mod send;
pub mod synth;
pub mod truth;
