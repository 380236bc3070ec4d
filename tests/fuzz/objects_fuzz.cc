// libFuzzer target: the canonical object decoders (objects.h, sealed_objects.h). The input is
// offered to each decoder. Whatever decodes must re-encode to exactly the input (there is one
// canonical form), its JSON view must be printable, and a manifest or entry must come back
// unchanged through its strict JSON parser.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/recovery_objects.h"
#include "khronika/schemas/sealed_objects.h"

namespace {

using khronika::Bytes;
using khronika::ByteView;
using khronika::fuzz::Check;
using khronika::fuzz::SameBytes;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView input(data, size);

  if (auto m = khronika::DecodeManifest(input); m.ok()) {
    Check(SameBytes(khronika::Encode(*m), input));
    Check(khronika::ValidateManifest(*m).ok());
    nlohmann::json j = khronika::ToJson(*m);
    (void)j.dump();  // throws (and so aborts) on text that is not UTF-8
    auto back = khronika::ManifestFromJson(j);
    Check(back.ok() && *back == *m);
    Check(*khronika::PeekObjectType(input) == khronika::kTypeManifest);
  }

  if (auto e = khronika::DecodeEntry(input); e.ok()) {
    Check(SameBytes(khronika::Encode(*e), input));
    Check(khronika::ValidateEntryFields(*e).ok());
    nlohmann::json j = khronika::ToJson(*e);
    (void)j.dump();
    auto back = khronika::EntryFromJson(j);
    Check(back.ok() && *back == *e);
    Check(*khronika::PeekObjectType(input) == khronika::kTypeEntry);
  }

  if (auto r = khronika::DecodeRecord(input); r.ok()) {
    Check(SameBytes(khronika::Encode(*r), input));
    (void)khronika::ToJson(*r).dump();
    Check(*khronika::PeekObjectType(input) == khronika::kTypeRecord);
  }

  // Format 2 (sealed_objects.h): the same one-canonical-form rule.
  if (auto d = khronika::DecodeDescriptor(input); d.ok()) {
    Check(SameBytes(khronika::Encode(*d), input));
    Check(khronika::ValidateDescriptor(*d).ok());
  }
  if (auto e = khronika::DecodeSignedEntry(input); e.ok()) {
    Check(SameBytes(khronika::Encode(*e), input));
    Check(khronika::ValidateSignedEntryFields(*e).ok());
  }
  if (auto s = khronika::DecodeSealedEntry(input); s.ok()) {
    Check(SameBytes(khronika::Encode(*s), input));
    Check(khronika::ValidateSealedEntry(*s).ok());
  }
  if (auto r = khronika::DecodeRecordV2(input); r.ok()) {
    Check(SameBytes(khronika::Encode(*r), input));
  }
  if (auto k = khronika::DecodeRecoverySet(input); k.ok()) {
    Check(SameBytes(khronika::Encode(*k), input));
  }
  if (auto x = khronika::DecodeShareRelease(input); x.ok()) {
    Check(SameBytes(khronika::Encode(*x), input));
  }

  return 0;
}
