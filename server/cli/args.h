// Command-line parsing for the khronika binary: "--name value", "--name=value", repeatable
// options, and plain words. Every subcommand declares the options it takes; anything else is a
// usage error (exit 2).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "khronika/schemas/status.h"

namespace khronika::cli {

struct OptionSpec {
  std::string name;  // without the leading "--"
  bool takes_value = true;
  bool repeatable = false;
};

class Args {
 public:
  static Result<Args> Parse(const std::vector<std::string>& argv, const std::vector<OptionSpec>& spec);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  Result<std::string> Require(const std::string& name) const;
  Result<uint64_t> GetUnsigned(const std::string& name, uint64_t fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace khronika::cli
