#include "cp/reload_channel.hpp"

namespace vsnat::cp {
namespace {

ReloadResult refused_while_stopping() {
    return ReloadResult{false, {"vsnatd is stopping: reload not done"}};
}

}  // namespace

ReloadResult ReloadChannel::request(std::chrono::milliseconds timeout) {
    std::lock_guard<std::mutex> one_at_a_time(one_request_);
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_) {
        return refused_while_stopping();
    }
    const uint64_t wanted = served_ + 1;
    wanted_ = true;
    if (!answered_.wait_for(lock, timeout, [&] { return served_ >= wanted || closed_; })) {
        wanted_ = false;
        return ReloadResult{false, {"vsnatd did not answer the reload in time"}};
    }
    return served_ >= wanted ? last_ : refused_while_stopping();
}

void ReloadChannel::serve(const std::function<ReloadResult()>& reload) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!wanted_ || closed_) {
            return;
        }
        wanted_ = false;
    }
    ReloadResult result = reload();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        last_ = std::move(result);
        ++served_;
    }
    answered_.notify_all();
}

void ReloadChannel::close() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
    }
    answered_.notify_all();
}

}  // namespace vsnat::cp
