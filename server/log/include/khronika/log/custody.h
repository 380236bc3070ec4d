// Custody events on their way into the log (docs/format.md section 7.3).
//
// Every event is first written to the pending table (Table::kAccessLog) in the same transaction
// that lets the act happen (a read is on record before its first byte leaves), and later sealed,
// a batch at a time, into a CustodyRecord that the node appends to its own log
// (Log::LogPendingCustody) in one transaction that also deletes the pending rows: an event is
// always in exactly one of the two places. The node keeps, in `meta` under `custody/` and a
// sequence number, where each custody record is and which cases it mentions (encrypted at rest),
// so that listings and bundles do not walk the whole log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "khronika/schemas/custody.h"
#include "khronika/store/store.h"

namespace khronika {

// The pending table's value: CustodyEventJson padded with spaces to a multiple of 512 bytes, so
// that on a seized disk every pending event has the same size.
inline constexpr size_t kPendingCustodyBytes = 512;
Bytes EncodePendingCustody(const CustodyEvent& event);
// Appends `event` to the pending table with the next sequence number. InvalidArgument (nothing
// written) if the event is not valid (ValidateCustodyEvent).
Status RecordPendingCustody(WriteTxn& txn, const CustodyEvent& event);
// Appends an already encoded pending row (EncodePendingCustody) with the next sequence number,
// unchecked: the one writer of the table, for RecordPendingCustody and auth's RecordAccess.
Status AppendPendingCustodyRow(WriteTxn& txn, const Bytes& row);

// A pending row decoded (CustodyEventFromJson); Corruption if it is not one.
Result<CustodyEvent> DecodePendingCustody(ByteView value);
// Events sealed by one transaction of Log::LogPendingCustody: a node upgraded with a long
// access log converts it a few records at a time, and no transaction grows without bound.
inline constexpr size_t kCustodyRecordsPerTransaction = 16;
// Notes, in the same transaction, the custody record at `index` holding `events` (its cases).
Status IndexCustodyRecord(WriteTxn& txn, uint64_t index, const std::vector<CustodyEvent>& events);

// Where one custody record of this node's log is: its index, and the cases its events mention.
struct CustodyRecordRef {
  uint64_t index = 0;
  std::vector<std::string> cases;
};
// Every custody record of this node's log, in log order.
Result<std::vector<CustodyRecordRef>> CustodyRecords(const ReadTxn& txn);

struct ListedCustodyEvent {
  CustodyEvent event;
  std::optional<uint64_t> record_index;  // the custody record holding it; nullopt: pending
  uint32_t slot = 0;                     // its slot in that record
};
// Every custody event of `origin` (this node's log), opened with its archive key: the logged
// ones in log order, then the pending ones in recording order. Corruption naming the record if
// a custody record is missing or does not open.
Result<std::vector<ListedCustodyEvent>> ListCustody(const ReadTxn& txn, const Hash& origin,
                                                    const SymmetricKey& archive_key);
// The number of events still pending.
Result<uint64_t> PendingCustodyCount(const ReadTxn& txn);

}  // namespace khronika
