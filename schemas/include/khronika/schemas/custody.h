// Format 2's custody records (docs/format.md section 7.3): who read or exported what, who was
// given or lost a token, when the node's keys changed, logged in the node's own log so that the
// trail is signed, chained, cosigned by partners and travels with the evidence.
//
// A CustodyRecord ('U') seals a batch of events, each in a box of its own under a key of its own:
//
//   archive key ── custody key ── event key (record nonce, slot i)   opens event box i
//
// so a court bundle can hand over the keys of the events about its own case and nothing of
// another case's. The slot count is rounded up to a power of two (4 to 256) with empty boxes
// that look like the others, so a partner learns that a record exists, its time and a rough
// size, and nothing else.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/seal.h"

namespace khronika {

inline constexpr uint8_t kTypeCustodyRecord = 'U';
// The header type of an event's bytes inside its box (never logged as an object of its own).
inline constexpr uint8_t kTypeCustodyEvent = 'V';

inline constexpr size_t kCustodyNonceBytes = 32;
using CustodyNonce = std::array<uint8_t, kCustodyNonceBytes>;
inline constexpr size_t kCustodyBoxPadded = 512;
inline constexpr size_t kCustodyBoxBytes = kCustodyBoxPadded + kAeadTagBytes;
using CustodyBox = std::array<uint8_t, kCustodyBoxBytes>;
inline constexpr size_t kMinCustodySlots = 4;
inline constexpr size_t kMaxCustodySlots = 256;  // also the most events one record holds
inline constexpr std::string_view kCustodyBoxLabel = "khronika/2 custody event box";

// Field limits (section 7.3); every event the node records fits in one box.
inline constexpr size_t kMaxCustodyActionBytes = 32;
inline constexpr size_t kMaxCustodyActorBytes = 64;
inline constexpr size_t kMaxCustodyRoleBytes = 16;
inline constexpr size_t kMaxCustodyObjectBytes = 200;

// One custody event. `object` names what was touched: "<sealed entry id hex>/<file index>" for a
// read of content, a description for an export or a key change, a token id for a grant.
struct CustodyEvent {
  int64_t time_ms = 0;   // the node's clock
  std::string token_id;  // who: a token id (16 hex), or "local" for the operator's commands
  std::string role;      // the token's role ("admin", "reader", ...); may be empty
  std::string action;    // "read-content", "export", "token-grant", ...
  std::string object;
  std::string case_id;   // empty: the event concerns no one case

  bool operator==(const CustodyEvent&) const = default;
};

// InvalidArgument naming the field unless: action 1-32 bytes of a-z 0-9 '-'; token id, role and
// object printable ASCII (0x20-0x7E) within their limits; case empty or a valid case id.
Status ValidateCustodyEvent(const CustodyEvent& event);

// {"time_ms", "token_id", "role", "action", "object", "case"}: the pending table's value, and
// what `access-log --json` and GET /v1/access-log show.
nlohmann::json CustodyEventJson(const CustodyEvent& event);
// The reverse, validated; Corruption if the JSON is not one.
Result<CustodyEvent> CustodyEventFromJson(const nlohmann::json& j);

struct CustodyRecord {
  CustodyNonce nonce{};
  std::vector<CustodyBox> boxes;  // a power of two, kMinCustodySlots to kMaxCustodySlots

  bool operator==(const CustodyRecord&) const = default;
};

Bytes Encode(const CustodyEvent& e);
Bytes Encode(const CustodyRecord& r);
Result<CustodyEvent> DecodeCustodyEvent(ByteView bytes);
// What anyone checks without a key: canonical form and the slot count.
Result<CustodyRecord> DecodeCustodyRecord(ByteView bytes);

// The number of slots for `events` events: max(4, the next power of two).
size_t CustodySlots(size_t events);

SymmetricKey DeriveCustodyKey(const SymmetricKey& archive_key);
SymmetricKey DeriveCustodyEventKey(const SymmetricKey& custody_key, const CustodyNonce& nonce,
                                   uint32_t slot);

// Seals 1 to 256 valid events under `nonce` (fresh random bytes for every record). Events fill
// slots 0.. in order; the remaining slots hold empty boxes.
Result<CustodyRecord> SealCustodyRecord(const SymmetricKey& archive_key, const CustodyNonce& nonce,
                                        const std::vector<CustodyEvent>& events);
// Slot `slot` opened with its event key: the event, or nullopt for an empty slot. Corruption if
// the box does not open under the key or holds something other than a valid event.
Result<std::optional<CustodyEvent>> OpenCustodySlot(const CustodyRecord& record, uint32_t slot,
                                                    const SymmetricKey& event_key);
// Every slot opened with the archive key: the events in order. Corruption unless every slot
// opens, at least one holds an event and no event follows an empty slot.
Result<std::vector<CustodyEvent>> OpenCustodyRecord(const CustodyRecord& record,
                                                    const SymmetricKey& archive_key);

}  // namespace khronika
