/* mailgate-dpdk-sys: the DPDK API mailgate uses, plus shims for the
 * functions DPDK only provides as `static inline` (no symbol to link). */
#ifndef MAILGATE_DPDK_SHIM_H
#define MAILGATE_DPDK_SHIM_H

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>

/* rx/tx bursts: inline dispatch through rte_eth_fp_ops. */
uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

/* Where an mbuf keeps its first segment's buffer, data offset and data
 * length, as the compiler lays out this DPDK's struct rte_mbuf: the worker
 * reads them directly (rte_pktmbuf_mtod and rte_pktmbuf_data_len are two
 * field reads; a call per frame for each costs more than the reads). */
enum {
	SHIM_MBUF_BUF_ADDR_OFFSET = offsetof(struct rte_mbuf, buf_addr),
	SHIM_MBUF_DATA_OFF_OFFSET = offsetof(struct rte_mbuf, data_off),
	SHIM_MBUF_DATA_LEN_OFFSET = offsetof(struct rte_mbuf, data_len),
};

/* mbuf life cycle and data access. */
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);
/* Extends the data by len bytes (rte_pktmbuf_append); NULL if no room. */
uint8_t *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);

/* lcore, clock and error state. */
unsigned shim_rte_lcore_id(void);
uint64_t shim_rte_rdtsc(void);
int shim_rte_errno(void);

/* RSS hash functions mailgate asks for (RTE_ETH_RSS_IP|TCP|UDP): a macro
 * expression bindgen cannot evaluate. */
uint64_t shim_rss_hf_ip_tcp_udp(void);

#endif
