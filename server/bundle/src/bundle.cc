#include "khronika/bundle/bundle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <utility>

#include "khronika/bundle/bundle_paths.h"
#include "khronika/log/log.h"
#include "khronika/log/proofs.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/witness.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/note.h"
#include "khronika/store/files.h"
#include "report.h"

namespace khronika {

using nlohmann::json;

namespace {

constexpr size_t kTarBlock = 512;
constexpr uint64_t kMaxBundleFiles = 4'000'000;
constexpr uint64_t kMaxMetaRecord = 64 * 1024;  // a GNU long name or a pax header

Result<Bytes> MustGet(const ReadTxn& txn, Table table, ByteView key, const std::string& what) {
  KH_ASSIGN_OR_RETURN(auto v, txn.Get(table, key));
  if (!v) return Status::Corruption(what + " is missing from the store");
  return std::move(*v);
}

// A stored chunk of the length its manifest gives (ReadChunk checks it against its id).
Result<Bytes> ReadCheckedChunk(const Store& store, const Hash& id, uint64_t expected_length) {
  KH_ASSIGN_OR_RETURN(Bytes chunk, ReadChunk(store, id));
  if (chunk.size() != expected_length) return Status::Corruption("chunk " + ToHex(id) + " is damaged");
  return chunk;
}

struct Witnesses {
  std::vector<std::pair<Hash, NoteVerifier>> keys;  // member -> witness verifier
  const NoteVerifier* Of(const Hash& member) const {
    for (const auto& [m, v] : keys) {
      if (m == member) return &v;
    }
    return nullptr;
  }
};

// The members' witness keys and this node's own, whose cosignatures count.
Result<Witnesses> LoadWitnesses(const ReadTxn& txn, const Hash& local, std::string_view local_vkey) {
  Witnesses w;
  KH_ASSIGN_OR_RETURN(auto members, MemberWitnessKeys(txn));
  for (auto& [member, verifier] : members) {
    if (member != local) w.keys.emplace_back(member, std::move(verifier));
  }
  if (auto own = ParseCosignerVerifierKey(local_vkey); own.ok()) w.keys.emplace_back(local, *own);
  return w;
}

struct ChosenCheckpoint {
  uint64_t size = 0;
  std::string note;  // the origin's note with the verified cosignature lines added
  std::vector<report::ReportCosigner> cosigners;
  Hash root{};
};

// The held checkpoint of `origin` at `size` with the cosignatures on it that verify under a
// member's witness key (one per member, never the origin's own).
Result<ChosenCheckpoint> CheckpointAt(const ReadTxn& txn, const Hash& origin, uint64_t size,
                                      const Witnesses& witnesses) {
  KH_ASSIGN_OR_RETURN(Bytes stored, MustGet(txn, Table::kCheckpoints, keys::Checkpoint(origin, size),
                                            "checkpoint " + std::to_string(size) + " of " + ToHex(origin)));
  KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(AsChars(stored)));
  KH_ASSIGN_OR_RETURN(Checkpoint body, ParseCheckpointBody(note.text));
  ChosenCheckpoint chosen;
  chosen.size = size;
  chosen.root = body.root;
  KH_RETURN_IF_ERROR(txn.Scan(Table::kCosignatures, keys::Checkpoint(origin, size),
                              [&](ByteView, ByteView value) -> Result<bool> {
    auto parsed = ParseStoredCosignature(value);
    if (!parsed.ok()) return true;
    const NoteSignatureLine& line = *parsed;
    for (const auto& [member, verifier] : witnesses.keys) {
      if (member == origin) continue;
      auto ts = VerifyCosignature(note.text, line, verifier);
      if (!ts) continue;
      // `member` is captured by name: clang before 16 cannot capture a structured binding.
      bool dup = std::any_of(
          chosen.cosigners.begin(), chosen.cosigners.end(),
          [&m = member](const report::ReportCosigner& c) { return c.member == m; });
      if (dup) continue;
      note.signatures.push_back(line);
      chosen.cosigners.push_back({member, *ts});
    }
    return true;
  }));
  std::sort(chosen.cosigners.begin(), chosen.cosigners.end(),
            [](const auto& a, const auto& b) { return a.member < b.member; });
  chosen.note = FormatSignedNote(note);
  return chosen;
}

// The checkpoint of `origin` that covers the first `needed` records and carries the most
// verified cosignatures (the newest among equals); the latest checkpoint when none is cosigned.
Result<ChosenCheckpoint> ChooseCheckpoint(const ReadTxn& txn, const Hash& origin, uint64_t needed,
                                          const Witnesses& witnesses) {
  KH_ASSIGN_OR_RETURN(std::vector<uint64_t> cosigned_sizes, CosignedSizes(txn, origin));
  std::optional<ChosenCheckpoint> best;
  for (auto it = cosigned_sizes.rbegin(); it != cosigned_sizes.rend() && *it >= needed; ++it) {
    KH_ASSIGN_OR_RETURN(bool held, txn.Contains(Table::kCheckpoints, keys::Checkpoint(origin, *it)));
    if (!held) continue;
    KH_ASSIGN_OR_RETURN(ChosenCheckpoint c, CheckpointAt(txn, origin, *it, witnesses));
    if (!best || c.cosigners.size() > best->cosigners.size()) best = std::move(c);
  }
  if (best && !best->cosigners.empty()) return std::move(*best);
  KH_ASSIGN_OR_RETURN(auto last, LatestHeldCheckpoint(txn, origin));
  if (!last) return Status::NotFound("no signed checkpoint of log " + ToHex(origin) + " is held here");
  const uint64_t size = last->size;
  if (size < needed) {
    return Status::NotFound("no signed checkpoint of log " + ToHex(origin) + " covers record " +
                            std::to_string(needed - 1) + " yet: sync, then export again");
  }
  return CheckpointAt(txn, origin, size, witnesses);
}

void AddSmall(BundlePlan& plan, std::string path, std::string_view text) {
  BundleFile f;
  f.path = std::move(path);
  f.data.assign(text.begin(), text.end());
  f.size = f.data.size();
  plan.files.push_back(std::move(f));
}

// ---- ustar ----

// width - 1 octal digits, zero-padded, then NUL (the caller keeps value within range).
void PutOctal(uint8_t* field, size_t width, uint64_t value) {
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<uint8_t>('0' + (value & 7));
    value >>= 3;
  }
  field[width - 1] = 0;
}

