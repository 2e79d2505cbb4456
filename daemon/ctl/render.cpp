// SPDX-License-Identifier: MIT
// render_reply(): JSON reply -> aligned text.
#include "daemon/ctl/render.hpp"

#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

namespace ringlb::ctl {
namespace {

using json = nlohmann::json;
using Row = std::vector<std::string>;

std::string text(const json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string table(const std::vector<Row>& rows) {
    std::vector<std::size_t> width;
    for (const Row& r : rows) {
        width.resize(std::max(width.size(), r.size()), 0);
        for (std::size_t i = 0; i < r.size(); ++i) {
            width[i] = std::max(width[i], r[i].size());
        }
    }
    std::ostringstream out;
    for (const Row& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) {
                line += std::string(width[i] - r[i].size() + 2, ' ');
            }
        }
        out << line << "\n";
    }
    return out.str();
}

std::string render_status(const json& r) {
    std::ostringstream out;
    out << "ringlbd " << text(r["version"]) << ", up " << text(r["uptime_seconds"]) << " s, "
        << text(r["workers"]) << " workers\n"
        << "config  " << text(r["config_file"]) << " (hash " << text(r["config_hash"]) << ")\n"
        << "active connections  " << text(r["active_connections"]) << "\n\n";
    std::vector<Row> rows{{"LISTENER", "LISTEN", "TARGET", "ACTIVE", "TOTAL"}};
    for (const json& l : r["listeners"]) {
        rows.push_back(
                {text(l["name"]),
                 text(l["listen"]),
                 l.contains("pool") ? "pool " + text(l["pool"]) : "service " + text(l["service"]),
                 text(l["active_connections"]),
                 text(l["connections"])});
    }
    return out.str() + table(rows);
}

std::string render_backends(const json& r) {
    std::vector<Row> rows{
            {"POOL", "BACKEND", "STATE", "HEALTH", "WEIGHT", "ACTIVE", "TOTAL", "ERRORS"}};
    for (const json& p : r["pools"]) {
        for (const json& b : p["backends"]) {
            std::uint64_t errors = 0;
            for (const auto& [reason, n] : b["connect_errors"].items()) {
                errors += n.get<std::uint64_t>();
            }
            rows.push_back(
                    {text(p["name"]),
                     text(b["address"]),
                     text(b["state"]),
                     text(b["health"]),
                     text(b["weight"]),
                     text(b["active_connections"]),
                     text(b["connections"]),
                     std::to_string(errors)});
        }
    }
    return table(rows);
}

}  // namespace

std::string render_reply(const std::string& command, const std::string& reply) {
    const json r = json::parse(reply, nullptr, false);
    if (r.is_discarded()) {
        return reply + "\n";
    }
    if (command == "status") {
        return render_status(r);
    }
    if (command == "backends") {
        return render_backends(r);
    }
    if (command == "config") {
        return r["config"].dump(2) + "\n";
    }
    if (command == "reload") {
        return "reloaded: listeners added: " + text(r["added"]) + ", removed: " + text(r["removed"])
                + ", kept: " + text(r["kept"]) + "\n";
    }
    return text(r.value("message", json("done"))) + "\n";
}

}  // namespace ringlb::ctl
