// Court bundles, format khronika-bundle/2 (docs/format-2.md section 8, docs/lawyer.md): the
// records of one case with everything that ties them to the origin's signed, cosigned log, and
// the keys and plaintext of what the request chose to disclose, in a folder or one .tar that
// proves itself offline.
//
// Selective disclosure: a bundle opens the chosen entries (their entry keys and signed entry
// bytes) and the chosen files of those entries (file keys, descriptors and salts, sealed chunks
// and plaintext). Every other record of the case is there with its link key only, which opens
// nothing but the case chain. No case key and no archive key is ever written: nothing in a
// bundle opens a file it does not disclose (sealing.h: keys derive one way).
//
// Every path in a bundle is generated here from ids, indexes and media types (bundle_paths.h);
// no submitted name, case id or metadata value ever becomes part of a path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "khronika/log/log.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/store/store.h"

namespace khronika {

inline constexpr std::string_view kBundleFormat = "khronika-bundle/2";

// What a bundle discloses. The first four fields keep their order (callers initialise them
// positionally); the selection is optional:
//   - no entries, no file names: every entry of the case, with all its files;
//   - entries only: those entries, with all their files;
//   - file names only: every entry of the case holding a file of one of those names, opened
//     with those files only;
//   - both: the named files of the named entries only.
// Every named entry must be an entry of the case in this node's log, and every file name must
// match at least one file of the chosen entries; otherwise NotFound (one wording for an entry
// of another case and an entry that does not exist).
struct BundleRequest {
  std::string case_id;
  int64_t now_ms = 0;
  std::string exported_by;  // "token 1a2b3c4d5e6f7a8b (reader)", "local operator", ...
  // The exporting node's own witness key (C2SP cosigner verifier key), so that its cosignatures
  // on the checkpoint are included with the other members'.
  std::string local_cosigner_vkey;
  std::vector<Hash> entries;            // sealed entry ids (the entries' public handles)
  std::vector<std::string> file_names;  // as the author named them (FileDescriptor::name)
  // The exporting node's custody key (DeriveCustodyKey of its archive key; docs/format.md
  // section 7.3), to disclose the case's custody events: the reads and exports of the case that
  // its log holds. It opens every custody event of the node, so the plan writes only the event
  // keys of events whose case is `case_id`, each opening one event. Unset: no custody records.
  std::optional<SymmetricKey> custody_key;
  ~BundleRequest();  // wipes custody_key
};

// One file of a bundle. Exactly one of the three sources is used.
struct BundleFile {
  enum class Source {
    kData,       // `data`, held whole
    kSealed,     // sealed chunk `chunk` of the store, re-hashed against its id when read
    kPlaintext,  // the plaintext of a sealed file, decrypted and authenticated as it is read
  };
  std::string path;
  uint64_t size = 0;
  Hash sha256{};  // of the file's bytes: what MANIFEST.sha256 lists
  Source source = Source::kData;
  Bytes data;
  Hash chunk{};
  // kPlaintext: which file of which sealed entry, under which file key.
  std::shared_ptr<const SealedEntry> sealed;
  uint32_t file_index = 0;
  std::optional<FileDescriptor> descriptor;
  SymmetricKey file_key{};

  BundleFile() = default;
  BundleFile(const BundleFile&) = default;
  BundleFile(BundleFile&&) = default;
  BundleFile& operator=(const BundleFile&) = default;
  BundleFile& operator=(BundleFile&&) = default;
  ~BundleFile();  // wipes file_key
};

struct BundlePlan {
  std::string case_id;
  int64_t created_ms = 0;
  uint64_t records = 0;          // records of the case in the bundle
  uint64_t entries = 0;          // entries disclosed (opened)
  uint64_t evidence_files = 0;   // files disclosed
  uint64_t evidence_bytes = 0;   // their plaintext bytes
  std::vector<BundleFile> files;  // in the order a .tar holds them; MANIFEST.sha256 last
};

// Reads everything the bundle needs from one snapshot of the store, opening every record of
// the case with `key`: the origin's archive key (an admin) or the case key of request.case_id (a
// token limited to that case; a case key of another case gets NotFound, as an absent case).
// Only entries of this node's own log are bundled (a case belongs to the log that created it).
// NotFound when the case has no entry here or the selection names something the case lacks;
// InvalidArgument for a malformed case id or file name; Corruption if the store is damaged.
// The plan holds the disclosed keys: it is the bundle, to be written and dropped.
Result<BundlePlan> PlanBundle(const ReadTxn& txn, const EntryKey& key,
                              const BundleRequest& request);

// Writes the bundle into `out`, which must not exist yet (its parent must): the inspection form.
Status WriteBundleDirectory(const Store& store, const BundlePlan& plan,
                            const std::filesystem::path& out);

// The bundle as a POSIX ustar archive (the one-file form), produced piece by piece so that
// memory stays flat however large the evidence: what `GET /v1/cases/{case}/bundle` streams and
// `export` writes. Every sealed chunk is re-hashed against its id, every 16 KiB of plaintext
// authenticated, and each plaintext file's SHA-256 compared with its descriptor as it goes out:
// Next() fails (Corruption) rather than send a byte the store does not prove.
class BundleTar {
 public:
  BundleTar(const Store& store, BundlePlan plan);
  BundleTar(BundleTar&&) noexcept;
  ~BundleTar();
  uint64_t size() const { return size_; }
  // The next piece of the archive (at most about 1 MiB); empty once it is complete.
  Result<Bytes> Next();

 private:
  const Store* store_;
  BundlePlan plan_;
  uint64_t size_ = 0;
  size_t file_ = 0;
  enum class Phase { kHeader, kData, kPadding, kTrailer, kDone } phase_ = Phase::kHeader;
  std::unique_ptr<class BundleContentStream> content_;  // of the current file
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
  Bytes meta_;  // a GNU long name ('L') or pax header ('x') being read
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
