//! DPDK packet I/O: the one safe wrapper over `mailgate-dpdk-sys`.
//!
//! Ownership mirrors DPDK's rules so that misuse does not compile:
//! [`Eal`] is initialised once per process and outlives everything below it;
//! a [`Mempool`] borrows the `Eal`; a started [`Port`] borrows the pools its
//! RX queues take mbufs from (stopped and closed on drop, before the pools
//! go); a [`DpdkIo`] (one per worker) borrows the ports and the pool it
//! allocates from; an [`Mbuf`] borrows its pool and frees itself on drop.
//! Work runs on the worker lcores only inside [`Eal::lcore_scope`], which
//! waits for every launched lcore before it returns.
#![warn(clippy::undocumented_unsafe_blocks)]

use super::{Burst, Frame, PacketIo, BURST};
use mailgate_dpdk_sys as sys;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

/// A failed DPDK call, with DPDK's own errno so callers can explain it.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// A DPDK function returned an error.
    #[error("{op} failed: {text} (errno {errno})")]
    Call {
        /// The DPDK function (and object) that failed.
        op: String,
        /// DPDK's positive errno value.
        errno: i32,
        /// `rte_strerror(errno)`.
        text: String,
    },
    /// An EAL argument contained a NUL byte.
    #[error("EAL argument {0:?} contains a NUL byte")]
    NulInArgument(String),
    /// `Eal::init` was called a second time in this process.
    #[error("the DPDK EAL is already initialised in this process (it can be initialised only once)")]
    AlreadyInitialised,
    /// A request that DPDK would accept but that breaks this wrapper's rules.
    #[error("{0}")]
    Invalid(String),
    /// A function launched on a worker lcore panicked.
    #[error("the work launched on lcore {0} panicked")]
    LcorePanicked(u32),
}

impl DpdkError {
    /// DPDK's errno for a failed call, to tell common start-up failures apart.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DpdkError::Call { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The DPDK function (and object) a failed call names.
    pub fn op(&self) -> Option<&str> {
        match self {
            DpdkError::Call { op, .. } => Some(op),
            _ => None,
        }
    }

    fn call(op: impl Into<String>, errno: i32) -> Self {
        let errno = errno.abs();
        // SAFETY: rte_strerror accepts any value and returns a pointer to a
        // NUL-terminated string (static or thread-local), valid until the
        // next call on this thread; it is copied at once.
        let text = unsafe { CStr::from_ptr(sys::rte_strerror(errno)) }.to_string_lossy().into_owned();
        DpdkError::Call { op: op.into(), errno, text }
    }
}

/// Turns DPDK's "negative errno on failure" convention into a `Result`.
fn check(op: impl FnOnce() -> String, ret: c_int) -> Result<c_int, DpdkError> {
    if ret < 0 {
        Err(DpdkError::call(op(), ret))
    } else {
        Ok(ret)
    }
}

/// `rte_errno` of the calling thread, for calls that report errors there.
fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local integer; no preconditions.
    unsafe { sys::shim_rte_errno() }
}

static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// Proof that DPDK's Environment Abstraction Layer is initialised; dropping
/// it releases EAL resources (`rte_eal_cleanup`).
pub struct Eal {
    _not_send: PhantomData<*const ()>,
}