Result<Bytes> TarHeader(const std::string& path, uint64_t size, int64_t mtime_s) {
  Bytes h(kTarBlock, 0);
  std::string prefix, name = path;
  if (path.size() > 100) {
    size_t slash = path.rfind('/', 155);
    while (slash != std::string::npos && path.size() - slash - 1 > 100) slash = std::string::npos;
    if (slash == std::string::npos || slash == 0) {
      return Status::InvalidArgument("path too long for a tar header: " + path);
    }
    prefix = path.substr(0, slash);
    name = path.substr(slash + 1);
  }
  std::memcpy(h.data(), name.data(), name.size());
  PutOctal(h.data() + 100, 8, 0644);
  PutOctal(h.data() + 108, 8, 0);
  PutOctal(h.data() + 116, 8, 0);
  if (size < (uint64_t{1} << 33)) {
    PutOctal(h.data() + 124, 12, size);
  } else {  // GNU base-256, for files of 8 GiB and more
    h[124] = 0x80;
    for (int i = 0; i < 8; ++i) h[124 + 4 + i] = static_cast<uint8_t>(size >> (8 * (7 - i)));
  }
  PutOctal(h.data() + 136, 12, static_cast<uint64_t>(std::max<int64_t>(mtime_s, 0)));
  std::memset(h.data() + 148, ' ', 8);
  h[156] = '0';
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  std::memcpy(h.data() + 265, "khronika", 8);
  std::memcpy(h.data() + 297, "khronika", 8);
  std::memcpy(h.data() + 345, prefix.data(), prefix.size());
  unsigned sum = 0;
  for (uint8_t b : h) sum += b;
  PutOctal(h.data() + 148, 7, sum);  // six digits, NUL, then the space already there
  return h;
}

