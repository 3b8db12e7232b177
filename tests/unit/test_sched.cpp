// Schedulers: exact sequences as LVS produces them.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "dp/sched/scheduler.hpp"

using namespace vsnat::dp;

namespace {

std::vector<Destination> servers(std::vector<uint32_t> weights) {
    std::vector<Destination> out;
    for (size_t i = 0; i < weights.size(); ++i) {
        out.push_back(
            Destination{static_cast<uint32_t>(i + 1), 80, static_cast<uint16_t>(i), weights[i]});
    }
    return out;
}

// Counts scripted by the test.
struct ScriptedLoad : ServerLoad {
    std::vector<uint64_t> active_conns, inactive_conns;
    uint64_t active(uint16_t id) const override {
        return id < active_conns.size() ? active_conns[id] : 0;
    }
    uint64_t inactive(uint16_t id) const override {
        return id < inactive_conns.size() ? inactive_conns[id] : 0;
    }
};

std::string sequence(SchedulerKind kind, const std::vector<Destination>& s, int n) {
    auto sched = make_scheduler(kind, s);
    std::string out;
    FlowKey key;
    ScriptedLoad load;
    for (int i = 0; i < n; ++i) {
        int32_t pick = sched->pick(s, key, load);
        out += pick == Scheduler::kNone ? '-' : static_cast<char>('A' + pick);
    }
    return out;
}

}  // namespace

TEST_CASE("wrr: weights 4,3,2 give A A B A B C A B C, repeating") {
    CHECK(sequence(SchedulerKind::wrr, servers({4, 3, 2}), 18) == "AABABCABCAABABCABC");
}

TEST_CASE("wrr: the seed's 1:2 gives exactly one A and two B in every three") {
    const std::string seq = sequence(SchedulerKind::wrr, servers({1, 2}), 300);
    for (size_t i = 0; i < seq.size(); i += 3) {
        std::string group = seq.substr(i, 3);
        INFO("group at " << i << ": " << group);
        CHECK(std::count(group.begin(), group.end(), 'A') == 1);
        CHECK(std::count(group.begin(), group.end(), 'B') == 2);
    }
    CHECK(seq.substr(0, 3) == "BAB");
}

TEST_CASE("wrr: gcd stepping (4,2 -> A A B) and weight 0 quiesces") {
    CHECK(sequence(SchedulerKind::wrr, servers({4, 2}), 6) == "AABAAB");
    CHECK(sequence(SchedulerKind::wrr, servers({0, 3, 0}), 4) == "BBBB");
    CHECK(sequence(SchedulerKind::wrr, servers({0, 0}), 3) == "---");
    CHECK(sequence(SchedulerKind::wrr, servers({}), 1) == "-");
    CHECK(sequence(SchedulerKind::wrr, servers({65535, 1}), 65537).find('B') != std::string::npos);
}

TEST_CASE("rr: in order, skipping quiesced servers") {
    CHECK(sequence(SchedulerKind::rr, servers({1, 5, 1}), 6) == "ABCABC");
    CHECK(sequence(SchedulerKind::rr, servers({1, 0, 1}), 4) == "ACAC");
    CHECK(sequence(SchedulerKind::rr, servers({0, 0}), 2) == "--");
}
