// The config loader: YAML text in, a validated Config or every error with its position out.
// The only file that includes yaml-cpp, so the rest of vsnat never sees a YAML type.
#include "cp/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <istream>
#include <limits>
#include <map>
#include <span>
#include <streambuf>
#include <tuple>
#include <utility>

namespace vsnat::cp {
namespace {

// ---- Text to value, without YAML: strict, because a config typo must not pass as a number. ---

template <typename E>
struct Choice {
    std::string_view name;
    E value;
};

constexpr std::array kIdleModes{Choice<IdleMode>{"poll", IdleMode::poll},
                                Choice<IdleMode>{"adaptive", IdleMode::adaptive}};
constexpr std::array kDrainModes{Choice<Drain>{"finish", Drain::finish},
                                 Choice<Drain>{"drop", Drain::drop}};
constexpr std::array kFragmentModes{Choice<Fragments>{"forward", Fragments::forward},
                                    Choice<Fragments>{"drop", Fragments::drop}};
constexpr std::array kReversePaths{Choice<ReversePath>{"strict", ReversePath::strict},
                                   Choice<ReversePath>{"loose", ReversePath::loose},
                                   Choice<ReversePath>{"off", ReversePath::off}};
constexpr std::array kKernelTypes{Choice<KernelType>{"tap", KernelType::tap},
                                  Choice<KernelType>{"virtio_user", KernelType::virtio_user}};
constexpr std::array kProtocols{Choice<Protocol>{"tcp", Protocol::tcp},
                                Choice<Protocol>{"udp", Protocol::udp}};
constexpr std::array kHelpers{Choice<Helper>{"none", Helper::none},
                              Choice<Helper>{"ftp", Helper::ftp}};
constexpr std::array kCheckTypes{
    Choice<CheckType>{"tcp", CheckType::tcp}, Choice<CheckType>{"http", CheckType::http},
    Choice<CheckType>{"udp", CheckType::udp}, Choice<CheckType>{"exec", CheckType::exec}};
constexpr std::array kOnDowns{Choice<OnDown>{"quiesce", OnDown::quiesce},
                              Choice<OnDown>{"drop", OnDown::drop}};
constexpr std::array kAddressOwnerships{
    Choice<AddressOwnership>{"always", AddressOwnership::always},
    Choice<AddressOwnership>{"follow_kernel", AddressOwnership::follow_kernel}};
// `start`: whether a checked server starts down (true) or up.
constexpr std::array kCheckStarts{Choice<bool>{"up", false}, Choice<bool>{"down", true}};
// YAML 1.2's core booleans only: "yes", "on" and "True" are typos here, not booleans.
constexpr std::array kBooleans{Choice<bool>{"true", true}, Choice<bool>{"false", false}};
constexpr std::array kSchedulers{
    Choice<Scheduler>{"rr", Scheduler::rr},   Choice<Scheduler>{"wrr", Scheduler::wrr},
    Choice<Scheduler>{"lc", Scheduler::lc},   Choice<Scheduler>{"wlc", Scheduler::wlc},
    Choice<Scheduler>{"sed", Scheduler::sed}, Choice<Scheduler>{"nq", Scheduler::nq},
    Choice<Scheduler>{"sh", Scheduler::sh},   Choice<Scheduler>{"dh", Scheduler::dh},
    Choice<Scheduler>{"mh", Scheduler::mh},   Choice<Scheduler>{"fo", Scheduler::fo}};

template <typename E, size_t N>
std::string_view name_of(const std::array<Choice<E>, N>& table, E value) {
    for (const auto& c : table) {
        if (c.value == value) {
            return c.name;
        }
    }
    return "?";
}

template <typename E, size_t N>
std::optional<E> parse_choice(const std::array<Choice<E>, N>& table, std::string_view text) {
    for (const auto& c : table) {
        if (c.name == text) {
            return c.value;
        }
    }
    return std::nullopt;
}

template <typename E, size_t N>
std::string describe_choices(const std::array<Choice<E>, N>& table) {
    std::string out = "one of";
    for (const auto& c : table) {
        out += (&c == table.data() ? " " : ", ") + std::string(c.name);
    }
    return out;
}

// Digits only: "+1", "-1", "0x10", "1e3" and "1.0" are all rejected, not reinterpreted.
std::optional<uint64_t> parse_uint(std::string_view text, uint64_t lo, uint64_t hi) {
    if (text.empty() ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < lo || value > hi) {
        return std::nullopt;
    }
    return value;
}

// A bare number is seconds; one unit suffix at most (no "1h30m"), as config/README.md says.
std::optional<uint32_t> parse_duration(std::string_view text, uint32_t min) {
    constexpr std::array<std::pair<char, uint64_t>, 4> kUnits{
        {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}}};
    uint64_t unit = 1;
    for (auto [suffix, seconds] : kUnits) {
        if (!text.empty() && text.back() == suffix) {
            unit = seconds;
            text.remove_suffix(1);
            break;
        }
    }
    constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
    auto count = parse_uint(text, 0, kMax);
    if (!count || *count * unit > kMax || *count * unit < min) {
        return std::nullopt;
    }
    return static_cast<uint32_t>(*count * unit);
}

// A check's interval or timeout, in milliseconds: "500ms", or as parse_duration reads it ("2s",
// "1m", a bare number of seconds); within [min_ms, max_ms].
std::optional<uint32_t> parse_duration_ms(std::string_view text, uint64_t min_ms, uint64_t max_ms) {
    constexpr std::array<std::pair<std::string_view, uint64_t>, 5> kUnits{
        {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};
    uint64_t unit = 1000;
    for (auto [suffix, milliseconds] : kUnits) {
        if (text.ends_with(suffix)) {
            unit = milliseconds;
            text.remove_suffix(suffix.size());
            break;
        }
    }
    auto count = parse_uint(text, 0, std::numeric_limits<uint32_t>::max());
    if (!count || *count * unit < min_ms || *count * unit > max_ms) {
        return std::nullopt;
    }
    return static_cast<uint32_t>(*count * unit);
}

std::optional<MacAddress> parse_mac(std::string_view text) {
    constexpr size_t kLength = 17;  // aa:bb:cc:dd:ee:ff
    if (text.size() != kLength) {
        return std::nullopt;
    }
    MacAddress mac{};
    for (size_t i = 0; i < mac.size(); ++i) {
        const char* first = text.data() + 3 * i;
        auto [end, ec] = std::from_chars(first, first + 2, mac[i], 16);
        bool separator_ok = i + 1 == mac.size() || text[3 * i + 2] == ':';
        if (ec != std::errc{} || end != first + 2 || !separator_ok) {
            return std::nullopt;
        }
    }
    return mac;
}

// An address of either family with its prefix length: "198.18.0.254/24", "2001:2:0:18::254/64".
struct IpPrefix {
    IpAddress address;
    uint8_t length = 0;
};

// The bits in an address of the family.
uint8_t address_bits(bool v6) {
    return v6 ? 128 : 32;
}

std::optional<IpPrefix> parse_ip_prefix(std::string_view text) {
    const size_t slash = text.find('/');
    if (slash == std::string_view::npos) {
        return std::nullopt;
    }
    const std::optional<IpAddress> address = parse_ip_address(text.substr(0, slash));
    const auto length = address
                            ? parse_uint(text.substr(slash + 1), 0, address_bits(address->is_v6))
                            : std::nullopt;
    if (!length) {
        return std::nullopt;
    }
    return IpPrefix{*address, static_cast<uint8_t>(*length)};
}

// A prefix length of at most `bits` ("24", "/24").
std::optional<uint8_t> parse_prefix_length(std::string_view text, uint8_t bits) {
    if (!text.empty() && text.front() == '/') {
        text.remove_prefix(1);
    }
    auto length = parse_uint(text, 0, bits);
    return length ? std::optional<uint8_t>(static_cast<uint8_t>(*length)) : std::nullopt;
}

// A prefix length ("24", "/24") or a dotted netmask with contiguous ones ("255.255.255.0").
std::optional<uint8_t> parse_netmask(std::string_view text) {
    if (text.find('.') == std::string_view::npos) {
        return parse_prefix_length(text, 32);
    }
    auto mask = parse_ipv4(text);
    if (!mask) {
        return std::nullopt;
    }
    const auto length = static_cast<uint8_t>(std::countl_one(*mask));
    const Ipv4 contiguous = length == 0 ? 0 : ~Ipv4{0} << (32 - length);
    return *mask == contiguous ? std::optional<uint8_t>(length) : std::nullopt;
}

// The length of the control character at `text[i]`, 0 when there is none: C0 controls, DEL,
// and the C1 controls as UTF-8 writes them (U+0080..U+009F: C2 80..C2 9F), which terminals obey
// too.
size_t control_at(std::string_view text, size_t i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
        return 1;
    }
    const bool c1 = c == 0xC2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    return c1 ? 2 : 0;
}

bool has_control_character(std::string_view text) {
    for (size_t i = 0; i < text.size(); ++i) {
        if (control_at(text, i) != 0) {
            return true;
        }
    }
    return false;
}

// `text` for a one-line message: the bytes of each control character as \xNN.
std::string printable(std::string_view text) {
    constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < text.size();) {
        const size_t n = std::max<size_t>(control_at(text, i), 1);
        for (size_t j = i; j < i + n; ++j) {
            const auto c = static_cast<unsigned char>(text[j]);
            if (n == 1 && control_at(text, j) == 0) {
                out += text[j];
            } else {
                out += {'\\', 'x', kHex[c >> 4], kHex[c & 0xF]};
            }
        }
        i += n;
    }
    return out;
}

Ipv4 prefix_mask(uint8_t length) {
    return length == 0 ? 0 : ~Ipv4{0} << (32 - length);
}

bool in_prefix(const Interface& i, Ipv4 address) {
    const Ipv4 mask = prefix_mask(i.prefix_len);
    return (address & mask) == (i.address & mask);
}

// Whether the first `length` bits of `address` are those of `prefix`, both of one family.
bool prefix_holds(const IpAddress& prefix, uint8_t length, const IpAddress& address) {
    if (prefix.is_v6 != address.is_v6) {
        return false;
    }
    if (!address.is_v6) {
        const Ipv4 mask = prefix_mask(length);
        return (address.v4 & mask) == (prefix.v4 & mask);
    }
    return Prefix6{prefix.v6, length}.holds(address.v6);
}

// The director's own addresses on interface `i` of one family, with their connected prefixes:
// its IPv4 address, or its IPv6 ones. What the checks below read, whatever the family.
std::vector<IpPrefix> prefixes_of(const Interface& i, bool v6) {
    if (!v6) {
        return {IpPrefix{IpAddress::of(i.address), i.prefix_len}};
    }
    std::vector<IpPrefix> out;
    for (const Prefix6& p : i.addresses6) {
        out.push_back(IpPrefix{IpAddress::of(p.address), p.length});
    }
    return out;
}

// Whether one of interface `i`'s connected prefixes holds `address`.
bool on_link(const Interface& i, const IpAddress& address) {
    const std::vector<IpPrefix> prefixes = prefixes_of(i, address.is_v6);
    return std::any_of(prefixes.begin(), prefixes.end(), [&](const IpPrefix& p) {
        return prefix_holds(p.address, p.length, address);
    });
}

// Whether `address` is one of the director's own addresses on interface `i`.
bool is_own_address(const Interface& i, const IpAddress& address) {
    const std::vector<IpPrefix> prefixes = prefixes_of(i, address.is_v6);
    return std::any_of(prefixes.begin(), prefixes.end(),
                       [&](const IpPrefix& p) { return p.address == address; });
}

// Whether `address` is one of interface `i`'s floating addresses.
bool is_floating(const Interface& i, const IpAddress& address) {
    return address.is_v6 ? std::any_of(i.floating6.begin(), i.floating6.end(),
                                       [&](const Prefix6& p) { return p.address == address.v6; })
                         : std::any_of(i.floating.begin(), i.floating.end(),
                                       [&](const Prefix& p) { return p.address == address.v4; });
}

bool has_gateway(const Interface& i, bool v6) {
    return v6 ? i.gateway6.has_value() : i.gateway.has_value();
}

std::string_view family_name(const IpAddress& address) {
    return address.is_v6 ? "IPv6" : "IPv4";
}

// 224.0.0.0/4 (RFC 1112 4).
bool is_multicast(Ipv4 address) {
    return address >> 28 == 0xe;
}