impl Eal {
    /// Initialises the EAL with command-line style `args` (`-l 0,1 --vdev …`,
    /// without a program name). Possible once per process.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::AlreadyInitialised);
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::from(c"mailgate-dataplane"));
        for a in args {
            owned.push(CString::new(a.as_str()).map_err(|_| DpdkError::NulInArgument(a.clone()))?);
        }
        // EAL may keep pointers into argv (getopt permutes it, some drivers
        // keep option strings), so the strings live until the process ends;
        // this happens once per process.
        let mut argv: Vec<*mut c_char> = owned.into_iter().map(|s| s.into_raw()).collect();
        argv.push(std::ptr::null_mut());
        let argv = argv.leak();
        let argc = c_int::try_from(argv.len() - 1).map_err(|_| DpdkError::Invalid("too many EAL arguments".into()))?;
        // SAFETY: argv holds argc valid NUL-terminated strings and a final
        // NULL, all leaked above so they outlive the EAL.
        let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::call("rte_eal_init", rte_errno()));
        }
        Ok(Eal { _not_send: PhantomData })
    }

    /// The lcore the calling (main) thread runs on.
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: EAL is initialised (self exists); no other precondition.
        unsafe { sys::rte_get_main_lcore() }
    }

    /// The enabled lcores other than the main one, in ascending order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut lcores = Vec::new();
        let mut i = u32::MAX; // rte_get_next_lcore(-1, …) starts at lcore 0
        loop {
            // SAFETY: EAL is initialised; any `i` is accepted.
            i = unsafe { sys::rte_get_next_lcore(i, 1, 0) };
            if i >= sys::RTE_MAX_LCORE {
                return lcores;
            }
            lcores.push(i);
        }
    }

    /// The NUMA socket of an lcore (for placing its mempool).
    pub fn lcore_socket(&self, lcore: u32) -> i32 {
        // SAFETY: EAL is initialised; out-of-range lcores return an error value.
        let socket = unsafe { sys::rte_lcore_to_socket_id(lcore) };
        i32::try_from(socket).unwrap_or(-1)
    }

    /// Ids of the ethdev ports the EAL probed (NICs bound to DPDK, `--vdev`s).
    pub fn ports(&self) -> Vec<u16> {
        (0..sys::RTE_MAX_ETHPORTS as u16)
            // SAFETY: EAL is initialised; any port id is accepted.
            .filter(|&p| unsafe { sys::rte_eth_dev_is_valid_port(p) } == 1)
            .collect()
    }

    /// The TSC-based clock, calibrated by EAL at start-up.
    pub fn clock(&self) -> TscClock {
        // SAFETY: EAL is initialised (it calibrated the TSC).
        let hz = unsafe { sys::rte_get_tsc_hz() }.max(1);
        // SAFETY: reads the time-stamp counter; no preconditions.
        let tsc0 = unsafe { sys::shim_rte_rdtsc() };
        let epoch0_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        TscClock { tsc0, epoch0_ns, ns_per_tick_q32: (1_000_000_000u128 << 32) / u128::from(hz) }
    }

    /// Runs `f`, which may launch work on worker lcores through the scope;
    /// returns only after every launched lcore has finished. Fails if any
    /// launched work panicked.
    pub fn lcore_scope<'env, F, T>(&'env self, f: F) -> Result<T, DpdkError>
    where
        F: for<'scope> FnOnce(&'scope LcoreScope<'scope, 'env>) -> T,
    {
        let scope =
            LcoreScope { eal: self, launched: RefCell::new(Vec::new()), _scope: PhantomData, _env: PhantomData };
        let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        let mut panicked = None;
        for lcore in scope.launched.borrow_mut().drain(..) {
            // SAFETY: `lcore` was launched by this scope; waiting is always allowed.
            if unsafe { sys::rte_eal_wait_lcore(lcore) } != 0 {
                panicked.get_or_insert(lcore);
            }
        }
        match (result, panicked) {
            (Err(payload), _) => resume_unwind(payload),
            (Ok(_), Some(lcore)) => Err(DpdkError::LcorePanicked(lcore)),
            (Ok(t), None) => Ok(t),
        }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: everything borrowing the Eal (pools, ports, frames, lcore
        // scopes) is gone, as the borrow checker enforces.
        unsafe { sys::rte_eal_cleanup() };
    }
}

/// A monotonic clock from the TSC, converted to ns since the Unix epoch
/// (anchored when it was made), cheap enough to read once per poll pass.
#[derive(Debug, Clone, Copy)]
pub struct TscClock {
    tsc0: u64,
    epoch0_ns: u64,
    ns_per_tick_q32: u128,
}

