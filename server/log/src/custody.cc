#include "khronika/log/custody.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

constexpr std::string_view kMetaCustodyPrefix = "custody/";

Bytes CustodyMetaKey(uint64_t sequence) {
  Bytes key(kMetaCustodyPrefix.begin(), kMetaCustodyPrefix.end());
  AppendBigEndian64(key, sequence);
  return key;
}

Result<CustodyRecordRef> DecodeRef(ByteView value) {
  auto j = nlohmann::json::parse(AsChars(value), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("custody index: not JSON");
  try {
    CustodyRecordRef ref;
    ref.index = j.at("index").get<uint64_t>();
    ref.cases = j.at("cases").get<std::vector<std::string>>();
    return ref;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("custody index: ") + e.what());
  }
}

}  // namespace

Result<CustodyEvent> DecodePendingCustody(ByteView value) {
  // The padding is whitespace after the JSON value: the parser skips it.
  auto j = nlohmann::json::parse(AsChars(value), nullptr, false);
  if (j.is_discarded()) return Status::Corruption("a pending custody event is not JSON");
  return CustodyEventFromJson(j);
}

Bytes EncodePendingCustody(const CustodyEvent& e) {
  std::string text = CustodyEventJson(e).dump();
  size_t padded =
      std::max<size_t>(1, (text.size() + kPendingCustodyBytes - 1) / kPendingCustodyBytes) *
      kPendingCustodyBytes;
  text.resize(padded, ' ');
  return Bytes(text.begin(), text.end());
}

Status RecordPendingCustody(WriteTxn& txn, const CustodyEvent& event) {
  KH_RETURN_IF_ERROR(ValidateCustodyEvent(event));
  return AppendPendingCustodyRow(txn, EncodePendingCustody(event));
}

Status AppendPendingCustodyRow(WriteTxn& txn, const Bytes& row) {
  // Key: the next sequence number, so keys sort in recording order and carry no time. Write
  // transactions are serialised, so two rows never take the same number. A table begun with
  // older keys (time || random, 16 bytes) goes on after its last time, still in order.
  KH_ASSIGN_OR_RETURN(auto last, txn.Last(Table::kAccessLog, {}));
  uint64_t next = 0;
  if (last) {
    if (last->first.size() < 8) return Status::Corruption("access log key shorter than 8 bytes");
    next = ReadBigEndian64(last->first.data()) + 1;
  }
  Bytes key;
  AppendBigEndian64(key, next);
  return txn.Put(Table::kAccessLog, key, row);
}

Result<std::vector<CustodyRecordRef>> CustodyRecords(const ReadTxn& txn) {
  std::vector<CustodyRecordRef> out;
  KH_RETURN_IF_ERROR(txn.Scan(Table::kMeta, AsBytes(kMetaCustodyPrefix),
                              [&](ByteView, ByteView value) -> Result<bool> {
                                KH_ASSIGN_OR_RETURN(CustodyRecordRef ref, DecodeRef(value));
                                out.push_back(std::move(ref));
                                return true;
                              }));
  return out;
}

Result<uint64_t> PendingCustodyCount(const ReadTxn& txn) {
  uint64_t n = 0;
  KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kAccessLog, {}, [&](ByteView) -> Result<bool> {
    ++n;
    return true;
  }));
  return n;
}

Result<std::vector<ListedCustodyEvent>> ListCustody(const ReadTxn& txn, const Hash& origin,
                                                    const SymmetricKey& archive_key) {
  std::vector<ListedCustodyEvent> out;
  KH_ASSIGN_OR_RETURN(std::vector<CustodyRecordRef> refs, CustodyRecords(txn));
  for (const CustodyRecordRef& ref : refs) {
    const std::string where = "custody record at index " + std::to_string(ref.index);
    auto logged = ReadLoggedObject(txn, origin, ref.index);
    if (!logged.ok()) return Status::Corruption(where + ": " + logged.status().message());
    auto record = DecodeCustodyRecord(logged->object_bytes);
    if (!record.ok()) return Status::Corruption(where + ": " + record.status().message());
    auto events = OpenCustodyRecord(*record, archive_key);
    if (!events.ok()) return Status::Corruption(where + ": " + events.status().message());
    for (size_t i = 0; i < events->size(); ++i) {
      out.push_back({std::move((*events)[i]), ref.index, static_cast<uint32_t>(i)});
    }
  }
  KH_RETURN_IF_ERROR(txn.Scan(Table::kAccessLog, {}, [&](ByteView, ByteView value) -> Result<bool> {
    KH_ASSIGN_OR_RETURN(CustodyEvent e, DecodePendingCustody(value));
    out.push_back({std::move(e), std::nullopt, 0});
    return true;
  }));
  return out;
}

Status IndexCustodyRecord(WriteTxn& txn, uint64_t index, const std::vector<CustodyEvent>& events) {
  KH_ASSIGN_OR_RETURN(auto last_ref, txn.Last(Table::kMeta, AsBytes(kMetaCustodyPrefix)));
  uint64_t sequence = 0;
  if (last_ref) {
    if (last_ref->first.size() != kMetaCustodyPrefix.size() + 8) {
      return Status::Corruption("custody index: malformed key");
    }
    sequence = ReadBigEndian64(last_ref->first.data() + kMetaCustodyPrefix.size()) + 1;
  }
  std::set<std::string> cases;
  for (const CustodyEvent& e : events) {
    if (!e.case_id.empty()) cases.insert(e.case_id);
  }
  nlohmann::json ref = {{"index", index},
                        {"cases", std::vector<std::string>(cases.begin(), cases.end())}};
  return txn.Put(Table::kMeta, CustodyMetaKey(sequence), AsBytes(ref.dump()));
}

}  // namespace khronika