// Not what no host has: "this network" 0.0.0.0/8, loopback 127.0.0.0/8, multicast, and the
// reserved 240.0.0.0/4 with the limited broadcast (RFC 1122 3.2.1.3).
bool is_unicast(Ipv4 address) {
    const Ipv4 first = address >> 24;
    return first != 0 && first != 127 && first < 224;
}
constexpr std::string_view kNotUnicast =
    " is not a unicast address (0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4 and 240.0.0.0/4 are not)";

// fe80::/10 (RFC 4291 2.5.6).
bool is_link_local(const Ipv6& address) {
    return address[0] == 0xfe && (address[1] & 0xc0) == 0x80;
}

// What a director's, a VIP's or a server's IPv6 address can be: a global or unique-local
// unicast one. Not the unspecified ::, the loopback ::1, IPv4-mapped ::ffff:0:0/96 (an IPv4
// host), link-local fe80::/10 (the director derives its own from its MAC) or multicast
// ff00::/8 (RFC 4291 2.4).
bool is_unicast6(const Ipv6& address) {
    constexpr Ipv6 kLoopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    constexpr Ipv6 kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return address != Ipv6{} && address != kLoopback &&
           !prefix_holds(IpAddress::of(kMapped), 96, IpAddress::of(address)) &&
           !is_link_local(address) && address[0] != 0xff;
}
constexpr std::string_view kNotUnicast6 =
    " is not a global or unique-local unicast address (::, ::1, ::ffff:0:0/96, fe80::/10 and "
    "ff00::/8 are not)";

// "network" or "broadcast" when `address` is the first or last of interface `i`'s prefix,
// which no host on the link has (but on /31 and /32, RFC 3021); empty otherwise.
std::string_view not_a_host(const Interface& i, Ipv4 address) {
    if (i.prefix_len > 30 || !in_prefix(i, address)) {
        return {};
    }
    const Ipv4 host = address & ~prefix_mask(i.prefix_len);
    return host == 0 ? "network" : host == ~prefix_mask(i.prefix_len) ? "broadcast" : "";
}

std::string format_prefix(const IpAddress& address, uint8_t length) {
    return format_ip_address(address) + "/" + std::to_string(length);
}

std::string format_prefix(Ipv4 address, uint8_t length) {
    return format_prefix(IpAddress::of(address), length);
}

// Interface `i`'s prefixes of one family, for a message: "198.18.0.254/24",
// "2001:2:0:18::254/64 and 2001:2:0:1a::254/64"; empty for none.
std::string prefixes_text(const Interface& i, bool v6) {
    std::string out;
    for (const IpPrefix& p : prefixes_of(i, v6)) {
        out += (out.empty() ? "" : " and ") + format_prefix(p.address, p.length);
    }
    return out;
}

// ---- The YAML tree. ---------------------------------------------------------------------------

// Where a node starts, from 0 as yaml-cpp counts; line -1 for nowhere (an absent value).
struct Position {
    int line = -1;
    int column = -1;

    bool is_null() const { return line < 0; }
};

Position position_of(const YAML::Mark& mark) {
    return mark.is_null() ? Position{} : Position{mark.line, mark.column};
}

enum class NodeKind : uint8_t { null, scalar, sequence, map, alias };

// The nodes of one YAML document, as yaml-cpp's parser reports them. The loader builds this
// instead of calling YAML::Load, whose tree costs several hundred bytes a node and is complete
// before anyone can count it: an entry here is about 70 bytes, and the Builder below counts
// them as they come and stops at kMaxYamlNodes.
class Document {
  public:
    static constexpr uint32_t kNone = UINT32_MAX;

    struct Entry {
        NodeKind kind = NodeKind::null;
        bool complete = false;  // a list or mapping is not until its end
        Position position;
        uint32_t first_child = kNone;  // a sequence's entries; a mapping's keys and values in turn
        uint32_t next = kNone;         // the next sibling
        uint32_t target = kNone;       // an alias: the node it repeats
        uint64_t weight = 1;           // nodes it stands for, what its aliases repeat included
        std::string scalar;
    };

    uint32_t add(Entry entry) {
        entries_.push_back(std::move(entry));
        return static_cast<uint32_t>(entries_.size() - 1);
    }
    Entry& at(uint32_t i) { return entries_[i]; }
    const Entry& at(uint32_t i) const { return entries_[i]; }
    bool empty() const { return entries_.empty(); }

  private:
    std::deque<Entry> entries_;  // grows without moving what it holds
};

template <bool kPairs>
class NodeRange;

// A node of a Document, aliases seen through; or no node at all (an absent key).
class Node {
  public:
    Node() = default;
    Node(const Document* doc, uint32_t index) : doc_(doc), index_(index) {
        while (doc_->at(index_).kind == NodeKind::alias) {
            index_ = doc_->at(index_).target;
        }
    }

    bool is_defined() const { return doc_ != nullptr; }
    bool is_null() const { return is(NodeKind::null); }
    bool is_scalar() const { return is(NodeKind::scalar); }
    bool is_sequence() const { return is(NodeKind::sequence); }
    bool is_map() const { return is(NodeKind::map); }
    const std::string& scalar() const { return doc_->at(index_).scalar; }
    Position position() const { return is_defined() ? doc_->at(index_).position : Position{}; }

    // A sequence's entries, a mapping's (key, value) pairs, in file order; none for others.
    NodeRange<false> items() const;
    NodeRange<true> pairs() const;

  private:
    bool is(NodeKind kind) const { return is_defined() && doc_->at(index_).kind == kind; }
    uint32_t first_child(NodeKind kind) const {
        return is(kind) ? doc_->at(index_).first_child : Document::kNone;
    }

    const Document* doc_ = nullptr;
    uint32_t index_ = Document::kNone;
};

struct NodePair {
    Node key;
    Node value;
};

// The children of a node, one by one (kPairs false) or two by two (true: a mapping's pairs).
template <bool kPairs>
class NodeRange {
  public:
    class Iterator {
      public:
        Iterator(const Document* doc, uint32_t i) : doc_(doc), i_(i) {}
        auto operator*() const {
            if constexpr (kPairs) {
                return NodePair{Node(doc_, i_), Node(doc_, doc_->at(i_).next)};
            } else {
                return Node(doc_, i_);
            }
        }
        Iterator& operator++() {
            i_ = doc_->at(i_).next;
            if constexpr (kPairs) {
                i_ = doc_->at(i_).next;
            }
            return *this;
        }
        bool operator!=(const Iterator& other) const { return i_ != other.i_; }

      private:
        const Document* doc_;
        uint32_t i_;
    };
    NodeRange(const Document* doc, uint32_t first) : doc_(doc), first_(first) {}
    Iterator begin() const { return Iterator(doc_, first_); }
    Iterator end() const { return Iterator(doc_, Document::kNone); }

  private:
    const Document* doc_;
    uint32_t first_;
};

NodeRange<false> Node::items() const {
    return {doc_, first_child(NodeKind::sequence)};
}
NodeRange<true> Node::pairs() const {
    return {doc_, first_child(NodeKind::map)};
}

// Thrown out of yaml-cpp's parser by the Builder, or by ChunkedText when `stop` says so.
struct TreeError {
    Position position;
    std::string message;
};
struct Abandoned {};

// Builds a Document from yaml-cpp's parser events, counting nodes as they come: an alias counts
// as many as the node it repeats, since the loader walks through aliases.
class Builder : public YAML::EventHandler {
  public:
    explicit Builder(Document& doc) : doc_(doc) {}

    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        leaf(NodeKind::null, mark, anchor, {});
    }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  const std::string& value) override {
        leaf(NodeKind::scalar, mark, anchor, value);
    }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override;
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        open(NodeKind::sequence, mark, anchor);
    }
    void OnSequenceEnd() override { close(); }
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        open(NodeKind::map, mark, anchor);
    }
    void OnMapEnd() override { close(); }

  private:
    struct Open {
        uint32_t index;
        uint32_t last_child = Document::kNone;
    };

    uint32_t add(Document::Entry entry, YAML::anchor_t anchor);
    static Document::Entry make_entry(NodeKind kind, const YAML::Mark& mark) {
        Document::Entry e;
        e.kind = kind;
        e.position = position_of(mark);
        return e;
    }
    void leaf(NodeKind kind, const YAML::Mark& mark, YAML::anchor_t anchor, std::string scalar) {
        Document::Entry e = make_entry(kind, mark);
        e.complete = true;
        e.scalar = std::move(scalar);
        add(std::move(e), anchor);
    }
    // Complete at its end; its children's weights add to its own as they come.
    void open(NodeKind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
        open_.push_back(Open{add(make_entry(kind, mark), anchor), Document::kNone});
    }
    void close();

    Document& doc_;
    std::vector<Open> open_;
    std::vector<uint32_t> anchors_;  // by yaml-cpp's anchor number, from 1
    uint64_t nodes_ = 0;
};

// Links a new node under the open list or mapping, if any; its weight counts towards
// kMaxYamlNodes.
uint32_t Builder::add(Document::Entry entry, YAML::anchor_t anchor) {
    nodes_ += entry.weight;
    if (nodes_ > kMaxYamlNodes) {
        throw TreeError{entry.position,
                        "more than " + std::to_string(kMaxYamlNodes) +
                            " YAML nodes (an alias counts as what it repeats): more than any "
                            "valid configuration has"};
    }
    const uint32_t i = doc_.add(std::move(entry));
    if (!open_.empty()) {
        Open& parent = open_.back();
        doc_.at(parent.index).weight += doc_.at(i).weight;
        if (parent.last_child == Document::kNone) {
            doc_.at(parent.index).first_child = i;
        } else {
            doc_.at(parent.last_child).next = i;
        }
        parent.last_child = i;
    }
    if (anchor != YAML::NullAnchor) {
        if (anchors_.size() <= anchor) {
            anchors_.resize(anchor + 1, Document::kNone);
        }
        anchors_[anchor] = i;
    }
    return i;
}

void Builder::OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) {
    // yaml-cpp has refused an unknown anchor already.
    const uint32_t target = anchor < anchors_.size() ? anchors_[anchor] : Document::kNone;
    if (target == Document::kNone || !doc_.at(target).complete) {
        throw TreeError{position_of(mark), "an alias inside the node it refers to"};
    }
    Document::Entry e = make_entry(NodeKind::alias, mark);
    e.complete = true;
    e.target = target;
    e.weight = doc_.at(target).weight;
    add(std::move(e), YAML::NullAnchor);
}

void Builder::close() {
    Document::Entry& closed = doc_.at(open_.back().index);
    closed.complete = true;
    open_.pop_back();
    if (!open_.empty()) {
        // Its own 1 was added when it opened.
        doc_.at(open_.back().index).weight += closed.weight - 1;
    }
}

// The text, handed to yaml-cpp's parser a piece at a time: `stop` is asked before each piece
// but the first, which yaml-cpp reads in a constructor that would leak if it threw (the loader
// asks before it starts).
class ChunkedText : public std::streambuf {
  public:
    ChunkedText(const std::string& text, const StopCheck& stop) : text_(text), stop_(stop) {}

  protected:
    int_type underflow() override {
        if (gptr() != nullptr && gptr() < egptr()) {
            return traits_type::to_int_type(*gptr());
        }
        if (offset_ >= text_.size()) {
            return traits_type::eof();
        }
        if (offset_ > 0 && stop_ && stop_()) {
            throw Abandoned{};
        }
        // The parser only reads: the get area may be the string's own bytes.
        char* piece = const_cast<char*>(text_.data()) + offset_;
        const size_t n = std::min(kPieceBytes, text_.size() - offset_);
        offset_ += n;
        setg(piece, piece, piece + n);
        return traits_type::to_int_type(*gptr());
    }

  private:
    // yaml-cpp scans about 3 MB/s on a small VM: 64 KiB is some 20 ms.
    static constexpr size_t kPieceBytes = 64 << 10;
    const std::string& text_;
    const StopCheck& stop_;
    size_t offset_ = 0;
};

// ---- YAML to value, collecting errors. ----------------------------------------------------

// Remembers where each key was first seen, so a duplicate can name the line of the original.
template <typename Key>
class FirstSeen {
  public:
    /// Records `key` at `line`; returns the earlier line when the key was already there.
    std::optional<int> add(const Key& key, int line) {
        auto [it, inserted] = lines_.emplace(key, line);
        return inserted ? std::nullopt : std::optional<int>(it->second);
    }
    bool contains(const Key& key) const { return lines_.contains(key); }
    /// The line `key` was recorded at, if it was.
    std::optional<int> line_of(const Key& key) const {
        auto it = lines_.find(key);
        return it == lines_.end() ? std::nullopt : std::optional<int>(it->second);
    }

