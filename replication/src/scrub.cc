#include "khronika/replication/scrub.h"

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/protocol.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"

namespace khronika {

using nlohmann::json;

namespace {

constexpr uint64_t kBytesPerReadTxn = 64 << 20;  // then a fresh snapshot: the writer may reuse pages
constexpr std::string_view kMetaLastScrub = "last_scrub";

// Visits every entry of `table` in key order, `budget` bytes of values per read transaction.
// `unreadable` is told of each value that fails its authentication tag (an encrypted store).
Status ScanInSlices(const Store& store, Table table, const std::atomic<bool>* stop,
                    const std::function<Status(const ReadTxn& txn, ByteView key, ByteView value)>& fn,
                    const std::function<void(ByteView key)>& unreadable) {
  Bytes resume;
  bool more = true;
  while (more) {
    more = false;
    KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
      uint64_t bytes = 0;
      bool skip_first = !resume.empty();
      return txn.Scan(table, {}, [&](ByteView key, ByteView value) -> Result<bool> {
        if (skip_first) {
          skip_first = false;
          if (Bytes(key.begin(), key.end()) == resume) return true;
        }
        if (stop && stop->load()) return Status::IOError("scrub stopped");
        KH_RETURN_IF_ERROR(fn(txn, key, value));
        bytes += value.size() + key.size();
        if (bytes >= kBytesPerReadTxn) {
          resume.assign(key.begin(), key.end());
          more = true;
          return false;
        }
        return true;
      }, resume, [&](ByteView key) {
        if (skip_first) {
          skip_first = false;
          if (Bytes(key.begin(), key.end()) == resume) return;
        }
        unreadable(key);
      });
    }));
  }
  return Status::Ok();
}

constexpr const char* kUnreadable = "damaged (authentication failed)";

Hash HashFrom(ByteView b) {
  Hash h{};
  std::copy(b.begin(), b.begin() + 32, h.begin());
  return h;
}

}  // namespace

std::string ScrubFinding::Describe() const {
  switch (kind) {
    case Kind::kChunk: return "chunk " + ToHex(id) + ": " + problem;
    case Kind::kObject: return "object " + ToHex(id) + ": " + problem;
    case Kind::kRecord: return "record " + std::to_string(index) + " of " + ToHex(id) + ": " + problem;
  }
  return problem;
}

size_t ScrubReport::unrepaired() const {
  size_t n = 0;
  for (const auto& f : findings) n += !f.repaired;
  return n;
}