uint64_t Padding(uint64_t size) { return (kTarBlock - size % kTarBlock) % kTarBlock; }

Status MakeFolders(const std::filesystem::path& root, const std::string& file_path) {
  size_t slash = 0;
  while ((slash = file_path.find('/', slash + 1)) != std::string::npos) {
    std::filesystem::path dir = root / file_path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus("cannot create " + dir.string());
    }
  }
  return Status::Ok();
}

Result<UniqueFd> CreateNew(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create " + path.string());
  return UniqueFd(fd);
}

}  // namespace

Result<BundlePlan> PlanBundle(const ReadTxn& txn, const BundleRequest& request) {
  KH_RETURN_IF_ERROR(ValidateCaseId(request.case_id));
  report::ReportFacts facts;
  facts.claims.case_id = request.case_id;
  facts.claims.exported_at_ms = request.now_ms;
  facts.claims.exported_by = request.exported_by;
  KH_ASSIGN_OR_RETURN(Bytes local_bytes, MustGet(txn, Table::kMeta, AsBytes(keys::kMetaLocalOrigin),
                                                 "the node's id"));
  if (local_bytes.size() != 32) return Status::Corruption("the node's id is malformed");
  Hash local;
  std::copy(local_bytes.begin(), local_bytes.end(), local.begin());
  facts.claims.node_id = ToHex(local);
  KH_ASSIGN_OR_RETURN(auto name, txn.Get(Table::kMeta, AsBytes(keys::kMetaNodeName)));
  if (name) facts.claims.node_name = std::string(AsChars(*name));

  // A case belongs to the log that created it: the exporting node's own. Entries that partners
  // logged under the same case id are theirs and never part of this case's bundle.
  Bytes prefix = keys::CasePrefix(txn, request.case_id, local);
  std::vector<std::pair<Hash, uint64_t>> locations;
  KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kCaseIndex, prefix, [&](ByteView key) -> Result<bool> {
    if (key.size() != prefix.size() + 8) return Status::Corruption("case index key malformed");
    KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodeCaseRecord(key));
    locations.emplace_back(at.origin, at.index);
    return true;
  }));
  if (locations.empty()) {
    return Status::NotFound("no entry of case " + request.case_id + " in this node's log");
  }

  KH_ASSIGN_OR_RETURN(Witnesses witnesses, LoadWitnesses(txn, local, request.local_cosigner_vkey));
  BundlePlan plan;
  plan.case_id = request.case_id;
  plan.created_ms = request.now_ms;
  std::vector<BundleFile> entry_files;
  std::map<std::string, PublicKey> authors;  // by hex
  std::map<Hash, ChosenCheckpoint> checkpoints;

  for (size_t i = 0; i < locations.size(); ++i) {
    const auto& [origin, index] = locations[i];
    if (!checkpoints.count(origin)) {
      uint64_t last = index;
      for (size_t j = i; j < locations.size() && locations[j].first == origin; ++j) last = locations[j].second;
      KH_ASSIGN_OR_RETURN(checkpoints[origin], ChooseCheckpoint(txn, origin, last + 1, witnesses));
    }
    const ChosenCheckpoint& cp = checkpoints[origin];
    const std::string where = "record " + std::to_string(index) + " of " + ToHex(origin);
    KH_ASSIGN_OR_RETURN(Bytes record_bytes, MustGet(txn, Table::kRecords, keys::Record(origin, index), where));
    KH_ASSIGN_OR_RETURN(Record record, DecodeRecord(record_bytes));
    KH_ASSIGN_OR_RETURN(Bytes entry_bytes, MustGet(txn, Table::kObjects, record.entry_id,
                                                   "the entry of " + where));
    if (ObjectId(entry_bytes) != record.entry_id) {
      return Status::Corruption("the entry of " + where + " is damaged: run khronika verify");
    }
    KH_ASSIGN_OR_RETURN(Entry entry, DecodeEntry(entry_bytes));
    KH_ASSIGN_OR_RETURN(InclusionProofResult proof, ProveInclusion(txn, origin, index, cp.size));
    if (proof.root != cp.root || proof.leaf_hash != LeafHash(record_bytes)) {
      return Status::Corruption("the Merkle tree of " + ToHex(origin) +
                                " disagrees with its checkpoint: run khronika verify");
    }
    const std::string dir = bundle_paths::EntryDir(origin, index) + "/";
    auto add = [&](const std::string& rel, std::string_view text) {
      BundleFile f;
      f.path = dir + rel;
      f.data.assign(text.begin(), text.end());
      f.size = f.data.size();
      entry_files.push_back(std::move(f));
    };
    add("record.bin", AsChars(record_bytes));
    add("record.json", JsonFileText(ToJson(record)));
    add("entry.bin", AsChars(entry_bytes));
    add("entry.json", JsonFileText(ToJson(entry)));
    add("proof.json", JsonFileText(ToJson(proof)));
    report::ReportEntry re{record, entry, record.entry_id, {}};
    for (size_t m = 0; m < entry.manifests.size(); ++m) {
      KH_ASSIGN_OR_RETURN(Bytes mb, MustGet(txn, Table::kObjects, entry.manifests[m],
                                            "manifest " + ToHex(entry.manifests[m])));
      if (ObjectId(mb) != entry.manifests[m]) {
        return Status::Corruption("manifest " + ToHex(entry.manifests[m]) + " is damaged: run khronika verify");
      }
      KH_ASSIGN_OR_RETURN(FileManifest manifest, DecodeManifest(mb));
      add(bundle_paths::ManifestBin(m), AsChars(mb));
      add(bundle_paths::ManifestJson(m), JsonFileText(ToJson(manifest)));
      BundleFile content;
      content.path = dir + bundle_paths::EvidenceFile(m, manifest.media_type);
      content.size = manifest.size;
      content.content = manifest;
      entry_files.push_back(std::move(content));
      plan.evidence_files += 1;
      plan.evidence_bytes += manifest.size;
      re.manifests.push_back(std::move(manifest));
    }
    authors[ToHex(entry.author)] = entry.author;
    KH_ASSIGN_OR_RETURN(auto author, FindAuthor(txn, entry.author));
    if (author) facts.claims.author_names[ToHex(entry.author)] = author->name;
    facts.entries.push_back(std::move(re));
  }
  plan.entries = facts.entries.size();

  std::vector<BundleFile> key_files;
  auto add_key = [&](std::string path, std::string text) {
    BundleFile f;
    f.path = std::move(path);
    f.data.assign(text.begin(), text.end());
    f.size = f.data.size();
    key_files.push_back(std::move(f));
  };
  for (const auto& [hex, key] : authors) add_key(bundle_paths::AuthorKey(key), PublicKeyToPem(key));
  std::map<Hash, bool> cosigner_files;
  for (const auto& [origin, cp] : checkpoints) {
    KH_ASSIGN_OR_RETURN(auto pub, txn.Get(Table::kOrigins, origin));
    if (!pub || pub->size() != 32) {
      return Status::NotFound("the public key of log " + ToHex(origin) + " is not on the roster");
    }
    PublicKey key;
    std::copy(pub->begin(), pub->end(), key.begin());
    add_key(bundle_paths::OriginKey(origin), FormatVerifierKey(OriginName(origin), key) + "\n");
    facts.logs.push_back({origin, cp.size, cp.cosigners});
    for (const auto& c : cp.cosigners) cosigner_files[c.member] = true;
  }
  for (const auto& [member, unused] : cosigner_files) {
    const NoteVerifier* witness = witnesses.Of(member);
    add_key(bundle_paths::CosignerKey(member), FormatCosignerVerifierKey(witness->name, witness->key) + "\n");
  }

  AddSmall(plan, std::string(bundle_paths::kReport), report::RenderReport(facts));
  AddSmall(plan, std::string(bundle_paths::kIndex), JsonFileText(report::IndexJson(facts)));
  for (auto& f : key_files) plan.files.push_back(std::move(f));
  for (const auto& [origin, cp] : checkpoints) AddSmall(plan, bundle_paths::Checkpoint(origin), cp.note);
  for (auto& f : entry_files) plan.files.push_back(std::move(f));

  std::vector<std::pair<std::string, Hash>> sums;
  for (const BundleFile& f : plan.files) {
    sums.emplace_back(f.path, f.content ? f.content->content_sha256 : Sha256(f.data));
  }
  std::sort(sums.begin(), sums.end());
  std::string manifest;
  for (const auto& [path, hash] : sums) manifest += ToHex(hash) + "  " + path + "\n";
  AddSmall(plan, std::string(bundle_paths::kManifest), manifest);
  if (plan.files.size() > kMaxBundleFiles) return Status::InvalidArgument("the case has too many files for one bundle");
  return plan;
}