  private:
    std::map<Key, int> lines_;
};

// A value in the file and how to talk about it: a mapping's key, a list entry, or the file.
struct Field {
    std::string subject;  // "'port'", "each entry of 'services'", "the file"
    Node key;
    Node value;

    bool present() const { return value.is_defined(); }
};

Field key_field(std::string_view name, const Node& key, const Node& value) {
    return Field{"'" + std::string(name) + "'", key, value};
}

Field item_field(std::string_view list, const Node& value) {
    return Field{"each entry of '" + std::string(list) + "'", Node(), value};
}

// A value from the file, quoted for a message; a long one is not echoed whole, so that an error
// stays one short line.
std::string quote(std::string_view text) {
    constexpr size_t kShown = 64;
    if (text.size() <= kShown) {
        return "'" + std::string(text) + "'";
    }
    return "'" + std::string(text.substr(0, kShown)) + "...' (" + std::to_string(text.size()) +
           " bytes)";
}

std::string describe(const Node& node) {
    if (node.is_scalar()) {
        return quote(node.scalar());
    }
    return node.is_sequence() ? "a list" : node.is_map() ? "a mapping" : "nothing";
}

constexpr std::array<std::string_view, 17> kTopKeys{
    "eal",         "workers",      "max_connections", "idle",  "metrics",        "interfaces",
    "neighbors",   "timeouts",     "services",        "drain", "packet_buffers", "reverse_path",
    "reject_rate", "table_shares", "kernel_netns",    "ha",    "fragments"};
constexpr std::array<std::string_view, 3> kTableShareKeys{"protocol", "source_prefix",
                                                          "source_prefix_length"};
constexpr std::array<std::string_view, 8> kInterfaceKeys{
    "name", "device", "address", "gateway", "mtu", "kernel", "kernel_type", "floating"};
constexpr std::array<std::string_view, 2> kHaKeys{"addresses", "sync"};
// `group` and `peers` exclude each other: a valid sync mapping has 4 of these keys at most.
constexpr std::array<std::string_view, 5> kSyncKeys{"interface", "group", "peers", "port",
                                                    "syncid"};
constexpr std::array<std::string_view, 3> kNeighborKeys{"address", "mac", "interface"};
constexpr std::array<std::string_view, 13> kServiceKeys{
    "name", "protocol", "vip", "port", "scheduler", "persistence", "persistence_netmask", "helper",
    "real_servers", "drain",
    // what becomes of it when its real servers fail their checks
    "health_check", "on_down", "sorry_server"};
constexpr std::array<std::string_view, 6> kRealServerKeys{
    "address", "port", "weight", "max_connections", "min_connections", "health_check"};
constexpr std::array<std::string_view, 2> kSorryServerKeys{"address", "port"};

// The keys of a `health_check` that every check type takes...
constexpr std::array<std::string_view, 8> kCheckKeys{"type", "interval", "timeout", "rise",
                                                     "fall", "port",     "start",   "passive"};
// ... and those of one type only: whether that type needs it, and how long its list may be.
struct CheckTypeKey {
    std::string_view name;
    CheckType type;
    bool required;
    uint32_t list_limit;  // 0: a single value
};
constexpr std::array<CheckTypeKey, 4> kCheckTypeKeys{{
    {"path", CheckType::http, true, 0},
    {"expect_status", CheckType::http, false, 0},
    {"payload", CheckType::udp, false, 0},
    {"command", CheckType::exec, true, kMaxCheckArguments},
}};
constexpr auto kHealthCheckKeys = [] {
    std::array<std::string_view, kCheckKeys.size() + kCheckTypeKeys.size()> keys{};
    std::copy(kCheckKeys.begin(), kCheckKeys.end(), keys.begin());
    for (size_t i = 0; i < kCheckTypeKeys.size(); ++i) {
        keys[kCheckKeys.size() + i] = kCheckTypeKeys[i].name;
    }
    return keys;
}();
// The most nodes under one `health_check` mapping: its keys and values, and its lists' entries,
// for the type that has most.
constexpr uint64_t kMostCheckNodes = [] {
    uint64_t most = 0;
    for (const auto& type : kCheckTypes) {
        uint64_t nodes = kCheckKeys.size() * 2;
        for (const CheckTypeKey& key : kCheckTypeKeys) {
            nodes += key.type == type.value ? 2 + key.list_limit : 0;
        }
        most = std::max(most, nodes);
    }
    return most;
}();

constexpr std::array<std::pair<std::string_view, uint32_t Timeouts::*>, 11> kTimeoutFields{{
    {"tcp_syn", &Timeouts::tcp_syn},
    {"tcp_established", &Timeouts::tcp_established},
    {"tcp_fin", &Timeouts::tcp_fin},
    {"tcp_time_wait", &Timeouts::tcp_time_wait},
    {"tcp_close", &Timeouts::tcp_close},
    {"tcp_close_wait", &Timeouts::tcp_close_wait},
    {"tcp_last_ack", &Timeouts::tcp_last_ack},
    {"tcp_listen", &Timeouts::tcp_listen},
    {"tcp_synack", &Timeouts::tcp_synack},
    {"tcp_none", &Timeouts::tcp_none},
    {"udp", &Timeouts::udp},
}};
constexpr auto kTimeoutKeys = [] {
    std::array<std::string_view, kTimeoutFields.size()> keys{};
    for (size_t i = 0; i < keys.size(); ++i) {
        keys[i] = kTimeoutFields[i].first;
    }
    return keys;
}();

// kMaxYamlNodes counts the keys each mapping may have.
static_assert(kMaxCheckNodes == kMostCheckNodes);
static_assert(kMaxYamlNodes ==
              1 + kTopKeys.size() * 2 + kTimeoutKeys.size() * 2 + kTableShareKeys.size() * 2 +
                  kHaKeys.size() * 2 + ((kSyncKeys.size() - 1) * 2 + kMaxSyncPeers) +
                  kMaxEalArguments +
                  kMaxInterfaces * (1 + kInterfaceKeys.size() * 2 + kMaxFloating +
                                    kMaxInterfaceAddresses + kMaxInterfaceGateways) +
                  kMaxNeighbors * (1 + kNeighborKeys.size() * 2) +
                  kMaxServices * (1 + kServiceKeys.size() * 2 + kMostCheckNodes +
                                  kSorryServerKeys.size() * 2) +
                  kMaxRealServers * (1 + kRealServerKeys.size() * 2 + kMostCheckNodes));

// Linux's limits: an interface name is shorter than IFNAMSIZ (16); a network namespace is a file
// under /run/netns.
constexpr size_t kMaxKernelNameBytes = 15;
constexpr size_t kMaxNetnsNameBytes = 255;

constexpr uint64_t kMaxWorkers = 64;
// An mbuf pool of 2^28 default-sized buffers would need over half a TiB of hugepages.
constexpr uint64_t kMaxPacketBuffers = 1u << 28;
constexpr uint64_t kMaxRejectRate = 1'000'000;
constexpr uint64_t kMaxWeight = 65535;
constexpr uint64_t kMaxThreshold = 1ULL << 31;
// A check's interval (and timeout, which is at most the interval): from 100 ms, so that probes
// stay a trickle on the control path, to an hour.
constexpr uint64_t kMinCheckMs = 100;
constexpr uint64_t kMaxCheckMs = 3'600'000;
constexpr uint64_t kMaxCheckCount = 100;  // rise, fall
// Where execvp looks when PATH is unset (glibc's default, without the working directory).
constexpr const char* kDefaultPath = "/bin:/usr/bin";

template <typename T, typename V>
void assign_if(T& to, const std::optional<V>& value) {
    if (value) {
        to = static_cast<T>(*value);
    }
}

// One `health_check` mapping as written, the service's or a real server's override: each value
// it sets (nullopt when absent, or wrong and reported), and where it is.
struct CheckLayer {
    Field at;  // the `health_check` key and its mapping
    std::optional<CheckType> type{};
    std::optional<uint32_t> interval_ms{};
    std::optional<uint32_t> timeout_ms{};
    std::optional<uint64_t> rise{};
    std::optional<uint64_t> fall{};
    std::optional<uint16_t> port{};
    std::optional<std::string> path{};
    std::optional<uint64_t> expect_status{};
    std::optional<std::string> payload{};
    std::optional<std::vector<std::string>> command{};
    std::optional<bool> start_down{};
    std::optional<bool> passive{};
};

// Lays `layer`'s values over `check`: all of them, or (`common_only`) those of the keys every
// check type takes.
void lay_over(HealthCheck& check, const CheckLayer& layer, bool common_only) {
    assign_if(check.type, layer.type);
    assign_if(check.interval_ms, layer.interval_ms);
    assign_if(check.timeout_ms, layer.timeout_ms);
    assign_if(check.rise, layer.rise);
    assign_if(check.fall, layer.fall);
    assign_if(check.port, layer.port);
    assign_if(check.start_down, layer.start_down);
    assign_if(check.passive, layer.passive);
    if (!common_only) {
        assign_if(check.path, layer.path);
        assign_if(check.expect_status, layer.expect_status);
        assign_if(check.payload, layer.payload);
        assign_if(check.command, layer.command);
    }
}

// Reads one file in one pass. It keeps going after an error, reading every value it can, so
// that one run reports every mistake; the Config it builds is handed out only when none was found.
class Loader {
  public:
    Loader(std::string file, const VhostNetCheck& vhost_net)
        : file_(std::move(file)), vhost_net_(vhost_net) {}

    LoadResult load(const std::string& text, const StopCheck& stop);

  private:
    void check_stop() const;
    // Reporting: LINE and COL from 1; a value that is empty is reported at its key.
    static int line_of(const Node& node);
    void fail_at(Position position, std::string message);
    void fail(const Node& at, std::string message) { fail_at(at.position(), std::move(message)); }
    void fail(const Field& at, std::string message);
    template <typename Key>
    void unique(FirstSeen<Key>& seen, const Key& key, const Node& at, std::string what);

    // Structure.
    Field field(const Node& map, std::string_view name) const;
    Field required(const Node& map, std::string_view name, std::string_view what);
    bool check_map(const Field& f, std::string_view what, std::span<const std::string_view> keys);
    // The entries of list `f`, at most `limit` of them (what the dataplane can hold: more is an
    // error at the first one too many, and the rest is not read).
    std::vector<Field> items(const Field& f, std::string_view list, std::string_view at_least_one,
                             uint32_t limit, std::string_view too_many);
    // `f` itself when it is not a list; else as items().
    std::vector<Field> one_or_list(const Field& f, std::string_view list, uint32_t limit,
                                   std::string_view too_many);

    // One reader per value kind; each returns nothing when the key is absent or the value bad.
    template <typename Parse>
    auto scalar(const Field& f, const std::string& expected, Parse parse)
        -> decltype(parse(std::string_view{}));
    std::optional<std::string> text(const Field& f);
    std::optional<std::string> name_text(const Field& f);
    std::optional<std::string> kernel_name(const Field& f, std::string_view what, size_t limit);
    void read_metrics(const Field& f);
    std::optional<uint64_t> integer(const Field& f, uint64_t lo, uint64_t hi);
    std::optional<uint16_t> port(const Field& f);
    std::optional<IpAddress> address(const Field& f);
    std::optional<IpPrefix> prefix(const Field& f);
    std::optional<uint8_t> netmask(const Field& f, std::optional<bool> v6);
    std::optional<uint32_t> duration(const Field& f, uint32_t min);
    std::optional<MacAddress> mac(const Field& f);
    std::optional<uint32_t> percent(const Field& f);
    template <typename E, size_t N>
    std::optional<E> choice(const Field& f, const std::array<Choice<E>, N>& table);
    std::optional<uint32_t> check_duration(const Field& f);
    std::optional<std::string> http_path(const Field& f);
    std::optional<std::string> payload(const Field& f);
    std::optional<std::vector<std::string>> command(const Field& f);
    bool check_program(const Field& f, const std::string& program);

