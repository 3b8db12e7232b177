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

TEST_CASE("passive: any SYN-ACK shows the server alive and starts the count again", "[passive]") {
    PassiveWatch w(3, 1000);
    w.sample(0, {0, 0, 0});
    w.sample(100, {2, 0, 0});
    CHECK_FALSE(w.sample(900, {2, 1, 0}));   // one answered: the two made before are forgiven
    CHECK_FALSE(w.sample(1000, {4, 1, 0}));  // two more
    CHECK_FALSE(w.sample(2000, {4, 1, 0}));  // old now, but only two
    CHECK_FALSE(w.sample(2100, {5, 1, 0}));  // a third, not yet old
    CHECK(w.sample(3100, {5, 1, 0}));
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
