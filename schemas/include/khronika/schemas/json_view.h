// JSON views of the objects, for the API, `khronika log --json` and court bundles. Hashes, keys
// and signatures are lowercase hex. JSON is a view only: ids are always computed from the
// canonical bytes, never from JSON.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"

namespace khronika {

nlohmann::json ToJson(const FileDescriptor& d);
nlohmann::json ToJson(const SignedEntry& e);
nlohmann::json ToJson(const Record& r);

// A JSON view as Khronika writes it into a file (court bundles, the git mirror), byte for byte what
// their verifiers expect: two-space indent and a final newline.
inline std::string JsonFileText(const nlohmann::json& j) { return j.dump(2) + "\n"; }

// Strict parsers: unknown fields, wrong types and invalid values are errors.
Result<FileDescriptor> DescriptorFromJson(const nlohmann::json& j);
Result<SignedEntry> SignedEntryFromJson(const nlohmann::json& j);

}  // namespace khronika