    // Sections, in dependency order: interfaces before what is checked against them.
    void read_root(const Field& root);
    void read_eal(const Field& f);
    void read_interface(const Field& item);
    bool read_addresses(const Field& f, Interface& i);
    bool read_gateways(const Field& f, std::vector<std::pair<Field, IpAddress>>& gateways);
    void read_kernel_mirror(const Node& n, Interface& i);
    void read_floating(const Field& f, Interface& i);
    void read_ha(const Field& f);
    void read_sync(const Field& f);
    void read_neighbor(const Field& item);
    void read_timeouts(const Field& f);
    void read_table_shares(const Field& f);
    void read_service(const Field& item);
    bool read_service_values(const Node& n, Service& s);
    void read_real_server(const Field& item, Service& s,
                          FirstSeen<std::pair<IpAddress, uint16_t>>& seen,
                          const std::optional<CheckLayer>& service_check,
                          std::vector<Node>& checked_at);
    std::optional<CheckLayer> read_check_layer(const Field& f);
    HealthCheck resolve_check(const CheckLayer* base, const CheckLayer& top,
                              std::string_view missing_type);
    void read_real_server_check(const Field& f, const Service& s,
                                const std::optional<CheckLayer>& service_check, RealServer& rs);
    void check_passive_protocol(const Field& check_field, const Field& servers, const Service& s);
    void read_down_policy(const Node& n, Service& s,
                          const FirstSeen<std::pair<IpAddress, uint16_t>>& seen,
                          bool checks_written);
    void read_sorry_server(const Field& f, Service& s,
                           const FirstSeen<std::pair<IpAddress, uint16_t>>& seen);

    // Cross-checks.
    void check_gateway(const Field& f, Interface& i, const IpAddress& gateway);
    bool check_not_own_address(const Field& f, const IpAddress& address, std::string_view what);
    bool check_not_floating(const Field& f, const IpAddress& address, std::string_view what);
    void check_server_address(const Field& f, const Service& s, const IpAddress& address,
                              std::string_view what);
    void check_floating();
    void check_follow_kernel(const Field& addresses);
    void check_peer(const Field& f, Ipv4 peer, const Interface* sync_interface);
    void check_reachable(const Field& f, const IpAddress& address, std::string_view what);
    const Interface* route(const IpAddress& address) const;
    void check_probe_routes(const Service& s, const std::vector<Node>& checked_at);
    void check_service_unique(const Node& at, const Service& s);
    void read_persistence(const Node& n, Service& s, std::optional<bool> v6);
    void read_thresholds(const Node& n, RealServer& rs);

    std::string file_;
    Config config_;
    std::vector<ConfigError> errors_;
    // False once an interface failed: routing checks against the rest would only mislead.
    bool interfaces_complete_ = true;
    FirstSeen<std::string> interface_names_;
    FirstSeen<std::string> interface_devices_;
    FirstSeen<std::string> kernel_names_;
    const VhostNetCheck& vhost_net_;
    // Floating addresses, each where it is written; and per interface of config_.interfaces
    // its `floating` key (none when absent).
    struct FloatingAt {
        IpPrefix prefix;
        Node at;
    };
    std::vector<FloatingAt> floating_at_;
    std::vector<Node> floating_keys_;
    FirstSeen<IpAddress> floating_addresses_;
    // Each VIP, with the first service that has it (its index in config_.services) and the
    // line it is written on.
    struct VipAt {
        size_t service = 0;
        int line = 0;
    };
    std::map<IpAddress, VipAt> vips_;
    // The line of the vip of the service being read, when it was read.
    std::optional<int> vip_line_;
    FirstSeen<Ipv6> own_addresses6_;  // the interfaces' IPv6 addresses
    FirstSeen<IpAddress> neighbor_addresses_;
    FirstSeen<std::string> service_names_;
    FirstSeen<std::tuple<Protocol, IpAddress, uint16_t>> service_keys_;
    uint32_t real_servers_ = 0;  // in all services so far
    size_t omitted_errors_ = 0;  // beyond kMaxErrors
    ConfigError first_omitted_;
    const StopCheck* stop_ = nullptr;
};

int Loader::line_of(const Node& node) {
    const Position p = node.position();
    return p.is_null() ? 1 : p.line + 1;
}

void Loader::fail_at(Position position, std::string message) {
    // An empty document has no position at all: blame its start.
    const int line = position.is_null() ? 1 : position.line + 1;
    const int column = position.is_null() ? 1 : position.column + 1;
    if (errors_.size() == kMaxErrors) {  // the rest are counted, at the first one's place
        if (omitted_errors_++ == 0) {
            first_omitted_ = ConfigError{file_, line, column, {}};
        }
        return;
    }
    errors_.push_back(ConfigError{file_, line, column, std::move(message)});
}

void Loader::fail(const Field& at, std::string message) {
    // yaml-cpp marks an empty value ("gateway:") at the next token, which may be lines away.
    bool blame_key = at.key.is_defined() && (!at.present() || at.value.is_null());
    fail(blame_key ? at.key : at.value, std::move(message));
}

template <typename Key>
void Loader::unique(FirstSeen<Key>& seen, const Key& key, const Node& at, std::string what) {
    if (auto first = seen.add(key, line_of(at))) {
        fail(at, what + " (first at line " + std::to_string(*first) + ")");
    }
}

Field Loader::field(const Node& map, std::string_view name) const {
    // Found by walking the pairs: we need the key's position too.
    for (const NodePair& pair : map.pairs()) {
        if (pair.key.is_scalar() && pair.key.scalar() == name) {
            return key_field(name, pair.key, pair.value);
        }
    }
    return key_field(name, Node(), Node());
}

Field Loader::required(const Node& map, std::string_view name, std::string_view what) {
    Field f = field(map, name);
    if (!f.present()) {
        fail(map, "missing key '" + std::string(name) + "' in " + std::string(what));
    }
    return f;
}

bool Loader::check_map(const Field& f, std::string_view what,
                       std::span<const std::string_view> keys) {
    if (!f.present()) {
        return false;
    }
    if (!f.value.is_map()) {
        fail(f, f.subject + " must be a mapping, got " + describe(f.value));
        return false;
    }
    FirstSeen<std::string> seen;
    for (const NodePair& pair : f.value.pairs()) {
        if (!pair.key.is_scalar()) {
            fail(pair.key, "keys in " + std::string(what) + " must be plain strings, got " +
                               describe(pair.key));
            continue;
        }
        const std::string& name = pair.key.scalar();
        if (std::find(keys.begin(), keys.end(), name) == keys.end()) {
            fail(pair.key, "unknown key " + quote(name) + " in " + std::string(what));
        } else {
            unique(seen, name, pair.key, "duplicate key '" + name + "' in " + std::string(what));
        }
    }
    return true;
}

std::vector<Field> Loader::items(const Field& f, std::string_view list,
                                 std::string_view at_least_one, uint32_t limit,
                                 std::string_view too_many) {
    std::vector<Field> out;
    if (!f.present()) {
        return out;
    }
    if (!f.value.is_sequence()) {
        fail(f, f.subject + " must be a list, got " + describe(f.value));
        return out;
    }
    for (const Node& item : f.value.items()) {
        if (out.size() == limit) {
            fail(item, "more than " + std::to_string(limit) + " " + std::string(too_many));
            break;
        }
        out.push_back(item_field(list, item));
    }
    if (out.empty() && !at_least_one.empty()) {
        fail(f, f.subject + " must list at least one " + std::string(at_least_one));
    }
    return out;
}

std::vector<Field> Loader::one_or_list(const Field& f, std::string_view list, uint32_t limit,
                                       std::string_view too_many) {
    if (f.value.is_sequence()) {
        return items(f, list, "address", limit, too_many);
    }
    return f.present() ? std::vector<Field>{f} : std::vector<Field>{};
}

template <typename Parse>
auto Loader::scalar(const Field& f, const std::string& expected, Parse parse)
    -> decltype(parse(std::string_view{})) {
    if (!f.present()) {
        return std::nullopt;
    }
    if (f.value.is_scalar()) {
        if (auto value = parse(f.value.scalar())) {
            return value;
        }
    }
    fail(f, f.subject + " must be " + expected + ", got " + describe(f.value));
    return std::nullopt;
}

std::optional<std::string> Loader::text(const Field& f) {
    return scalar(f, "a non-empty string", [](std::string_view t) {
        return t.empty() ? std::nullopt : std::optional<std::string>(t);
    });
}

// Names show in logs, in vsnatctl's tables and in /metrics labels, where a control character
// could forge a line or move the terminal's cursor.
std::optional<std::string> Loader::name_text(const Field& f) {
    std::optional<std::string> value = text(f);
    if (value && has_control_character(*value)) {
        fail(f,
             f.subject + " must not contain control characters, got '" + printable(*value) + "'");
        return std::nullopt;
    }
    return value;
}

// A name the kernel takes: an interface (at most 15 bytes) or a network namespace (a file name).
// Neither may hold '/', whitespace or a control character, nor be "." or "..".
std::optional<std::string> Loader::kernel_name(const Field& f, std::string_view what,
                                               size_t limit) {
    std::optional<std::string> value = name_text(f);
    if (!value) {
        return std::nullopt;
    }
    const bool bad_character = std::any_of(value->begin(), value->end(), [](char c) {
        return c == '/' || std::isspace(static_cast<unsigned char>(c));
    });
    if (value->size() > limit || bad_character || *value == "." || *value == "..") {
        fail(f, f.subject + " must be " + std::string(what) + ": at most " + std::to_string(limit) +
                    " bytes, no '/' or whitespace, not '.' or '..', got " + quote(*value));
        return std::nullopt;
    }
    return value;
}

std::optional<uint64_t> Loader::integer(const Field& f, uint64_t lo, uint64_t hi) {
    std::string expected = "an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    return scalar(f, expected, [=](std::string_view t) { return parse_uint(t, lo, hi); });
}

// "90%" (or a bare 90): 1..100.
std::optional<uint32_t> Loader::percent(const Field& f) {
    return scalar(f, "a percentage 1%..100%", [](std::string_view t) -> std::optional<uint32_t> {
        if (!t.empty() && t.back() == '%') {
            t.remove_suffix(1);
        }
        auto value = parse_uint(t, 1, 100);
        return value ? std::optional<uint32_t>(static_cast<uint32_t>(*value)) : std::nullopt;
    });
}

std::optional<uint16_t> Loader::port(const Field& f) {
    auto value = integer(f, 1, 65535);
    return value ? std::optional<uint16_t>(static_cast<uint16_t>(*value)) : std::nullopt;
}

std::optional<IpAddress> Loader::address(const Field& f) {
    return scalar(f, "an IPv4 or IPv6 address (a.b.c.d, x:x::x)", parse_ip_address);
}

std::optional<IpPrefix> Loader::prefix(const Field& f) {
    return scalar(f, "an IPv4 or IPv6 address with prefix length (a.b.c.d/0..32, x:x::x/0..128)",
                  parse_ip_prefix);
}

// A service's persistence_netmask: for an IPv4 service a dotted netmask or a prefix length, for
// an IPv6 one a prefix length; either when the vip's family is unknown (the vip is wrong).
std::optional<uint8_t> Loader::netmask(const Field& f, std::optional<bool> v6) {
    if (v6 == true) {
        return scalar(f, "a prefix length 0..128 (the service is IPv6)",
                      [](std::string_view t) { return parse_prefix_length(t, 128); });
    }
    if (v6 == false) {
        return scalar(f, "a netmask a.b.c.d with contiguous ones, or a prefix length 0..32",
                      parse_netmask);
    }
    return scalar(f, "a netmask a.b.c.d with contiguous ones, or a prefix length 0..128",
                  [](std::string_view t) {
                      return t.find('.') != std::string_view::npos ? parse_netmask(t)
                                                                   : parse_prefix_length(t, 128);
                  });
}

std::optional<uint32_t> Loader::duration(const Field& f, uint32_t min) {
    std::string expected =
        min == 0 ? "a duration" : "a duration of at least " + std::to_string(min) + "s";
    expected += " (like 60s, 15m, 2h, 1d; a bare number is seconds)";
    return scalar(f, expected, [=](std::string_view t) { return parse_duration(t, min); });
}

std::optional<MacAddress> Loader::mac(const Field& f) {
    return scalar(f, "a MAC address aa:bb:cc:dd:ee:ff", parse_mac);
}

template <typename E, size_t N>
std::optional<E> Loader::choice(const Field& f, const std::array<Choice<E>, N>& table) {
    return scalar(f, describe_choices(table),
                  [&](std::string_view t) { return parse_choice(table, t); });
}

std::optional<uint32_t> Loader::check_duration(const Field& f) {
    return scalar(
        f, "a duration of 100ms..1h (like 500ms, 2s, 1m; a bare number is seconds)",
        [](std::string_view t) { return parse_duration_ms(t, kMinCheckMs, kMaxCheckMs); });
}

