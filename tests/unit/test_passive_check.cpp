// The passive health check: a server is down once its last `fall` new connections all went
// unanswered (no SYN-ACK within the timeout, or a reset); any SYN-ACK starts the count again.
#include <catch2/catch.hpp>

#include "cp/passive_check.hpp"

using namespace vsnat::cp;

TEST_CASE("passive: fall connections without a SYN-ACK within the timeout", "[passive]") {
    PassiveWatch w(3, 1000);
    CHECK_FALSE(w.sample(0, {10, 10, 0}));    // the first look: what came before does not count
    CHECK_FALSE(w.sample(100, {13, 10, 0}));  // three new ones, not yet old enough
    CHECK_FALSE(w.sample(1000, {13, 10, 0}));
    const auto down = w.sample(1100, {13, 10, 0});
    REQUIRE(down);
    CHECK(*down == "passive: 3 new connections without a SYN-ACK in 1000 ms");
    // Counted afresh: the same connections are not reported again.
    CHECK_FALSE(w.sample(2200, {13, 10, 0}));
}

TEST_CASE("passive: a server that answers, newer connections too, is never judged", "[passive]") {
    PassiveWatch w(3, 1000);
    // 10 connections every 100 ms, each answered 50 ms later; now and then a client gives up
    // before the answer (one in 20 here): those few are forgiven by the answers that follow.
    uint64_t made = 0, answered = 0;
    for (uint64_t t = 0; t < 20000; t += 100) {
        CHECK_FALSE(w.sample(t, {made, answered, 0}));
        answered = made - made / 20;
        made += 10;
    }
}

TEST_CASE("passive: connections left hanging before the last answer still count", "[passive]") {
    // A load generator's 16 connections all stuck on the server, the last answers arriving
    // while they were being made: no newer connection comes to judge it by.
    PassiveWatch w(3, 1000);
    w.sample(0, {100, 100, 0});
    CHECK_FALSE(w.sample(100, {116, 103, 0}));
    CHECK_FALSE(w.sample(600, {116, 103, 0}));
    CHECK_FALSE(w.sample(1000, {116, 103, 0}));
    const auto down = w.sample(1100, {116, 103, 0});
    REQUIRE(down);
    CHECK(*down == "passive: 13 new connections without a SYN-ACK in 1000 ms");
}

TEST_CASE("passive: a late answer saves the server", "[passive]") {
    PassiveWatch w(3, 1000);
    w.sample(0, {0, 0, 0});
    w.sample(100, {5, 0, 0});
    CHECK_FALSE(w.sample(1050, {5, 1, 0}));  // slow, but alive
    CHECK_FALSE(w.sample(1500, {5, 5, 0}));
    CHECK_FALSE(w.sample(3000, {5, 5, 0}));
}

TEST_CASE("passive: resets count at once, and not twice once old", "[passive]") {
    PassiveWatch w(2, 5000);
    w.sample(0, {0, 0, 0});
    CHECK_FALSE(w.sample(100, {1, 0, 1}));
    const auto down = w.sample(200, {2, 0, 2});
    REQUIRE(down);
    CHECK(*down == "passive: 2 new connections refused (RST)");
    CHECK_FALSE(w.sample(300, {3, 0, 2}));
    // The refused pair is old now but was counted already; one more unanswered is not enough.
    CHECK_FALSE(w.sample(5400, {3, 0, 2}));
}

TEST_CASE("passive: a server that gets no new connections is never judged", "[passive]") {
    PassiveWatch w(1, 100);
    for (uint64_t t = 0; t < 10000; t += 100) {
        CHECK_FALSE(w.sample(t, {7, 7, 0}));
    }
}
