// What a bundle states in words (REPORT.md) and as an index (bundle.json). The writer renders
// them from the store, the verifier renders them again from the verified files and compares, so
// the plain-language report cannot say anything the signed data does not.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "khronika/schemas/custody.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/schemas/text.h"

namespace khronika::report {

// A disclosed file: its position in the entry and what its author signed of it.
struct ReportFile {
  size_t index = 0;
  FileDescriptor descriptor;
};

// A record of the case. Every record is shown with its place in the log; only a disclosed
// entry shows what its author signed, and only disclosed files their descriptors.
struct ReportEntry {
  Record record;
  Hash entry_id{};             // the SealedEntry's id (record.object_id)
  size_t file_count = 0;       // files the sealed entry holds, disclosed or not
  std::optional<SignedEntry> entry;  // disclosed
  std::vector<ReportFile> files;     // disclosed files, by position
};

struct ReportCosigner {
  Hash member{};
  uint64_t timestamp = 0;
};

// An RFC 3161 token over a checkpoint of the log (#16), checked.
struct ReportTimestamp {
  Hash tsa_cert{};       // SHA-256 of the TSA's signer certificate: names the token's files
  std::string tsa_name;  // its subject, RFC 2253
  std::string gen_time;  // RFC 3339 UTC
};

// An external C2SP witness's cosignature (`witness =` in khronika.conf; #16): no federation
// member, named by its key name.
struct ReportExternalWitness {
  std::string name;
  std::string vkey;
  uint64_t timestamp = 0;
};

struct ReportLog {
  Hash origin{};
  uint64_t checkpoint_size = 0;
  std::vector<ReportCosigner> cosigners;  // sorted by member
  std::vector<ReportExternalWitness> external;
  // The timestamped checkpoint (0: none) and its tokens, sorted by tsa_cert.
  uint64_t timestamped_size = 0;
  std::vector<ReportTimestamp> timestamps;
};

// What bundle.json claims without a signature: who exported, when, and the names the exporting
// node knows for authors and nodes. The report labels them as such.
struct ExportClaims {
  std::string case_id;
  int64_t exported_at_ms = 0;
  std::string exported_by;
  std::string node_id;  // hex
  std::string node_name;
  std::map<std::string, std::string> author_names;  // author key hex -> name
};

// A custody record of the case's log (docs/format.md section 7.3) and the events of the case
// it holds, each with its slot: the reads and exports of the case, on record in the log.
struct ReportCustody {
  Record record;
  std::vector<std::pair<uint32_t, CustodyEvent>> events;  // by slot
};

struct ReportFacts {
  ExportClaims claims;
  std::vector<ReportEntry> entries;  // every record of the case, sorted by (origin, index)
  std::vector<ReportLog> logs;       // sorted by origin
  std::vector<ReportCustody> custody;  // sorted by (origin, index); none: no section, no field
};

nlohmann::json IndexJson(const ReportFacts& facts);
Result<ExportClaims> ClaimsFromIndex(std::string_view json_text);
std::string RenderReport(const ReportFacts& facts);

// Text safe to put in Markdown: invisible and text-direction characters (kInvisibleCodePoints in
// khronika/schemas/text.h) are written out as <U+202E>, other control characters become U+FFFD,
// and the characters Markdown gives meaning are escaped, so a file name or metadata value can
// neither restyle the report nor hide or reorder its own text.
std::string MarkdownText(std::string_view s);
using khronika::UtcTime;  // schemas/text.h

}  // namespace khronika::report
