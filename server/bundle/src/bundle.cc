#include "khronika/bundle/bundle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include <openssl/crypto.h>

#include "khronika/bundle/bundle_paths.h"
#include "khronika/log/custody.h"
#include "khronika/log/log.h"
#include "khronika/log/proofs.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/witness.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/note.h"
#include "khronika/store/files.h"
#include "khronika/timestamp/timestamp_store.h"
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
  std::vector<ExternalCosignature> external;  // external C2SP witnesses' (#16), verified again
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
  // External witnesses' cosignatures too, so that a court's policy can count them; their keys
  // travel in keys/witnesses/.
  KH_ASSIGN_OR_RETURN(chosen.external, VerifiedExternalCosignatures(txn, origin, size));
  for (const ExternalCosignature& e : chosen.external) note.signatures.push_back(e.line);
  chosen.note = FormatSignedNote(note);
  return chosen;
}

// The checkpoint of `origin` that covers the first `needed` records and carries the most
// verified cosignatures (the newest among equals); the latest checkpoint when none is cosigned.
Result<ChosenCheckpoint> ChooseCheckpoint(const ReadTxn& txn, const Hash& origin, uint64_t needed,
                                          const Witnesses& witnesses) {
  KH_ASSIGN_OR_RETURN(std::vector<uint64_t> cosigned_sizes, CosignedSizes(txn, origin));
  KH_ASSIGN_OR_RETURN(std::vector<uint64_t> external_sizes, ExternallyCosignedSizes(txn, origin));
  std::set<uint64_t> sizes(cosigned_sizes.begin(), cosigned_sizes.end());
  sizes.insert(external_sizes.begin(), external_sizes.end());
  // Most partners first, then most external witnesses; the newest among equals.
  auto weight = [](const ChosenCheckpoint& c) {
    return std::make_pair(c.cosigners.size(), c.external.size());
  };
  std::optional<ChosenCheckpoint> best;
  for (auto it = sizes.rbegin(); it != sizes.rend() && *it >= needed; ++it) {
    KH_ASSIGN_OR_RETURN(bool held, txn.Contains(Table::kCheckpoints, keys::Checkpoint(origin, *it)));
    if (!held) continue;
    KH_ASSIGN_OR_RETURN(ChosenCheckpoint c, CheckpointAt(txn, origin, *it, witnesses));
    if (!best || weight(c) > weight(*best)) best = std::move(c);
  }
  if (best && (!best->cosigners.empty() || !best->external.empty())) return std::move(*best);
  KH_ASSIGN_OR_RETURN(auto last, LatestHeldCheckpoint(txn, origin));
  if (!last) return Status::NotFound("no signed checkpoint of log " + ToHex(origin) + " is held here");
  const uint64_t size = last->size;
  if (size < needed) {
    return Status::NotFound("no signed checkpoint of log " + ToHex(origin) + " covers record " +
                            std::to_string(needed - 1) + " yet: sync, then export again");
  }
  return CheckpointAt(txn, origin, size, witnesses);
}

BundleFile Small(std::string path, std::string_view text) {
  BundleFile f;
  f.path = std::move(path);
  f.data.assign(text.begin(), text.end());
  f.size = f.data.size();
  f.sha256 = Sha256(f.data);
  return f;
}

