// SPDX-License-Identifier: MIT
// config::parse(): a valid document, the embedded default, and bad documents, each with the
// exact located message an operator would read.
#include "config/load.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/default_config.hpp"

namespace ringlb::config {
namespace {

std::vector<std::string> errors_of(const std::string& json) {
    auto r = parse(json);
    std::vector<std::string> out;
    if (!r) {
        for (const ConfigError& e : r.error()) {
            out.push_back(e.to_string());
        }
    }
    return out;
}

/// A minimal valid document with `listener` and `pool` spliced in.
std::string doc(const std::string& listener, const std::string& pool = "") {
    std::string p =
            pool.empty() ? R"({"name":"web","backends":[{"address":"127.0.0.1:8080"}]})" : pool;
    return R"({"listeners":[)" + listener + R"(],"pools":[)" + p + "]}";
}

const std::string kListener = R"({"name":"l","listen":"127.0.0.1:7000","pool":"web"})";

TEST(ConfigParse, AValidDocumentBecomesATypedConfig) {
    auto r = parse(R"({
      "runtime": {"workers": 2}, "metrics": {"listen": "127.0.0.1:9999"},
      "admin": {"socket": "/tmp/x.sock"}, "log": {"level": "debug"},
      "listeners": [
        {"name": "web", "listen": "127.0.0.1:8443", "pool": "web", "max_connections": 50,
         "retries": 3, "timeouts": {"connect_ms": 100, "idle_ms": 0}},
        {"name": "probe", "listen": "[::1]:7001", "service": "echo"}],
      "pools": [{"name": "web", "balance": "maglev",
                 "backends": [{"address": "127.0.0.1:1", "weight": 1},
                              {"address": "[::1]:2", "weight": 2}]}]})");
    ASSERT_TRUE(r.has_value()) << r.error()[0].to_string();
    const Config& c = *r;
    EXPECT_EQ(c.workers, 2u);
    EXPECT_EQ(c.metrics_address.port(), 9999);
    EXPECT_EQ(c.admin_socket, "/tmp/x.sock");
    EXPECT_EQ(c.log_level, LogLevel::kDebug);
    ASSERT_EQ(c.listeners.size(), 2u);
    EXPECT_EQ(c.listeners[0].max_connections, 50u);
    EXPECT_EQ(c.listeners[0].retries, 3u);
    EXPECT_EQ(c.listeners[0].timeouts.connect_ms, 100u);
    EXPECT_EQ(c.listeners[0].timeouts.idle_ms, 0u);
    EXPECT_EQ(*c.listeners[0].pool, "web");
    EXPECT_EQ(c.listeners[1].service, Service::kEcho);
    EXPECT_EQ(c.listeners[1].address.to_string(), "[::1]:7001");
    const Pool* p = c.find_pool("web");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->balance, Balance::kMaglev);
    ASSERT_EQ(p->backends.size(), 2u);
    EXPECT_EQ(p->backends[1].weight, 2u);
    EXPECT_EQ(p->backends[1].address, "[::1]:2");
}

TEST(ConfigParse, DefaultsApplyWhenKeysAreAbsent) {
    auto r = parse(doc(kListener));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->workers, 0u);
    EXPECT_EQ(r->metrics_address.to_string(), "127.0.0.1:9810");
    EXPECT_EQ(r->listeners[0].max_connections, 100000u);
    EXPECT_EQ(r->listeners[0].retries, 2u);
    EXPECT_EQ(r->listeners[0].timeouts.connect_ms, 3000u);
    EXPECT_EQ(r->listeners[0].timeouts.idle_ms, 300000u);
    EXPECT_EQ(r->pools[0].balance, Balance::kRoundRobin);
    EXPECT_EQ(r->pools[0].backends[0].weight, 1u);
}

