// libFuzzer target: the YAML config loader on arbitrary text. It must never crash or throw, and
// must answer either a config and no errors, or no config and errors that each carry a position
// (printed as FILE:LINE:COL: message, LINE and COL from 1).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cp/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const vsnat::cp::LoadResult result = vsnat::cp::load_config_text(text, "fuzz.yaml");
    if (result.config.has_value() == !result.errors.empty()) {
        std::abort();
    }
    for (const vsnat::cp::ConfigError& e : result.errors) {
        // "internal error" is load_config_text's last resort for an exception it did not expect.
        if (e.file != "fuzz.yaml" || e.line < 1 || e.column < 1 || e.message.empty() ||
            e.message.starts_with("internal error")) {
            std::abort();
        }
    }
    return 0;
}