Status WriteBundleDirectory(const Store& store, const BundlePlan& plan, const std::filesystem::path& out) {
  if (::mkdir(out.c_str(), 0755) != 0) {
    if (errno == EEXIST) return Status::AlreadyExists(out.string() + " already exists: name a new folder");
    return ErrnoStatus("cannot create " + out.string());
  }
  for (const BundleFile& f : plan.files) {
    KH_RETURN_IF_ERROR(MakeFolders(out, f.path));
    KH_ASSIGN_OR_RETURN(UniqueFd fd, CreateNew(out / f.path));
    if (!f.content) {
      KH_RETURN_IF_ERROR(WriteAll(fd.get(), f.data.data(), f.data.size(), f.path));
      continue;
    }
    const FileManifest& m = *f.content;
    Sha256Stream whole;
    for (uint64_t i = 0; i < m.chunks.size(); ++i) {
      KH_ASSIGN_OR_RETURN(Bytes chunk, ReadCheckedChunk(store, m.chunks[i], ChunkLength(m.size, i)));
      whole.Update(chunk);
      KH_RETURN_IF_ERROR(WriteAll(fd.get(), chunk.data(), chunk.size(), f.path));
    }
    if (whole.Finish() != m.content_sha256) {
      return Status::Corruption("stored content of " + f.path + " does not match its manifest");
    }
  }
  UniqueFd dirfd(::open(out.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd.get() < 0 || ::syncfs(dirfd.get()) != 0) return ErrnoStatus("cannot sync " + out.string());
  return Status::Ok();
}

BundleTar::BundleTar(const Store& store, BundlePlan plan) : store_(store), plan_(std::move(plan)) {
  for (const BundleFile& f : plan_.files) size_ += kTarBlock + f.size + Padding(f.size);
  size_ += 2 * kTarBlock;
}

Result<Bytes> BundleTar::Next() {
  while (true) {
    switch (phase_) {
      case Phase::kHeader: {
        if (file_ == plan_.files.size()) {
          phase_ = Phase::kTrailer;
          continue;
        }
        const BundleFile& f = plan_.files[file_];
        chunk_ = 0;
        phase_ = Phase::kData;
        KH_ASSIGN_OR_RETURN(Bytes header, TarHeader(f.path, f.size, plan_.created_ms / 1000));
        return header;
      }
      case Phase::kData: {
        const BundleFile& f = plan_.files[file_];
        if (!f.content) {
          phase_ = Phase::kPadding;
          if (f.data.empty()) continue;
          return f.data;
        }
        if (chunk_ == f.content->chunks.size()) {
          phase_ = Phase::kPadding;
          continue;
        }
        uint64_t i = chunk_++;
        return ReadCheckedChunk(store_, f.content->chunks[i], ChunkLength(f.content->size, i));
      }
      case Phase::kPadding: {
        uint64_t pad = Padding(plan_.files[file_].size);
        ++file_;
        phase_ = Phase::kHeader;
        if (pad == 0) continue;
        return Bytes(pad, 0);
      }
      case Phase::kTrailer:
        phase_ = Phase::kDone;
        return Bytes(2 * kTarBlock, 0);
      case Phase::kDone:
        return Bytes();
    }
  }
}

Status WriteBundleTar(const Store& store, BundlePlan plan, const std::filesystem::path& out) {
  KH_ASSIGN_OR_RETURN(UniqueFd fd, CreateNew(out));
  BundleTar tar(store, std::move(plan));
  while (true) {
    KH_ASSIGN_OR_RETURN(Bytes piece, tar.Next());
    if (piece.empty()) break;
    KH_RETURN_IF_ERROR(WriteAll(fd.get(), piece.data(), piece.size(), out.string()));
  }
  if (::fsync(fd.get()) != 0) return ErrnoStatus("cannot sync " + out.string());
  return Status::Ok();
}

// ---- extraction ----

namespace {

Result<uint64_t> ParseTarNumber(const uint8_t* field, size_t width) {
  if (field[0] & 0x80) {  // GNU base-256
    uint64_t v = 0;
    for (size_t i = 1; i < width; ++i) {
      if (v >> 56) return Status::InvalidArgument("tar size field overflows");
      v = (v << 8) | field[i];
    }
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < width && field[i] == ' ') ++i;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (v >> 60) return Status::InvalidArgument("tar number overflows");
    v = v * 8 + (field[i] - '0');
  }
  for (; i < width; ++i) {
    if (field[i] != 0 && field[i] != ' ') return Status::InvalidArgument("tar number is malformed");
  }
  return v;
}

std::string FieldString(const uint8_t* field, size_t width) {
  size_t n = 0;
  while (n < width && field[n] != 0) ++n;
  return std::string(reinterpret_cast<const char*>(field), n);
}

}  // namespace