// The path of an http check's GET: it goes into the request line as it is, so it must start
// with '/' and hold no space (which would end it) and no control character.
std::optional<std::string> Loader::http_path(const Field& f) {
    std::optional<std::string> value = text(f);
    if (value && ((*value)[0] != '/' || value->find(' ') != std::string::npos ||
                  has_control_character(*value))) {
        fail(f, f.subject +
                    " must be an HTTP path: '/' first, no spaces or control characters, got '" +
                    printable(*value) + "'");
        return std::nullopt;
    }
    return value;
}

// A udp check's datagram: any bytes (YAML's "\x00" escapes write binary), possibly none.
std::optional<std::string> Loader::payload(const Field& f) {
    auto value =
        scalar(f, "a string", [](std::string_view t) { return std::optional<std::string>(t); });
    if (value && value->size() > kMaxCheckPayloadBytes) {
        fail(f, f.subject + " must be at most " + std::to_string(kMaxCheckPayloadBytes) +
                    " bytes (one datagram), got " + std::to_string(value->size()));
        return std::nullopt;
    }
    return value;
}

// An exec check's argv: the program and its arguments, each a string without control
// characters (a NUL would cut it short), and a program that can be run.
std::optional<std::vector<std::string>> Loader::command(const Field& f) {
    const std::vector<Field> arguments =
        items(f, "command", "argument, the program", kMaxCheckArguments, "arguments in 'command'");
    size_t written = 0;
    for ([[maybe_unused]] const Node& argument : f.value.items()) {
        ++written;
    }
    bool read = !arguments.empty() && written == arguments.size();  // none past the limit
    std::vector<std::string> argv;
    for (const Field& argument : arguments) {
        std::optional<std::string> value = name_text(argument);
        read = read && value.has_value();
        argv.push_back(value.value_or(""));
    }
    if (!arguments.empty() && !argv[0].empty() && !check_program(arguments[0], argv[0])) {
        read = false;
    }
    return read ? std::optional(std::move(argv)) : std::nullopt;
}

// Whether `program` can be run as the checker will run it: an absolute path, or a name looked up
// in PATH as execvp does (only PATH's absolute directories: vsnatd's working directory is not
// the operator's). Says why not at `f`.
bool Loader::check_program(const Field& f, const std::string& program) {
    const std::string cannot = "cannot run " + quote(printable(program)) + ": ";
    if (program.find('/') != std::string::npos && program.front() != '/') {
        fail(f, cannot + "a program must be an absolute path, or a name looked up in PATH");
        return false;
    }
    const auto runnable = [](const std::string& file, std::string* why) {
        struct stat st {};
        if (::stat(file.c_str(), &st) != 0) {
            *why = std::strerror(errno);
        } else if (!S_ISREG(st.st_mode)) {
            *why = "not a regular file";
        } else if (::access(file.c_str(), X_OK) != 0) {
            *why = "not executable";
        } else {
            return true;
        }
        return false;
    };
    std::string why;
    if (program.front() == '/') {
        if (runnable(program, &why)) {
            return true;
        }
        fail(f, cannot + why);
        return false;
    }
    const char* path = std::getenv("PATH");
    std::string_view dirs = path != nullptr ? path : kDefaultPath;
    while (!dirs.empty()) {
        const std::string_view dir = dirs.substr(0, dirs.find(':'));
        dirs.remove_prefix(std::min(dirs.size(), dir.size() + 1));
        if (!dir.empty() && dir.front() == '/' &&
            runnable(std::string(dir) + "/" + program, &why)) {
            return true;
        }
    }
    fail(f, cannot + "no executable file of that name in PATH");
    return false;
}

LoadResult Loader::load(const std::string& text, const StopCheck& stop) {
    stop_ = &stop;
    try {
        check_stop();
        Document doc;
        {
            // Only the first document, as YAML::Load.
            ChunkedText chunks(text, stop);
            std::istream in(&chunks);
            in.exceptions(std::ios::badbit);  // what ChunkedText throws comes through
            YAML::Parser parser(in);
            Builder builder(doc);
            parser.HandleNextDocument(builder);
        }
        read_root(Field{"the file", Node(), doc.empty() ? Node() : Node(&doc, 0)});
    } catch (const YAML::DeepRecursion& e) {
        // yaml-cpp 0.7 says "bad file".
        fail_at(position_of(e.mark), "YAML syntax error: lists and mappings nested too deep");
    } catch (const YAML::ParserException& e) {
        // Thrown before anything is read, so it is the only error.
        fail_at(position_of(e.mark), "YAML syntax error: " + e.msg);
    } catch (const TreeError& e) {
        fail_at(e.position, e.message);
    } catch (const Abandoned&) {
        errors_.assign(1, ConfigError{file_, 0, 0, "reading abandoned: the daemon is stopping"});
        omitted_errors_ = 0;
    } catch (const std::exception& e) {
        fail_at(Position{}, std::string("internal error: ") + e.what());
    }
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    if (omitted_errors_ > 0) {
        first_omitted_.message = "... and " + std::to_string(omitted_errors_) +
                                 " more errors, the first of them here, not shown (at most " +
                                 std::to_string(kMaxErrors) + " are)";
        errors_.push_back(std::move(first_omitted_));
    }
    LoadResult result;
    if (errors_.empty()) {
        result.config = std::move(config_);
    }
    result.errors = std::move(errors_);
    return result;
}

// Between services, the one long list, the reading can be abandoned.
void Loader::check_stop() const {
    if (*stop_ && (*stop_)()) {
        throw Abandoned{};
    }
}

// `metrics: ADDRESS:PORT` where /metrics and /healthz are served, or `off`.
void Loader::read_metrics(const Field& f) {
    const std::optional<std::string> value = text(f);
    if (!value) {
        return;
    }
    if (*value == "off") {
        config_.metrics.reset();
        return;
    }
    const size_t colon = value->rfind(':');
    const std::optional<Ipv4> address =
        colon == std::string::npos ? std::nullopt : parse_ipv4(value->substr(0, colon));
    const std::string port_text = colon == std::string::npos ? "" : value->substr(colon + 1);
    const bool port_ok = !port_text.empty() && port_text.size() <= 5 &&
                         port_text.find_first_not_of("0123456789") == std::string::npos &&
                         std::stoul(port_text) >= 1 && std::stoul(port_text) <= 65535;
    if (!address || !port_ok) {
        fail(f,
             "'metrics' must be ADDRESS:PORT (e.g. 127.0.0.1:9640) or off, got " + quote(*value));
        return;
    }
    config_.metrics = MetricsEndpoint{*address, static_cast<uint16_t>(std::stoul(port_text))};
}

void Loader::read_root(const Field& root) {
    if (!root.present() || root.value.is_null()) {
        fail(root.value, "the file is empty; it needs at least 'interfaces'");
        return;
    }
    if (!check_map(root, "config", kTopKeys)) {
        return;
    }
    const Node& n = root.value;
    read_eal(field(n, "eal"));
    assign_if(config_.workers, integer(field(n, "workers"), 1, kMaxWorkers));
    assign_if(config_.max_connections,
              integer(field(n, "max_connections"), 1, std::numeric_limits<uint32_t>::max()));
    assign_if(config_.idle, choice(field(n, "idle"), kIdleModes));
    assign_if(config_.packet_buffers, integer(field(n, "packet_buffers"), 0, kMaxPacketBuffers));
    assign_if(config_.drain, choice(field(n, "drain"), kDrainModes));
    assign_if(config_.reverse_path, choice(field(n, "reverse_path"), kReversePaths));
    assign_if(config_.fragments, choice(field(n, "fragments"), kFragmentModes));
    assign_if(config_.reject_rate, integer(field(n, "reject_rate"), 0, kMaxRejectRate));
    read_table_shares(field(n, "table_shares"));
    read_metrics(field(n, "metrics"));
    assign_if(config_.kernel_netns, kernel_name(field(n, "kernel_netns"),
                                                "a network namespace name", kMaxNetnsNameBytes));
    for (const Field& item : items(required(n, "interfaces", "config"), "interfaces", "interface",
                                   kMaxInterfaces, "interfaces (vsnatd drives at most 8 ports)")) {
        read_interface(item);
    }
    if (config_.interfaces.empty()) {
        interfaces_complete_ = false;  // already reported: missing, empty, or not a list
    }
    for (const Field& item : items(field(n, "neighbors"), "neighbors", "", kMaxNeighbors,
                                   "neighbors (the neighbor table holds 4096)")) {
        read_neighbor(item);
    }
    read_timeouts(field(n, "timeouts"));
    for (const Field& item :
         items(field(n, "services"), "services", "", kMaxServices, "services")) {
        check_stop();
        read_service(item);
    }
    // Last: what it says is checked against the interfaces and the VIPs.
    check_floating();
    read_ha(field(n, "ha"));
}

void Loader::read_eal(const Field& f) {
    for (const Field& item : items(f, "eal", "", kMaxEalArguments, "EAL arguments")) {
        assign_if(config_.eal.emplace_back(), text(item));
    }
}

void Loader::read_interface(const Field& item) {
    if (!check_map(item, "interface", kInterfaceKeys)) {
        interfaces_complete_ = false;
        return;
    }
    const Node& n = item.value;
    Field name = required(n, "name", "interface");
    Field device = required(n, "device", "interface");
    auto name_value = name_text(name);
    auto device_value = text(device);
    Interface i;
    const bool addresses_read = read_addresses(required(n, "address", "interface"), i);
    const Field gateway = field(n, "gateway");
    std::vector<std::pair<Field, IpAddress>> gateways;
    const bool gateways_read = read_gateways(gateway, gateways);
    if (name_value) {
        unique(interface_names_, *name_value, name.value,
               "duplicate interface name " + quote(*name_value));
    }
    if (device_value) {
        unique(interface_devices_, *device_value, device.value,
               "duplicate interface device " + quote(*device_value));
    }
    if (!name_value || !device_value || !addresses_read || !gateways_read) {
        interfaces_complete_ = false;
        return;
    }
    i.name = *name_value;
    i.device = *device_value;
    assign_if(i.mtu, integer(field(n, "mtu"), kMinMtu, kMaxMtu));
    for (const auto& [at, address] : gateways) {
        check_gateway(at, i, address);
    }
    read_kernel_mirror(n, i);
    const Field floating = field(n, "floating");
    read_floating(floating, i);
    floating_keys_.push_back(floating.key);
    config_.interfaces.push_back(std::move(i));
}

// `address`: one CIDR or a list of them; exactly one IPv4 (an interface has one IPv4 address,
// into `address` and `prefix_len`), and IPv6 ones beside it (into `addresses6`). Returns whether
// all were read.
bool Loader::read_addresses(const Field& f, Interface& i) {
    const std::vector<Field> entries =
        one_or_list(f, "address", kMaxInterfaceAddresses,
                    "addresses on one interface (one IPv4 and at most " +
                        std::to_string(kMaxInterfaceAddresses6) + " IPv6)");
    bool fine = !entries.empty();  // else reported: missing, or an empty list
    bool v4 = false;
    for (const Field& entry : entries) {
        const std::optional<IpPrefix> p = prefix(entry);
        if (!p) {
            fine = false;
            continue;
        }
        const std::string what = "address " + format_prefix(p->address, p->length);
        if (!p->address.is_v6 && v4) {
            fail(entry,
                 "a second IPv4 " + what +
                     ": an interface has exactly one IPv4 address (and IPv6 ones beside it)");
            fine = false;
        } else if (!p->address.is_v6) {
            i.address = p->address.v4;
            i.prefix_len = p->length;
            v4 = true;
        } else if (!is_unicast6(p->address.v6)) {
            fail(entry, what + std::string(kNotUnicast6));
            fine = false;
        } else if (auto first = own_addresses6_.add(p->address.v6, line_of(entry.value))) {
            fail(entry, "duplicate address " + format_ip_address(p->address) + " (first at line " +
                            std::to_string(*first) + ")");
            fine = false;
        } else {
            i.addresses6.push_back(Prefix6{p->address.v6, p->length});
        }
    }
    if (fine && !v4) {
        fail(f, f.subject +
                    " has no IPv4 address: an interface needs exactly one, IPv6 ones may be "
                    "listed beside it");
    }
    return fine && v4;
}