// RFC 3161 timestamps (#16, docs/format.md section 17.6): the earliest checkpoint of `origin`
// of at least `needed` records with stored tokens that still check (each against its TSA's CA,
// at its own time), its note, its consistency proof with the bundle's checkpoint `cp`, the
// tokens and the CA certificates. Nothing when no such checkpoint is held.
Status AddTimestamps(const ReadTxn& txn, const Hash& origin, uint64_t needed,
                     const ChosenCheckpoint& cp, report::ReportLog& log,
                     std::vector<BundleFile>& files) {
  for (uint64_t from = needed;;) {
    KH_ASSIGN_OR_RETURN(std::optional<uint64_t> size, SmallestTimestampedSize(txn, origin, from));
    if (!size) return Status::Ok();
    from = *size + 1;
    KH_ASSIGN_OR_RETURN(auto stored_note,
                        txn.Get(Table::kCheckpoints, keys::Checkpoint(origin, *size)));
    if (!stored_note) continue;
    const std::string note_text(AsChars(*stored_note));
    KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(note_text));
    KH_ASSIGN_OR_RETURN(Checkpoint body, ParseCheckpointBody(note.text));
    KH_ASSIGN_OR_RETURN(std::vector<StoredTimestamp> stored, TimestampsAt(txn, origin, *size));
    std::vector<report::ReportTimestamp> good;
    std::vector<BundleFile> token_files;
    for (const StoredTimestamp& t : stored) {
      const std::string ca = TsaCaCertificates(t.token.chain_pem);
      auto checked = VerifyTimestampToken(t.token.token, note.text, ca);
      if (!checked.ok() || checked->tsa_cert_sha256 != t.token.tsa_cert_sha256) continue;
      good.push_back({checked->tsa_cert_sha256, checked->tsa_name, checked->gen_time});
      token_files.push_back(Small(bundle_paths::TimestampToken(origin, checked->tsa_cert_sha256),
                                  AsChars(checked->token)));
      token_files.push_back(Small(bundle_paths::TsaCa(checked->tsa_cert_sha256), ca));
    }
    if (good.empty()) continue;
    files.push_back(Small(bundle_paths::TimestampedCheckpoint(origin), note_text));
    if (*size != cp.size) {
      uint64_t lo = std::min(*size, cp.size), hi = std::max(*size, cp.size);
      KH_ASSIGN_OR_RETURN(ConsistencyProofResult proof, ProveConsistency(txn, origin, lo, hi));
      const Hash& lo_root = lo == cp.size ? cp.root : body.root;
      const Hash& hi_root = hi == cp.size ? cp.root : body.root;
      if (proof.old_root != lo_root || proof.new_root != hi_root) {
        return Status::Corruption("the Merkle tree of " + ToHex(origin) +
                                  " disagrees with its checkpoints: run khronika verify");
      }
      files.push_back(
          Small(bundle_paths::TimestampConsistency(origin), JsonFileText(ToJson(proof))));
    }
    std::sort(good.begin(), good.end(),
              [](const auto& a, const auto& b) { return a.tsa_cert < b.tsa_cert; });
    for (BundleFile& f : token_files) files.push_back(std::move(f));
    log.timestamped_size = *size;
    log.timestamps = std::move(good);
    return Status::Ok();
  }
}

std::string KeyText(const SymmetricKey& key) { return ToHex(key) + "\n"; }

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

// The case's records in this node's own log, in log order, each with the record hash the case
// index keeps for it (the link box of the next one must name it).
Hash HashFromBytes(ByteView b) {
  Hash h{};
  std::copy(b.begin(), b.begin() + static_cast<ptrdiff_t>(std::min(b.size(), h.size())), h.begin());
  return h;
}

struct CaseRecord {
  uint64_t index = 0;
  Hash record_hash{};
};

Result<std::vector<CaseRecord>> CaseRecords(const ReadTxn& txn, std::string_view case_id,
                                            const Hash& local) {
  Bytes prefix = keys::CasePrefix(txn, case_id, local);
  std::vector<CaseRecord> out;
  KH_RETURN_IF_ERROR(txn.Scan(Table::kCaseIndex, prefix, [&](ByteView key, ByteView value) -> Result<bool> {
    if (key.size() != prefix.size() + 8 || value.size() != 32) {
      return Status::Corruption("case index entry malformed");
    }
    KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodeCaseRecord(key));
    out.push_back({at.index, HashFromBytes(value)});
    return true;
  }));
  return out;
}

std::string NotFoundCase(std::string_view case_id) {
  return "no entry of case " + std::string(case_id) + " in this node's log";
}

}  // namespace

// Produces the bytes of one bundle file piece by piece, and checks them as it goes: sealed
// chunks against their ids and lengths, plaintext against the GCM tags (SealedFileReader) and, at
// its end, against the descriptor's SHA-256. An empty piece: the file is complete and sound.
class BundleContentStream {
 public:
  BundleContentStream(const Store& store, const BundleFile& file) : store_(store), file_(file) {}