impl TscClock {
    /// Now, in ns since the Unix epoch.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        // SAFETY: reads the time-stamp counter; no preconditions.
        let ticks = unsafe { sys::shim_rte_rdtsc() }.wrapping_sub(self.tsc0);
        let ns = (u128::from(ticks) * self.ns_per_tick_q32) >> 32;
        self.epoch0_ns.saturating_add(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

type Job<'scope> = Box<dyn FnOnce() + Send + 'scope>;

/// Launches work on worker lcores; see [`Eal::lcore_scope`].
pub struct LcoreScope<'scope, 'env: 'scope> {
    eal: &'env Eal,
    launched: RefCell<Vec<u32>>,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope> LcoreScope<'scope, '_> {
    /// Runs `f` on worker `lcore` (which must be idle), returning at once.
    pub fn launch<F: FnOnce() + Send + 'scope>(&'scope self, lcore: u32, f: F) -> Result<(), DpdkError> {
        if !self.eal.worker_lcores().contains(&lcore) {
            return Err(DpdkError::Invalid(format!("lcore {lcore} is not an enabled worker lcore")));
        }
        let job: Box<Job<'scope>> = Box::new(Box::new(f));
        let arg = Box::into_raw(job).cast::<c_void>();
        // SAFETY: `trampoline` takes ownership of `arg` (a Box<Job>) exactly
        // once. The job may borrow data living for 'scope; lcore_scope waits
        // for this lcore before 'scope ends, so the borrows stay valid.
        let ret = unsafe { sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if ret < 0 {
            // SAFETY: the launch failed, so the lcore never saw `arg`: it is
            // still ours, and freed here exactly once.
            drop(unsafe { Box::from_raw(arg.cast::<Job<'scope>>()) });
            return Err(DpdkError::call(format!("rte_eal_remote_launch on lcore {lcore}"), ret));
        }
        self.launched.borrow_mut().push(lcore);
        Ok(())
    }
}

/// Entry point of launched work on a worker lcore.
unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<Job> leaked by `LcoreScope::launch` for this
    // one launch; ownership comes back here exactly once.
    let job = unsafe { Box::from_raw(arg.cast::<Job<'_>>()) };
    // Unwinding into C is undefined: catch it and report it to the scope.
    match catch_unwind(AssertUnwindSafe(move || (*job)())) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// A pool of packet buffers (`rte_pktmbuf_pool_create`).
pub struct Mempool<'eal> {
    ptr: NonNull<sys::rte_mempool>,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe (a per-lcore
// cache in front of a lock-free ring): any thread may get and put.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as above; shared references only allocate and count.
unsafe impl Sync for Mempool<'_> {}

impl<'eal> Mempool<'eal> {
    /// A pool of `mbufs` buffers of the default size (2 KiB of data room),
    /// with a per-lcore cache of `cache` buffers, on NUMA `socket`.
    pub fn new(_eal: &'eal Eal, name: &str, mbufs: u32, cache: u32, socket: i32) -> Result<Self, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::Invalid(format!("pool name {name:?} has a NUL")))?;
        // SAFETY: EAL is initialised; the name is a valid C string that DPDK copies.
        let ptr = unsafe {
            sys::rte_pktmbuf_pool_create(cname.as_ptr(), mbufs, cache, 0, sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16, socket)
        };
        NonNull::new(ptr)
            .map(|ptr| Mempool { ptr, _eal: PhantomData })
            .ok_or_else(|| DpdkError::call(format!("rte_pktmbuf_pool_create({name}, {mbufs} mbufs)"), rte_errno()))
    }

    /// Buffers free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive for as long as self.
        unsafe { sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Buffers handed out (in descriptors, in flight, held by a driver).
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is alive for as long as self.
        unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }
}

impl Drop for Mempool<'_> {
    fn drop(&mut self) {
        // SAFETY: no port or frame borrows the pool any more (borrow checker).
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) };
    }
}

/// The 52-byte Toeplitz key of repeated 0x6d5a: with it the hash of
/// (src, dst) equals the hash of (dst, src), so both directions of a flow
/// reach the same queue (Woo & Park, "Scalable TCP Session Monitoring with
/// Symmetric Receive-side Scaling").
pub const SYMMETRIC_RSS_KEY: [u8; 52] = {
    let mut key = [0u8; 52];
    let mut i = 0;
    while i < key.len() {
        key[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    key
};

/// RSS hash types mailgate wants (IPv4/IPv6 addresses, TCP and UDP ports).
pub fn rss_hash_ip_tcp_udp() -> u64 {
    // SAFETY: returns a constant.
    unsafe { sys::shim_rss_hf_ip_tcp_udp() }
}

/// What a port can do, read before configuring it.
#[derive(Debug, Clone)]
pub struct PortInfo {
    /// DPDK port id.
    pub id: u16,
    /// Device name (`net_pcap0`, a PCI address…).
    pub name: String,
    /// Poll-mode driver name (`net_pcap`, `net_ixgbe`…).
    pub driver: String,
    /// Most RX queues the device offers.
    pub max_rx_queues: u16,
    /// Most TX queues the device offers.
    pub max_tx_queues: u16,
    /// RSS hash types the device supports (0: no RSS).
    pub rss_offloads: u64,
    /// RSS key length the device wants (0: driver default).
    pub hash_key_size: u8,
    /// NUMA socket of the device (-1 unknown).
    pub socket: i32,
}

impl PortInfo {
    /// Reads the device's capabilities.
    pub fn read(_eal: &Eal, id: u16) -> Result<PortInfo, DpdkError> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: `info` is a valid, writable rte_eth_dev_info.
        let ret = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
        check(|| format!("rte_eth_dev_info_get(port {id})"), ret)?;
        let mut name = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: `name` has RTE_ETH_NAME_MAX_LEN bytes, as the call requires.
        let named = unsafe { sys::rte_eth_dev_get_name_by_port(id, name.as_mut_ptr()) } == 0;
        let name = if named {
            // SAFETY: on success DPDK wrote a NUL-terminated name into `name`.
            unsafe { CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned()
        } else {
            format!("port{id}")
        };
        let driver = if info.driver_name.is_null() {
            String::from("unknown")
        } else {
            // SAFETY: a non-null driver_name is a static NUL-terminated string.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        // SAFETY: any valid port id is accepted.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        Ok(PortInfo {
            id,
            name,
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rss_offloads: info.flow_type_rss_offloads,
            hash_key_size: info.hash_key_size,
            socket,
        })
    }
}

/// How to set a port up: one RX and one TX queue per entry of `rx_pools`.
pub struct PortSetup<'a, 'p, 'eal> {
    /// RX descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// TX descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// RSS hash types to spread flows over the queues with the symmetric
    /// key; `None` for no RSS (then only one queue makes sense).
    pub rss_hf: Option<u64>,
    /// The pool RX queue `i` takes its mbufs from (the worker's own pool).
    pub rx_pools: &'a [&'p Mempool<'eal>],
}

/// A configured, started port, in promiscuous mode where the driver allows;
/// stopped and closed on drop.
pub struct Port<'p> {
    id: u16,
    queues: u16,
    rx_desc: u16,
    tx_desc: u16,
    promiscuous: bool,
    _pools: PhantomData<&'p ()>,
}

/// A port's counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PortStats {
    /// Frames received.
    pub ipackets: u64,
    /// Frames sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Frames the NIC dropped because its RX queue was full (worker too slow).
    pub imissed: u64,
    /// Erroneous frames received.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// RX failures for want of an mbuf (pool too small).
    pub rx_nombuf: u64,
}

impl<'p> Port<'p> {
    /// Configures port `id` with `setup`, starts it and turns promiscuous
    /// mode on.
    pub fn start<'eal: 'p>(eal: &'eal Eal, id: u16, setup: &PortSetup<'_, 'p, 'eal>) -> Result<Port<'p>, DpdkError> {
        let queues = u16::try_from(setup.rx_pools.len())
            .ok()
            .filter(|&q| q > 0)
            .ok_or_else(|| DpdkError::Invalid(format!("port {id}: need between 1 and 65535 queues")))?;
        let mut key = SYMMETRIC_RSS_KEY;
        let mut conf = sys::rte_eth_conf::default();
        if let Some(rss_hf) = setup.rss_hf {
            let info = PortInfo::read(eal, id)?;
            conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
            conf.rx_adv_conf.rss_conf.rss_key_len =
                if info.hash_key_size == 0 { 40 } else { info.hash_key_size.min(key.len() as u8) };
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // SAFETY: `conf` is valid; `key` (pointed to by conf) outlives the
        // call, and DPDK copies the key during configuration.
        let ret = unsafe { sys::rte_eth_dev_configure(id, queues, queues, &conf) };
        check(|| format!("rte_eth_dev_configure(port {id}, {queues} queues)"), ret)?;
        let (mut rx_desc, mut tx_desc) = (setup.rx_desc, setup.tx_desc);
        // SAFETY: both pointers are valid, writable u16s.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        check(|| format!("rte_eth_dev_adjust_nb_rx_tx_desc(port {id})"), ret)?;
        // SAFETY: any valid port id is accepted.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = u32::try_from(socket).unwrap_or(u32::MAX); // SOCKET_ID_ANY
        for (q, pool) in (0..queues).zip(setup.rx_pools) {
            // SAFETY: the port is configured with `queues` RX queues; the
            // pool outlives the port ('p), as Port's lifetime enforces. A
            // NULL rxconf means the driver's defaults.
            let ret =
                unsafe { sys::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.ptr.as_ptr()) };
            check(|| format!("rte_eth_rx_queue_setup(port {id}, queue {q}, {rx_desc} descriptors)"), ret)?;
            // SAFETY: as above, for the TX queue with the driver's defaults.
            let ret = unsafe { sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
            check(|| format!("rte_eth_tx_queue_setup(port {id}, queue {q}, {tx_desc} descriptors)"), ret)?;
        }
        // SAFETY: all queues are set up.
        let ret = unsafe { sys::rte_eth_dev_start(id) };
        check(|| format!("rte_eth_dev_start(port {id})"), ret)?;
        // From here on, dropping `port` stops and closes the device.
        let mut port = Port { id, queues, rx_desc, tx_desc, promiscuous: false, _pools: PhantomData };
        // SAFETY: the port is started. Drivers without the notion (net_null,
        // net_pcap…) return -ENOTSUP, which is fine: they see every frame.
        port.promiscuous = unsafe { sys::rte_eth_promiscuous_enable(id) } == 0;
        Ok(port)
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// RX (and TX) queues configured.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// RX and TX descriptors per queue, after adjustment to the device.
    pub fn descriptors(&self) -> (u16, u16) {
        (self.rx_desc, self.tx_desc)
    }

    /// Whether promiscuous mode is on (false where the driver has none).
    pub fn promiscuous(&self) -> bool {
        self.promiscuous
    }

    /// The port's counters now.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: `s` is a valid, writable rte_eth_stats.
        let ret = unsafe { sys::rte_eth_stats_get(self.id, &mut s) };
        check(|| format!("rte_eth_stats_get(port {})", self.id), ret)?;
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // SAFETY: the port was started by `Port::start`; no DpdkIo borrows it
        // any more. Stop flushes drivers' output (net_pcap closes its files).
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
        }
    }
}

/// A received or allocated packet buffer; freed (back to its pool, or via
/// the driver) when dropped.
#[repr(transparent)]
pub struct Mbuf<'p> {
    ptr: NonNull<sys::rte_mbuf>,
    _pool: PhantomData<&'p Mempool<'p>>,
}

impl Frame for Mbuf<'_> {
    /// The first segment's bytes (a whole frame up to 2 KiB; for larger,
    /// chained frames, the headers and the start of the payload).
    #[inline]
    fn data(&self) -> &[u8] {
        let base = self.ptr.as_ptr().cast::<u8>().cast_const();
        // SAFETY: self owns a valid mbuf. The offsets are those the C
        // compiler gave buf_addr, data_off and data_len in this DPDK's
        // struct rte_mbuf (exported by the shim), each naturally aligned in
        // the cache-aligned mbuf, so the three reads are in bounds and
        // aligned. buf_addr + data_off and data_len describe the first
        // segment's initialised bytes (what rte_pktmbuf_mtod and
        // rte_pktmbuf_data_len compute), which live as long as the mbuf and
        // are not written while borrowed (we hold the only handle).
        unsafe {
            let buf = base.add(sys::SHIM_MBUF_BUF_ADDR_OFFSET as usize).cast::<*const u8>().read();
            let off = base.add(sys::SHIM_MBUF_DATA_OFF_OFFSET as usize).cast::<u16>().read();
            let len = base.add(sys::SHIM_MBUF_DATA_LEN_OFFSET as usize).cast::<u16>().read();
            std::slice::from_raw_parts(buf.add(usize::from(off)), usize::from(len))
        }
    }
}