TEST(ConfigParse, SpliceIsAutoByDefaultAndTakesABooleanOrAuto) {
    auto absent = parse(doc(kListener));
    ASSERT_TRUE(absent.has_value());
    EXPECT_EQ(absent->listeners[0].splice, Splice::kAuto);
    const std::pair<const char*, Splice> cases[] = {
            {"true", Splice::kOn}, {"false", Splice::kOff}, {R"("auto")", Splice::kAuto}};
    for (const auto& [value, expected] : cases) {
        auto r = parse(
                doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","splice":)"
                    + std::string(value) + "}"));
        ASSERT_TRUE(r.has_value()) << value;
        EXPECT_EQ(r->listeners[0].splice, expected) << value;
    }
    EXPECT_EQ(
            errors_of(doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","splice":1})")),
            std::vector<std::string>{
                    R"(listeners[0].splice: expected true, false or "auto", found 1)"});
}

TEST(ConfigParse, PipeBytesIs256KiBByDefaultAndRangeChecked) {
    auto absent = parse(doc(kListener));
    ASSERT_TRUE(absent.has_value());
    EXPECT_EQ(absent->listeners[0].pipe_bytes, 256u << 10);
    auto small =
            parse(doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","pipe_bytes":4096})"));
    ASSERT_TRUE(small.has_value());
    EXPECT_EQ(small->listeners[0].pipe_bytes, 4096u);
    EXPECT_EQ(
            errors_of(doc(
                    R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","pipe_bytes":2097152})")),
            std::vector<std::string>{
                    "listeners[0].pipe_bytes: out of range: 2097152 (expected 4096 to 1048576)"});
}

TEST(ConfigParse, SmartConnectIsOnByDefaultAndTakesABoolean) {
    auto absent = parse(doc(kListener));
    ASSERT_TRUE(absent.has_value());
    EXPECT_TRUE(absent->listeners[0].smart_connect);
    auto off = parse(
            doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","smart_connect":false})"));
    ASSERT_TRUE(off.has_value());
    EXPECT_FALSE(off->listeners[0].smart_connect);
    EXPECT_EQ(
            errors_of(doc(
                    R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","smart_connect":"yes"})")),
            std::vector<std::string>{
                    "listeners[0].smart_connect: expected true or false, found a string"});
}

TEST(ConfigParse, TheEmbeddedDefaultIsValid) {
    auto r = parse(std::string(default_config_json()));
    ASSERT_TRUE(r.has_value()) << r.error()[0].to_string();
    ASSERT_EQ(r->listeners.size(), 2u);
    EXPECT_EQ(r->listeners[0].address.to_string(), "127.0.0.1:7000");
    EXPECT_EQ(r->listeners[1].service, Service::kEcho);
    EXPECT_EQ(r->find_pool("echo")->backends[0].address, "127.0.0.1:7001");
}

TEST(ConfigParse, HostNamesAreResolvedAtLoad) {
    auto r = parse(doc(R"({"name":"l","listen":"localhost:7000","pool":"web"})"));
    ASSERT_TRUE(r.has_value()) << r.error()[0].to_string();
    EXPECT_EQ(r->listeners[0].address.port(), 7000);
    EXPECT_EQ(r->listeners[0].listen, "localhost:7000");
}

TEST(ConfigParse, SyntaxErrorsGiveLineAndColumn) {
    const auto errs = errors_of("{\n  \"listeners\": [\n    {\"name\": }\n  ]\n}");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0].rfind("parse error at line 3, column 14: ", 0), 0u) << errs[0];
}

TEST(ConfigParse, EveryErrorIsReportedNotOnlyTheFirst) {
    const auto errs = errors_of(R"({"bogus": 1, "runtime": {"workers": -1},
        "listeners": [{"name": "a", "listen": "1.2.3.4", "pool": "nope"}],
        "pools": [{"name": "p", "backends": []}]})");
    const std::vector<std::string> expected = {
            "bogus: unknown key",
            "runtime.workers: out of range: -1 (expected 0 to 1024)",
            "listeners[0].listen: \"1.2.3.4\": expected \"host:port\"",
            "pools[0].backends: a pool needs at least one backend",
            "listeners[0].pool: no pool named \"nope\"",
    };
    EXPECT_EQ(errs, expected);
}

struct BadConfig {
    const char* what;
    std::string json;
    std::string message;
};

