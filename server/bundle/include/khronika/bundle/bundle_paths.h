// The only paths a court bundle (khronika-bundle/2) may hold. The writer makes them, and the
// verifier and the .tar extractor accept nothing else, so a bundle can neither hide extra files
// nor reach outside its folder:
//
//   REPORT.md  MANIFEST.sha256  bundle.json
//   keys/authors/<64 hex>.pem   keys/origins/<64 hex>.vkey   keys/cosigners/<64 hex>.vkey
//   keys/witnesses/<SHA-256 of the verifier key line: 64 hex>.vkey   an external witness (#16)
//   logs/<origin: 64 hex>/checkpoint.note
//   logs/<origin>/timestamped.note  logs/<origin>/timestamped.consistency.json
//   logs/<origin>/timestamps/<TSA certificate SHA-256: 64 hex>.tst   keys/tsa/<64 hex>.pem
//   records/<origin: 64 hex>/<index: 20 digits>/
//       record.bin record.json sealed_entry.bin proof.json link.key        every record
//       entry.key entry.bin entry.json                                     a disclosed entry
//       files/<n>/{file.key, salt.hex, descriptor.bin, descriptor.json,    a disclosed file
//                  content<ext>, sealed/<k>.bin}
//   custody/<origin: 64 hex>/<index: 20 digits>/                         a custody record
//       record.bin custody_record.bin proof.json
//       events/<slot>.key events/<slot>.json                               an event of the case
//
// with n a file's position in its entry and k a sealed chunk's position in its file (decimal,
// no leading zeros, n below 1000, k below 10^7), and ext "." and 1 to 8 of [a-z0-9].
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
// An external C2SP witness's verifier key (`witness =` in khronika.conf), named by the SHA-256
// of the key's text: a witness is no federation member and has no node id.
std::string ExternalWitnessKey(std::string_view vkey);
std::string Checkpoint(const Hash& origin);
// RFC 3161 timestamps (#16): the timestamped checkpoint, its consistency proof with the
// bundle's checkpoint, one token per TSA certificate, and that TSA's CA certificates.
std::string TimestampedCheckpoint(const Hash& origin);
std::string TimestampConsistency(const Hash& origin);
std::string TimestampToken(const Hash& origin, const Hash& tsa_cert);
std::string TsaCa(const Hash& tsa_cert);
std::string RecordDir(const Hash& origin, uint64_t index);  // no trailing slash
// A custody record's folder (no trailing slash), and, relative to it, an event's key and view.
std::string CustodyDir(const Hash& origin, uint64_t index);
std::string CustodyEventKey(uint32_t slot);
std::string CustodyEventJson(uint32_t slot);
// Relative to the record's folder.
std::string FileDir(size_t n);  // "files/<n>", no trailing slash
std::string Content(size_t n, std::string_view media_type);
std::string SealedChunk(size_t n, uint64_t k);

// True for a file path of the grammar above.
bool IsBundleFile(std::string_view path);
// True for a folder that some bundle file lies in ("keys", "records/<o>/<i>/files/0/sealed", ...).
bool IsBundleFolder(std::string_view path);

}  // namespace khronika::bundle_paths
