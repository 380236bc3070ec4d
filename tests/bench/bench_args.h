// The `--name value` arguments of the bench programs (server_load, proof_load, growth_fill):
// every argument is a pair, and a missing or malformed one ends the program through `usage`.
#pragma once

#include <map>
#include <string>

namespace khronika::bench {

class BenchArgs {
 public:
  using Usage = void (*)(const std::string& why);  // must not return

  BenchArgs(int argc, char** argv, Usage usage) : usage_(usage) {
    for (int i = 1; i < argc; ++i) {
      std::string k = argv[i];
      if (k.rfind("--", 0) != 0 || i + 1 >= argc) usage_("bad argument " + k);
      values_[k.substr(2)] = argv[++i];
    }
  }

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  // The value of --name; the program stops with a usage message if it was not given.
  const std::string& need(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) usage_("--" + name + " is required");
    return it->second;
  }

 private:
  Usage usage_;
  std::map<std::string, std::string> values_;
};

}  // namespace khronika::bench
