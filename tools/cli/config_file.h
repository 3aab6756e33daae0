#pragma once
// The model config files guided-diffusion / DPS users already have: a flat YAML mapping
// (`num_channels: 128`, `channel_mult: ""`, `# comments`) or a flat JSON object. Only that subset of
// YAML: one `key: value` per line, scalars only (strings, numbers, booleans, flow lists like [1, 2]).
#include <map>
#include <string>

namespace tweedie::cli {

// Values as text, quotes removed ("" stays an empty string). ArgumentError naming the file and line
// on anything outside the subset (nested mappings, block lists, repeated keys).
std::map<std::string, std::string> read_config_file(const std::string& path);

}  // namespace tweedie::cli