class ConfigBad : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigBad, IsRejectedWithItsExactMessage) {
    const auto errs = errors_of(GetParam().json);
    ASSERT_EQ(errs.size(), 1u) << GetParam().what << ": "
                               << (errs.empty() ? std::string("accepted") : errs[0] + " ...");
    EXPECT_EQ(errs[0], GetParam().message) << GetParam().what;
}

const std::string kPool2 = R"({"name":"web","backends":[{"address":"127.0.0.1:1"}]})";

INSTANTIATE_TEST_SUITE_P(
        Documents,
        ConfigBad,
        ::testing::Values(
                BadConfig{"not an object", "[]", "expected an object, found an array"},
                BadConfig{
                        "unknown top-level key",
                        R"({"listener":[],"listeners":[)" + kListener + "],\"pools\":[" + kPool2
                                + "]}",
                        "listener: unknown key"},
                BadConfig{"no listeners key", R"({"pools":[]})", "listeners: missing (required)"},
                BadConfig{
                        "unknown listener key",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","maxconn":1})"),
                        "listeners[0].maxconn: unknown key"},
                BadConfig{
                        "unknown pool key",
                        doc(kListener,
                            R"({"name":"web","algo":"x","backends":[{"address":"127.0.0.1:1"}]})"),
                        "pools[0].algo: unknown key"},
                BadConfig{
                        "unknown backend key",
                        doc(kListener,
                            R"({"name":"web","backends":[{"address":"127.0.0.1:1","wieght":2}]})"),
                        "pools[0].backends[0].wieght: unknown key"},
                BadConfig{
                        "workers wrong type",
                        R"({"runtime":{"workers":"2"},"listeners":[)" + kListener + "],\"pools\":["
                                + kPool2 + "]}",
                        "runtime.workers: expected an integer, found a string"},
                BadConfig{
                        "workers out of range",
                        R"({"runtime":{"workers":5000},"listeners":[)" + kListener + "],\"pools\":["
                                + kPool2 + "]}",
                        "runtime.workers: out of range: 5000 (expected 0 to 1024)"},
                BadConfig{
                        "listeners not an array",
                        R"({"listeners":{},"pools":[]})",
                        "listeners: expected an array, found an object"},
                BadConfig{
                        "no listeners",
                        R"({"listeners":[],"pools":[]})",
                        "listeners: at least one listener is required"},
                BadConfig{
                        "listener not an object",
                        R"({"listeners":[42]})",
                        "listeners[0]: expected an object, found an integer"},
                BadConfig{
                        "listener without name",
                        doc(R"({"listen":"127.0.0.1:7000","pool":"web"})"),
                        "listeners[0].name: missing (required)"},
                BadConfig{
                        "listener without listen",
                        doc(R"({"name":"l","pool":"web"})"),
                        "listeners[0].listen: missing (required)"},
                BadConfig{
                        "listen without port",
                        doc(R"({"name":"l","listen":"127.0.0.1","pool":"web"})"),
                        "listeners[0].listen: \"127.0.0.1\": expected \"host:port\""},
                BadConfig{
                        "listen port too big",
                        doc(R"({"name":"l","listen":"127.0.0.1:99999","pool":"web"})"),
                        "listeners[0].listen: \"127.0.0.1:99999\": invalid port \"99999\" (expected 0-65535)"},
                BadConfig{
                        "v6 without brackets",
                        doc(R"({"name":"l","listen":"::1:80","pool":"web"})"),
                        "listeners[0].listen: \"::1:80\": an IPv6 address must be written \"[address]:port\""},
                BadConfig{
                        "listener with pool and service",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","service":"echo"})"),
                        "listeners[0]: has both \"pool\" and \"service\"; choose one"},
                BadConfig{
                        "listener with neither",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000"})"),
                        "listeners[0]: needs a \"pool\" or a \"service\""},
                BadConfig{
                        "unknown service",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","service":"discard"})"),
                        "listeners[0].service: unknown value \"discard\" (expected one of: echo)"},
                BadConfig{
                        "missing pool",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"api"})"),
                        "listeners[0].pool: no pool named \"api\""},
                BadConfig{
                        "pool wrong type",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":7})"),
                        "listeners[0].pool: expected a string, found an integer"},
                BadConfig{
                        "retries out of range",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","retries":11})"),
                        "listeners[0].retries: out of range: 11 (expected 0 to 10)"},
                BadConfig{
                        "max_connections zero",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","max_connections":0})"),
                        "listeners[0].max_connections: out of range: 0 (expected 1 to 10000000)"},
                BadConfig{
                        "connect timeout zero",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","timeouts":{"connect_ms":0}})"),
                        "listeners[0].timeouts.connect_ms: out of range: 0 (expected 1 to 600000)"},
                BadConfig{
                        "timeout not integer",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","timeouts":{"idle_ms":1.5}})"),
                        "listeners[0].timeouts.idle_ms: expected an integer, found a number"},
                BadConfig{
                        "unknown timeout key",
                        doc(R"({"name":"l","listen":"127.0.0.1:7000","pool":"web","timeouts":{"read_ms":1}})"),
                        "listeners[0].timeouts.read_ms: unknown key"},
                BadConfig{
                        "duplicate listener names",
                        doc(kListener + R"(,{"name":"l","listen":"127.0.0.1:7001","pool":"web"})"),
                        "listeners[1].name: duplicate listener name \"l\" (first used by listeners[0])"},
                BadConfig{
                        "duplicate listen addresses",
                        doc(kListener + R"(,{"name":"m","listen":"127.0.0.1:7000","pool":"web"})"),
                        "listeners[1].listen: address 127.0.0.1:7000 is already used by listeners[0]"},
                BadConfig{
                        "duplicate pool names",
                        doc(kListener, kPool2 + "," + kPool2),
                        "pools[1].name: duplicate pool name \"web\" (first used by pools[0])"},
                BadConfig{
                        "empty pool",
                        doc(kListener, R"({"name":"web","backends":[]})"),
                        "pools[0].backends: a pool needs at least one backend"},
                BadConfig{
                        "backends missing",
                        doc(kListener, R"({"name":"web"})"),
                        "pools[0].backends: missing (required)"},
                BadConfig{
                        "unknown balance",
                        doc(kListener,
                            R"({"name":"web","balance":"random","backends":[{"address":"127.0.0.1:1"}]})"),
                        "pools[0].balance: unknown value \"random\" (expected one of: round_robin, least_conn, p2c, maglev)"},
                BadConfig{
                        "weight zero",
                        doc(kListener,
                            R"({"name":"web","backends":[{"address":"127.0.0.1:1","weight":0}]})"),
                        "pools[0].backends[0].weight: out of range: 0 (expected 1 to 1000)"},
                BadConfig{
                        "duplicate backend",
                        doc(kListener,
                            R"({"name":"web","backends":[{"address":"127.0.0.1:1"},{"address":"127.0.0.1:1"}]})"),
                        "pools[0].backends[1].address: duplicate backend \"127.0.0.1:1\" (also backends[0])"},
                BadConfig{
                        "bad log level",
                        R"({"log":{"level":"verbose"},"listeners":[)" + kListener + "],\"pools\":["
                                + kPool2 + "]}",
                        "log.level: unknown value \"verbose\" (expected one of: debug, info, warn, error)"},
                BadConfig{
                        "bad metrics address",
                        R"({"metrics":{"listen":"[::1]"},"listeners":[)" + kListener
                                + "],\"pools\":[" + kPool2 + "]}",
                        "metrics.listen: \"[::1]\": expected \"[v6-address]:port\""}));

TEST(ConfigLoad, AMissingFileIsAnErrorNamingIt) {
    auto r = load_file("/nonexistent/ringlb.json");
    ASSERT_FALSE(r.has_value());
    ASSERT_EQ(r.error().size(), 1u);
    EXPECT_EQ(
            r.error()[0].to_string(),
            "cannot read /nonexistent/ringlb.json: No such file or directory");
}

}  // namespace
}  // namespace ringlb::config
