#include "khronika/replication/protocol.h"

#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/witness.h"
#include "khronika/timestamp/timestamp_store.h"

namespace khronika {
namespace {

using nlohmann::json;

size_t FrameLimit(uint8_t type) {
  switch (type) {
    case kFrameRecord: return kMaxRecordFrame;
    case kFrameObject: return kMaxObjectFrame;
    case kFrameChunk: return kMaxChunkFrame;
    case kFrameEnd: return 0;
    default: return SIZE_MAX;
  }
}

}  // namespace

void AppendFrame(Bytes& out, uint8_t type, ByteView payload) {
  out.push_back(type);
  uint32_t n = static_cast<uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(n >> shift));
  out.insert(out.end(), payload.begin(), payload.end());
}

namespace {

// A frame of a body, its payload left where it is.
struct FrameView {
  uint8_t type = 0;
  ByteView payload;
};

Result<std::vector<FrameView>> ParseFrameViews(ByteView body) {
  std::vector<FrameView> frames;
  size_t pos = 0;
  while (pos < body.size()) {
    if (body.size() - pos < 5) return Status::InvalidArgument("truncated frame header");
    uint8_t type = body[pos];
    uint32_t len = uint32_t{body[pos + 1]} << 24 | uint32_t{body[pos + 2]} << 16 |
                   uint32_t{body[pos + 3]} << 8 | body[pos + 4];
    size_t limit = FrameLimit(type);
    if (limit == SIZE_MAX) return Status::InvalidArgument("unknown frame type " + std::to_string(type));
    if (len > limit) return Status::InvalidArgument("frame larger than its type allows");
    pos += 5;
    if (body.size() - pos < len) return Status::InvalidArgument("truncated frame");
    frames.push_back({type, body.subspan(pos, len)});
    pos += len;
    if (type == kFrameEnd) {
      if (pos != body.size()) return Status::InvalidArgument("bytes after the end frame");
      return frames;
    }
  }
  return Status::InvalidArgument("body has no end frame");
}

}  // namespace

Result<std::vector<Frame>> ParseFrames(ByteView body) {
  KH_ASSIGN_OR_RETURN(std::vector<FrameView> views, ParseFrameViews(body));
  std::vector<Frame> frames;
  frames.reserve(views.size());
  for (const FrameView& f : views) {
    frames.push_back({f.type, Bytes(f.payload.begin(), f.payload.end())});
  }
  return frames;
}

std::string OriginSignedNote(const SignedNote& note, const NoteVerifier& origin) {
  SignedNote origin_only{note.text, {}};
  for (const NoteSignatureLine& line : note.signatures) {
    if (line.name == origin.name && line.key_id == origin.key_id) {
      origin_only.signatures.push_back(line);
      break;
    }
  }
  return FormatSignedNote(origin_only);
}

Result<std::vector<Head>> LocalHeads(const ReadTxn& txn) {
  std::vector<Head> heads;
  std::vector<Hash> origins;
  KH_RETURN_IF_ERROR(txn.Scan(Table::kOrigins, {}, [&](ByteView key, ByteView) -> Result<bool> {
    if (key.size() == 32) {
      Hash h;
      std::copy(key.begin(), key.end(), h.begin());
      origins.push_back(h);
    }
    return true;
  }));
  for (const Hash& origin : origins) {
    KH_ASSIGN_OR_RETURN(auto last, LatestHeldCheckpoint(txn, origin));
    if (!last) continue;  // a member whose log we do not hold yet
    Head h;
    h.origin = origin;
    h.size = last->size;
    // Cosignatures travel with the checkpoint, so witnessing gossips through heads.
    KH_ASSIGN_OR_RETURN(h.checkpoint, CheckpointWithCosignatures(txn, origin, h.size));
    KH_ASSIGN_OR_RETURN(auto stamped, LatestTimestampedSize(txn, origin));
    if (stamped && *stamped <= h.size) h.timestamped = *stamped;
    heads.push_back(std::move(h));
  }
  return heads;
}

std::string HeadsToJson(const Hash& node_id, const std::vector<Head>& heads) {
  json logs = json::array();
  for (const Head& h : heads) {
    json log = {{"origin", ToHex(h.origin)}, {"size", h.size}, {"checkpoint", h.checkpoint}};
    if (h.timestamped > 0) log["timestamped"] = h.timestamped;
    logs.push_back(std::move(log));
  }
  return json{{"protocol", kSyncProtocolVersion}, {"node_id", ToHex(node_id)}, {"logs", logs}}.dump();
}

