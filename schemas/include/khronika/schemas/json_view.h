// JSON views of the objects, for the API, `khronika log --json` and court bundles. Hashes, keys
// and signatures are lowercase hex. JSON is a view only: ids are always computed from the
// canonical bytes, never from JSON.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "khronika/schemas/objects.h"

namespace khronika {

nlohmann::json ToJson(const FileManifest& m);
nlohmann::json ToJson(const Entry& e);
nlohmann::json ToJson(const Record& r);

// A JSON view as Khronika writes it into a file (court bundles, the git mirror), byte for byte what
// their verifiers expect: two-space indent and a final newline.
inline std::string JsonFileText(const nlohmann::json& j) { return j.dump(2) + "\n"; }

// Strict parsers: unknown fields, wrong types and invalid values are errors.
Result<FileManifest> ManifestFromJson(const nlohmann::json& j);
Result<Entry> EntryFromJson(const nlohmann::json& j);

}  // namespace khronika