// `gateway`: one address, or a list of one per family. Each is checked against the interface's
// addresses once they are all read (check_gateway).
bool Loader::read_gateways(const Field& f, std::vector<std::pair<Field, IpAddress>>& gateways) {
    bool fine = true;
    for (const Field& entry : one_or_list(f, "gateway", kMaxInterfaceGateways,
                                          "gateways on one interface (one per family)")) {
        const std::optional<IpAddress> a = address(entry);
        const auto same_family = [&](const auto& g) { return g.second.is_v6 == a->is_v6; };
        if (!a) {
            fine = false;
        } else if (std::any_of(gateways.begin(), gateways.end(), same_family)) {
            fail(entry, "a second " + std::string(family_name(*a)) + " gateway " +
                            format_ip_address(*a) + ": an interface has one of each family");
            fine = false;
        } else {
            gateways.emplace_back(entry, *a);
        }
    }
    return fine;
}

// `floating`: the addresses VRRP moves between the pair on this link, such as the real servers'
// gateway, of either family. Each is an address of one of the interface's own prefixes, so it is
// written with that prefix's length (as keepalived's virtual_ipaddress for it is best written, so
// that the kernel gives it the same connected route), not as a subnet of its own. What it must
// not be equal to is checked once the interfaces and the VIPs are read (check_floating).
void Loader::read_floating(const Field& f, Interface& i) {
    for (const Field& item :
         items(f, "floating", "", kMaxFloating, "floating addresses on one interface")) {
        const std::optional<IpPrefix> p = prefix(item);
        if (!p) {
            continue;
        }
        const IpAddress& a = p->address;
        const std::string what = "floating " + format_prefix(a, p->length);
        const std::vector<IpPrefix> own = prefixes_of(i, a.is_v6);
        const auto holder = std::find_if(own.begin(), own.end(), [&](const IpPrefix& q) {
            return prefix_holds(q.address, q.length, a);
        });
        const std::string_view kind = a.is_v6 ? "" : not_a_host(i, a.v4);
        if (a.is_v6 ? !is_unicast6(a.v6) : !is_unicast(a.v4)) {
            fail(item, what + std::string(a.is_v6 ? kNotUnicast6 : kNotUnicast));
        } else if (holder == own.end()) {
            const std::string where = prefixes_text(i, a.is_v6);
            fail(item, what + " is outside " + (where.empty() ? "every prefix" : where) +
                           " of interface '" + i.name + "'" +
                           (where.empty() ? ", which has no IPv6 address" : ""));
        } else if (p->length != holder->length) {
            fail(item, what + " must have the prefix length of interface '" + i.name + "', " +
                           format_prefix(holder->address, holder->length) + ": write " +
                           format_prefix(a, holder->length));
        } else if (!kind.empty()) {
            fail(item, what + " is the " + std::string(kind) + " address of " +
                           format_prefix(holder->address, holder->length) + " of interface '" +
                           i.name + "'");
        } else if (auto first = floating_addresses_.add(a, line_of(item.value))) {
            fail(item, "duplicate floating address " + format_ip_address(a) + " (first at line " +
                           std::to_string(*first) + ")");
        } else {
            floating_at_.push_back(FloatingAt{*p, item.value});
            if (a.is_v6) {
                i.floating6.push_back(Prefix6{a.v6, p->length});
            } else {
                i.floating.push_back(Prefix{a.v4, p->length});
            }
        }
    }
}

// A floating address is none of the director's other addresses: not an interface's own, not a
// gateway (the next hop is another machine), not a VIP (VIPs follow `ha.addresses` by
// themselves).
void Loader::check_floating() {
    for (const FloatingAt& at : floating_at_) {
        const IpAddress& address = at.prefix.address;
        const std::string what = "floating " + format_prefix(address, at.prefix.length);
        for (const Interface& i : config_.interfaces) {
            const bool gateway = address.is_v6 ? i.gateway6 == address.v6 : i.gateway == address.v4;
            if (is_own_address(i, address)) {
                fail(at.at, what + " is the address of interface '" + i.name + "'");
            } else if (gateway) {
                fail(at.at, what + " is the gateway of interface '" + i.name + "'");
            }
        }
        if (auto vip = vips_.find(address); vip != vips_.end()) {
            fail(at.at, what + " is the vip of service " +
                            quote(config_.services[vip->second.service].name) + " (line " +
                            std::to_string(vip->second.line) + ")");
        }
    }
}

// `ha`: how this director shares its addresses and its connections with the other of a pair.
void Loader::read_ha(const Field& f) {
    if (!check_map(f, "ha", kHaKeys)) {
        return;
    }
    const Field addresses = field(f.value, "addresses");
    assign_if(config_.ha.addresses, choice(addresses, kAddressOwnerships));
    if (config_.ha.addresses == AddressOwnership::follow_kernel) {
        check_follow_kernel(addresses);
    }
    read_sync(field(f.value, "sync"));
}

// With follow_kernel an address is served while a kernel mirror holds it: without any mirror
// none ever would be, and a floating address is held by its own interface's mirror (VRRP adds
// it on the link it belongs to).
void Loader::check_follow_kernel(const Field& addresses) {
    if (!interfaces_complete_) {
        return;  // the mirrors of the interfaces not read are unknown
    }
    const bool any_mirror = std::any_of(config_.interfaces.begin(), config_.interfaces.end(),
                                        [](const Interface& i) { return !i.kernel.empty(); });
    if (!any_mirror) {
        fail(addresses,
             "'addresses' follow_kernel needs a kernel mirror: the VIPs and floating addresses "
             "served are those the kernel mirrors hold, and no interface has one (kernel:)");
    }
    for (size_t k = 0; k < config_.interfaces.size(); ++k) {
        const Interface& i = config_.interfaces[k];
        if ((!i.floating.empty() || !i.floating6.empty()) && i.kernel.empty()) {
            fail(floating_keys_[k], "the floating addresses of interface " + quote(i.name) +
                                        " are served while its kernel mirror holds them "
                                        "(addresses: follow_kernel), and it has none (kernel:)");
        }
    }
}

// `sync`: IPVS's connection sync, through one interface's kernel mirror, to a multicast group
// (224.0.0.81 unless another is written) or to unicast peers.
void Loader::read_sync(const Field& f) {
    if (!check_map(f, "sync", kSyncKeys)) {
        return;
    }
    const Node& n = f.value;
    const Field interface = required(n, "interface", "sync");
    const Field group = field(n, "group");
    const Field peers = field(n, "peers");
    SyncConfig sync;
    const Interface* out = nullptr;
    if (std::optional<std::string> name = name_text(interface)) {
        for (const Interface& i : config_.interfaces) {
            out = i.name == *name ? &i : out;
        }
        if (!interface_names_.contains(*name)) {
            fail(interface, "unknown interface " + quote(*name));
        } else if (out != nullptr && out->kernel.empty()) {
            fail(interface, "sync interface " + quote(*name) +
                                " has no kernel mirror (kernel:), which carries the sync "
                                "datagrams");
        }
        sync.interface = std::move(*name);
    }
    sync.group = scalar(group, "a multicast IPv4 address in 224.0.0.0/4", [](std::string_view t) {
        const std::optional<Ipv4> a = parse_ipv4(t);
        return a && is_multicast(*a) ? a : std::nullopt;
    });
    if (group.present() && peers.present()) {
        fail(peers.key,
             "'group' and 'peers' together: sync goes to a multicast group or to unicast peers, "
             "not both");
    }
    FirstSeen<Ipv4> seen;
    for (const Field& item : items(peers, "peers", "peer", kMaxSyncPeers, "peers in 'sync'")) {
        const std::optional<IpAddress> peer =
            scalar(item, "an IPv4 address a.b.c.d", parse_ip_address);
        if (peer && peer->is_v6) {
            fail(item, "peer " + format_ip_address(*peer) +
                           " is IPv6: connection sync is IPv4 only in this version");
        } else if (peer) {
            unique(seen, peer->v4, item.value, "duplicate peer " + format_ipv4(peer->v4));
            check_peer(item, peer->v4, out);
            sync.peers.push_back(peer->v4);
        }
    }
    if (!group.present() && !peers.present()) {
        sync.group = kDefaultSyncGroup;
    }
    assign_if(sync.port, port(field(n, "port")));
    // 0 on the receiving side takes any syncid, as IPVS's backup does.
    assign_if(sync.syncid, integer(field(n, "syncid"), 0, 255));
    config_.ha.sync = std::move(sync);
}

// A peer is the other director: a host, not one of this director's addresses, reached through
// the sync interface (whose kernel mirror sends the datagrams).
void Loader::check_peer(const Field& f, Ipv4 peer, const Interface* sync_interface) {
    const std::string what = "peer " + format_ipv4(peer);
    if (!is_unicast(peer)) {
        fail(f, what + std::string(kNotUnicast));
        return;
    }
    // One of this director's own addresses: where it leads matters no more.
    const bool own = !check_not_own_address(f, IpAddress::of(peer), "peer");
    const bool floating = !check_not_floating(f, IpAddress::of(peer), "peer");
    if (auto vip = vips_.find(IpAddress::of(peer)); vip != vips_.end()) {
        fail(f, what + " is the vip of service " +
                    quote(config_.services[vip->second.service].name) + " (line " +
                    std::to_string(vip->second.line) + ")");
        return;
    }
    if (own || floating) {
        return;
    }
    check_reachable(f, IpAddress::of(peer), "peer");
    const Interface* via = interfaces_complete_ ? route(IpAddress::of(peer)) : nullptr;
    if (via == nullptr) {
        return;
    }
    if (const std::string_view kind = not_a_host(*via, peer); !kind.empty()) {
        fail(f, what + " is the " + std::string(kind) + " address of " +
                    format_prefix(via->address, via->prefix_len) + " of interface '" + via->name +
                    "'");
    } else if (sync_interface != nullptr && via != sync_interface) {
        fail(f, what + " is reached through interface " + quote(via->name) +
                    ", not through the sync interface " + quote(sync_interface->name) +
                    " whose kernel mirror carries the datagrams");
    }
}

// `kernel` names the interface's kernel mirror, `kernel_type` says how it is made.
void Loader::read_kernel_mirror(const Node& n, Interface& i) {
    const Field kernel = field(n, "kernel");
    const Field type = field(n, "kernel_type");
    std::optional<std::string> name =
        kernel_name(kernel, "a Linux interface name", kMaxKernelNameBytes);
    if (name) {
        unique(kernel_names_, *name, kernel.value, "duplicate kernel mirror name " + quote(*name));
        i.kernel = *name;
    }
    std::optional<KernelType> chosen = choice(type, kKernelTypes);
    if (type.present() && !kernel.present()) {
        fail(type, "kernel_type without kernel: name the mirror interface too");
    }
    const bool has_vhost_net = vhost_net_ && vhost_net_();
    if (chosen == KernelType::virtio_user && !has_vhost_net) {
        fail(type, std::string("kernel_type virtio_user needs ") + kVhostNetPath +
                       ", which this machine does not have (load the vhost_net module, or use "
                       "kernel_type: tap)");
    }
    i.kernel_type = chosen.value_or(has_vhost_net ? KernelType::virtio_user : KernelType::tap);
}

// A gateway is on its interface's link: in one of its prefixes of the gateway's family, or (IPv6)
// link-local, which every link has; and it is another machine than the director. Sets it, right
// or wrong: what it reaches is not reported again as unreachable.
void Loader::check_gateway(const Field& f, Interface& i, const IpAddress& gateway) {
    if (gateway.is_v6) {
        i.gateway6 = gateway.v6;
    } else {
        i.gateway = gateway.v4;
    }
    const std::string what = "gateway " + format_ip_address(gateway);
    if (!on_link(i, gateway) && !(gateway.is_v6 && is_link_local(gateway.v6))) {
        const std::string where = prefixes_text(i, gateway.is_v6);
        fail(f, what + " is outside " + (where.empty() ? "every prefix" : where) +
                    " of interface '" + i.name + "'" +
                    (where.empty() ? ", which has no IPv6 address" : ""));
    } else if (is_own_address(i, gateway)) {
        fail(f, what + " is the address of interface '" + i.name + "' itself");
    }
}

void Loader::read_neighbor(const Field& item) {
    if (!check_map(item, "neighbor", kNeighborKeys)) {
        return;
    }
    const Node& n = item.value;
    Field address_field = required(n, "address", "neighbor");
    Field interface = required(n, "interface", "neighbor");
    auto address_value = address(address_field);
    auto mac_value = mac(required(n, "mac", "neighbor"));
    auto interface_value = name_text(interface);
    if (address_value) {
        unique(neighbor_addresses_, *address_value, address_field.value,
               "duplicate neighbor " + format_ip_address(*address_value));
    }
    if (interface_value && !interface_names_.contains(*interface_value)) {
        fail(interface, "unknown interface " + quote(*interface_value));
    }
    if (address_value && mac_value && interface_value) {
        config_.neighbors.push_back(Neighbor{*address_value, *mac_value, *interface_value});
    }
}