Result<ScrubReport> ScrubStore(const Store& store, const std::atomic<bool>* stop) {
  ScrubReport report;
  std::set<Hash> chunks, objects;  // ids present and intact
  KH_RETURN_IF_ERROR(ScanInSlices(store, Table::kChunks, stop, [&](const ReadTxn&, ByteView key, ByteView value) {
    report.chunks += 1;
    if (key.size() != 32 || ChunkId(value) != HashFrom(key)) {
      if (key.size() == 32) report.findings.push_back({ScrubFinding::Kind::kChunk, HashFrom(key), 0, "damaged"});
      return Status::Ok();
    }
    chunks.insert(HashFrom(key));
    return Status::Ok();
  }, [&](ByteView key) {
    report.chunks += 1;
    if (key.size() == 32) report.findings.push_back({ScrubFinding::Kind::kChunk, HashFrom(key), 0, kUnreadable});
  }));
  // Logged objects, and the sealed chunks each sealed entry names.
  std::set<Hash> wanted_chunks;
  // Each is kept at the place of the record that names it (keys::Object), which gives its id;
  // an object whose record is unreadable goes by its own hash (the records pass finds the record).
  auto named_id = [](const ReadTxn& txn, ByteView key) -> std::optional<Hash> {
    auto record = txn.Get(Table::kRecords, key);
    if (!record.ok() || !*record) return std::nullopt;
    auto decoded = DecodeRecord(**record);
    if (!decoded.ok()) return std::nullopt;
    return decoded->object_id;
  };
  KH_RETURN_IF_ERROR(ScanInSlices(store, Table::kObjects, stop, [&](const ReadTxn& txn, ByteView key, ByteView value) {
    if (keys::IsObjectsEnd(key)) return Status::Ok();
    report.objects += 1;
    const Hash id = ObjectId(value);
    const std::optional<Hash> named = named_id(txn, key);
    if (named && *named != id) {
      report.findings.push_back({ScrubFinding::Kind::kObject, *named, 0, "damaged"});
      return Status::Ok();
    }
    objects.insert(id);
    auto type = PeekObjectType(value);
    if (type.ok() && *type == kTypeSealedEntry) {
      if (auto e = DecodeSealedEntry(value); e.ok()) {
        for (const SealedFile& f : e->files) {
          // A small file's one chunk is in the entry (checked as it was decoded), not the table.
          if (f.inline_chunk.empty()) wanted_chunks.insert(f.chunks.begin(), f.chunks.end());
        }
      }
    }
    return Status::Ok();
  }, [&](ByteView key) {
    report.objects += 1;
    std::optional<Hash> named;
    (void)store.View([&](ReadTxn& txn) -> Status {
      named = named_id(txn, key);
      return Status::Ok();
    });
    if (named) report.findings.push_back({ScrubFinding::Kind::kObject, *named, 0, kUnreadable});
  }));
  // Records: each against the leaf hash the tree holds, and the object it logs.
  std::set<Hash> wanted_objects;
  std::set<std::pair<Hash, uint64_t>> damaged_records;
  KH_RETURN_IF_ERROR(ScanInSlices(store, Table::kRecords, stop, [&](const ReadTxn& txn, ByteView key, ByteView value) -> Status {
    report.records += 1;
    auto at = keys::DecodePosition(key);
    if (!at.ok()) return Status::Ok();
    const Hash origin = at->origin;
    const uint64_t index = at->index;
    auto leaf_read = txn.Get(Table::kTree, keys::Tree(origin, 0, index));
    if (!leaf_read.ok() && leaf_read.status().code() != Code::kCorruption) return leaf_read.status();
    std::optional<Bytes> leaf = leaf_read.ok() ? *leaf_read : std::nullopt;  // unreadable: as missing
    auto record = DecodeRecord(value);
    if (!leaf || leaf->size() != 32 || HashFrom(*leaf) != LeafHash(value) || !record.ok()) {
      report.findings.push_back({ScrubFinding::Kind::kRecord, origin, index, "damaged"});
      damaged_records.insert({origin, index});
      return Status::Ok();
    }
    wanted_objects.insert(record->object_id);
    return Status::Ok();
  }, [&](ByteView key) {
    report.records += 1;
    auto at = keys::DecodePosition(key);
    if (!at.ok()) return;
    report.findings.push_back({ScrubFinding::Kind::kRecord, at->origin, at->index, kUnreadable});
    damaged_records.insert({at->origin, at->index});
  }));
  std::set<Hash> damaged_ids;
  for (const auto& f : report.findings) {
    if (f.kind != ScrubFinding::Kind::kRecord) damaged_ids.insert(f.id);
  }
  for (const Hash& id : wanted_objects) {
    if (!objects.count(id) && !damaged_ids.count(id)) report.findings.push_back({ScrubFinding::Kind::kObject, id, 0, "missing"});
  }
  for (const Hash& id : wanted_chunks) {
    if (!chunks.count(id) && !damaged_ids.count(id)) report.findings.push_back({ScrubFinding::Kind::kChunk, id, 0, "missing"});
  }
  return report;
}

namespace {

// Where to ask a peer for an object: the record that logs it. A sealed entry is found through
// the entry index; a recovery object (or an entry whose index is lost) by reading the records.
Result<std::optional<std::pair<Hash, uint64_t>>> LocateObject(const Store& store, const Hash& id) {
  std::optional<std::pair<Hash, uint64_t>> where;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto loc, txn.Get(Table::kEntryIndex, id));
    if (loc) {
      if (auto at = keys::DecodePosition(*loc); at.ok()) where = std::make_pair(at->origin, at->index);
      return Status::Ok();
    }
    return txn.Scan(Table::kRecords, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      auto record = DecodeRecord(value);
      if (!record.ok() || record->object_id != id) return true;
      if (auto at = keys::DecodePosition(key); at.ok()) where = std::make_pair(at->origin, at->index);
      return false;
    }, {}, [](ByteView) {});
  }));
  return where;
}

}  // namespace

// The sealed chunks of a sealed entry just put back that are missing or damaged here: a damaged
// entry hid them from the scrub, which could not read its chunk list.
Result<std::vector<ScrubFinding>> ChunksOfRepaired(const Store& store, ByteView object,
                                                   const std::vector<ScrubFinding>& known) {
  std::vector<ScrubFinding> out;
  auto type = PeekObjectType(object);
  if (!type.ok() || *type != kTypeSealedEntry) return out;
  auto sealed = DecodeSealedEntry(object);
  if (!sealed.ok()) return out;
  std::set<Hash> listed;
  for (const ScrubFinding& f : known) {
    if (f.kind == ScrubFinding::Kind::kChunk) listed.insert(f.id);
  }
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    for (const SealedFile& file : sealed->files) {
      if (!file.inline_chunk.empty()) continue;  // came back with the entry
      for (const Hash& id : file.chunks) {
        if (listed.count(id)) continue;
        auto chunk = ReadChunk(txn, id);
        if (chunk.ok()) continue;
        if (chunk.status().code() != Code::kCorruption) return chunk.status();
        listed.insert(id);
        out.push_back({ScrubFinding::Kind::kChunk, id, 0, "missing"});
      }
    }
    return Status::Ok();
  }));
  return out;
}

