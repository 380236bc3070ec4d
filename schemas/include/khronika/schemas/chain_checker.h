// ChainChecker: the rules that make one origin's records a log (docs/format-2.md section 5,
// docs/format.md section 8), checked one record at a time, with the log's Merkle tree kept as a
// compact frontier.
//
// Every verifier of a log uses it: `khronika verify` (the store), sync (a peer's pack on top of
// the records held), `mirror verify` (a git mirror) and `verify-bundle` (one case's records).
// The rules that belong to the record of a format version are in this header's .cc alone, so a
// new record format changes them in one place. Checks of sealed entries and files stay with the
// callers, which know where those came from and name them in their own words. In format 2 the
// case chain is not in the record but in the sealed entry's link box, which only a holder of the
// case key (or the archive key) can open: such a caller tells the checker each record's case and
// link (CaseOfRecord); a caller without keys checks no case chain.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/objects.h"

namespace khronika {

// The rules, in the order they are checked.
enum class ChainRule {
  kCanonical,  // the bytes are a canonical record (format.md section 7)
  kOrigin,     // its origin is the log's
  kIndex,      // its index is its position in the log
  kHashChain,  // prev_record is the record hash of the record before, the zero hash for record 0
  kCaseChain,  // its link names the record hash of its case's previous record, or zero
};

struct ChainProblem {
  ChainRule rule;
  // The rule broken, in words, without naming the record (the caller says where it is), e.g.
  // "prev_record is not the hash of record 4 (hash chain broken)".
  std::string what;
};

// One record as the checker found it.
struct CheckedRecord {
  Hash origin{};                       // the log's
  uint64_t index = 0;                  // its position in the log
  std::optional<Record> record;        // decoded; nullopt if the bytes are not a record
  Hash record_hash{};                  // SHA-256 of the bytes as given
  Hash leaf_hash{};                    // SHA-256(0x00 || bytes)
  std::vector<TreeNode> completed;     // the Merkle nodes it completes (MerkleFrontier::Append)
  std::vector<ChainProblem> problems;  // in rule order; empty when every rule holds

  bool ok() const { return problems.empty(); }
  // It does not decode or does not chain to the record before: nothing after it is tied to the
  // records before it.
  bool BreaksChain() const;
  // "record 5 of khronika/<origin hex>"
  std::string Name() const;
  // OK, or the first problem as Corruption: "record 5 of khronika/<origin hex>: <what>".
  Status status() const;
};

// What the link box of a record's sealed entry says (docs/format-2.md section 5): its case, and
// the record hash of the previous record of that case in this log (zero if none).
struct CaseLink {
  std::string case_id;
  Hash prev_case_record{};
};
// The case and link of a record's sealed entry, which the caller opens and checks (its id,
// boxes and signature are the caller's rules). Asked only for a record that decodes. nullopt:
// the case cannot be told (object missing, damaged, or not a sealed entry); the record is then in
// no known case, and a later record of any case may name it as its predecessor. An error ends
// Append with that error.
using CaseOfRecord = std::function<Result<std::optional<CaseLink>>(const Record& record)>;

// For a check that resumes after a prefix of the log: the record hash of the last record of
// `case_id` in that prefix, or nullopt if the case has none there. Asked once per case.
using CaseTipFn = std::function<Result<std::optional<Hash>>(const std::string& case_id)>;

// Checks the records of one origin's log in order. Feed it with Append; where records are not
// held (missing, unreadable, or not part of what is checked, as in a court bundle), SkipTo. A
// value; not thread-safe. Memory: the frontier (O(log n)), plus one hash per case seen.
class ChainChecker {
 public:
  // Checks a log of `origin` from its first record.
  explicit ChainChecker(const Hash& origin);
  // Resumes after the first frontier.size() records of the log, already verified:
  // `last_record_hash` is the record hash of the last of them (ignored when there are none) and
  // `case_tip` tells where each case's chain stands in them.
  static ChainChecker Resume(const Hash& origin, MerkleFrontier frontier,
                             const Hash& last_record_hash, CaseTipFn case_tip);

  const Hash& origin() const { return origin_; }
  // Records appended or skipped: the position of the next one.
  uint64_t size() const { return frontier_.size(); }
  // The Merkle root of the first size() records; nullopt if a record was skipped.
  std::optional<Hash> Root() const { return frontier_.Root(); }
  const MerkleFrontier& frontier() const { return frontier_; }
  // The record hash of record size() - 1; nullopt if it was skipped or there is none.
  std::optional<Hash> last_record_hash() const;

  // Checks `record_bytes` as record number size() and moves past it, whatever it found: the
  // bytes take their place as they are (a damaged record still has its hash and its leaf), so
  // one bad record is named once and each later one is checked against what is really there.
  // `case_of` (empty: case chains are not checked, for a checker given no case at all) is asked
  // for the record's case. Fails only if `case_of` or the CaseTipFn fails, or if size() is
  // already 2^64 - 1.
  Result<CheckedRecord> Append(ByteView record_bytes, const CaseOfRecord& case_of);

  // Records size() .. index - 1 are not held. Their hashes are unknown, so the record at `index`
  // is not checked against the one before it, and no root covers them; for the case chains they
  // belong to other cases than any record appended (a bundle holds every record of its case
  // between its first and last). InvalidArgument if index < size().
  Status SkipTo(uint64_t index);

 private:
  Result<Hash> CaseTip(const std::string& case_id);

  Hash origin_;
  MerkleFrontier frontier_;
  std::optional<Hash> prev_record_ = Hash{};  // what the next record's prev_record must be
  CaseTipFn case_tip_;
  std::map<std::string, Hash> case_tips_;  // case -> record hash of its latest record
  std::set<Hash> caseless_;                // records whose case could not be told, not yet named
};

}  // namespace khronika
