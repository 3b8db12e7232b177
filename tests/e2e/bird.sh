# BIRD 2 for the e2e tests (sourced): a BGP speaker in vsnatd's kernel_netns announcing VIPs,
# and one in the client namespace, standing for the upstream router, that puts what it learns
# into its kernel table. Hold time 6 s, keepalives every 2 s. The caller sets E2E_LOG_DIR;
# stop_birds runs from the caller's EXIT trap.
# shellcheck shell=bash

readonly AS_DIRECTOR=65001 AS_UPSTREAM=65000

# bird_conf ROUTER_ID LOCAL_AS PEER PEER_AS SIDE VIPS: SIDE director announces the VIPs of
# protocol "vips", which VIPS says: "static" the lab's VIP as a /32 kept inside BIRD,
# "advertised" the addresses vsnatd keeps on vsnat-vips (BIRD's direct protocol); SIDE upstream
# imports what it hears into its kernel.
bird_conf() {
  local id=$1 as=$2 peer=$3 peer_as=$4 side=$5 vips
  vips="protocol static vips { ipv4; route $LAB_VIP/32 blackhole; }"
  [[ $6 == advertised ]] && vips='protocol direct vips { ipv4; interface "vsnat-vips"; }'
  echo "log \"$E2E_LOG_DIR/bird-$side.log\" all;"
  echo "router id $id;"
  echo "protocol device {}"
  if [[ $side == director ]]; then
    echo "$vips"
    echo "protocol bgp peer { local $id as $as; neighbor $peer as $peer_as;"
    echo "  hold time 6; keepalive time 2; connect retry time 2;"
    echo "  ipv4 { import none; export where proto = \"vips\"; }; }"
  else
    echo "protocol kernel { ipv4 { import none; export all; }; }"
    echo "protocol bgp peer { local $id as $as; neighbor $peer as $peer_as;"
    echo "  hold time 6; keepalive time 2; connect retry time 2;"
    echo "  ipv4 { import all; export none; }; }"
  fi
}

bird_pids=()
# start_birds VIPS: the director's BIRD in LAB_NS_KERNEL (VIPS: as bird_conf), the upstream's
# in the client.
start_birds() {
  local out_addr=${LAB_DIRECTOR_OUT%/*} side ns
  bird_conf "$out_addr" "$AS_DIRECTOR" "$LAB_CLIENT" "$AS_UPSTREAM" director "$1" \
    >"$E2E_LOG_DIR/bird-director.conf"
  bird_conf "$LAB_CLIENT" "$AS_UPSTREAM" "$out_addr" "$AS_DIRECTOR" upstream "$1" \
    >"$E2E_LOG_DIR/bird-upstream.conf"
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
# The route the client's kernel has for ADDRESS/32 from BGP, or nothing.
bgp_route() { ip -n "$LAB_NS_CLIENT" route show "$1/32" proto bird; }
