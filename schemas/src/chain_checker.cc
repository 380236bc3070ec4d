#include "khronika/schemas/chain_checker.h"

#include <cstdint>
#include <utility>

namespace khronika {

bool CheckedRecord::BreaksChain() const {
  for (const ChainProblem& p : problems) {
    if (p.rule == ChainRule::kCanonical || p.rule == ChainRule::kHashChain) return true;
  }
  return false;
}

std::string CheckedRecord::Name() const {
  return "record " + std::to_string(index) + " of " + OriginName(origin);
}

Status CheckedRecord::status() const {
  if (problems.empty()) return Status::Ok();
  return Status::Corruption(Name() + ": " + problems.front().what);
}

ChainChecker::ChainChecker(const Hash& origin) : origin_(origin) {}

ChainChecker ChainChecker::Resume(const Hash& origin, MerkleFrontier frontier,
                                  const Hash& last_record_hash, CaseTipFn case_tip) {
  ChainChecker c(origin);
  if (frontier.size() > 0) c.prev_record_ = last_record_hash;
  c.frontier_ = std::move(frontier);
  c.case_tip_ = std::move(case_tip);
  return c;
}

std::optional<Hash> ChainChecker::last_record_hash() const {
  if (size() == 0) return std::nullopt;
  return prev_record_;
}

Result<Hash> ChainChecker::CaseTip(const std::string& case_id) {
  auto it = case_tips_.find(case_id);
  if (it != case_tips_.end()) return it->second;
  Hash tip{};
  if (case_tip_) {
    KH_ASSIGN_OR_RETURN(std::optional<Hash> held, case_tip_(case_id));
    if (held) tip = *held;
  }
  case_tips_.emplace(case_id, tip);
  return tip;
}

// The rules of a format 2 record (docs/format-2.md section 5). The case chain is checked here
// from the link the caller opened, when it could.
Result<CheckedRecord> ChainChecker::Append(ByteView record_bytes, const CaseOfRecord& case_of) {
  if (size() == UINT64_MAX) return Status::InvalidArgument("a log holds at most 2^64 - 1 records");
  CheckedRecord out;
  out.origin = origin_;
  out.index = size();
  out.record_hash = RecordHash(record_bytes);
  out.leaf_hash = LeafHash(record_bytes);
  auto problem = [&](ChainRule rule, std::string what) { out.problems.push_back({rule, std::move(what)}); };

  std::optional<std::string> case_id;
  auto decoded = DecodeRecord(record_bytes);
  if (!decoded.ok()) {
    problem(ChainRule::kCanonical, "does not decode: " + decoded.status().message());
  } else {
    const Record& r = *decoded;
    if (r.origin != origin_) {
      problem(ChainRule::kOrigin, "origin is " + OriginName(r.origin) + ", another log's (wrong origin)");
    }
    if (r.index != out.index) {
      problem(ChainRule::kIndex, "index is " + std::to_string(r.index) + ", not its position " +
                                     std::to_string(out.index) + " (wrong index)");
    }
    if (prev_record_ && r.prev_record != *prev_record_) {
      problem(ChainRule::kHashChain,
              out.index == 0 ? "prev_record of the first record is not zero (hash chain broken)"
                             : "prev_record is not the hash of record " + std::to_string(out.index - 1) +
                                   " (hash chain broken)");
    }
    if (case_of) {
      KH_ASSIGN_OR_RETURN(std::optional<CaseLink> link, case_of(r));
      if (link) {
        case_id = link->case_id;
        KH_ASSIGN_OR_RETURN(Hash tip, CaseTip(*case_id));
        // A record whose case could not be told may be this one's predecessor: it is then of
        // this case.
        if (link->prev_case_record != tip && !caseless_.erase(link->prev_case_record)) {
          problem(ChainRule::kCaseChain, "its link box does not name the case's previous record "
                                         "in this log (case chain broken)");
        }
      }
    }
    out.record = r;
  }

  prev_record_ = out.record_hash;
  out.completed = frontier_.Append(out.leaf_hash);
  if (case_id) {
    case_tips_[*case_id] = out.record_hash;
  } else if (case_of) {
    caseless_.insert(out.record_hash);
  }
  return out;
}

Status ChainChecker::SkipTo(uint64_t index) {
  if (index < size()) {
    return Status::InvalidArgument("cannot skip back to record " + std::to_string(index) +
                                   " after record " + std::to_string(size() - 1));
  }
  if (index == size()) return Status::Ok();
  KH_RETURN_IF_ERROR(frontier_.Skip(index - size()));
  prev_record_.reset();
  return Status::Ok();
}

}  // namespace khronika