impl Drop for Mbuf<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: self is the only owner of the mbuf (frames sent to a driver
        // are forgotten, never dropped), so it is freed exactly once.
        unsafe { sys::shim_rte_pktmbuf_free(self.ptr.as_ptr()) };
    }
}

/// One worker's view of the ports: its own RX/TX queue on every port it
/// serves, and its own pool for crafted frames.
pub struct DpdkIo<'p> {
    queue: u16,
    burst: u16,
    /// `served[port]`: this io may use `queue` on that port.
    served: [bool; sys::RTE_MAX_ETHPORTS as usize],
    port_count: u16,
    pool: &'p Mempool<'p>,
}

impl<'p> DpdkIo<'p> {
    /// An io that uses queue `queue` of each of `ports`, receives at most
    /// `burst` (≤ 32) frames per call and allocates from `pool`.
    pub fn new(ports: &[&'p Port<'p>], queue: u16, burst: u16, pool: &'p Mempool<'p>) -> Result<Self, DpdkError> {
        let mut served = [false; sys::RTE_MAX_ETHPORTS as usize];
        for port in ports {
            if queue >= port.queues {
                return Err(DpdkError::Invalid(format!("port {} has no queue {queue}", port.id)));
            }
            // A started port's id is below RTE_MAX_ETHPORTS (DPDK's invariant).
            if let Some(s) = served.get_mut(usize::from(port.id)) {
                *s = true;
            }
        }
        let port_count = ports.iter().map(|p| p.id + 1).max().unwrap_or(0);
        let burst = burst.clamp(1, BURST as u16);
        Ok(DpdkIo { queue, burst, served, port_count, pool })
    }

