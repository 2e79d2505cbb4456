// SPDX-License-Identifier: MIT
// JSON -> Config: the only file that includes <nlohmann/json.hpp>. Walks the document once,
// collecting every error with its JSON path; nlohmann's exceptions stop here.
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "config/load.hpp"
#include "config/resolve.hpp"
#include "config/validate.hpp"

namespace ringlb::config {
namespace {

using nlohmann::json;

const char* type_name(const json& j) {
    switch (j.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::object:
            return "an object";
        case json::value_t::array:
            return "an array";
        case json::value_t::string:
            return "a string";
        case json::value_t::boolean:
            return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "an integer";
        case json::value_t::number_float:
            return "a number";
        default:
            return "an unsupported value";
    }
}

/// Reads typed fields out of JSON objects, recording every problem against its path.
class Reader {
public:
    explicit Reader(ConfigErrors& errors) : errors_(errors) {}

    void error(const std::string& path, std::string message) {
        errors_.push_back({path, std::move(message)});
    }

    static std::string join(const std::string& path, const std::string& key) {
        return path.empty() ? key : path + "." + key;
    }

    /// True if `j` is an object; reports keys outside `allowed`.
    bool
    object(const json& j, const std::string& path, std::initializer_list<const char*> allowed) {
        if (!j.is_object()) {
            error(path, std::string("expected an object, found ") + type_name(j));
            return false;
        }
        for (auto it = j.begin(); it != j.end(); ++it) {
            bool known = false;
            for (const char* k : allowed) {
                known = known || it.key() == k;
            }
            if (!known) {
                error(join(path, it.key()), "unknown key");
            }
        }
        return true;
    }

    /// The string at `key` (required unless `fallback` is given).
    std::optional<std::string>
    string(const json& obj,
           const std::string& path,
           const char* key,
           std::optional<std::string> fallback = std::nullopt) {
        const auto it = obj.find(key);
        if (it == obj.end()) {
            if (!fallback) {
                error(join(path, key), "missing (required)");
            }
            return fallback;
        }
        if (!it->is_string()) {
            error(join(path, key), std::string("expected a string, found ") + type_name(*it));
            return std::nullopt;
        }
        return it->get<std::string>();
    }

    /// The integer at `key`, within [`min`, `max`]; `fallback` when absent.
    std::uint32_t
    uint(const json& obj,
         const std::string& path,
         const char* key,
         std::uint64_t min,
         std::uint64_t max,
         std::uint32_t fallback) {
        const auto it = obj.find(key);
        if (it == obj.end()) {
            return fallback;
        }
        if (!it->is_number_integer()) {
            error(join(path, key), std::string("expected an integer, found ") + type_name(*it));
            return fallback;
        }
        if (it->is_number_unsigned()) {
            const std::uint64_t v = it->get<std::uint64_t>();
            if (v >= min && v <= max) {
                return static_cast<std::uint32_t>(v);
            }
        }
        error(join(path, key),
              "out of range: " + it->dump() + " (expected " + std::to_string(min) + " to "
                      + std::to_string(max) + ")");
        return fallback;
    }

    bool boolean(const json& obj, const std::string& path, const char* key, bool fallback) {
        const auto it = obj.find(key);
        if (it == obj.end()) {
            return fallback;
        }
        if (!it->is_boolean()) {
            error(join(path, key), std::string("expected true or false, found ") + type_name(*it));
            return fallback;
        }
        return it->get<bool>();
    }

    /// The address at `key`, resolved.
    std::optional<core::SocketAddress>
    address(const json& obj,
            const std::string& path,
            const char* key,
            std::string* text,
            std::optional<std::string> fallback = {}) {
        std::optional<std::string> s = string(obj, path, key, std::move(fallback));
        if (!s) {
            return std::nullopt;
        }
        *text = *s;
        auto addr = resolve_address(*s);
        if (!addr) {
            error(join(path, key), "\"" + *s + "\": " + addr.error());
            return std::nullopt;
        }
        return *addr;
    }

