// SPDX-License-Identifier: MIT
// Control: reload with its bookkeeping.
#include "daemon/control.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "config/default_config.hpp"
#include "config/load.hpp"
#include "daemon/balance/maglev_table.hpp"
#include "daemon/log.hpp"
#include "daemon/systemd_notify.hpp"

namespace ringlb::daemon {
namespace {

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
            .count();
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v) {
        out += (out.empty() ? "" : ", ") + s;
    }
    return out.empty() ? "none" : out;
}

}  // namespace

core::Result<std::string, std::string> read_config_text(const std::optional<std::string>& path) {
    if (!path) {
        return std::string(config::default_config_json());
    }
    std::ifstream in(*path);
    if (!in) {
        return core::Unexpected(*path + ": cannot read");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

Control::Control(
        std::optional<std::string> config_path,
        std::string config_text,
        Proxy& proxy,
        unsigned workers)
        : config_path_(std::move(config_path))
        , proxy_(proxy)
        , workers_(workers)
        , started_(std::chrono::system_clock::now())
        , config_text_(std::move(config_text))
        , last_success_(now_seconds()) {}

std::string Control::config_hash() const {
    std::lock_guard lock(mutex_);
    char hex[17];
    std::snprintf(
            hex,
            sizeof hex,
            "%016llx",
            static_cast<unsigned long long>(hash_bytes(config_text_.data(), config_text_.size())));
    return hex;
}

std::string Control::config_text() const {
    std::lock_guard lock(mutex_);
    return config_text_;
}

core::Result<ReloadSummary, std::string> Control::reload() {
    std::lock_guard lock(mutex_);
    notify_reloading();
    const std::string source = config_path_ ? *config_path_ : "(embedded default config)";
    auto fail = [&](const std::string& why) -> core::Result<ReloadSummary, std::string> {
        reload_failed_.fetch_add(1, std::memory_order_relaxed);
        LOG_ERROR("reload failed; the running config stays: %s", why.c_str());
        notify_ready(status_line(proxy_));
        return core::Unexpected(why);
    };
    auto text = read_config_text(config_path_);
    if (!text) {
        return fail(text.error());
    }
    auto cfg = config::parse(*text);
    if (!cfg) {
        std::string why;
        for (const config::ConfigError& e : cfg.error()) {
            why += (why.empty() ? "" : "; ") + source + ": " + e.to_string();
        }
        return fail(why);
    }
    auto applied = proxy_.reload(*cfg);
    if (!applied) {
        return fail(applied.error());
    }
    config_text_ = std::move(*text);
    set_log_level(cfg->log_level);
    reload_ok_.fetch_add(1, std::memory_order_relaxed);
    last_success_.store(now_seconds(), std::memory_order_relaxed);
    LOG_INFO(
            "reloaded %s: listeners added: %s; removed: %s; kept: %zu",
            source.c_str(),
            join(applied->added).c_str(),
            join(applied->removed).c_str(),
            applied->kept);
    notify_ready(status_line(proxy_));
    return applied;
}

std::string status_line(const Proxy& proxy) {
    const std::size_t listeners =
            proxy.inspect([](const Proxy::View& v) { return v.listeners.size(); });
    return std::to_string(listeners) + " listeners, " + std::to_string(proxy.active_sessions())
            + " connections";
}

}  // namespace ringlb::daemon
