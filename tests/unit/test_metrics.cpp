// /metrics label values: escaped as the Prometheus text format says, so that any service name,
// read back by the format's rules, is the same name and stays inside its quotes.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cp/metrics.hpp"

using vsnat::cp::escape_label_value;

namespace {

// The value of the first label of a sample line, read as a scraper does (Prometheus, "Text
// format details": `\\`, `\"` and `\n` inside double quotes), and the rest of the line after
// its closing brace.
struct Parsed {
    std::string value;
    std::string after;
    bool ok = false;
};

Parsed parse_first_label(const std::string& line) {
    Parsed p;
    size_t i = line.find("=\"");
    if (i == std::string::npos) {
        return p;
    }
    for (i += 2; i < line.size(); ++i) {
        if (line[i] == '"') {
            p.after = line.substr(i + 1);
            p.ok = true;
            return p;
        }
        if (line[i] == '\n') {
            return p;  // a raw line feed ends the sample: the value escaped its quotes
        }
        if (line[i] == '\\' && i + 1 < line.size()) {
            const char next = line[++i];
            p.value += next == 'n' ? '\n' : next;
        } else {
            p.value += line[i];
        }
    }
    return p;
}

}  // namespace

TEST_CASE("label values escape backslash, double quote and line feed only", "[metrics]") {
    CHECK(escape_label_value("web") == "web");
    CHECK(escape_label_value("a\\b") == "a\\\\b");
    CHECK(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
    CHECK(escape_label_value("two\nlines") == "two\\nlines");
    CHECK(escape_label_value("not a newline: \\n") == "not a newline: \\\\n");
    CHECK(escape_label_value("tab\tand é") == "tab\tand é");
}

TEST_CASE("a sample line with any service name parses back to that name", "[metrics]") {
    const std::vector<std::string> names = {
        "web\"} 1\nvsnat_injected_total{x=\"y\"} 42\n#",  // the injection of the issue
        "quoted \"web\" \\ back\\slash",
        "ends in a backslash\\",
        "\\\"",
        "",
    };
    for (const std::string& name : names) {
        const std::string line = "vsnat_real_server_connections_total{service=\"" +
                                 escape_label_value(name) + "\",protocol=\"tcp\"} 7\n";
        INFO(line);
        CHECK(line.find('\n') == line.size() - 1);  // one sample, one line
        const Parsed p = parse_first_label(line);
        REQUIRE(p.ok);
        CHECK(p.value == name);
        CHECK(p.after == ",protocol=\"tcp\"} 7\n");
    }
}