    /// The value at `key` mapped through `names` (required values have no fallback).
    template <class E>
    E choice(
            const json& obj,
            const std::string& path,
            const char* key,
            std::initializer_list<std::pair<const char*, E>> names,
            E fallback) {
        std::optional<std::string> s = string(obj, path, key, std::string());
        if (!s || s->empty()) {
            return fallback;
        }
        std::string expected;
        for (const auto& [name, value] : names) {
            if (*s == name) {
                return value;
            }
            expected += expected.empty() ? "" : ", ";
            expected += name;
        }
        error(join(path, key), "unknown value \"" + *s + "\" (expected one of: " + expected + ")");
        return fallback;
    }

private:
    ConfigErrors& errors_;
};

void read_proxy_protocol(Reader& r, const json& j, const std::string& path, ProxyProtocol& out) {
    if (!r.object(j, path, {"send", "accept", "trusted"})) {
        return;
    }
    out.send = r.choice(
            j,
            path,
            "send",
            {{"off", ProxySend::kOff}, {"v1", ProxySend::kV1}, {"v2", ProxySend::kV2}},
            ProxySend::kOff);
    out.accept = r.boolean(j, path, "accept", false);
    const std::string tpath = Reader::join(path, "trusted");
    if (const auto it = j.find("trusted"); it != j.end()) {
        if (!it->is_array()) {
            r.error(tpath, std::string("expected an array, found ") + type_name(*it));
        } else {
            for (std::size_t i = 0; i < it->size(); ++i) {
                const std::string epath = tpath + "[" + std::to_string(i) + "]";
                const json& e = (*it)[i];
                if (!e.is_string()) {
                    r.error(epath, std::string("expected a string, found ") + type_name(e));
                    continue;
                }
                auto cidr = Cidr::parse(e.get<std::string>());
                if (!cidr) {
                    r.error(epath, cidr.error());
                    continue;
                }
                out.trusted.push_back(*cidr);
            }
        }
    }
    if (out.accept && out.trusted.empty()) {
        r.error(tpath, "required when \"accept\" is true: the peers allowed to send a header");
    }
}

void read_listener(Reader& r, const json& j, const std::string& path, Config& out) {
    if (!r.object(
                j,
                path,
                {"name",
                 "listen",
                 "pool",
                 "service",
                 "max_connections",
                 "retries",
                 "buffer_bytes",
                 "splice",
                 "pipe_bytes",
                 "smart_connect",
                 "timeouts",
                 "proxy_protocol"})) {
        return;
    }
    Listener l;
    l.name = r.string(j, path, "name").value_or("");
    if (j.contains("name") && j.at("name").is_string() && l.name.empty()) {
        r.error(Reader::join(path, "name"), "must not be empty");
    }
    if (auto addr = r.address(j, path, "listen", &l.listen)) {
        l.address = *addr;
    }
    if (j.contains("pool")) {
        // Present but mistyped still counts as "has a pool" for the cross-field checks.
        const auto pool = r.string(j, path, "pool");
        if (pool && pool->empty()) {
            r.error(Reader::join(path, "pool"), "must not be empty");
        }
        l.pool = pool.value_or("");
    }
    if (j.contains("service")) {
        l.service = r.choice(j, path, "service", {{"echo", Service::kEcho}}, Service::kEcho);
    }
    l.max_connections = r.uint(j, path, "max_connections", 1, 10'000'000, l.max_connections);
    l.retries = r.uint(j, path, "retries", 0, 10, l.retries);
    l.buffer_bytes = r.uint(j, path, "buffer_bytes", 1024, 16 * 1024 * 1024, l.buffer_bytes);
    // Up to the kernel's default pipe-max-size: beyond it an unprivileged ringlbd is refused.
    l.pipe_bytes = r.uint(j, path, "pipe_bytes", 4096, 1024 * 1024, l.pipe_bytes);
    l.smart_connect = r.boolean(j, path, "smart_connect", l.smart_connect);
    if (const auto it = j.find("splice"); it != j.end()) {
        if (it->is_boolean()) {
            l.splice = it->get<bool>() ? Splice::kOn : Splice::kOff;
        } else if (it->is_string() && it->get<std::string>() == "auto") {
            l.splice = Splice::kAuto;
        } else {
            r.error(Reader::join(path, "splice"),
                    "expected true, false or \"auto\", found " + it->dump());
        }
    }
    if (j.contains("timeouts")) {
        const std::string tpath = Reader::join(path, "timeouts");
        const json& t = j.at("timeouts");
        if (r.object(t, tpath, {"connect_ms", "idle_ms"})) {
            l.timeouts.connect_ms =
                    r.uint(t, tpath, "connect_ms", 1, 600'000, l.timeouts.connect_ms);
            l.timeouts.idle_ms = r.uint(t, tpath, "idle_ms", 0, 86'400'000, l.timeouts.idle_ms);
        }
    }
    if (j.contains("proxy_protocol")) {
        read_proxy_protocol(
                r, j.at("proxy_protocol"), Reader::join(path, "proxy_protocol"), l.proxy_protocol);
    }
    out.listeners.push_back(std::move(l));
}

void read_pool(Reader& r, const json& j, const std::string& path, Config& out) {
    if (!r.object(
                j,
                path,
                {"name",
                 "balance",
                 "backends",
                 "health_check",
                 "outlier",
                 "slow_start_ms",
                 "queue_size",
                 "queue_timeout_ms"})) {
        return;
    }
    Pool p;
    if (const auto hc = j.find("health_check"); hc != j.end()) {
        const std::string hpath = Reader::join(path, "health_check");
        if (r.object(*hc, hpath, {"interval_ms", "timeout_ms", "rise", "fall", "send", "expect"})) {
            HealthCheck h;
            h.interval_ms = r.uint(*hc, hpath, "interval_ms", 10, 3'600'000, h.interval_ms);
            h.timeout_ms = r.uint(*hc, hpath, "timeout_ms", 1, 600'000, h.timeout_ms);
            h.rise = r.uint(*hc, hpath, "rise", 1, 100, h.rise);
            h.fall = r.uint(*hc, hpath, "fall", 1, 100, h.fall);
            h.send = r.string(*hc, hpath, "send", std::string()).value_or("");
            h.expect = r.string(*hc, hpath, "expect", std::string()).value_or("");
            if (h.timeout_ms > h.interval_ms) {
                r.error(Reader::join(hpath, "timeout_ms"),
                        "must not exceed interval_ms (" + std::to_string(h.interval_ms)
                                + "): one check at a time per backend");
            }
            p.health_check = h;
        }
    }
    if (const auto o = j.find("outlier"); o != j.end()) {
        const std::string opath = Reader::join(path, "outlier");
        if (r.object(
                    *o,
                    opath,
                    {"consecutive_failures", "base_ejection_ms", "max_ejection_percent"})) {
            Outlier out_cfg;
            out_cfg.consecutive_failures = r.uint(
                    *o, opath, "consecutive_failures", 1, 1000, out_cfg.consecutive_failures);
            out_cfg.base_ejection_ms =
                    r.uint(*o, opath, "base_ejection_ms", 1, 86'400'000, out_cfg.base_ejection_ms);
            out_cfg.max_ejection_percent =
                    r.uint(*o, opath, "max_ejection_percent", 0, 100, out_cfg.max_ejection_percent);
            p.outlier = out_cfg;
        }
    }
    p.slow_start_ms = r.uint(j, path, "slow_start_ms", 0, 3'600'000, 0);
    p.queue_size = r.uint(j, path, "queue_size", 0, 1'000'000, 0);
    p.queue_timeout_ms = r.uint(j, path, "queue_timeout_ms", 1, 3'600'000, p.queue_timeout_ms);
    p.name = r.string(j, path, "name").value_or("");
    if (j.contains("name") && j.at("name").is_string() && p.name.empty()) {
        r.error(Reader::join(path, "name"), "must not be empty");
    }
    p.balance = r.choice(
            j,
            path,
            "balance",
            {{"round_robin", Balance::kRoundRobin},
             {"least_conn", Balance::kLeastConn},
             {"p2c", Balance::kP2c},
             {"maglev", Balance::kMaglev}},
            Balance::kRoundRobin);
    const std::string bpath = Reader::join(path, "backends");
    const auto it = j.find("backends");
    if (it == j.end()) {
        r.error(bpath, "missing (required)");
    } else if (!it->is_array()) {
        r.error(bpath, std::string("expected an array, found ") + type_name(*it));
    } else if (it->empty()) {
        r.error(bpath, "a pool needs at least one backend");
    } else {
        for (std::size_t i = 0; i < it->size(); ++i) {
            const std::string epath = bpath + "[" + std::to_string(i) + "]";
            const json& b = (*it)[i];
            if (!r.object(b, epath, {"address", "weight", "max_connections"})) {
                continue;
            }
            Backend be;
            if (auto addr = r.address(b, epath, "address", &be.address)) {
                be.resolved = *addr;
            }
            be.weight = r.uint(b, epath, "weight", 1, 1000, be.weight);
            be.max_connections = r.uint(b, epath, "max_connections", 0, 10'000'000, 0);
            p.backends.push_back(std::move(be));
        }
    }
    out.pools.push_back(std::move(p));
}

template <class Fn>
void read_array(
        Reader& r,
        const json& root,
        const char* key,
        const char* empty_error,
        Config& out,
        Fn read_one) {
    const auto it = root.find(key);
    if (it == root.end()) {
        if (empty_error != nullptr) {
            r.error(key, "missing (required)");
        }
        return;
    }
    if (!it->is_array()) {
        r.error(key, std::string("expected an array, found ") + type_name(*it));
        return;
    }
    if (it->empty() && empty_error != nullptr) {
        r.error(key, empty_error);
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
        read_one(r, (*it)[i], std::string(key) + "[" + std::to_string(i) + "]", out);
    }
}

}  // namespace

core::Result<Config, ConfigErrors> parse(std::string_view json_text) {
    ConfigErrors errors;
    json root;
    try {
        root = json::parse(json_text.begin(), json_text.end());
    } catch (const json::exception& e) {
        // parse_error, and out_of_range for a number beyond a double (1e400).
        // what() is "[json.exception.parse_error.101] parse error at line L, column C: ...".
        std::string what = e.what();
        const auto close = what.find("] ");
        errors.push_back({"", close == std::string::npos ? what : what.substr(close + 2)});
        return core::Unexpected(std::move(errors));
    }
    Reader r(errors);
    Config cfg;
    if (!r.object(root, "", {"runtime", "metrics", "admin", "log", "listeners", "pools"})) {
        return core::Unexpected(std::move(errors));
    }
    if (root.contains("runtime")
        && r.object(root["runtime"], "runtime", {"workers", "drain_timeout_ms", "io"})) {
        cfg.workers = r.uint(root["runtime"], "runtime", "workers", 0, 1024, 0);
        cfg.drain_timeout_ms = r.uint(
                root["runtime"], "runtime", "drain_timeout_ms", 0, 3'600'000, cfg.drain_timeout_ms);
        const json& rt = root["runtime"];
        if (rt.contains("io")
            && r.object(
                    rt["io"],
                    "runtime.io",
                    {"buffer_ring",
                     "bundles",
                     "incremental",
                     "ring_buffers",
                     "ring_buffer_bytes"})) {
            const json& io = rt["io"];
            IoOptions& o = cfg.io;
            o.buffer_ring = r.boolean(io, "runtime.io", "buffer_ring", o.buffer_ring);
            o.bundles = r.boolean(io, "runtime.io", "bundles", o.bundles);
            o.incremental = r.boolean(io, "runtime.io", "incremental", o.incremental);
            o.ring_buffers = r.uint(io, "runtime.io", "ring_buffers", 2, 32768, o.ring_buffers);
            if ((o.ring_buffers & (o.ring_buffers - 1)) != 0) {
                r.error("runtime.io.ring_buffers",
                        std::to_string(o.ring_buffers) + " is not a power of two");
            }
            o.ring_buffer_bytes = r.uint(
                    io, "runtime.io", "ring_buffer_bytes", 1024, 1024 * 1024, o.ring_buffer_bytes);
        }
    }
    if (root.contains("metrics") && r.object(root["metrics"], "metrics", {"listen"})) {
        if (auto a = r.address(
                    root["metrics"],
                    "metrics",
                    "listen",
                    &cfg.metrics_listen,
                    cfg.metrics_listen)) {
            cfg.metrics_address = *a;
        }
    } else if (auto a = resolve_address(cfg.metrics_listen)) {
        cfg.metrics_address = *a;
    }
    if (root.contains("admin") && r.object(root["admin"], "admin", {"socket"})) {
        cfg.admin_socket = r.string(root["admin"], "admin", "socket", std::string()).value_or("");
    }
    if (root.contains("log") && r.object(root["log"], "log", {"level"})) {
        cfg.log_level = r.choice(
                root["log"],
                "log",
                "level",
                {{"debug", LogLevel::kDebug},
                 {"info", LogLevel::kInfo},
                 {"warn", LogLevel::kWarn},
                 {"error", LogLevel::kError}},
                LogLevel::kInfo);
    }
    read_array(r, root, "listeners", "at least one listener is required", cfg, read_listener);
    read_array(r, root, "pools", nullptr, cfg, read_pool);
    validate(cfg, errors);
    if (!errors.empty()) {
        return core::Unexpected(std::move(errors));
    }
    return cfg;
}

}  // namespace ringlb::config