void Loader::read_timeouts(const Field& f) {
    if (!check_map(f, "timeouts", kTimeoutKeys)) {
        return;
    }
    // A zero timeout would expire a connection on the packet that created it.
    for (auto [name, member] : kTimeoutFields) {
        assign_if(config_.timeouts.*member, duration(field(f.value, name), 1));
    }
}

void Loader::read_table_shares(const Field& f) {
    if (!check_map(f, "table_shares", kTableShareKeys)) {
        return;
    }
    TableShares& t = config_.table_shares;
    assign_if(t.protocol_percent, percent(field(f.value, "protocol")));
    assign_if(t.source_prefix_percent, percent(field(f.value, "source_prefix")));
    assign_if(t.source_prefix_length, integer(field(f.value, "source_prefix_length"), 1, 32));
}

void Loader::read_service(const Field& item) {
    if (!check_map(item, "service", kServiceKeys)) {
        return;
    }
    const Node& n = item.value;
    Service s;
    bool key_complete = read_service_values(n, s);
    const Field check_field = field(n, "health_check");
    std::optional<CheckLayer> check = read_check_layer(check_field);
    if (check) {
        s.health_check = resolve_check(nullptr, *check, "");
    } else if (check_field.present()) {
        check = CheckLayer{check_field};  // wrong, and reported: it lays nothing over
    }
    FirstSeen<std::pair<IpAddress, uint16_t>> seen;
    std::vector<Node> checked_at;  // per real server, where its check is written
    Field servers = required(n, "real_servers", "service");
    for (const Field& server : items(servers, "real_servers", "real server", kMaxRealServers,
                                     "real servers in one service")) {
        read_real_server(server, s, seen, check, checked_at);
    }
    bool checks_written = check_field.present();
    for (const Node& server : servers.value.items()) {
        checks_written = checks_written || field(server, "health_check").value.is_map();
    }
    read_down_policy(n, s, seen, checks_written);
    check_probe_routes(s, checked_at);
    check_passive_protocol(check_field, servers, s);
    if (key_complete) {  // a half-read key would report false duplicates
        check_service_unique(n, s);
    }
    config_.services.push_back(std::move(s));
}

// The passive check watches TCP handshakes: on a UDP service it would watch nothing.
void Loader::check_passive_protocol(const Field& check_field, const Field& servers,
                                    const Service& s) {
    if (s.protocol != Protocol::udp) {
        return;
    }
    std::vector<Field> checks{check_field};
    for (const Node& server : servers.value.items()) {
        checks.push_back(field(server, "health_check"));
    }
    for (const Field& check : checks) {
        const Field passive = check.value.is_map() ? field(check.value, "passive") : Field{};
        if (passive.present() && passive.value.is_scalar() && passive.value.scalar() == "true") {
            fail(passive,
                 "a passive check watches TCP handshakes: service " + quote(s.name) + " is UDP");
        }
    }
}

// `on_down` and `sorry_server`: what the service does when its real servers go down, which
// only a health check can make them.
void Loader::read_down_policy(const Node& n, Service& s,
                              const FirstSeen<std::pair<IpAddress, uint16_t>>& seen,
                              bool checks_written) {
    const Field on_down = field(n, "on_down");
    const Field sorry = field(n, "sorry_server");
    assign_if(s.on_down, choice(on_down, kOnDowns));
    read_sorry_server(sorry, s, seen);
    for (const Field* f : {&on_down, &sorry}) {
        if (f->present() && !checks_written) {
            fail(*f, f->subject +
                         " needs a health check (the service's or a real server's): without one "
                         "no real server is ever down");
        }
    }
}

// `sorry_server: {address, port}`: reached like a real server, and not one of this service's.
void Loader::read_sorry_server(const Field& f, Service& s,
                               const FirstSeen<std::pair<IpAddress, uint16_t>>& seen) {
    if (!check_map(f, "sorry_server", kSorryServerKeys)) {
        return;
    }
    const Field address_field = required(f.value, "address", "sorry_server");
    const Field port_field = field(f.value, "port");
    const std::optional<IpAddress> address_value = address(address_field);
    const std::optional<uint16_t> port_value = port(port_field);
    if (address_value) {
        check_server_address(address_field, s, *address_value, "sorry server");
    }
    if (!address_value || port_value.has_value() != port_field.present()) {
        return;
    }
    const SorryServer sorry{*address_value, port_value.value_or(0)};
    const uint16_t sorry_port = sorry.port != 0 ? sorry.port : s.port;
    if (sorry_port != 0) {  // 0: the service's port is wrong, and reported
        if (auto line = seen.line_of(std::pair{sorry.address, sorry_port})) {
            fail(f, "sorry server " + format_endpoint(sorry.address, sorry_port) +
                        " is a real server of service " + quote(s.name) + " (line " +
                        std::to_string(*line) + ")");
        }
    }
    s.sorry_server = sorry;
}

// Returns whether the service's identity (protocol, vip, port) was read completely.
bool Loader::read_service_values(const Node& n, Service& s) {
    Field name = required(n, "name", "service");
    Field vip = required(n, "vip", "service");
    Field helper = field(n, "helper");
    assign_if(s.name, name_text(name));
    auto protocol_value = choice(required(n, "protocol", "service"), kProtocols);
    auto vip_value = address(vip);
    auto port_value = port(required(n, "port", "service"));
    if (auto drain = choice(field(n, "drain"), kDrainModes)) {
        s.drain = *drain;
    }
    assign_if(s.protocol, protocol_value);
    assign_if(s.vip, vip_value);
    assign_if(s.port, port_value);
    assign_if(s.scheduler, choice(field(n, "scheduler"), kSchedulers));
    vip_line_ = vip_value ? std::optional(line_of(vip.value)) : std::nullopt;
    read_persistence(n, s, vip_value ? std::optional(vip_value->is_v6) : std::nullopt);
    assign_if(s.helper, choice(helper, kHelpers));
    if (s.name.size() > kMaxServiceNameBytes) {
        fail(name, "'name' must be at most " + std::to_string(kMaxServiceNameBytes) +
                       " bytes (vsnatctl reads it over DPDK telemetry, which cuts strings there), "
                       "got " +
                       std::to_string(s.name.size()));
    } else if (!s.name.empty()) {
        unique(service_names_, s.name, name.value, "duplicate service name " + quote(s.name));
    }
    if (vip_value && vip_value->is_v6 && !is_unicast6(vip_value->v6)) {
        fail(vip, "vip " + format_ip_address(*vip_value) + std::string(kNotUnicast6));
    } else if (vip_value) {
        check_not_own_address(vip, *vip_value, "vip");
    }
    if (vip_value) {
        vips_.try_emplace(*vip_value, VipAt{config_.services.size(), line_of(vip.value)});
    }
    if (s.helper == Helper::ftp && s.protocol != Protocol::tcp) {
        fail(helper, "helper 'ftp' needs protocol tcp");
    }
    return protocol_value && vip_value && port_value;
}

// `v6`: the service's family, when its vip was read.
void Loader::read_persistence(const Node& n, Service& s, std::optional<bool> v6) {
    Field persistence = field(n, "persistence");
    Field netmask_field = field(n, "persistence_netmask");
    auto seconds = duration(persistence, 0);
    if (seconds && *seconds > kMaxPersistence) {
        fail(persistence, "'persistence' must be at most 24d, got " + describe(persistence.value));
        seconds.reset();
    }
    assign_if(s.persistence, seconds);
    s.persistence_prefix = v6 == true ? 128 : 32;  // the whole client address
    assign_if(s.persistence_prefix, netmask(netmask_field, v6));
    // A mask with persistence off would do nothing: say so rather than ignore it. (A bad
    // persistence value has been reported already.)
    const bool off = !persistence.present() || (seconds.has_value() && s.persistence == 0);
    if (netmask_field.present() && off) {
        fail(netmask_field, "'persistence_netmask' needs 'persistence' above 0s");
    }
}

void Loader::check_service_unique(const Node& at, const Service& s) {
    std::string what = "duplicate service " + std::string(protocol_name(s.protocol)) + " " +
                       format_endpoint(s.vip, s.port);
    unique(service_keys_, std::tuple{s.protocol, s.vip, s.port}, at, what);
}

void Loader::read_real_server(const Field& item, Service& s,
                              FirstSeen<std::pair<IpAddress, uint16_t>>& seen,
                              const std::optional<CheckLayer>& service_check,
                              std::vector<Node>& checked_at) {
    if (!check_map(item, "real server", kRealServerKeys)) {
        return;
    }
    const Node& n = item.value;
    Field address_field = required(n, "address", "real server");
    Field port_field = field(n, "port");
    RealServer rs;
    // Port 0 stands for "unknown" here: the service's own port may have failed to read.
    rs.port = port_field.present() ? port(port_field).value_or(0) : s.port;
    auto address_value = address(address_field);
    assign_if(rs.address, address_value);
    assign_if(rs.weight, integer(field(n, "weight"), 0, kMaxWeight));
    read_thresholds(n, rs);
    if (++real_servers_ == kMaxRealServers + 1) {
        fail(n, "more than " + std::to_string(kMaxRealServers) +
                    " real servers in all services together");
    }
    if (address_value) {
        check_server_address(address_field, s, rs.address, "real server");
    }
    if (address_value && rs.port != 0) {
        unique(seen, std::pair{rs.address, rs.port}, n,
               "duplicate real server " + format_endpoint(rs.address, rs.port));
    }
    const Field check_field = field(n, "health_check");
    read_real_server_check(check_field, s, service_check, rs);
    const Node written = check_field.present() ? check_field.key
                         : service_check       ? service_check->at.key
                                               : Node();
    checked_at.push_back(address_value ? written : Node());
    s.real_servers.push_back(std::move(rs));
}

// A real server's `health_check`: absent, the service's; `none`, no check; a mapping, laid over
// the service's check key by key, or a whole check of its own when the service has none.
void Loader::read_real_server_check(const Field& f, const Service& s,
                                    const std::optional<CheckLayer>& service_check,
                                    RealServer& rs) {
    if (!f.present()) {
        rs.health_check = s.health_check;
    } else if (f.value.is_scalar() && f.value.scalar() == "none") {
        rs.health_check.reset();
    } else if (!f.value.is_map()) {
        fail(f, f.subject + " must be a mapping or none, got " + describe(f.value));
    } else if (std::optional<CheckLayer> layer = read_check_layer(f)) {
        const CheckLayer* base = service_check ? &*service_check : nullptr;
        rs.health_check = resolve_check(
            base, *layer, " (service " + quote(s.name) + " has no health_check to lay it over)");
    }
}

// The values of one `health_check` mapping, each checked on its own.
std::optional<CheckLayer> Loader::read_check_layer(const Field& f) {
    if (!check_map(f, "health_check", kHealthCheckKeys)) {
        return std::nullopt;
    }
    const Node& n = f.value;
    CheckLayer layer{f};
    layer.type = choice(field(n, "type"), kCheckTypes);
    layer.interval_ms = check_duration(field(n, "interval"));
    layer.timeout_ms = check_duration(field(n, "timeout"));
    layer.rise = integer(field(n, "rise"), 1, kMaxCheckCount);
    layer.fall = integer(field(n, "fall"), 1, kMaxCheckCount);
    layer.port = port(field(n, "port"));
    layer.path = http_path(field(n, "path"));
    layer.expect_status = integer(field(n, "expect_status"), 100, 599);
    layer.payload = payload(field(n, "payload"));
    layer.command = command(field(n, "command"));
    layer.start_down = choice(field(n, "start"), kCheckStarts);
    layer.passive = choice(field(n, "passive"), kBooleans);
    return layer;
}

