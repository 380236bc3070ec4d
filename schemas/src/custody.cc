#include "khronika/schemas/custody.h"

#include <openssl/crypto.h>

#include <bit>

#include "canonical.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealing.h"

namespace khronika {

using canonical::CanonicalReader;
using canonical::CanonicalWriter;
using canonical::DecodeCanonical;

namespace {

Status CheckPrintable(std::string_view s, size_t max, const char* field) {
  if (s.size() > max) {
    return Status::InvalidArgument(std::string("custody event: ") + field + " longer than " +
                                   std::to_string(max) + " bytes");
  }
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) {
      return Status::InvalidArgument(std::string("custody event: ") + field +
                                     " is not printable ASCII");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateCustodyEvent(const CustodyEvent& e) {
  if (e.action.empty() || e.action.size() > kMaxCustodyActionBytes) {
    return Status::InvalidArgument("custody event: action must be 1 to 32 bytes");
  }
  for (char c : e.action) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return Status::InvalidArgument("custody event: action must be a-z, 0-9 or '-'");
    }
  }
  KH_RETURN_IF_ERROR(CheckPrintable(e.token_id, kMaxCustodyActorBytes, "token id"));
  KH_RETURN_IF_ERROR(CheckPrintable(e.role, kMaxCustodyRoleBytes, "role"));
  KH_RETURN_IF_ERROR(CheckPrintable(e.object, kMaxCustodyObjectBytes, "object"));
  if (!e.case_id.empty()) KH_RETURN_IF_ERROR(ValidateCaseId(e.case_id).Annotate("custody event"));
  return Status::Ok();
}

nlohmann::json CustodyEventJson(const CustodyEvent& e) {
  return {{"time_ms", e.time_ms}, {"token_id", e.token_id}, {"role", e.role},
          {"action", e.action},   {"object", e.object},     {"case", e.case_id}};
}

Result<CustodyEvent> CustodyEventFromJson(const nlohmann::json& j) {
  CustodyEvent e;
  try {
    e.time_ms = j.at("time_ms").get<int64_t>();
    e.token_id = j.at("token_id").get<std::string>();
    e.role = j.at("role").get<std::string>();
    e.action = j.at("action").get<std::string>();
    e.object = j.at("object").get<std::string>();
    e.case_id = j.at("case").get<std::string>();
  } catch (const nlohmann::json::exception& ex) {
    return Status::Corruption(std::string("custody event: ") + ex.what());
  }
  Status valid = ValidateCustodyEvent(e);
  if (!valid.ok()) return Status::Corruption(valid.message());
  return e;
}

Bytes Encode(const CustodyEvent& e) {
  CanonicalWriter w(kTypeCustodyEvent);
  w.I64(e.time_ms);
  w.Str(e.action);
  w.Str(e.token_id);
  w.Str(e.role);
  w.Str(e.case_id);
  w.Str(e.object);
  return w.Take();
}

Bytes Encode(const CustodyRecord& r) {
  CanonicalWriter w(kTypeCustodyRecord);
  w.Fixed(r.nonce);
  w.U64(r.boxes.size());
  for (const CustodyBox& b : r.boxes) w.Fixed(b);
  return w.Take();
}

Result<CustodyEvent> DecodeCustodyEvent(ByteView bytes) {
  auto result = DecodeCanonical<CustodyEvent>(bytes, "custody event", [](ByteView b) {
    CanonicalReader r(b, kTypeCustodyEvent, "custody event");
    CustodyEvent e;
    e.time_ms = r.I64("time");
    e.action = r.Str(kMaxCustodyActionBytes, "action");
    e.token_id = r.Str(kMaxCustodyActorBytes, "token id");
    e.role = r.Str(kMaxCustodyRoleBytes, "role");
    e.case_id = r.Str(kMaxCaseIdBytes, "case");
    e.object = r.Str(kMaxCustodyObjectBytes, "object");
    r.Finish();
    return e;
  });
  if (result.ok()) KH_RETURN_IF_ERROR(ValidateCustodyEvent(*result));
  return result;
}

Result<CustodyRecord> DecodeCustodyRecord(ByteView bytes) {
  return DecodeCanonical<CustodyRecord>(bytes, "custody record", [](ByteView b) {
    CanonicalReader r(b, kTypeCustodyRecord, "custody record");
    CustodyRecord rec;
    r.Fixed(rec.nonce, "nonce");
    uint64_t n = r.U64("slot count");
    if (n < kMinCustodySlots || n > kMaxCustodySlots || !std::has_single_bit(n)) {
      r.Fail("the slot count must be a power of two from 4 to 256");
    }
    r.Need(n * kCustodyBoxBytes, "event boxes");
    rec.boxes.resize(n);
    for (CustodyBox& box : rec.boxes) r.Fixed(box, "event box");
    r.Finish();
    return rec;
  });
}

size_t CustodySlots(size_t events) {
  return std::max(kMinCustodySlots, std::bit_ceil(std::max<size_t>(events, 1)));
}

SymmetricKey DeriveCustodyKey(const SymmetricKey& archive_key) {
  static constexpr std::string_view kInfo{"khronika/2 custody key\0", 23};
  SymmetricKey out;
  HkdfExpand(HkdfHash::kSha256, archive_key, AsBytes(kInfo), out);
  return out;
}

SymmetricKey DeriveCustodyEventKey(const SymmetricKey& custody_key, const CustodyNonce& nonce,
                                   uint32_t slot) {
  static constexpr std::string_view kLabel{"khronika/2 custody event key\0", 29};
  Bytes info(kLabel.begin(), kLabel.end());
  info.insert(info.end(), nonce.begin(), nonce.end());
  for (int shift = 24; shift >= 0; shift -= 8) info.push_back(uint8_t(slot >> shift));
  SymmetricKey out;
  HkdfExpand(HkdfHash::kSha256, custody_key, info, out);
  return out;
}

Result<CustodyRecord> SealCustodyRecord(const SymmetricKey& archive_key, const CustodyNonce& nonce,
                                        const std::vector<CustodyEvent>& events) {
  if (events.empty() || events.size() > kMaxCustodySlots) {
    return Status::InvalidArgument("a custody record holds 1 to 256 events");
  }
  for (const CustodyEvent& e : events) KH_RETURN_IF_ERROR(ValidateCustodyEvent(e));
  CustodyRecord record;
  record.nonce = nonce;
  record.boxes.resize(CustodySlots(events.size()));
  SymmetricKey custody_key = DeriveCustodyKey(archive_key);
  Status status = Status::Ok();
  for (size_t i = 0; i < record.boxes.size() && status.ok(); ++i) {
    Bytes value = i < events.size() ? Encode(events[i]) : Bytes{};
    auto padded = PadValue(value, kCustodyBoxPadded);
    if (!padded.ok()) {
      status = padded.status();
      break;
    }
    SymmetricKey key = DeriveCustodyEventKey(custody_key, nonce, static_cast<uint32_t>(i));
    Bytes box = BoxSeal(key, kCustodyBoxLabel, *padded);
    OPENSSL_cleanse(key.data(), key.size());
    if (box.size() != kCustodyBoxBytes) std::abort();  // fixed by construction
    std::copy(box.begin(), box.end(), record.boxes[i].begin());
  }
  OPENSSL_cleanse(custody_key.data(), custody_key.size());
  if (!status.ok()) return status;
  return record;
}

Result<std::optional<CustodyEvent>> OpenCustodySlot(const CustodyRecord& record, uint32_t slot,
                                                    const SymmetricKey& event_key) {
  if (slot >= record.boxes.size()) {
    return Status::InvalidArgument("custody record has no slot " + std::to_string(slot));
  }
  auto padded = BoxOpen(event_key, kCustodyBoxLabel, record.boxes[slot]);
  if (!padded.ok()) {
    return Status::Corruption("custody event box " + std::to_string(slot) +
                              " does not open under its key");
  }
  KH_ASSIGN_OR_RETURN(Bytes value, UnpadValue(*padded));
  if (value.empty()) return std::optional<CustodyEvent>();
  auto event = DecodeCustodyEvent(value);
  if (!event.ok()) {
    return Status::Corruption("custody event box " + std::to_string(slot) + ": " +
                              event.status().message());
  }
  return std::optional<CustodyEvent>(std::move(*event));
}

Result<std::vector<CustodyEvent>> OpenCustodyRecord(const CustodyRecord& record,
                                                    const SymmetricKey& archive_key) {
  SymmetricKey custody_key = DeriveCustodyKey(archive_key);
  std::vector<CustodyEvent> events;
  bool ended = false;
  Status status = Status::Ok();
  for (size_t i = 0; i < record.boxes.size(); ++i) {
    SymmetricKey key = DeriveCustodyEventKey(custody_key, record.nonce, static_cast<uint32_t>(i));
    auto slot = OpenCustodySlot(record, static_cast<uint32_t>(i), key);
    OPENSSL_cleanse(key.data(), key.size());
    if (!slot.ok()) {
      status = slot.status();
      break;
    }
    if (!slot->has_value()) {
      ended = true;
    } else if (ended) {
      status = Status::Corruption("custody record: an event follows an empty slot");
      break;
    } else {
      events.push_back(std::move(**slot));
    }
  }
  OPENSSL_cleanse(custody_key.data(), custody_key.size());
  if (!status.ok()) return status;
  if (events.empty()) return Status::Corruption("custody record holds no event");
  if (record.boxes.size() != CustodySlots(events.size())) {
    return Status::Corruption("custody record has more slots than its events need");
  }
  return events;
}

}  // namespace khronika