BundleTarExtractor::BundleTarExtractor(std::filesystem::path out) : out_(std::move(out)) {}

BundleTarExtractor::~BundleTarExtractor() {
  if (fd_ >= 0) ::close(fd_);
}

Status BundleTarExtractor::OnHeader() {
  const uint8_t* h = header_.data();
  bool zero = std::all_of(header_.begin(), header_.end(), [](uint8_t b) { return b == 0; });
  if (zero) {
    if (++zero_blocks_ == 2) done_ = true;
    return Status::Ok();
  }
  if (zero_blocks_ > 0) return Status::InvalidArgument("archive: data after an end-of-archive block");
  if (std::memcmp(h + 257, "ustar", 5) != 0) return Status::InvalidArgument("archive: not a ustar archive");
  KH_ASSIGN_OR_RETURN(uint64_t sum, ParseTarNumber(h + 148, 8));
  unsigned computed = 0;
  for (size_t i = 0; i < kTarBlock; ++i) computed += (i >= 148 && i < 156) ? ' ' : h[i];
  if (sum != computed) return Status::InvalidArgument("archive: header checksum mismatch");
  std::string name = FieldString(h, 100), prefix = FieldString(h + 345, 155);
  std::string path = prefix.empty() ? name : prefix + "/" + name;
  KH_ASSIGN_OR_RETURN(uint64_t size, ParseTarNumber(h + 124, 12));
  char type = static_cast<char>(h[156]);
  // GNU tar keeps names over 100 bytes in a 'L' record, POSIX pax in an 'x' record, before the
  // member they name: collect it, then use it for the next header only.
  if (type == 'L' || type == 'x' || type == 'g') {
    if (size > kMaxMetaRecord) return Status::InvalidArgument("archive: oversized name record");
    meta_type_ = type;
    meta_.clear();
    left_ = size;
    padding_ = Padding(size);
    // An empty record has no data to wait for: finish it now, or the next member's data would
    // be taken for it (and that member's file left open).
    if (size == 0) return OnMetaRecord();
    return Status::Ok();
  }
  if (!long_name_.empty()) path = std::exchange(long_name_, std::string());
  // `tar -C BUNDLE -cf x.tar .` names everything "./..." and adds "./" itself.
  while (path.rfind("./", 0) == 0) path.erase(0, 2);
  if (type == '5') {
    if (!path.empty() && path.back() == '/') path.pop_back();
    if (path.empty() || path == ".") return Status::Ok();
    if (!bundle_paths::IsBundleFolder(path) || size != 0) {
      return Status::InvalidArgument("archive: unexpected folder '" + path + "'");
    }
    KH_RETURN_IF_ERROR(MakeFolders(out_, path + "/"));
    return Status::Ok();
  }
  if (type != '0' && type != 0) {
    return Status::InvalidArgument("archive: '" + path + "' is not a regular file (links and devices are refused)");
  }
  if (!bundle_paths::IsBundleFile(path)) {
    return Status::InvalidArgument("archive: unexpected path '" + path + "'");
  }
  if (++files_ > kMaxBundleFiles) return Status::InvalidArgument("archive: too many files");
  KH_RETURN_IF_ERROR(MakeFolders(out_, path));
  KH_ASSIGN_OR_RETURN(UniqueFd fd, CreateNew(out_ / path));
  fd_ = ::dup(fd.get());
  if (fd_ < 0) return ErrnoStatus("dup");
  left_ = size;
  padding_ = Padding(size);
  if (left_ == 0) {
    ::close(fd_);
    fd_ = -1;
  }
  return Status::Ok();
}