// The check `top` makes: laid over `base` (the service's check, for a real server's override)
// or over the defaults. Checks what only the whole can tell: a key of another type, a key the
// type needs, a timeout longer than the interval; each reported where `top` writes it (what
// `base` writes alone was reported when `base` was read). `missing_type` ends the message for
// a check without a type.
HealthCheck Loader::resolve_check(const CheckLayer* base, const CheckLayer& top,
                                  std::string_view missing_type) {
    const Node& n = top.at.value;
    // An override of another type keeps only the service's keys every type takes, and must
    // say whatever its own type needs.
    const bool retyped = base != nullptr && top.type && base->type != top.type;
    const bool whole = base == nullptr || (retyped && base->type);
    HealthCheck check;
    if (base != nullptr) {
        lay_over(check, *base, retyped);
    }
    lay_over(check, top, false);
    const std::optional<CheckType> type = top.type ? top.type : base ? base->type : std::nullopt;
    if (!type) {  // missing, or wrong and reported
        if (base == nullptr && !field(n, "type").present()) {
            fail(n, "missing key 'type' in health_check" + std::string(missing_type));
        }
        return check;
    }
    for (const CheckTypeKey& key : kCheckTypeKeys) {
        const Field f = field(n, key.name);
        if (f.present() && key.type != *type) {
            fail(f.key, f.subject + " is for " + std::string(name_of(kCheckTypes, key.type)) +
                            " checks, not " + std::string(name_of(kCheckTypes, *type)));
        } else if (!f.present() && key.required && key.type == *type && whole) {
            fail(n, "missing key '" + std::string(key.name) + "' in health_check (" +
                        std::string(name_of(kCheckTypes, *type)) + " checks need it)");
        }
    }
    const Field interval = field(n, "interval");
    const Field timeout = field(n, "timeout");
    // A wrong interval or timeout, reported already, leaves nothing to compare.
    const auto unread = [this](const CheckLayer& layer) {
        return layer.interval_ms.has_value() != field(layer.at.value, "interval").present() ||
               layer.timeout_ms.has_value() != field(layer.at.value, "timeout").present();
    };
    if (check.timeout_ms > check.interval_ms && !unread(top) && !(base && unread(*base))) {
        if (timeout.present()) {
            fail(timeout, "'timeout' (" + format_duration_ms(check.timeout_ms) +
                              ") must not be longer than 'interval' (" +
                              format_duration_ms(check.interval_ms) + ")");
        } else if (interval.present()) {
            fail(interval, "'interval' (" + format_duration_ms(check.interval_ms) +
                               ") must not be shorter than 'timeout' (" +
                               format_duration_ms(check.timeout_ms) + ")");
        }
    }
    return check;
}

void Loader::read_thresholds(const Node& n, RealServer& rs) {
    Field max_field = field(n, "max_connections");
    Field min_field = field(n, "min_connections");
    auto max_value = integer(max_field, 0, kMaxThreshold);
    auto min_value = integer(min_field, 0, kMaxThreshold);
    assign_if(rs.max_connections, max_value);
    assign_if(rs.min_connections, min_value);
    if (!min_value || *min_value == 0 || (max_field.present() && !max_value)) {
        return;  // nothing to compare, or max_connections is reported already
    }
    if (rs.max_connections == 0) {
        fail(min_field,
             "'min_connections' needs 'max_connections' above 0 (it is where a server "
             "overloaded at max_connections takes connections again)");
    } else if (rs.min_connections > rs.max_connections) {
        fail(min_field, "'min_connections' (" + std::to_string(rs.min_connections) +
                            ") must not exceed 'max_connections' (" +
                            std::to_string(rs.max_connections) + ")");
    }
}

// Both return whether `address` is none of those (and say so at `f` when it is one).
bool Loader::check_not_own_address(const Field& f, const IpAddress& address,
                                   std::string_view what) {
    bool fine = true;
    for (const Interface& i : config_.interfaces) {
        if (is_own_address(i, address)) {
            fail(f, std::string(what) + " " + format_ip_address(address) +
                        " is the address of interface '" + i.name + "'");
            fine = false;
        }
    }
    return fine;
}

bool Loader::check_not_floating(const Field& f, const IpAddress& address, std::string_view what) {
    bool fine = true;
    for (const Interface& i : config_.interfaces) {
        if (is_floating(i, address)) {
            fail(f, std::string(what) + " " + format_ip_address(address) +
                        " is a floating address of interface '" + i.name + "'");
            fine = false;
        }
    }
    return fine;
}

// A real server or sorry server of service `s`: of its vip's family (the dataplane translates
// IPv4 to IPv4, NAT44, and IPv6 to IPv6, NAT66, never one to the other); an IPv6 one unicast;
// none of the director's addresses; reached through some interface.
void Loader::check_server_address(const Field& f, const Service& s, const IpAddress& address,
                                  std::string_view what) {
    const std::string text = std::string(what) + " " + format_ip_address(address);
    if (vip_line_ && address.is_v6 != s.vip.is_v6) {
        fail(f, text + " is " + std::string(family_name(address)) + ", but the vip of service " +
                    quote(s.name) + " (line " + std::to_string(*vip_line_) + ") is " +
                    std::string(family_name(s.vip)) +
                    ": a service and its servers share one family (NAT44 or NAT66)");
    } else if (address.is_v6 && !is_unicast6(address.v6)) {
        fail(f, text + std::string(kNotUnicast6));
    } else {
        check_not_own_address(f, address, what);
        check_not_floating(f, address, what);
        check_reachable(f, address, what);
    }
}

void Loader::check_reachable(const Field& f, const IpAddress& address, std::string_view what) {
    if (interfaces_complete_ && route(address) == nullptr) {
        const std::string family = address.is_v6 ? "IPv6 " : "";
        fail(f, std::string(what) + " " + format_ip_address(address) + " is in no interface's " +
                    family + "prefix and no interface has " +
                    (address.is_v6 ? "an IPv6 gateway" : "a gateway"));
    }
}

// The interface the dataplane sends to `address` through (dp::Snapshot::route): the first with
// a prefix of its family that holds it, else the first with a gateway of its family; null for
// none.
const Interface* Loader::route(const IpAddress& address) const {
    for (const Interface& i : config_.interfaces) {
        if (on_link(i, address)) {
            return &i;
        }
    }
    for (const Interface& i : config_.interfaces) {
        if (has_gateway(i, address.is_v6)) {
            return &i;
        }
    }
    return nullptr;
}

// Probes are sockets in kernel_netns, and leave through the kernel mirror of the interface that
// reaches the real server: without one they would go nowhere, or out of the wrong port. Said
// once per service, where the first such server's check is written.
void Loader::check_probe_routes(const Service& s, const std::vector<Node>& checked_at) {
    if (!interfaces_complete_) {
        return;
    }
    for (size_t i = 0; i < s.real_servers.size(); ++i) {
        const RealServer& rs = s.real_servers[i];
        const Interface* out =
            rs.health_check && checked_at[i].is_defined() ? route(rs.address) : nullptr;
        if (out != nullptr && out->kernel.empty()) {
            fail(checked_at[i], "health checks of service " + quote(s.name) +
                                    " need a kernel mirror on interface " + quote(out->name) +
                                    " (kernel:), which reaches " + format_ip_address(rs.address) +
                                    ": the probes leave from kernel_netns");
            return;
        }
    }
}

}  // namespace

std::string ConfigError::to_string() const {
    if (line == 0) {
        return file + ": " + message;
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

const char* file_kind(mode_t mode) {
    if (S_ISDIR(mode)) {
        return "a directory";
    }
    if (S_ISCHR(mode)) {
        return "a character device";
    }
    if (S_ISBLK(mode)) {
        return "a block device";
    }
    if (S_ISFIFO(mode)) {
        return "a FIFO";
    }
    return S_ISSOCK(mode) ? "a socket" : "a special file";
}

LoadResult file_error(const std::string& path, int line, std::string message) {
    return LoadResult{std::nullopt, {{path, line, line, std::move(message)}}};
}

std::string limit_text() {
    return std::to_string(kMaxFileBytes) + "-byte (" + std::to_string(kMaxFileBytes >> 20) +
           " MiB) limit of a configuration file";
}

// The file's text, if it is a regular file of at most kMaxFileBytes: reading /dev/zero or a
// FIFO would never end, and a huge file would cost its size many times over in the YAML tree.
std::optional<LoadResult> read_file(const std::string& path, std::string& text,
                                    const StopCheck& stop) {
    struct stat st {};
    // stat first: a device is not even opened (opening one can have effects).
    if (::stat(path.c_str(), &st) != 0) {
        return file_error(path, 1, std::string("cannot open: ") + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return file_error(path, 0,
                          std::string("is ") + file_kind(st.st_mode) + ", not a regular file");
    }
    if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
        return file_error(path, 0,
                          "is " + std::to_string(st.st_size) + " bytes, over the " + limit_text());
    }
    // O_NONBLOCK: should the path have become a FIFO since, opening it does not wait.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return file_error(path, 1, std::string("cannot open: ") + std::strerror(errno));
    }
    std::optional<LoadResult> error;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        error = file_error(path, 0, "is not a regular file any more");
    }
    constexpr size_t kChunk = size_t{1} << 20;
    text.reserve(static_cast<size_t>(st.st_size));
    while (!error) {
        if (stop && stop()) {
            error = file_error(path, 0, "reading abandoned: the daemon is stopping");
            break;
        }
        // One byte more than the limit tells a file that grew since stat.
        const size_t room = std::min(kChunk, kMaxFileBytes + 1 - text.size());
        const size_t used = text.size();
        text.resize(used + room);
        const ssize_t n = ::read(fd, text.data() + used, room);
        text.resize(used + static_cast<size_t>(std::max<ssize_t>(n, 0)));
        if (n < 0 && errno != EINTR) {
            error = file_error(path, 1, std::string("cannot read: ") + std::strerror(errno));
        } else if (text.size() > kMaxFileBytes) {
            error = file_error(path, 0, "grew past the " + limit_text() + " while it was read");
        } else if (n == 0) {
            break;
        }
    }
    ::close(fd);
    return error;
}

}  // namespace

bool vhost_net_present() {
    return access(kVhostNetPath, R_OK | W_OK) == 0;
}

LoadResult load_config_text(const std::string& text, const std::string& file_name,
                            const StopCheck& stop, const VhostNetCheck& vhost_net) {
    try {
        if (text.size() > kMaxFileBytes) {
            return file_error(
                file_name, 0,
                "is " + std::to_string(text.size()) + " bytes, over the " + limit_text());
        }
        return Loader(file_name, vhost_net).load(text, stop);
    } catch (const std::exception& e) {  // only allocation can get here
        return file_error(file_name, 1, std::string("internal error: ") + e.what());
    }
}

LoadResult load_config_file(const std::string& path, const StopCheck& stop,
                            const VhostNetCheck& vhost_net) {
    try {
        std::string text;
        if (std::optional<LoadResult> error = read_file(path, text, stop)) {
            return std::move(*error);
        }
        return load_config_text(text, path, stop, vhost_net);
    } catch (const std::exception& e) {
        return file_error(path, 1, std::string("cannot read: ") + e.what());
    }
}

std::set<IpAddress> shared_addresses(const Config& config) {
    std::set<IpAddress> out;
    for (const Service& s : config.services) {
        out.insert(s.vip);
    }
    for (const Interface& in : config.interfaces) {
        for (const Prefix& f : in.floating) {
            out.insert(IpAddress::of(f.address));
        }
        for (const Prefix6& f : in.floating6) {
            out.insert(IpAddress::of(f.address));
        }
    }
    return out;
}

std::string_view scheduler_name(Scheduler s) {
    return name_of(kSchedulers, s);
}
std::string_view protocol_name(Protocol p) {
    return name_of(kProtocols, p);
}
std::string_view helper_name(Helper h) {
    return name_of(kHelpers, h);
}
std::string_view idle_mode_name(IdleMode m) {
    return name_of(kIdleModes, m);
}

std::string_view reverse_path_name(ReversePath r) {
    return name_of(kReversePaths, r);
}

std::string_view kernel_type_name(KernelType t) {
    return name_of(kKernelTypes, t);
}

std::string_view check_type_name(CheckType t) {
    return name_of(kCheckTypes, t);
}

std::string_view on_down_name(OnDown o) {
    return name_of(kOnDowns, o);
}

std::string_view address_ownership_name(AddressOwnership a) {
    return name_of(kAddressOwnerships, a);
}

std::string format_duration_ms(uint32_t milliseconds) {
    constexpr std::array<std::pair<uint32_t, const char*>, 3> kUnits{
        {{3'600'000, "h"}, {60'000, "m"}, {1000, "s"}}};
    for (auto [unit, suffix] : kUnits) {
        if (milliseconds != 0 && milliseconds % unit == 0) {
            return std::to_string(milliseconds / unit) + suffix;
        }
    }
    return std::to_string(milliseconds) + "ms";
}

std::string format_mac(const MacAddress& mac) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (uint8_t byte : mac) {
        if (!out.empty()) {
            out += ':';
        }
        out += kHex[byte >> 4];
        out += kHex[byte & 0xf];
    }
    return out;
}

}  // namespace vsnat::cp
