//! Veth pairs into network namespaces for DPDK's `net_af_packet`: the
//! root-namespace ends are DPDK's ports, the namespace ends are where tests
//! inject and capture frames.

use std::process::{Child, Command, Stdio};

/// Two namespaces, each holding one end of a veth pair whose other end is
/// in the root namespace for DPDK; removed on drop (and before creation, in
/// case a killed run left them).
pub struct Wires {
    tag: String,
}

/// Runs a command quietly; true if it succeeded.
pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0]).args(&args[1..]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Runs a command quietly; fails the test if it fails.
pub fn must(args: &[&str]) {
    assert!(sh(args), "command failed: {}", args.join(" "));
}

impl Wires {
    /// Creates both namespaces and pairs (removing leftovers first).
    pub fn new() -> Wires {
        let w = Wires { tag: format!("mgd{}", std::process::id() % 100_000) };
        w.remove();
        for side in ["i", "o"] {
            let (ns, inner, outer) = (w.ns(side), w.inner(side), w.outer(side));
            must(&["ip", "netns", "add", &ns]);
            must(&["ip", "link", "add", &inner, "type", "veth", "peer", "name", &outer]);
            must(&["ip", "link", "set", &inner, "netns", &ns]);
            // No IPv6: the kernel would send router/neighbour solicitations.
            must(&["ip", "netns", "exec", &ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            must(&["sysctl", "-qw", &format!("net.ipv6.conf.{outer}.disable_ipv6=1")]);
            must(&["ip", "-n", &ns, "link", "set", &inner, "up"]);
            must(&["ip", "link", "set", &outer, "up"]);
            let offloads = ["tx", "off", "rx", "off", "gso", "off", "tso", "off", "gro", "off"];
            let mut inner_cmd = vec!["ip", "netns", "exec", &ns, "ethtool", "-K", &inner];
            inner_cmd.extend(offloads);
            must(&inner_cmd);
            let mut outer_cmd = vec!["ethtool", "-K", &outer];
            outer_cmd.extend(offloads);
            must(&outer_cmd);
        }
        w
    }
    /// The namespace of `side` (`i` or `o`).
    pub fn ns(&self, side: &str) -> String {
        format!("{}-{side}", self.tag)
    }
    /// The namespace end of `side`'s pair.
    pub fn inner(&self, side: &str) -> String {
        format!("{}{side}0", self.tag)
    }
    /// The root end of `side`'s pair (DPDK's port).
    pub fn outer(&self, side: &str) -> String {
        format!("{}{side}1", self.tag)
    }
    fn remove(&self) {
        for side in ["i", "o"] {
            sh(&["ip", "netns", "del", &self.ns(side)]);
            sh(&["ip", "link", "del", &self.outer(side)]);
        }
    }
    /// Sends the frames of `pcap` into the veth end in namespace `side`.
    pub fn inject(&self, side: &str, pcap: &std::path::Path) {
        let ns = self.ns(side);
        let dev = self.inner(side);
        let file = pcap.display().to_string();
        must(&["ip", "netns", "exec", &ns, "tcpreplay", "-q", "-p", "5000", "-i", &dev, &file]);
    }
}

impl Wires {
    /// Starts tcpdump on `side`'s namespace end, writing to `pcap`; stop it
    /// with [`stop_capture`] (by pid).
    pub fn capture(&self, side: &str, pcap: &std::path::Path) -> Child {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(side), "tcpdump", "-q", "-U", "-n", "-i", &self.inner(side), "-w"])
            .arg(pcap)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(800));
        child
    }
}

/// Stops a capture started by [`Wires::capture`] and waits for it.
pub fn stop_capture(mut child: Child) {
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let _ = child.wait();
}

impl Drop for Wires {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The first tool these tests need that is not installed.
pub fn tools_missing() -> Option<&'static str> {
    ["ip", "ethtool", "tcpreplay", "tcpdump"]
        .into_iter()
        .find(|t| !sh(&["sh", "-c", &format!("command -v {t} >/dev/null")]))
}