Status BundleTarExtractor::Write(ByteView data) {
  if (header_.empty() && left_ == 0 && padding_ == 0 && !std::filesystem::exists(out_)) {
    if (::mkdir(out_.c_str(), 0755) != 0) {
      if (errno == EEXIST) return Status::AlreadyExists(out_.string() + " already exists: name a new folder");
      return ErrnoStatus("cannot create " + out_.string());
    }
  }
  while (!data.empty()) {
    if (done_) {
      // GNU tar pads archives to whole records with zeros; anything else is refused.
      bool zeros = std::all_of(data.begin(), data.end(), [](uint8_t b) { return b == 0; });
      if (!zeros) return Status::InvalidArgument("archive: data after its end");
      return Status::Ok();
    }
    if (left_ > 0 && meta_type_ != 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(left_, data.size()));
      meta_.insert(meta_.end(), data.begin(), data.begin() + static_cast<long>(n));
      left_ -= n;
      data = data.subspan(n);
      if (left_ == 0) KH_RETURN_IF_ERROR(OnMetaRecord());
      continue;
    }
    if (left_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(left_, data.size()));
      KH_RETURN_IF_ERROR(WriteAll(fd_, data.data(), n, "bundle file"));
      left_ -= n;
      data = data.subspan(n);
      if (left_ == 0) {
        ::close(fd_);
        fd_ = -1;
      }
      continue;
    }
    if (padding_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(padding_, data.size()));
      padding_ -= n;
      data = data.subspan(n);
      continue;
    }
    size_t n = std::min(kTarBlock - header_.size(), data.size());
    header_.insert(header_.end(), data.begin(), data.begin() + static_cast<long>(n));
    data = data.subspan(n);
    if (header_.size() == kTarBlock) {
      Status s = OnHeader();
      header_.clear();
      KH_RETURN_IF_ERROR(s);
    }
  }
  return Status::Ok();
}

