// The only paths a court bundle may hold. The writer makes them, and the verifier and the .tar
// extractor accept nothing else, so a bundle can neither hide extra files nor reach outside its
// folder:
//
//   REPORT.md  MANIFEST.sha256  bundle.json
//   keys/authors/<64 hex>.pem   keys/origins/<64 hex>.vkey   keys/cosigners/<64 hex>.vkey
//   logs/<origin: 64 hex>/checkpoint.note
//   entries/<origin: 64 hex>/<index: 20 digits>/{record.bin, record.json, entry.bin, entry.json,
//       proof.json, manifests/<n>.bin, manifests/<n>.json, files/<n><ext>}
//
// with n a decimal position (no leading zeros, below 1000) and ext "." and 1 to 8 of [a-z0-9].
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "khronika/schemas/objects.h"

namespace khronika::bundle_paths {

inline constexpr std::string_view kReport = "REPORT.md";
inline constexpr std::string_view kManifest = "MANIFEST.sha256";
inline constexpr std::string_view kIndex = "bundle.json";

std::string AuthorKey(const PublicKey& author);
std::string OriginKey(const Hash& origin);
std::string CosignerKey(const Hash& member);
std::string Checkpoint(const Hash& origin);
std::string EntryDir(const Hash& origin, uint64_t index);  // no trailing slash
std::string ManifestBin(size_t n);                          // relative to the entry's folder
std::string ManifestJson(size_t n);
std::string EvidenceFile(size_t n, std::string_view media_type);

// True for a file path of the grammar above.
bool IsBundleFile(std::string_view path);
// True for a folder that some bundle file lies in ("keys", "entries/<origin>/<index>/files", ...).
bool IsBundleFolder(std::string_view path);

}  // namespace khronika::bundle_paths