    #[inline]
    fn serves(&self, port: u16) -> bool {
        self.served.get(usize::from(port)).copied().unwrap_or(false)
    }
}

impl<'p> PacketIo for DpdkIo<'p> {
    type Frame = Mbuf<'p>;

    fn port_count(&self) -> u16 {
        self.port_count
    }

    #[inline]
    fn rx_burst(&mut self, port: u16, out: &mut Burst<Mbuf<'p>>) {
        if !self.serves(port) {
            return;
        }
        let want = out.remaining_capacity().min(usize::from(self.burst));
        let mut raw = [std::ptr::null_mut::<sys::rte_mbuf>(); BURST];
        // SAFETY: `port` is started with `self.queue` configured (checked in
        // `new`, kept by the borrow of the Port); `raw` has room for `want`
        // (≤ BURST) pointers; this worker is the queue's only user.
        let n = unsafe { sys::shim_rte_eth_rx_burst(port, self.queue, raw.as_mut_ptr(), want as u16) };
        for &m in raw.iter().take(usize::from(n)) {
            if let Some(ptr) = NonNull::new(m) {
                out.push(Mbuf { ptr, _pool: PhantomData });
            }
        }
    }

    #[inline]
    fn tx_burst(&mut self, port: u16, frames: &mut Burst<Mbuf<'p>>) -> usize {
        if !self.serves(port) || frames.is_empty() {
            return 0;
        }
        // Mbuf is repr(transparent) over NonNull<rte_mbuf>, itself laid out
        // as *mut rte_mbuf: the burst's storage is the pointer array DPDK wants.
        let ptrs = frames.as_mut_ptr().cast::<*mut sys::rte_mbuf>();
        // SAFETY: as for RX; `ptrs` points at frames.len() valid mbufs we own.
        let sent = unsafe { sys::shim_rte_eth_tx_burst(port, self.queue, ptrs, frames.len() as u16) };
        let sent = usize::from(sent).min(frames.len());
        // The driver now owns the first `sent` mbufs: forget, don't free.
        frames.drain(..sent).for_each(std::mem::forget);
        sent
    }

