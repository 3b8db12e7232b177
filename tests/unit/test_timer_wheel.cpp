// The expiry wheel on a synthetic clock: entries expire within one tick of their time, never
// early; pushing an expiry later or earlier is honoured; work per call is bounded.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "dp/timer_wheel.hpp"

using vsnat::dp::TimerWheel;

namespace {

// The wheel and the expiry times it reads back, kept beside it as the connection table keeps
// them in its records.
class Timers {
  public:
    explicit Timers(uint32_t capacity, uint32_t now_ms, uint32_t tick_ms = 64,
                    uint32_t slots = 4096)
        : nodes_(TimerWheel::node_count(capacity, slots)),
          wheel_(nodes_, capacity, now_ms, tick_ms, slots),
          expires_(capacity) {}
    void schedule(uint32_t id, uint32_t expires_ms) {
        expires_[id] = expires_ms;
        wheel_.schedule(id, expires_ms);
    }
    void update(uint32_t id, uint32_t expires_ms) {
        const uint32_t old_ms = expires_[id];
        expires_[id] = expires_ms;
        wheel_.update(id, old_ms, expires_ms);
    }
    void cancel(uint32_t id) { wheel_.cancel(id); }
    bool scheduled(uint32_t id) const { return wheel_.scheduled(id); }
    template <class OnExpire>
    uint32_t advance(uint32_t now_ms, uint32_t budget, OnExpire&& on_expire) {
        return wheel_.advance(
            now_ms, budget, [this](uint32_t id) { return expires_[id]; }, on_expire);
    }

  private:
    std::vector<TimerWheel::Node> nodes_;
    TimerWheel wheel_;
    std::vector<uint32_t> expires_;
};

// Advances in steps of `step_ms` until `until_ms`, recording when each id expired.
std::map<uint32_t, uint32_t> run(Timers& w, uint32_t from_ms, uint32_t until_ms, uint32_t step_ms) {
    std::map<uint32_t, uint32_t> expired_at;
    for (uint32_t now = from_ms; now <= until_ms; now += step_ms) {
        w.advance(now, UINT32_MAX, [&](uint32_t id) { expired_at[id] = now; });
    }
    return expired_at;
}

}  // namespace

TEST_CASE("entries expire after their time and within one tick") {
    Timers w(100, 0, 64, 64);  // a short wheel (4 s): long timeouts go round it
    std::vector<uint32_t> expiry = {10, 500, 4095, 4096, 10000, 65000, 1000000};
    for (uint32_t id = 0; id < expiry.size(); ++id) {
        w.schedule(id, expiry[id]);
    }
    auto got = run(w, 0, 1100000, 10);
    REQUIRE(got.size() == expiry.size());
    for (uint32_t id = 0; id < expiry.size(); ++id) {
        INFO("expiry " << expiry[id]);
        CHECK(got[id] >= expiry[id]);
        CHECK(got[id] <= expiry[id] + 64 + 10);
    }
}

TEST_CASE("a later expiry is honoured lazily, an earlier one at once") {
    Timers w(10, 0, 64, 4096);
    w.schedule(0, 1000);
    w.schedule(1, 900000);
    w.update(0, 5000);  // a packet refreshed it
    w.update(1, 2000);  // a FIN shortened it
    auto got = run(w, 0, 10000, 1);
    CHECK(got.at(1) >= 2000);
    CHECK(got.at(1) <= 2000 + 64);
    CHECK(got.at(0) >= 5000);
    CHECK(got.at(0) <= 5000 + 64);
}

TEST_CASE("cancelled entries never fire; ids can be reused") {
    Timers w(4, 0);
    w.schedule(0, 100);
    w.schedule(1, 100);
    w.cancel(0);
    CHECK_FALSE(w.scheduled(0));
    w.schedule(0, 300);
    auto got = run(w, 0, 1000, 5);
    CHECK(got.at(1) < 300);
    CHECK(got.at(0) >= 300);
}

TEST_CASE("work per advance is bounded and resumes where it stopped") {
    const uint32_t n = 10000;
    Timers w(n, 0);
    for (uint32_t id = 0; id < n; ++id) {
        w.schedule(id, 100);
    }
    uint32_t total = 0, calls = 0;
    while (total < n) {
        uint32_t done = w.advance(1000, 64, [](uint32_t) {});
        CHECK(done <= 64);
        total += done;
        ++calls;
        REQUIRE(calls < 1000);
    }
    CHECK(total == n);
    CHECK(calls >= n / 64);
}

TEST_CASE("a clock jump and a wrap of the 32-bit millisecond counter lose nothing") {
    const uint32_t start = UINT32_MAX - 5000;
    Timers w(3, start);
    w.schedule(0, start + 1000);
    w.schedule(1, start + 10000);  // after the wrap
    w.schedule(2, start + 3'600'000);
    std::map<uint32_t, uint32_t> got;
    for (uint32_t now : {start + 2000, start + 20000, start + 7'200'000}) {
        w.advance(now, UINT32_MAX, [&](uint32_t id) { got[id] = now; });
    }
    CHECK(got.at(0) == start + 2000);
    CHECK(got.at(1) == start + 20000);
    CHECK(got.at(2) == start + 7'200'000);
}

TEST_CASE("random schedule, update and cancel against a reference model") {
    std::mt19937 rng(42);  // 32-bit results
    const uint32_t n = 2000;
    Timers w(n, 0, 64, 256);
    std::vector<int64_t> deadline(n, -1);  // -1: not scheduled
    uint32_t now = 0;
    for (int step = 0; step < 200000; ++step) {
        uint32_t id = static_cast<uint32_t>(rng() % n);
        uint32_t op = static_cast<uint32_t>(rng() % 10);
        if (deadline[id] < 0 && op < 5) {
            deadline[id] = now + rng() % 100000;
            w.schedule(id, static_cast<uint32_t>(deadline[id]));
        } else if (deadline[id] >= 0 && op < 8) {
            deadline[id] = now + rng() % 100000;
            w.update(id, static_cast<uint32_t>(deadline[id]));
        } else if (deadline[id] >= 0 && op == 9) {
            w.cancel(id);
            deadline[id] = -1;
        }
        now += static_cast<uint32_t>(rng() % 20);
        w.advance(now, UINT32_MAX, [&](uint32_t e) {
            REQUIRE(deadline[e] >= 0);
            REQUIRE(deadline[e] <= now);            // never early
            REQUIRE(now - deadline[e] <= 64 + 20);  // at most a tick and a step late
            deadline[e] = -1;
        });
    }
}