Result<std::vector<Head>> HeadsFromJson(std::string_view text) {
  if (text.size() > (16u << 20)) return Status::InvalidArgument("heads too large");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("logs") || !j["logs"].is_array()) {
    return Status::InvalidArgument("heads: not a heads document");
  }
  if (!j.contains("protocol") || !j["protocol"].is_number_integer() ||
      j["protocol"].get<int64_t>() != kSyncProtocolVersion) {
    return Status::InvalidArgument("heads: unsupported sync protocol version");
  }
  std::vector<Head> out;
  for (const json& l : j["logs"]) {
    if (!l.is_object() || !l.contains("origin") || !l["origin"].is_string() ||
        !l.contains("size") || !l["size"].is_number_unsigned() || !l.contains("checkpoint") ||
        !l["checkpoint"].is_string()) {
      return Status::InvalidArgument("heads: malformed log entry");
    }
    Head h;
    KH_ASSIGN_OR_RETURN(h.origin, ParseHashHex(l["origin"].get<std::string>()));
    h.size = l["size"].get<uint64_t>();
    h.checkpoint = l["checkpoint"].get<std::string>();
    if (l.contains("timestamped")) {
      if (!l["timestamped"].is_number_unsigned() || l["timestamped"].get<uint64_t>() > h.size) {
        return Status::InvalidArgument("heads: malformed timestamped size");
      }
      h.timestamped = l["timestamped"].get<uint64_t>();
    }
    out.push_back(std::move(h));
  }
  return out;
}

Result<Bytes> BuildPack(const ReadTxn& txn, const Hash& origin, uint64_t from, uint64_t to) {
  Bytes out;
  for (uint64_t i = from; i < to; ++i) {
    if (i > from && (i - from >= kMaxPackRecords || out.size() >= kMaxPackBytes)) break;
    KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, origin, i));
    // Never pass on bytes damaged here: the asker would refuse the whole pack for them.
    if (ObjectId(logged.object_bytes) != logged.record.object_id) {
      return Status::Corruption("object " + ToHex(logged.record.object_id) + " of record " +
                                std::to_string(i) + " is damaged here");
    }
    AppendFrame(out, kFrameRecord, logged.record_bytes);
    AppendFrame(out, kFrameObject, logged.object_bytes);
  }
  AppendFrame(out, kFrameEnd, {});
  return out;
}

Result<std::vector<PackItem>> ParsePack(ByteView body) {
  KH_ASSIGN_OR_RETURN(std::vector<Frame> frames, ParseFrames(body));
  std::vector<PackItem> items;
  // The last frame is the end frame (ParseFrames).
  for (size_t i = 0; i + 1 < frames.size(); i += 2) {
    if (frames[i].type != kFrameRecord || i + 2 >= frames.size() ||
        frames[i + 1].type != kFrameObject) {
      return Status::InvalidArgument("pack: expected a record frame then an object frame");
    }
    if (items.size() == kMaxPackRecords) return Status::InvalidArgument("pack: too many records");
    items.push_back({std::move(frames[i].payload), std::move(frames[i + 1].payload)});
  }
  return items;
}

Result<Bytes> BuildChunkBody(const ReadTxn& txn, const std::vector<Hash>& ids) {
  if (ids.size() > kMaxChunksPerRequest) return Status::InvalidArgument("too many chunks asked for");
  Bytes out;
  size_t chunk_bytes = 0;
  for (const Hash& id : ids) {
    KH_ASSIGN_OR_RETURN(auto chunk, txn.Get(Table::kChunks, id));
    if (!chunk) continue;  // the asker learns it must look elsewhere
    if (chunk->size() > kSealedChunkSize) continue;
    if (chunk_bytes > 0 && chunk_bytes + chunk->size() > kMaxChunkAnswerBytes) continue;
    if (ChunkId(*chunk) != id) continue;  // damaged here: never pass on bad bytes
    chunk_bytes += chunk->size();
    // The frame written in place: no payload copy of a 1 MiB chunk.
    const uint32_t len = static_cast<uint32_t>(32 + chunk->size());
    out.push_back(kFrameChunk);
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(len >> shift));
    out.insert(out.end(), id.begin(), id.end());
    out.insert(out.end(), chunk->begin(), chunk->end());
  }
  AppendFrame(out, kFrameEnd, {});
  return out;
}

Result<std::vector<std::pair<Hash, Bytes>>> ParseChunkBody(ByteView body) {
  KH_ASSIGN_OR_RETURN(std::vector<FrameView> frames, ParseFrameViews(body));
  std::vector<std::pair<Hash, Bytes>> out;
  for (const FrameView& f : frames) {
    if (f.type == kFrameEnd) break;
    if (f.type != kFrameChunk || f.payload.size() < 32) {
      return Status::InvalidArgument("chunk body: unexpected frame");
    }
    Hash id;
    std::copy(f.payload.begin(), f.payload.begin() + 32, id.begin());
    ByteView data = f.payload.subspan(32);
    if (ChunkId(data) != id) return Status::Corruption("chunk " + ToHex(id) + " does not match its id");
    out.emplace_back(id, Bytes(data.begin(), data.end()));
  }
  return out;
}

}  // namespace khronika
