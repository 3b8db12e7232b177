#include "io/port.hpp"

#include <rte_errno.h>
#include <rte_ethdev.h>

#include <cstring>

#include "dp/owner.hpp"

namespace vsnat::io {
namespace {

constexpr uint16_t kRxDescriptors = 1024;
constexpr uint16_t kTxDescriptors = 1024;

std::string dpdk_error(int rc) {
    return rte_strerror(rc < 0 ? -rc : rc);
}

// RSS on the client's address and port only, when the NIC can restrict the fields.
bool configure_rss(const rte_eth_dev_info& info, LinkSide side, uint16_t queues,
                   rte_eth_conf& conf) {
    const uint64_t fields = side == LinkSide::clients
                                ? RTE_ETH_RSS_L3_SRC_ONLY | RTE_ETH_RSS_L4_SRC_ONLY
                                : RTE_ETH_RSS_L3_DST_ONLY | RTE_ETH_RSS_L4_DST_ONLY;
    const uint64_t wanted = RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP | fields;
    if (queues < 2 || (info.flow_type_rss_offloads & wanted) != wanted ||
        info.reta_size < dp::kRssTableSpan || info.reta_size > 512 ||
        info.hash_key_size != sizeof(dp::kRssKey)) {
        return false;
    }
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = const_cast<uint8_t*>(dp::kRssKey);
    conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(dp::kRssKey);
    conf.rx_adv_conf.rss_conf.rss_hf = wanted;
    return true;
}

// Entry i -> (i mod kRssTableSpan) mod queues: the mapping owner_of_client() computes.
bool program_reta(uint16_t port_id, uint16_t reta_size, uint16_t queues) {
    rte_eth_rss_reta_entry64 reta[512 / RTE_ETH_RETA_GROUP_SIZE] = {};
    for (uint16_t i = 0; i < reta_size; ++i) {
        auto& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
        group.mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
        group.reta[i % RTE_ETH_RETA_GROUP_SIZE] =
            static_cast<uint16_t>((i % dp::kRssTableSpan) % queues);
    }
    return rte_eth_dev_rss_reta_update(port_id, reta, reta_size) == 0;
}

}  // namespace

std::string port_name(const std::string& device) {
    return device.substr(0, device.find(','));
}

std::optional<OpenPort> open_port(const std::string& device, uint16_t queues, LinkSide side,
                                  uint16_t mtu, rte_mempool* pool, std::string& error) {
    OpenPort out;
    const std::string name = port_name(device);
    if (rte_eth_dev_get_port_by_name(name.c_str(), &out.port_id) != 0) {
        error =
            "device '" + device + "' not found (is it bound to a DPDK driver, or given to EAL?)";
        return std::nullopt;
    }
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(out.port_id, &info); rc != 0) {
        error = "device '" + device + "': " + dpdk_error(rc);
        return std::nullopt;
    }
    out.driver = info.driver_name ? info.driver_name : "?";
    if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
        error = "device '" + device + "' offers " + std::to_string(info.max_rx_queues) + " RX / " +
                std::to_string(info.max_tx_queues) + " TX queues; " + std::to_string(queues) +
                " workers need one of each per worker";
        return std::nullopt;
    }
    rte_eth_conf conf{};
    conf.rxmode.mtu = mtu;
    out.rss = configure_rss(info, side, queues, conf);
    if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
        out.rx_ip_checksum = true;
    }
    uint16_t rxd = kRxDescriptors, txd = kTxDescriptors;
    int rc = rte_eth_dev_configure(out.port_id, queues, queues, &conf);
    if (rc == 0) {
        rc = rte_eth_dev_adjust_nb_rx_tx_desc(out.port_id, &rxd, &txd);
    }
    const int socket = rte_eth_dev_socket_id(out.port_id);
    for (uint16_t q = 0; rc == 0 && q < queues; ++q) {
        rc = rte_eth_rx_queue_setup(out.port_id, q, rxd, socket, nullptr, pool);
        if (rc == 0) {
            rc = rte_eth_tx_queue_setup(out.port_id, q, txd, socket, nullptr);
        }
    }
    if (rc == 0) {
        rc = rte_eth_dev_start(out.port_id);
    }
    if (rc != 0) {
        error = "device '" + device + "': setup failed: " + dpdk_error(rc);
        rte_eth_dev_close(out.port_id);
        return std::nullopt;
    }
    if (out.rss && !program_reta(out.port_id, info.reta_size, queues)) {
        out.rss = false;  // the default table would not match owners: hand over in software
    }
    rte_ether_addr mac{};
    if (rc = rte_eth_macaddr_get(out.port_id, &mac); rc != 0) {
        error = "device '" + device + "': no MAC address: " + dpdk_error(rc);
        close_port(out.port_id);
        return std::nullopt;
    }
    std::memcpy(out.mac.data(), mac.addr_bytes, out.mac.size());
    if (rc = rte_eth_dev_get_mtu(out.port_id, &out.mtu); rc != 0) {
        error = "device '" + device + "': no MTU: " + dpdk_error(rc);
        close_port(out.port_id);
        return std::nullopt;
    }
    return out;
}

void close_port(uint16_t port_id) {
    rte_eth_dev_stop(port_id);
    rte_eth_dev_close(port_id);
}

OpenPorts::~OpenPorts() {
    for (const OpenPort& p : ports_) {
        close_port(p.port_id);
    }
}

}  // namespace vsnat::io
