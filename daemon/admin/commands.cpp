// SPDX-License-Identifier: MIT
// The admin commands: parse, dispatch to Control/Proxy, reply.
#include "daemon/admin/commands.hpp"

#include <nlohmann/json.hpp>

#include "daemon/control.hpp"
#include "daemon/version.hpp"

namespace ringlb::daemon {
namespace {

using json = nlohmann::json;

json ok(json body = json::object()) {
    body["ok"] = true;
    return body;
}

json fail(const std::string& message) {
    return {{"ok", false}, {"error", message}};
}

json status(Control& control) {
    const auto uptime = std::chrono::system_clock::now() - control.started();
    json listeners = json::array();
    std::int64_t active = 0;
    control.proxy().inspect([&](const Proxy::View& v) {
        for (const auto& l : v.listeners) {
            const auto view = l->view.load();
            json entry{
                    {"name", view->config.name},
                    {"listen", view->config.listen},
                    {"active_connections", l->active.load(std::memory_order_relaxed)},
                    {"connections", l->accepted.load(std::memory_order_relaxed)}};
            if (view->pool != nullptr) {
                entry["pool"] = view->pool->name();
            } else {
                entry["service"] = "echo";
            }
            active += l->active.load(std::memory_order_relaxed);
            listeners.push_back(std::move(entry));
        }
        return 0;
    });
    return ok(
            {{"version", kVersion},
             {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
             {"workers", control.workers()},
             {"config_file", control.config_path().value_or("(embedded default)")},
             {"config_hash", control.config_hash()},
             {"listeners", std::move(listeners)},
             {"active_connections", active}});
}

std::string state_of(const BackendEntry& b) {
    if (b.admin == AdminState::kDraining && b.active() == 0) {
        return "drained";
    }
    return to_string(b.admin);
}

json backends(Control& control, const AdminRequest& request) {
    const std::string& only = request.pool;
    json pools = json::array();
    bool found = only.empty();
    control.proxy().inspect([&](const Proxy::View& v) {
        for (const auto& [name, pool] : v.pools) {
            if (!only.empty() && name != only) {
                continue;
            }
            found = true;
            json list = json::array();
            for (const BackendEntry& b : pool->backends()) {
                json errors = json::object();
                for (int e = 0; e < kConnectErrorKinds; ++e) {
                    errors[to_string(static_cast<ConnectError>(e))] =
                            b.state->connect_errors[e].load(std::memory_order_relaxed);
                }
                list.push_back(
                        {{"address", b.address},
                         {"state", state_of(b)},
                         {"health",
                          !b.state->healthy.load(std::memory_order_relaxed) ? "down"
                                  : b.state->ejected(coarse_now_ns())       ? "ejected"
                                                                            : "up"},
                         {"weight", b.weight},
                         {"active_connections", b.active()},
                         {"connections", b.state->connections.load(std::memory_order_relaxed)},
                         {"connect_errors", std::move(errors)}});
            }
            pools.push_back(
                    {{"name", name},
                     {"balance", config::to_string(pool->balance())},
                     {"backends", std::move(list)}});
        }
        return 0;
    });
    if (!found) {
        return fail("no pool named \"" + only + "\"");
    }
    return ok({{"pools", std::move(pools)}});
}

// "POOL/ADDRESS" -> (pool, address); the address may itself hold ':' and '[]' but no '/'.
bool split_backend(const std::string& s, std::string& pool, std::string& address) {
    const auto slash = s.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == s.size()) {
        return false;
    }
    pool = s.substr(0, slash);
    address = s.substr(slash + 1);
    return true;
}

json change_backend(Control& control, const AdminRequest& r) {
    core::Result<void, std::string> done;
    std::string what;
    if (r.command == AdminRequest::Command::kWeight) {
        done = control.proxy().set_weight(r.pool, r.backend, r.weight);
        what = "weight " + std::to_string(r.weight);
    } else {
        const AdminState s = r.command == AdminRequest::Command::kEnable ? AdminState::kEnabled
                : r.command == AdminRequest::Command::kDisable           ? AdminState::kDisabled
                                                                         : AdminState::kDraining;
        done = control.proxy().set_admin_state(r.pool, r.backend, s);
        what = to_string(s);
    }
    if (!done) {
        return fail(done.error());
    }
    return ok(
            {{"message",
              "backend " + r.pool + "/" + r.backend + ": " + what + " until the next reload"}});
}

json reload(Control& control) {
    auto r = control.reload();
    if (!r) {
        return fail("reload failed, the running config stays: " + r.error());
    }
    return ok(
            {{"message", "reloaded"},
             {"added", r->added},
             {"removed", r->removed},
             {"kept", r->kept}});
}

json running_config(Control& control) {
    json parsed = json::parse(control.config_text(), nullptr, false);
    if (parsed.is_discarded()) {
        return fail("the running config text is not JSON");  // cannot happen: it was validated
    }
    return ok(
            {{"config", std::move(parsed)},
             {"config_file", control.config_path().value_or("(embedded default)")}});
}

}  // namespace

std::string error_reply(const std::string& message) {
    return fail(message).dump();
}

core::Result<AdminRequest, std::string> parse_admin_request(const std::string& line) {
    using Command = AdminRequest::Command;
    const json request = json::parse(line, nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
        return core::Unexpected(
                std::string("malformed request: expected one JSON object per line"));
    }
    const auto cmd = request.find("command");
    if (cmd == request.end() || !cmd->is_string()) {
        return core::Unexpected(std::string("malformed request: missing \"command\""));
    }
    static const std::pair<const char*, Command> kCommands[] = {
            {"status", Command::kStatus},
            {"backends", Command::kBackends},
            {"enable", Command::kEnable},
            {"disable", Command::kDisable},
            {"drain", Command::kDrain},
            {"weight", Command::kWeight},
            {"reload", Command::kReload},
            {"config", Command::kConfig}};
    const std::string name = cmd->get<std::string>();
    AdminRequest r;
    bool known = false;
    for (const auto& [text, c] : kCommands) {
        if (name == text) {
            r.command = c;
            known = true;
        }
    }
    if (!known) {
        return core::Unexpected(
                "unknown command \"" + name
                + "\" (expected one of: status, backends, enable, disable, drain, weight, reload, config)");
    }
    if (r.command == Command::kBackends) {
        if (const auto p = request.find("pool"); p != request.end()) {
            if (!p->is_string()) {
                return core::Unexpected(std::string("\"pool\" must be a string"));
            }
            r.pool = p->get<std::string>();
        }
    }
    const bool change = r.command == Command::kEnable || r.command == Command::kDisable
            || r.command == Command::kDrain || r.command == Command::kWeight;
    if (change) {
        const auto b = request.find("backend");
        if (b == request.end() || !b->is_string()
            || !split_backend(b->get<std::string>(), r.pool, r.backend)) {
            return core::Unexpected("\"" + name + "\" needs \"backend\": \"POOL/ADDRESS\"");
        }
    }
    if (r.command == Command::kWeight) {
        const auto w = request.find("weight");
        if (w == request.end() || !w->is_number_integer() || w->get<std::int64_t>() < 1
            || w->get<std::int64_t>() > 1000) {
            return core::Unexpected(
                    std::string("\"weight\" needs \"weight\": an integer from 1 to 1000"));
        }
        r.weight = static_cast<std::uint32_t>(w->get<std::int64_t>());
    }
    return r;
}

std::string handle_admin_request(const std::string& line, Control& control) {
    using Command = AdminRequest::Command;
    const auto request = parse_admin_request(line);
    if (!request) {
        return error_reply(request.error());
    }
    json reply;
    switch (request->command) {
        case Command::kStatus:
            reply = status(control);
            break;
        case Command::kBackends:
            reply = backends(control, *request);
            break;
        case Command::kEnable:
        case Command::kDisable:
        case Command::kDrain:
        case Command::kWeight:
            reply = change_backend(control, *request);
            break;
        case Command::kReload:
            reply = reload(control);
            break;
        case Command::kConfig:
            reply = running_config(control);
            break;
    }
    return reply.dump();
}

}  // namespace ringlb::daemon