Status BundleTarExtractor::OnMetaRecord() {
  const char type = std::exchange(meta_type_, 0);
  std::string text(meta_.begin(), meta_.end());
  meta_.clear();
  if (type == 'L') {
    long_name_ = text.substr(0, text.find('\0'));
  } else if (type == 'x') {  // pax: "LEN key=value\n" records; only the path matters here
    size_t at = 0;
    while (at < text.size()) {
      size_t space = text.find(' ', at);
      if (space == std::string::npos) return Status::InvalidArgument("archive: malformed pax record");
      // LEN counts the whole record, its own digits, the space and the newline included. Plain
      // digits only: strtoull would take "-1" as 2^64-1 and send `at` backwards, for ever.
      std::string_view digits(text.data() + at, space - at);
      uint64_t len = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
          len < digits.size() + 2 || len > text.size() - at || text[at + len - 1] != '\n') {
        return Status::InvalidArgument("archive: malformed pax record");
      }
      std::string record = text.substr(space + 1, at + len - space - 2);  // without the newline
      if (record.rfind("path=", 0) == 0) long_name_ = record.substr(5);
      at += len;
    }
  }
  if (type == 'L' && long_name_.empty()) return Status::InvalidArgument("archive: empty name record");
  return Status::Ok();  // a pax record without a path (times only) names nothing
}

Status BundleTarExtractor::Finish() {
  if (!done_) return Status::InvalidArgument("archive: it ends early (truncated download?)");
  return Status::Ok();
}

}  // namespace khronika