    #[inline]
    fn alloc_frame(&mut self, bytes: &[u8]) -> Option<Mbuf<'p>> {
        let len = u16::try_from(bytes.len()).ok()?;
        // SAFETY: the pool outlives 'p; allocation is thread-safe.
        let ptr = NonNull::new(unsafe { sys::shim_rte_pktmbuf_alloc(self.pool.ptr.as_ptr()) })?;
        let mbuf = Mbuf { ptr, _pool: PhantomData };
        // SAFETY: `mbuf` is a fresh, empty mbuf we own.
        let dst = unsafe { sys::shim_rte_pktmbuf_append(mbuf.ptr.as_ptr(), len) };
        if dst.is_null() {
            return None; // larger than the data room; `mbuf` is freed
        }
        // SAFETY: append reserved `len` writable bytes at `dst`, which cannot
        // overlap `bytes` (a fresh buffer of ours).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        Some(mbuf)
    }
}

/// Starts loading the cache line that holds `value` and returns at once:
/// DPDK's `rte_prefetch0`, which `rte_prefetch.h` defines inline, so there
/// is no symbol to bind and the binding gives it here. The engine issues
/// these for a whole burst (frame headers, index slots, flow entries) so
/// that the burst's cache misses overlap instead of stalling one by one.
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it never faults, reads nothing into a
    // register, writes nothing and has no architectural effect (and `value`
    // is a live reference anyway). SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