  Result<Bytes> Next() {
    switch (file_.source) {
      case BundleFile::Source::kData:
        if (done_) return Bytes();
        done_ = true;
        return file_.data;
      case BundleFile::Source::kSealed: {
        if (done_) return Bytes();
        done_ = true;
        KH_ASSIGN_OR_RETURN(Bytes chunk, ReadChunk(store_, file_.chunk));
        if (chunk.size() != file_.size) {
          return Status::Corruption("sealed chunk " + ToHex(file_.chunk) +
                                    " has the wrong length for its sealed file");
        }
        return chunk;
      }
      case BundleFile::Source::kPlaintext:
        return NextPlaintext();
    }
    return Status::InvalidArgument("unknown bundle file source");
  }

 private:
  Result<Bytes> NextPlaintext() {
    if (done_) return Bytes();
    if (!reader_) {
      KH_ASSIGN_OR_RETURN(SealedFileReader reader,
                          SealedFileReader::Open(ChunksOf(store_), *file_.sealed, *file_.descriptor,
                                                 file_.file_key, file_.file_index));
      reader_ = std::make_unique<SealedFileReader>(std::move(reader));
    }
    KH_ASSIGN_OR_RETURN(Bytes piece, reader_->Read(offset_, kChunkSize));
    offset_ += piece.size();
    hash_.Update(piece);
    if (offset_ == file_.size) {
      done_ = true;
      if (hash_.Finish() != file_.descriptor->content_sha256) {
        return Status::Corruption("the stored content of " + file_.path +
                                  " does not match its signed descriptor");
      }
    } else if (piece.empty()) {
      return Status::Corruption("the stored content of " + file_.path + " ends early");
    }
    if (piece.empty()) return Next();  // an empty file: complete now
    return piece;
  }

  const Store& store_;
  const BundleFile& file_;
  bool done_ = false;
  uint64_t offset_ = 0;
  std::unique_ptr<SealedFileReader> reader_;
  Sha256Stream hash_;
};

BundleFile::~BundleFile() { OPENSSL_cleanse(file_key.data(), file_key.size()); }

BundleRequest::~BundleRequest() {
  if (custody_key) OPENSSL_cleanse(custody_key->data(), custody_key->size());
}

