// JSON views of the objects, for the API, `khronika log --json` and court bundles. Hashes, keys
// and signatures are lowercase hex. JSON is a view only: ids are always computed from the
// canonical bytes, never from JSON.
#pragma once

#include <nlohmann/json.hpp>

#include "khronika/schemas/objects.h"

namespace khronika {

nlohmann::json ToJson(const FileManifest& m);
nlohmann::json ToJson(const Entry& e);
nlohmann::json ToJson(const Record& r);

// Strict parsers: unknown fields, wrong types and invalid values are errors.
Result<FileManifest> ManifestFromJson(const nlohmann::json& j);
Result<Entry> EntryFromJson(const nlohmann::json& j);

}  // namespace khronika
