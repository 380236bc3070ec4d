#include "args.h"

#include <charconv>

namespace khronika::cli {

Result<Args> Args::Parse(const std::vector<std::string>& argv, const std::vector<OptionSpec>& spec) {
  Args out;
  bool only_positional = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (only_positional || a.size() < 2 || a.compare(0, 2, "--") != 0) {
      out.positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const OptionSpec* opt = nullptr;
    for (const OptionSpec& s : spec) {
      if (s.name == name) opt = &s;
    }
    if (!opt) return Status::InvalidArgument("usage: unknown option --" + name);
    if (!opt->repeatable && out.values_.count(name)) {
      return Status::InvalidArgument("usage: option --" + name + " given twice");
    }
    if (!opt->takes_value) {
      if (inline_value) return Status::InvalidArgument("usage: option --" + name + " takes no value");
      out.values_.emplace(name, "");
      continue;
    }
    if (inline_value) {
      out.values_.emplace(name, *inline_value);
    } else if (i + 1 < argv.size()) {
      out.values_.emplace(name, argv[++i]);
    } else {
      return Status::InvalidArgument("usage: option --" + name + " needs a value");
    }
  }
  return out;
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  std::vector<std::string> out;
  auto [b, e] = values_.equal_range(name);
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

Result<std::string> Args::Require(const std::string& name) const {
  auto v = Get(name);
  if (!v || v->empty()) return Status::InvalidArgument("usage: missing required option --" + name);
  return *v;
}

Result<uint64_t> Args::GetUnsigned(const std::string& name, uint64_t fallback) const {
  auto v = Get(name);
  if (!v) return fallback;
  uint64_t out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (v->empty() || ec != std::errc() || ptr != v->data() + v->size()) {
    return Status::InvalidArgument("usage: option --" + name + " needs a non-negative integer, got '" +
                                   *v + "'");
  }
  return out;
}

}  // namespace khronika::cli