namespace {

// A custody record of the exporting node's log holding events of the case (section 17.7).
struct CaseCustody {
  LoggedObject logged;
  CustodyRecord record;
  std::vector<std::pair<uint32_t, CustodyEvent>> events;  // the case's, by slot
};

// The custody records of `origin` (the exporting node's own log) that hold events of `case_id`,
// in log order, each with only those events. The index of custody records is a hint: every
// record it names is read from the log and opened, and only events that open and name the case
// are kept.
Result<std::vector<CaseCustody>> CustodyOfCase(const ReadTxn& txn, const Hash& origin,
                                               const SymmetricKey& custody_key,
                                               const std::string& case_id) {
  std::vector<CaseCustody> out;
  KH_ASSIGN_OR_RETURN(std::vector<CustodyRecordRef> refs, CustodyRecords(txn));
  for (const CustodyRecordRef& ref : refs) {
    if (std::find(ref.cases.begin(), ref.cases.end(), case_id) == ref.cases.end()) continue;
    const std::string where = "custody record at index " + std::to_string(ref.index);
    CaseCustody c;
    KH_ASSIGN_OR_RETURN(c.logged, ReadLoggedObject(txn, origin, ref.index));
    auto record = DecodeCustodyRecord(c.logged.object_bytes);
    if (!record.ok()) return Status::Corruption(where + ": " + record.status().message());
    c.record = std::move(*record);
    for (uint32_t slot = 0; slot < c.record.boxes.size(); ++slot) {
      SymmetricKey key = DeriveCustodyEventKey(custody_key, c.record.nonce, slot);
      auto event = OpenCustodySlot(c.record, slot, key);
      OPENSSL_cleanse(key.data(), key.size());
      if (!event.ok()) return Status::Corruption(where + ": " + event.status().message());
      if (*event && (*event)->case_id == case_id) c.events.emplace_back(slot, std::move(**event));
    }
    if (!c.events.empty()) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

Result<BundlePlan> PlanBundle(const ReadTxn& txn, const EntryKey& key, const BundleRequest& request) {
  KH_RETURN_IF_ERROR(ValidateCaseId(request.case_id));
  for (const std::string& name : request.file_names) KH_RETURN_IF_ERROR(ValidateFileName(name));
  if ((key.archive_key == nullptr) == (key.case_key == nullptr)) {
    return Status::InvalidArgument("plan a bundle with the archive key or a case key, exactly one");
  }
  // A key of another case opens nothing here; it is told exactly what an absent case is told.
  if (key.case_key && key.case_id != request.case_id) {
    return Status::NotFound(NotFoundCase(request.case_id));
  }
  report::ReportFacts facts;
  facts.claims.case_id = request.case_id;
  facts.claims.exported_at_ms = request.now_ms;
  facts.claims.exported_by = request.exported_by;
  KH_ASSIGN_OR_RETURN(Bytes local_bytes, MustGet(txn, Table::kMeta, AsBytes(keys::kMetaLocalOrigin),
                                                 "the node's id"));
  if (local_bytes.size() != 32) return Status::Corruption("the node's id is malformed");
  const Hash exporter = HashFromBytes(local_bytes);
  facts.claims.node_id = ToHex(exporter);
  KH_ASSIGN_OR_RETURN(auto name, txn.Get(Table::kMeta, AsBytes(keys::kMetaNodeName)));
  if (name) facts.claims.node_name = std::string(AsChars(*name));

  // A case belongs to the log that created it: the exporting node's own, or a log it adopted
  // after a recovery (LogOfCase). Entries that partners logged under the same case id are
  // theirs, and sealed under their archive keys anyway.
  KH_ASSIGN_OR_RETURN(std::optional<Hash> case_log, LogOfCase(txn, request.case_id));
  if (!case_log) return Status::NotFound(NotFoundCase(request.case_id));
  const Hash case_origin = *case_log;
  KH_ASSIGN_OR_RETURN(std::vector<CaseRecord> records, CaseRecords(txn, request.case_id, case_origin));
  if (records.empty()) return Status::NotFound(NotFoundCase(request.case_id));

  // Open every record of the case (the case chain is checked here as verify-bundle will check
  // it, so that a damaged store gives an error now rather than a bundle that fails later).
  std::vector<OpenedEntry> opened;
  opened.reserve(records.size());
  Hash prev_case_record{};
  for (const CaseRecord& cr : records) {
    const std::string where = "record " + std::to_string(cr.index) + " of case " + request.case_id;
    KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, case_origin, cr.index));
    if (RecordHash(logged.record_bytes) != cr.record_hash) {
      return Status::Corruption(where + " is not the record the case index names: run khronika verify");
    }
    auto entry = OpenEntry(txn, case_origin, key, logged.record.object_id);
    if (!entry.ok()) {
      if (entry.status().code() == Code::kNotFound) return Status::NotFound(NotFoundCase(request.case_id));
      return entry.status().Annotate(where);
    }
    if (entry->case_id != request.case_id) return Status::Corruption(where + " opens as another case");
    SymmetricKey link_key = DeriveLinkKey(entry->case_key, entry->sealed.nonce);
    auto link = OpenLinkBox(link_key, entry->sealed);
    OPENSSL_cleanse(link_key.data(), link_key.size());
    if (!link.ok() || *link != prev_case_record) {
      return Status::Corruption(where + ": its link box does not name the case's previous record");
    }
    prev_case_record = cr.record_hash;
    opened.push_back(std::move(*entry));
  }

  // The selection: which entries are opened, and which files of each.
  std::set<Hash> wanted_entries(request.entries.begin(), request.entries.end());
  std::set<std::string> wanted_names(request.file_names.begin(), request.file_names.end());
  for (const Hash& id : wanted_entries) {
    bool found = std::any_of(opened.begin(), opened.end(),
                             [&](const OpenedEntry& e) { return e.entry_id == id; });
    if (!found) return Status::NotFound("entry " + ToHex(id) + " is not an entry of case " + request.case_id + " here");
  }
  std::vector<std::vector<uint32_t>> disclosed_files(opened.size());
  std::vector<bool> disclosed(opened.size(), false);
  std::set<std::string> names_found;
  for (size_t i = 0; i < opened.size(); ++i) {
    const OpenedEntry& e = opened[i];
    if (!wanted_entries.empty() && !wanted_entries.count(e.entry_id)) continue;
    for (uint32_t f = 0; f < e.files.size(); ++f) {
      if (!wanted_names.empty() && !wanted_names.count(e.files[f].descriptor.name)) continue;
      names_found.insert(e.files[f].descriptor.name);
      disclosed_files[i].push_back(f);
    }
    // With file names only, an entry is opened if it holds one of them.
    disclosed[i] = !wanted_entries.empty() || wanted_names.empty() || !disclosed_files[i].empty();
  }
  for (const std::string& n : wanted_names) {
    if (!names_found.count(n)) {
      return Status::NotFound("no file named '" + n + "' among the chosen entries of case " + request.case_id);
    }
  }

  // The reads and exports of the case, from the custody records of the exporting node's own
  // log (a case of a log adopted after a recovery has its custody events in this node's log
  // only from the adoption on, and they are not bundled).
  std::vector<CaseCustody> custody;
  if (request.custody_key && case_origin == exporter) {
    KH_ASSIGN_OR_RETURN(custody, CustodyOfCase(txn, exporter, *request.custody_key,
                                               request.case_id));
  }

  KH_ASSIGN_OR_RETURN(Witnesses witnesses, LoadWitnesses(txn, exporter, request.local_cosigner_vkey));
  KH_ASSIGN_OR_RETURN(ChosenCheckpoint cp, ChooseCheckpoint(txn, case_origin, records.back().index + 1, witnesses));
  // The checkpoint is chosen for the evidence (17.3: cosigned before recent); custody records
  // it does not cover stay out, as the report says.
  std::erase_if(custody, [&](const CaseCustody& c) { return c.logged.record.index >= cp.size; });

  BundlePlan plan;
  plan.case_id = request.case_id;
  plan.created_ms = request.now_ms;
  plan.records = records.size();
  std::vector<BundleFile> record_files;
  std::map<std::string, PublicKey> authors;  // by hex
  for (size_t i = 0; i < opened.size(); ++i) {
    const OpenedEntry& e = opened[i];
    const uint64_t index = e.record.index;
    KH_ASSIGN_OR_RETURN(InclusionProofResult proof, ProveInclusion(txn, case_origin, index, cp.size));
    if (proof.root != cp.root || proof.leaf_hash != LeafHash(e.record_bytes)) {
      return Status::Corruption("the Merkle tree of " + ToHex(case_origin) +
                                " disagrees with its checkpoint: run khronika verify");
    }
    const std::string dir = bundle_paths::RecordDir(case_origin, index) + "/";
    auto add = [&](const std::string& rel, std::string_view text) { record_files.push_back(Small(dir + rel, text)); };
    KH_ASSIGN_OR_RETURN(Bytes sealed_bytes, MustGet(txn, Table::kObjects, keys::Object(case_origin, index),
                                                    "sealed entry " + ToHex(e.entry_id)));
    add("record.bin", AsChars(e.record_bytes));
    add("record.json", JsonFileText(ToJson(e.record)));
    add("sealed_entry.bin", AsChars(sealed_bytes));
    add("proof.json", JsonFileText(ToJson(proof)));
    {
      SymmetricKey link_key = DeriveLinkKey(e.case_key, e.sealed.nonce);
      add("link.key", KeyText(link_key));
      OPENSSL_cleanse(link_key.data(), link_key.size());
    }
    report::ReportEntry re;
    re.record = e.record;
    re.entry_id = e.entry_id;
    re.file_count = e.sealed.files.size();
    if (disclosed[i]) {
      SymmetricKey entry_key = DeriveEntryKey(e.case_key, e.sealed.nonce);
      add("entry.key", KeyText(entry_key));
      OPENSSL_cleanse(entry_key.data(), entry_key.size());
      add("entry.bin", AsChars(e.signed_entry_bytes));
      add("entry.json", JsonFileText(ToJson(e.entry)));
      re.entry = e.entry;
      authors[ToHex(e.entry.author)] = e.entry.author;
      KH_ASSIGN_OR_RETURN(auto author, FindAuthor(txn, e.entry.author));
      if (author) facts.claims.author_names[ToHex(e.entry.author)] = author->name;
      auto shared = std::make_shared<const SealedEntry>(e.sealed);
      plan.entries += 1;
      for (uint32_t n : disclosed_files[i]) {
        const FileOpening& o = e.files[n];
        const SealedFile& sf = e.sealed.files[n];
        SymmetricKey file_key = DeriveFileKey(e.case_key, e.sealed.nonce, n);
        add(bundle_paths::FileDir(n) + "/file.key", KeyText(file_key));
        add(bundle_paths::FileDir(n) + "/salt.hex", ToHex(o.salt) + "\n");
        add(bundle_paths::FileDir(n) + "/descriptor.bin", AsChars(Encode(o.descriptor)));
        add(bundle_paths::FileDir(n) + "/descriptor.json", JsonFileText(ToJson(o.descriptor)));
        BundleFile content;
        content.path = dir + bundle_paths::Content(n, o.descriptor.media_type);
        content.size = o.descriptor.size;
        content.sha256 = o.descriptor.content_sha256;
        content.source = BundleFile::Source::kPlaintext;
        content.sealed = shared;
        content.file_index = n;
        content.descriptor = o.descriptor;
        content.file_key = file_key;
        OPENSSL_cleanse(file_key.data(), file_key.size());
        record_files.push_back(std::move(content));
        for (uint64_t k = 0; k < sf.chunks.size(); ++k) {
          BundleFile chunk;
          chunk.path = dir + bundle_paths::SealedChunk(n, k);
          chunk.size = SealedChunkLength(sf.sealed_size, k);
          chunk.sha256 = sf.chunks[k];
          if (!sf.inline_chunk.empty()) {
            // A small file's one chunk: carried by the sealed entry (checked against its id
            // when the entry was decoded), written out as any sealed chunk is.
            chunk.source = BundleFile::Source::kData;
            chunk.data = sf.inline_chunk;
          } else {
            chunk.source = BundleFile::Source::kSealed;
            chunk.chunk = sf.chunks[k];
          }
          record_files.push_back(std::move(chunk));
        }
        plan.evidence_files += 1;
        plan.evidence_bytes += o.descriptor.size;
        re.files.push_back({n, o.descriptor});
      }
    }
    facts.entries.push_back(std::move(re));
  }

  std::vector<BundleFile> custody_files;
  for (const CaseCustody& c : custody) {
    const uint64_t index = c.logged.record.index;
    KH_ASSIGN_OR_RETURN(InclusionProofResult proof,
                        ProveInclusion(txn, case_origin, index, cp.size));
    if (proof.root != cp.root || proof.leaf_hash != LeafHash(c.logged.record_bytes)) {
      return Status::Corruption("the Merkle tree of " + ToHex(case_origin) +
                                " disagrees with its checkpoint: run khronika verify");
    }
    const std::string dir = bundle_paths::CustodyDir(case_origin, index) + "/";
    custody_files.push_back(Small(dir + "record.bin", AsChars(c.logged.record_bytes)));
    custody_files.push_back(Small(dir + "custody_record.bin", AsChars(c.logged.object_bytes)));
    custody_files.push_back(Small(dir + "proof.json", JsonFileText(ToJson(proof))));
    report::ReportCustody rc;
    rc.record = c.logged.record;
    for (const auto& [slot, event] : c.events) {
      SymmetricKey key = DeriveCustodyEventKey(*request.custody_key, c.record.nonce, slot);
      custody_files.push_back(Small(dir + bundle_paths::CustodyEventKey(slot), KeyText(key)));
      OPENSSL_cleanse(key.data(), key.size());
      custody_files.push_back(
          Small(dir + bundle_paths::CustodyEventJson(slot), JsonFileText(CustodyEventJson(event))));
      rc.events.emplace_back(slot, event);
    }
    facts.custody.push_back(std::move(rc));
  }

  std::vector<BundleFile> key_files;
  for (const auto& [hex, k] : authors) key_files.push_back(Small(bundle_paths::AuthorKey(k), PublicKeyToPem(k)));
  KH_ASSIGN_OR_RETURN(auto pub, txn.Get(Table::kOrigins, case_origin));
  if (!pub || pub->size() != 32) {
    return Status::NotFound("the public key of log " + ToHex(case_origin) + " is not on the roster");
  }
  PublicKey origin_key;
  std::copy(pub->begin(), pub->end(), origin_key.begin());
  key_files.push_back(Small(bundle_paths::OriginKey(case_origin), FormatVerifierKey(OriginName(case_origin), origin_key) + "\n"));
  for (const auto& c : cp.cosigners) {
    const NoteVerifier* witness = witnesses.Of(c.member);
    key_files.push_back(Small(bundle_paths::CosignerKey(c.member),
                              FormatCosignerVerifierKey(witness->name, witness->key) + "\n"));
  }
  for (const ExternalCosignature& e : cp.external) {
    key_files.push_back(Small(bundle_paths::ExternalWitnessKey(e.vkey), e.vkey + "\n"));
  }
  report::ReportLog report_log;
  report_log.origin = case_origin;
  report_log.checkpoint_size = cp.size;
  report_log.cosigners = cp.cosigners;
  for (const ExternalCosignature& e : cp.external) {
    report_log.external.push_back({e.name, e.vkey, e.timestamp});
  }
  std::vector<BundleFile> timestamp_files;
  KH_RETURN_IF_ERROR(AddTimestamps(txn, case_origin, records.back().index + 1, cp, report_log,
                                   timestamp_files));
  facts.logs.push_back(std::move(report_log));

  plan.files.push_back(Small(std::string(bundle_paths::kReport), report::RenderReport(facts)));
  plan.files.push_back(Small(std::string(bundle_paths::kIndex), JsonFileText(report::IndexJson(facts))));
  for (auto& f : key_files) plan.files.push_back(std::move(f));
  plan.files.push_back(Small(bundle_paths::Checkpoint(case_origin), cp.note));
  for (auto& f : timestamp_files) plan.files.push_back(std::move(f));
  for (auto& f : record_files) plan.files.push_back(std::move(f));
  for (auto& f : custody_files) plan.files.push_back(std::move(f));

  std::vector<std::pair<std::string, Hash>> sums;
  for (const BundleFile& f : plan.files) sums.emplace_back(f.path, f.sha256);
  std::sort(sums.begin(), sums.end());
  std::string manifest;
  for (const auto& [path, hash] : sums) manifest += ToHex(hash) + "  " + path + "\n";
  plan.files.push_back(Small(std::string(bundle_paths::kManifest), manifest));
  if (plan.files.size() > kMaxBundleFiles) {
    return Status::InvalidArgument("the case has too many files for one bundle");
  }
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
    BundleContentStream content(store, f);
    while (true) {
      KH_ASSIGN_OR_RETURN(Bytes piece, content.Next());
      if (piece.empty()) break;
      KH_RETURN_IF_ERROR(WriteAll(fd.get(), piece.data(), piece.size(), f.path));
      if (f.source == BundleFile::Source::kPlaintext) OPENSSL_cleanse(piece.data(), piece.size());
    }
  }
  UniqueFd dirfd(::open(out.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd.get() < 0 || ::syncfs(dirfd.get()) != 0) return ErrnoStatus("cannot sync " + out.string());
  return Status::Ok();
}

BundleTar::BundleTar(const Store& store, BundlePlan plan) : store_(&store), plan_(std::move(plan)) {
  for (const BundleFile& f : plan_.files) size_ += kTarBlock + f.size + Padding(f.size);
  size_ += 2 * kTarBlock;
}
BundleTar::BundleTar(BundleTar&&) noexcept = default;
BundleTar::~BundleTar() = default;

Result<Bytes> BundleTar::Next() {
  while (true) {
    switch (phase_) {
      case Phase::kHeader: {
        if (file_ == plan_.files.size()) {
          phase_ = Phase::kTrailer;
          continue;
        }
        const BundleFile& f = plan_.files[file_];
        content_ = std::make_unique<BundleContentStream>(*store_, f);
        phase_ = Phase::kData;
        KH_ASSIGN_OR_RETURN(Bytes header, TarHeader(f.path, f.size, plan_.created_ms / 1000));
        return header;
      }
      case Phase::kData: {
        KH_ASSIGN_OR_RETURN(Bytes piece, content_->Next());
        if (piece.empty()) {
          content_.reset();
          phase_ = Phase::kPadding;
          continue;
        }
        return piece;
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
  Status written = [&]() -> Status {
    while (true) {
      KH_ASSIGN_OR_RETURN(Bytes piece, tar.Next());
      if (piece.empty()) break;
      KH_RETURN_IF_ERROR(WriteAll(fd.get(), piece.data(), piece.size(), out.string()));
    }
    if (::fsync(fd.get()) != 0) return ErrnoStatus("cannot sync " + out.string());
    return Status::Ok();
  }();
  // A bundle that could not be completed is not left behind to be mistaken for one.
  if (!written.ok()) ::unlink(out.c_str());
  return written;
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
