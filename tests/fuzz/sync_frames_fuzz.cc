// libFuzzer target: the sync protocol's wire format (protocol.h), what a node reads from a peer.
// The input is offered as a frame body, a pack, a chunk body and a heads document. Frames and
// packs must re-encode to exactly the input; a pack's objects and the heads' checkpoints go on to
// the decoders that `PullFromPeer` applies to them; heads must survive a round trip.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "khronika/replication/protocol.h"
#include "khronika/schemas/note.h"

namespace {

using khronika::Bytes;
using khronika::ByteView;
using khronika::fuzz::Check;
using khronika::fuzz::SameBytes;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView input(data, size);

  auto frames = khronika::ParseFrames(input);
  if (frames.ok()) {
    Check(!frames->empty() && frames->back().type == khronika::kFrameEnd);
    Bytes again;
    for (const khronika::Frame& f : *frames) khronika::AppendFrame(again, f.type, f.payload);
    Check(SameBytes(again, input));
  }

  auto pack = khronika::ParsePack(input);
  if (pack.ok()) {
    Check(frames.ok() && pack->size() <= khronika::kMaxPackRecords);
    Bytes again;
    for (const khronika::PackItem& item : *pack) {
      khronika::AppendFrame(again, khronika::kFrameRecord, item.record);
      khronika::AppendFrame(again, khronika::kFrameObject, item.object);
      (void)khronika::DecodeRecord(item.record);
      (void)khronika::DecodeSealedEntry(item.object);
    }
    khronika::AppendFrame(again, khronika::kFrameEnd, {});
    Check(SameBytes(again, input));
  }

  auto chunks = khronika::ParseChunkBody(input);
  if (chunks.ok()) {
    Check(frames.ok() && chunks->size() + 1 == frames->size());
    for (const auto& [id, bytes] : *chunks) Check(khronika::ChunkId(bytes) == id);
  }

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto heads = khronika::HeadsFromJson(text);
  if (heads.ok()) {
    for (const khronika::Head& h : *heads) (void)khronika::ParseSignedNote(h.checkpoint);
    auto back = khronika::HeadsFromJson(khronika::HeadsToJson(khronika::Hash{}, *heads));
    Check(back.ok() && back->size() == heads->size());
    for (size_t i = 0; i < heads->size(); ++i) {
      const khronika::Head& a = (*heads)[i];
      const khronika::Head& b = (*back)[i];
      Check(a.origin == b.origin && a.size == b.size && a.checkpoint == b.checkpoint);
    }
  }
  return 0;
}
