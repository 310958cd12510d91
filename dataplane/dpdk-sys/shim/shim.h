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

/* mbuf life cycle and data access. */
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);
/* Start of the first segment's data (rte_pktmbuf_mtod). */
uint8_t *shim_rte_pktmbuf_mtod(const struct rte_mbuf *m);
/* Length of the first segment's data (rte_pktmbuf_data_len). */
uint16_t shim_rte_pktmbuf_data_len(const struct rte_mbuf *m);
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
