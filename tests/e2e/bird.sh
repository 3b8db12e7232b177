# BIRD 2 for the e2e tests (sourced): a BGP speaker in vsnatd's kernel_netns announcing VIPs,
# and one in the client namespace, standing for the upstream router, that puts what it learns
# into its kernel table. Hold time 6 s, keepalives every 2 s. The caller sets E2E_LOG_DIR;
# stop_birds runs from the caller's EXIT trap. In the test's family (E2E_IP, lib.sh's "Address
# family"): an IPv6 test's session runs between the director's and the client's IPv6 addresses
# on the outside link and carries an ipv6 channel (VIPs as /128s); the router ids stay the
# IPv4 addresses (BIRD's are 32-bit).
# shellcheck shell=bash

readonly AS_DIRECTOR=65001 AS_UPSTREAM=65000
BIRD_CHANNEL=ipv$E2E_IP BIRD_HOST_LEN=$( ((E2E_IP == 6)) && echo 128 || echo 32)
readonly BIRD_CHANNEL BIRD_HOST_LEN

# bird_conf ROUTER_ID LOCAL LOCAL_AS PEER PEER_AS SIDE VIPS: SIDE director announces the VIPs
# of protocol "vips", which VIPS says: "static" the test's VIP (E2E_VIP) as a host route kept
# inside BIRD, "advertised" the addresses vsnatd keeps on vsnat-vips (BIRD's direct protocol);
# SIDE upstream imports what it hears into its kernel.
bird_conf() {
  local id=$1 local=$2 as=$3 peer=$4 peer_as=$5 side=$6 vips
  vips="protocol static vips { $BIRD_CHANNEL; route $E2E_VIP/$BIRD_HOST_LEN blackhole; }"
  [[ $7 == advertised ]] && vips="protocol direct vips { $BIRD_CHANNEL; interface \"vsnat-vips\"; }"
  echo "log \"$E2E_LOG_DIR/bird-$side.log\" all;"
  echo "router id $id;"
  echo "protocol device {}"
  if [[ $side == director ]]; then
    echo "$vips"
    echo "protocol bgp peer { local $local as $as; neighbor $peer as $peer_as;"
    echo "  hold time 6; keepalive time 2; connect retry time 2;"
    echo "  $BIRD_CHANNEL { import none; export where proto = \"vips\"; }; }"
  else
    echo "protocol kernel { $BIRD_CHANNEL { import none; export all; }; }"
    echo "protocol bgp peer { local $local as $as; neighbor $peer as $peer_as;"
    echo "  hold time 6; keepalive time 2; connect retry time 2;"
    echo "  $BIRD_CHANNEL { import all; export none; }; }"
  fi
}

bird_pids=()
# start_birds VIPS: the director's BIRD in LAB_NS_KERNEL (VIPS: as bird_conf), the upstream's
# in the client.
start_birds() {
  local out_id=${LAB_DIRECTOR_OUT%/*} side ns
  bird_conf "$out_id" "$E2E_DIRECTOR_OUT" "$AS_DIRECTOR" "$E2E_CLIENT" "$AS_UPSTREAM" director \
    "$1" >"$E2E_LOG_DIR/bird-director.conf"
  bird_conf "$LAB_CLIENT" "$E2E_CLIENT" "$AS_UPSTREAM" "$E2E_DIRECTOR_OUT" "$AS_DIRECTOR" \
    upstream "$1" >"$E2E_LOG_DIR/bird-upstream.conf"
  for side in director upstream; do
    ns=$LAB_NS_KERNEL
    [[ $side == upstream ]] && ns=$LAB_NS_CLIENT
    ip netns exec "$ns" bird -f -c "$E2E_LOG_DIR/bird-$side.conf" -s "$E2E_LOG_DIR/bird-$side.ctl" \
      >>"$E2E_LOG_DIR/bird-$side.out" 2>&1 &
    bird_pids+=($!)
  done
}
stop_birds() {
  ((${#bird_pids[@]})) || return 0
  kill -TERM "${bird_pids[@]}" 2>/dev/null || true
  wait "${bird_pids[@]}" 2>/dev/null || true
  bird_pids=()
}
birdc_show() { timeout 5 birdc -s "$E2E_LOG_DIR/bird-$1.ctl" show protocols peer 2>&1 | awk '$1 == "peer"'; }
# The route the client's kernel has for ADDRESS (a host route: /32, IPv6 /128) from BGP, or
# nothing.
bgp_route() { ip -n "$LAB_NS_CLIENT" "-$E2E_IP" route show "$1/$BIRD_HOST_LEN" proto bird; }