Status RepairFromPeer(Store& store, PeerTransport& peer, ScrubReport& report) {
  // By index: repairing a sealed entry may add findings for its sealed chunks.
  for (size_t k = 0; k < report.findings.size(); ++k) {
    ScrubFinding& f = report.findings[k];
    if (f.repaired) continue;
    if (f.kind == ScrubFinding::Kind::kChunk) {
      auto body = peer.Chunks({f.id});
      if (!body.ok()) continue;
      auto chunks = ParseChunkBody(*body);  // each chunk checked against its id here
      if (!chunks.ok() || chunks->size() != 1 || (*chunks)[0].first != f.id) continue;
      // Its length is fixed by its id: the sealed entry that names it was checked against it.
      KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) {
        return txn.Put(Table::kChunks, f.id, (*chunks)[0].second);
      }));
      f.repaired = true;
      continue;
    }
    Hash origin = f.id;
    uint64_t index = f.index;
    if (f.kind == ScrubFinding::Kind::kObject) {
      KH_ASSIGN_OR_RETURN(auto where, LocateObject(store, f.id));
      if (!where) continue;
      origin = where->first;
      index = where->second;
    }
    auto body = peer.Pack(origin, index, index + 1);
    if (!body.ok()) continue;
    auto items = ParsePack(*body);
    if (!items.ok() || items->empty()) continue;
    const PackItem& item = (*items)[0];
    Status written = Status::Ok();
    if (f.kind == ScrubFinding::Kind::kRecord) {
      // The peer's record must be the one the tree here was built from.
      std::optional<Bytes> leaf;
      KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
        KH_ASSIGN_OR_RETURN(leaf, txn.Get(Table::kTree, keys::Tree(origin, 0, index)));
        return Status::Ok();
      }));
      if (!leaf || leaf->size() != 32 || HashFrom(*leaf) != LeafHash(item.record)) continue;
      written = store.Update([&](WriteTxn& txn) {
        return txn.Put(Table::kRecords, keys::Record(origin, index), item.record);
      });
    } else {
      // Checked as sync checks it: the id is what the record (and the tree over it) names.
      if (ObjectId(item.object) != f.id) continue;
      written = store.Update([&](WriteTxn& txn) {
        return txn.Put(Table::kObjects, keys::Object(origin, index), item.object);
      });
    }
    KH_RETURN_IF_ERROR(written);
    f.repaired = true;
    if (f.kind == ScrubFinding::Kind::kObject) {
      KH_ASSIGN_OR_RETURN(std::vector<ScrubFinding> more,
                          ChunksOfRepaired(store, item.object, report.findings));
      report.findings.insert(report.findings.end(), more.begin(), more.end());  // f is stale now
    }
  }
  return Status::Ok();
}

Status RememberScrub(Store& store, const ScrubReport& report, int64_t now_ms) {
  json items = json::array();
  uint64_t repaired = 0;
  for (const auto& f : report.findings) {
    if (f.repaired) {
      ++repaired;
    } else if (items.size() < 100) {
      items.push_back(f.Describe());
    }
  }
  json j = {{"finished_ms", now_ms},
            {"checked", report.chunks + report.objects + report.records},
            {"damaged", report.findings.size()},
            {"repaired", repaired},
            {"unrepaired", report.unrepaired()},
            {"unrepaired_items", items}};
  return store.Update([&](WriteTxn& txn) {
    return txn.Put(Table::kMeta, AsBytes(kMetaLastScrub), AsBytes(j.dump()));
  });
}

Result<std::optional<ScrubSummary>> LastScrub(const Store& store) {
  std::optional<ScrubSummary> out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kMeta, AsBytes(kMetaLastScrub)));
    if (!v) return Status::Ok();
    json j = json::parse(AsChars(*v), nullptr, false);
    if (!j.is_object()) return Status::Corruption("the last scrub's summary is malformed");
    ScrubSummary s;
    s.finished_ms = j.value("finished_ms", int64_t{0});
    s.checked = j.value("checked", uint64_t{0});
    s.damaged = j.value("damaged", uint64_t{0});
    s.repaired = j.value("repaired", uint64_t{0});
    s.unrepaired = j.value("unrepaired", uint64_t{0});
    s.unrepaired_items = j.value("unrepaired_items", std::vector<std::string>{});
    out = std::move(s);
    return Status::Ok();
  }));
  return out;
}

}  // namespace khronika
