// Text longer than a telemetry string: cut into pieces of at most 127 bytes between UTF-8
// characters, joined again whole, and the reply bytes DPDK's JSON writer takes for each.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cp/telemetry_text.hpp"

using namespace vsnat::cp;

TEST_CASE("telemetry text: pieces of 127 bytes, whole UTF-8 characters", "[telemetry]") {
    CHECK(telemetry_pieces("") == std::vector<std::string>{""});
    CHECK(telemetry_pieces(std::string(127, 'a')) ==
          std::vector<std::string>{std::string(127, 'a')});
    CHECK(telemetry_pieces(std::string(128, 'a')) ==
          std::vector<std::string>{std::string(127, 'a'), "a"});
    CHECK(telemetry_pieces(std::string(300, 'b')).size() == 3);
    // "é" is two bytes: at bytes 126 and 127 it would be cut in two; it goes whole into the next.
    const std::string accented = std::string(126, 'a') + "\xc3\xa9" + "z";
    CHECK(telemetry_pieces(accented) ==
          std::vector<std::string>{std::string(126, 'a'), "\xc3\xa9z"});
    // Not UTF-8 (continuation bytes only): cut at 127 anyway rather than never.
    CHECK(telemetry_pieces(std::string(200, '\x80')).size() == 2);
}

TEST_CASE("telemetry text: joined by their counts, a cut reply taken as far as it goes",
          "[telemetry]") {
    const std::string long_message(300, 'm');
    std::vector<std::string> pieces = telemetry_pieces(long_message);
    pieces.push_back("short");
    CHECK(join_telemetry_pieces(pieces, {3, 1}) == std::vector<std::string>{long_message, "short"});
    CHECK(join_telemetry_pieces({"a", "b", "c"}, {1, 1, 1}) ==
          std::vector<std::string>{"a", "b", "c"});
    CHECK(join_telemetry_pieces({"a", "b"}, {1, 3, 1}) == std::vector<std::string>{"a", "b"});
    CHECK(join_telemetry_pieces({}, {2}).empty());
}

TEST_CASE("telemetry text: the JSON bytes of a string", "[telemetry]") {
    CHECK(telemetry_json_bytes("abc") == 6);         // "abc",
    CHECK(telemetry_json_bytes("a\"b\\c\n") == 12);  // "a\"b\\c\n",
}
