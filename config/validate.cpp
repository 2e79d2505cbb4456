// SPDX-License-Identifier: MIT
// validate(): the checks that need more than one field.
#include "config/validate.hpp"

#include <map>
#include <string>

namespace ringlb::config {
namespace {

std::string at(const char* list, std::size_t i) {
    return std::string(list) + "[" + std::to_string(i) + "]";
}

}  // namespace

void validate(const Config& cfg, ConfigErrors& errors) {
    std::map<std::string, std::size_t> pool_index;
    for (std::size_t i = 0; i < cfg.pools.size(); ++i) {
        const Pool& p = cfg.pools[i];
        if (!p.name.empty()) {
            auto [it, inserted] = pool_index.emplace(p.name, i);
            if (!inserted) {
                errors.push_back(
                        {at("pools", i) + ".name",
                         "duplicate pool name \"" + p.name + "\" (first used by "
                                 + at("pools", it->second) + ")"});
            }
        }
        std::map<std::string, std::size_t> seen;
        for (std::size_t k = 0; k < p.backends.size(); ++k) {
            const std::string& a = p.backends[k].address;
            if (a.empty()) {
                continue;
            }
            auto [it, inserted] = seen.emplace(a, k);
            if (!inserted) {
                errors.push_back(
                        {at("pools", i) + ".backends[" + std::to_string(k) + "].address",
                         "duplicate backend \"" + a + "\" (also backends["
                                 + std::to_string(it->second) + "])"});
            }
        }
    }
    std::map<std::string, std::size_t> listener_names;
    std::map<std::string, std::size_t> listen_addresses;
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        const Listener& l = cfg.listeners[i];
        const std::string path = at("listeners", i);
        if (!l.name.empty()) {
            auto [it, inserted] = listener_names.emplace(l.name, i);
            if (!inserted) {
                errors.push_back(
                        {path + ".name",
                         "duplicate listener name \"" + l.name + "\" (first used by "
                                 + at("listeners", it->second) + ")"});
            }
        }
        if (!l.listen.empty() && l.address.length() > 0) {
            auto [it, inserted] = listen_addresses.emplace(l.address.to_string(), i);
            if (!inserted) {
                errors.push_back(
                        {path + ".listen",
                         "address " + l.address.to_string() + " is already used by "
                                 + at("listeners", it->second)});
            }
        }
        if (l.pool && l.service) {
            errors.push_back({path, "has both \"pool\" and \"service\"; choose one"});
        } else if (!l.pool && !l.service) {
            errors.push_back({path, "needs a \"pool\" or a \"service\""});
        } else if (l.pool && !l.pool->empty() && pool_index.find(*l.pool) == pool_index.end()) {
            errors.push_back({path + ".pool", "no pool named \"" + *l.pool + "\""});
        }
    }
}

}  // namespace ringlb::config
