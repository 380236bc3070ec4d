// Court bundles (docs/lawyer.md, docs/format.md "Court bundle"): one case's evidence files,
// entries, records, inclusion proofs, checkpoints with cosignatures and public keys, in a folder
// or a .tar that proves itself offline.
//
// Every path in a bundle is generated here from ids, indexes and media types (bundle_paths.h);
// no submitted name, case id or metadata value ever becomes part of a path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "khronika/schemas/objects.h"
#include "khronika/store/store.h"

namespace khronika {

inline constexpr std::string_view kBundleFormat = "khronika-bundle/1";

// One file of a bundle.
struct BundleFile {
  std::string path;
  uint64_t size = 0;
  Bytes data;                           // small files, held whole
  std::optional<FileManifest> content;  // evidence files, read from the store chunk by chunk
};

struct BundleRequest {
  std::string case_id;
  int64_t now_ms = 0;
  std::string exported_by;  // "token 1a2b3c4d5e6f7a8b (reader)", "local operator", ...
  // The exporting node's own witness key (C2SP cosigner verifier key), so that its cosignatures
  // on other members' checkpoints are included with theirs.
  std::string local_cosigner_vkey;
};

struct BundlePlan {
  std::string case_id;
  int64_t created_ms = 0;
  uint64_t entries = 0;
  uint64_t evidence_files = 0;
  uint64_t evidence_bytes = 0;
  std::vector<BundleFile> files;  // in the order a .tar holds them; MANIFEST.sha256 last
};

// Reads everything a bundle of the case needs from one snapshot of the store. NotFound when the
// store holds no entry of the case.
Result<BundlePlan> PlanBundle(const ReadTxn& txn, const BundleRequest& request);

// Writes the bundle into `out`, which must not exist yet (its parent must). Evidence files are
// copied one chunk at a time, each chunk checked against its id.
Status WriteBundleDirectory(const Store& store, const BundlePlan& plan,
                            const std::filesystem::path& out);

// The bundle as a POSIX ustar archive, produced piece by piece so that memory stays flat however
// large the evidence: what `GET /v1/cases/{case}/bundle` streams and `export --tar` writes.
class BundleTar {
 public:
  BundleTar(const Store& store, BundlePlan plan);
  uint64_t size() const { return size_; }
  // The next piece of the archive; empty once it is complete.
  Result<Bytes> Next();

 private:
  const Store& store_;
  BundlePlan plan_;
  uint64_t size_ = 0;
  size_t file_ = 0;
  enum class Phase { kHeader, kData, kPadding, kTrailer, kDone } phase_ = Phase::kHeader;
  uint64_t chunk_ = 0;
};

Status WriteBundleTar(const Store& store, BundlePlan plan, const std::filesystem::path& out);

// Unpacks a bundle .tar as it arrives (from `export --node`), into `out`, which must not exist.
// Accepts only regular files and directories at paths a bundle can have (bundle_paths.h), each
// created new: an archive cannot write outside `out`, replace a file, or plant a link.
class BundleTarExtractor {
 public:
  explicit BundleTarExtractor(std::filesystem::path out);
  ~BundleTarExtractor();
  Status Write(ByteView data);
  Status Finish();  // the archive must have ended with its two zero blocks
  uint64_t files() const { return files_; }

 private:
  Status OnHeader();
  Status OnMetaRecord();
  std::filesystem::path out_;
  Bytes header_;
  Bytes meta_;            // a GNU long name ('L') or pax header ('x') being read
  char meta_type_ = 0;
  std::string long_name_;  // the name it gave the next member
  int fd_ = -1;
  uint64_t left_ = 0;     // bytes of the current file still to come
  uint64_t padding_ = 0;  // bytes of padding after it
  int zero_blocks_ = 0;
  bool done_ = false;
  uint64_t files_ = 0;
};

}  // namespace khronika
