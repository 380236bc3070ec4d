// libFuzzer target: the canonical object decoders (objects.h, sealed_objects.h). The input is
// offered to each decoder. Whatever decodes must re-encode to exactly the input (there is one
// canonical form), its JSON view must be printable, and a descriptor or signed entry must come
// back unchanged through its strict JSON parser.
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

  if (auto d = khronika::DecodeDescriptor(input); d.ok()) {
    Check(SameBytes(khronika::Encode(*d), input));
    Check(khronika::ValidateDescriptor(*d).ok());
    nlohmann::json j = khronika::ToJson(*d);
    (void)j.dump();  // throws (and so aborts) on text that is not UTF-8
    auto back = khronika::DescriptorFromJson(j);
    Check(back.ok() && *back == *d);
    Check(*khronika::PeekObjectType(input) == khronika::kTypeDescriptor);
  }

  if (auto e = khronika::DecodeSignedEntry(input); e.ok()) {
    Check(SameBytes(khronika::Encode(*e), input));
    Check(khronika::ValidateSignedEntryFields(*e).ok());
    nlohmann::json j = khronika::ToJson(*e);
    (void)j.dump();
    auto back = khronika::SignedEntryFromJson(j);
    Check(back.ok() && *back == *e);
    Check(*khronika::PeekObjectType(input) == khronika::kTypeEntry);
  }

  if (auto s = khronika::DecodeSealedEntry(input); s.ok()) {
    Check(SameBytes(khronika::Encode(*s), input));
    Check(khronika::ValidateSealedEntry(*s).ok());
    Check(*khronika::PeekObjectType(input) == khronika::kTypeSealedEntry);
  }

  if (auto r = khronika::DecodeRecord(input); r.ok()) {
    Check(SameBytes(khronika::Encode(*r), input));
    Check(input.size() == khronika::kRecordBytes);
    (void)khronika::ToJson(*r).dump();
    Check(*khronika::PeekObjectType(input) == khronika::kTypeRecord);
  }

  if (auto k = khronika::DecodeRecoverySet(input); k.ok()) {
    Check(SameBytes(khronika::Encode(*k), input));
  }
  if (auto x = khronika::DecodeShareRelease(input); x.ok()) {
    Check(SameBytes(khronika::Encode(*x), input));
  }

  return 0;
}
