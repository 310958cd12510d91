#!/usr/bin/env bash
# The end-to-end topology (run as root): two network namespaces, inside
# (clients) and outside (servers), each joined by a veth pair to the root
# namespace, where `mailgate-dataplane run` bridges the two root-side ends
# with DPDK net_af_packet ports. One L2 segment through the appliance:
# inside holds 198.51.100.0/24 and 2001:db8:100::/64, outside
# 203.0.113.0/24 and 2001:db8:113::/64, each with an on-link route to the
# other side (scripts/e2e/topology.env has the plan).
#
#   scripts/netns.sh up      remove leftovers, then create the topology
#   scripts/netns.sh down    remove it (namespaces, links, /etc/netns files)
#   scripts/netns.sh show    print the names and addresses
#
# MG_TOPO names the set (default mge2e): namespaces $MG_TOPO-in/-out, veth
# ends ${MG_TOPO}i0 (inside) / ${MG_TOPO}i1 (root) and ${MG_TOPO}o0 / o1.
# Sourced by scripts/e2e/run.sh for netns_up / netns_down.
set -euo pipefail
# shellcheck source=e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e/lib.sh"

OFFLOADS=(tx off rx off gso off tso off gro off)

# Removes what netns_up creates; quiet about what is not there.
netns_down() {
  local ns
  for ns in "$NS_IN" "$NS_OUT"; do
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  # Deleting a namespace deletes the veth end inside it and so its peer;
  # delete the root ends too in case a namespace was already gone.
  ip link del "$IF_IN_ROOT" 2>/dev/null || true
  ip link del "$IF_OUT_ROOT" 2>/dev/null || true
}

# One side: namespace NS, veth INNER (in NS) / OUTER (root), the
# addresses, the on-link routes to the other side.
netns_side() {
  local ns=$1 inner=$2 outer=$3 src4=$4 src6=$5 other4=$6 other6=$7
  shift 7
  ip netns add "$ns"
  ip link add "$inner" type veth peer name "$outer"
  ip link set "$inner" netns "$ns"
  ip -n "$ns" link set lo up
  local addr
  for addr in "$@"; do
    case $addr in
      *:*) ip -n "$ns" addr add "$addr/64" dev "$inner" nodad ;;
      *) ip -n "$ns" addr add "$addr/24" dev "$inner" ;;
    esac
  done
  ip -n "$ns" link set "$inner" up
  # The other side is on the same wire: on-link routes, ARP and ND through
  # the appliance. Unbound sockets take src4/src6.
  ip -n "$ns" route add "$other4" dev "$inner" src "$src4"
  ip -n "$ns" -6 route add "$other6" dev "$inner" src "$src6"
  ip netns exec "$ns" ethtool -K "$inner" "${OFFLOADS[@]}" >/dev/null 2>&1 ||
    ip netns exec "$ns" ethtool -K "$inner" "${OFFLOADS[@]}"
  # The root end carries no address: DPDK owns it. No IPv6 either, or the
  # kernel would send its own solicitations out of it.
  sysctl -qw "net.ipv6.conf.$outer.disable_ipv6=1"
  ip link set "$outer" up
  ethtool -K "$outer" "${OFFLOADS[@]}" >/dev/null 2>&1 || ethtool -K "$outer" "${OFFLOADS[@]}"
}

netns_up() {
  netns_down
  # Clients bind to their host's address; anything unbound comes from the
  # application host, the one that has no business speaking mail.
  netns_side "$NS_IN" "$IF_IN" "$IF_IN_ROOT" "$APPHOST" "$APPHOST6" "$OUTSIDE_NET" "$OUTSIDE_NET6" \
    "$APPHOST" "$RELAY" "$WORKSTATION" "$APPHOST6" "$RELAY6" "$WORKSTATION6"
  netns_side "$NS_OUT" "$IF_OUT" "$IF_OUT_ROOT" "$CORP_MX" "$CORP_MX6" "$INSIDE_NET" "$INSIDE_NET6" \
    "$CORP_MX" "$PROVIDER" "$WEB" "$CORP_MX6" "$PROVIDER6" "$WEB6"
  # Names for the clients (`ip netns exec` binds /etc/netns/NS/hosts over
  # /etc/hosts), so that TLS clients send the SNI a real client would.
  # IPv4 only: a client bound to an IPv4 address must not be handed IPv6.
  mkdir -p "/etc/netns/$NS_IN"
  cat >"/etc/netns/$NS_IN/hosts" <<EOF
127.0.0.1 localhost
$CORP_MX $MX_NAME
$PROVIDER $PROVIDER_NAME
$WEB $WEB_NAME
EOF
}

netns_show() {
  cat <<EOF
inside:  namespace $NS_IN, veth $IF_IN (root end $IF_IN_ROOT = DPDK port 0)
         relay $RELAY $RELAY6, workstation $WORKSTATION $WORKSTATION6, app host $APPHOST $APPHOST6
outside: namespace $NS_OUT, veth $IF_OUT (root end $IF_OUT_ROOT = DPDK port 1)
         corp MX $CORP_MX $CORP_MX6 ($MX_NAME), provider $PROVIDER $PROVIDER6 ($PROVIDER_NAME), web $WEB $WEB6
EOF
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  [ "$(id -u)" = 0 ] || die "run as root (network namespaces)"
  case ${1:-} in
    up) netns_up && netns_show ;;
    down) netns_down ;;
    show) netns_show ;;
    *)
      echo "usage: $0 up|down|show   (MG_TOPO=$TOPO)" >&2
      exit 2
      ;;
  esac
fi
