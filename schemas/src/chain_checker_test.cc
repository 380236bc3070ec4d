#include "khronika/schemas/chain_checker.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "khronika/schemas/crypto.h"

namespace khronika {
namespace {

// A well-formed log: each record's sealed entry belongs to one of `cases` cases, chosen at
// random; its link (what a key holder reads in its link box) names the case's previous record.
struct TestLog {
  Hash origin{};
  std::vector<Record> records;
  std::vector<Bytes> bytes;
  std::map<Hash, std::string> case_of_entry;  // by object id: what a key holder learns
  std::map<Hash, CaseLink> links;             // by object id

  explicit TestLog(uint64_t n, int cases = 3, uint32_t seed = 1) {
    std::mt19937 rng(seed);
    origin = Sha256("origin " + std::to_string(seed));
    std::map<std::string, Hash> tips;
    Hash prev{};
    for (uint64_t i = 0; i < n; ++i) {
      std::string c = "case-" + std::to_string(rng() % static_cast<uint32_t>(cases));
      Record r;
      r.origin = origin;
      r.index = i;
      r.prev_record = prev;
      r.object_id = Sha256("sealed entry " + std::to_string(seed) + "/" + std::to_string(i));
      links[r.object_id] = CaseLink{c, tips[c]};
      r.received_at_ms = 1'700'000'000'000 + static_cast<int64_t>(i);
      Bytes b = Encode(r);
      prev = RecordHash(b);
      tips[c] = prev;
      case_of_entry[r.object_id] = c;
      records.push_back(r);
      bytes.push_back(std::move(b));
    }
  }

  CaseOfRecord CaseOf() const {
    return [this](const Record& r) -> Result<std::optional<CaseLink>> {
      auto it = links.find(r.object_id);
      if (it == links.end()) return std::optional<CaseLink>();
      return std::optional<CaseLink>(it->second);
    };
  }
  // CaseOf, but the link box of `object` names `prev` (a damaged or dishonest link).
  CaseOfRecord CaseOfWith(const Hash& object, const Hash& prev) const {
    return [this, object, prev](const Record& r) -> Result<std::optional<CaseLink>> {
      auto it = links.find(r.object_id);
      if (it == links.end()) return std::optional<CaseLink>();
      CaseLink link = it->second;
      if (r.object_id == object) link.prev_case_record = prev;
      return std::optional<CaseLink>(link);
    };
  }

  // The leaves' RFC 6962 tree, recomputed by MerkleRoot from the leaves alone.
  Hash RootAt(uint64_t size) const {
    std::vector<Hash> leaves;
    for (uint64_t i = 0; i < size; ++i) leaves.push_back(LeafHash(bytes[i]));
    SubtreeFn from_leaves = [&leaves](unsigned level, uint64_t index) -> Result<Hash> {
      uint64_t begin = index << level, end = (index + 1) << level;
      std::vector<Hash> row(leaves.begin() + static_cast<long>(begin), leaves.begin() + static_cast<long>(end));
      while (row.size() > 1) {
        std::vector<Hash> up;
        for (size_t j = 0; j < row.size(); j += 2) up.push_back(HashChildren(row[j], row[j + 1]));
        row = std::move(up);
      }
      return row[0];
    };
    return MerkleRoot(size, from_leaves).value();
  }
};

// Every problem found in records [from, to), as "index: what".
std::vector<std::string> Feed(ChainChecker& chain, const TestLog& log, uint64_t from, uint64_t to) {
  std::vector<std::string> all;
  for (uint64_t i = from; i < to; ++i) {
    auto c = chain.Append(log.bytes[i], log.CaseOf());
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    for (const ChainProblem& p : c->problems) all.push_back(std::to_string(i) + ": " + p.what);
  }
  return all;
}

CheckedRecord AppendOk(ChainChecker& chain, ByteView bytes, const CaseOfRecord& case_of) {
  auto c = chain.Append(bytes, case_of);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(*c) : CheckedRecord{};
}

std::vector<ChainRule> Rules(const CheckedRecord& c) {
  std::vector<ChainRule> out;
  for (const ChainProblem& p : c.problems) out.push_back(p.rule);
  return out;
}

TEST(ChainCheckerTest, AGoodLogHasNoProblemAndItsRoot) {
  TestLog log(40);
  ChainChecker chain(log.origin);
  EXPECT_EQ(chain.Root(), MerkleEmptyRoot());
  EXPECT_FALSE(chain.last_record_hash().has_value());
  for (uint64_t i = 0; i < 40; ++i) {
    CheckedRecord c = AppendOk(chain, log.bytes[i], log.CaseOf());
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c.index, i);
    EXPECT_EQ(c.record, log.records[i]);
    EXPECT_EQ(c.record_hash, RecordHash(log.bytes[i]));
    EXPECT_EQ(c.leaf_hash, LeafHash(log.bytes[i]));
    EXPECT_EQ(chain.size(), i + 1);
    EXPECT_EQ(chain.Root(), log.RootAt(i + 1));
    EXPECT_EQ(chain.last_record_hash(), c.record_hash);
  }
}

TEST(ChainCheckerTest, ATamperedPrevRecordIsNamedAndTheNextRecordChecksAgainstIt) {
  TestLog log(6);
  Record r = log.records[3];
  r.prev_record[0] ^= 1;
  ChainChecker chain(log.origin);
  Feed(chain, log, 0, 3);
  CheckedRecord c = AppendOk(chain, Encode(r), log.CaseOf());
  EXPECT_EQ(Rules(c), std::vector<ChainRule>{ChainRule::kHashChain});
  EXPECT_TRUE(c.BreaksChain());
  EXPECT_EQ(c.status().code(), Code::kCorruption);
  EXPECT_EQ(c.status().message(), "record 3 of " + OriginName(log.origin) +
                                      ": prev_record is not the hash of record 2 (hash chain broken)");
  // Record 4 names the true record 3, not the bytes that were given: broken again.
  c = AppendOk(chain, log.bytes[4], nullptr);
  EXPECT_EQ(Rules(c), std::vector<ChainRule>{ChainRule::kHashChain});

  ChainChecker first(log.origin);
  r = log.records[0];
  r.prev_record[31] = 7;
  c = AppendOk(first, Encode(r), log.CaseOf());
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_EQ(c.problems[0].what, "prev_record of the first record is not zero (hash chain broken)");
}

TEST(ChainCheckerTest, ASkippedOrRepeatedIndexIsNamed) {
  TestLog log(6);
  ChainChecker chain(log.origin);
  Feed(chain, log, 0, 2);
  // Record 3 given where record 2 belongs: wrong index, and it does not chain to record 1.
  CheckedRecord c = AppendOk(chain, log.bytes[3], nullptr);
  EXPECT_EQ(Rules(c), (std::vector<ChainRule>{ChainRule::kIndex, ChainRule::kHashChain}));
  EXPECT_EQ(c.problems[0].what, "index is 3, not its position 2 (wrong index)");

  ChainChecker again(log.origin);
  Feed(again, log, 0, 3);
  c = AppendOk(again, log.bytes[2], nullptr);  // record 2 twice
  EXPECT_EQ(Rules(c).front(), ChainRule::kIndex);
  EXPECT_TRUE(c.BreaksChain());
}

TEST(ChainCheckerTest, AnotherOriginIsNamed) {
  TestLog log(3), other(3, 3, /*seed=*/2);
  ChainChecker chain(log.origin);
  CheckedRecord c = AppendOk(chain, other.bytes[0], other.CaseOf());
  EXPECT_EQ(Rules(c), std::vector<ChainRule>{ChainRule::kOrigin});
  EXPECT_FALSE(c.BreaksChain());
  EXPECT_EQ(c.problems[0].what, "origin is " + OriginName(other.origin) + ", another log's (wrong origin)");
}

TEST(ChainCheckerTest, BytesThatAreNotARecordStillTakeTheirPlace) {
  TestLog log(4);
  ChainChecker chain(log.origin);
  Feed(chain, log, 0, 1);
  Bytes damaged = log.bytes[1];
  damaged.push_back(0);
  CheckedRecord c = AppendOk(chain, damaged, log.CaseOf());
  EXPECT_EQ(Rules(c), std::vector<ChainRule>{ChainRule::kCanonical});
  EXPECT_TRUE(c.BreaksChain());
  EXPECT_FALSE(c.record.has_value());
  EXPECT_EQ(c.problems[0].what.rfind("does not decode: record", 0), 0u) << c.problems[0].what;
  EXPECT_EQ(c.leaf_hash, LeafHash(damaged));
  EXPECT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain.last_record_hash(), RecordHash(damaged));
}

TEST(ChainCheckerTest, ABrokenCaseChainIsNamed) {
  TestLog log(12, /*cases=*/2);
  // Record 5 says it is the first of its case, or names the previous record of the log instead.
  for (int variant = 0; variant < 2; ++variant) {
    ChainChecker chain(log.origin);
    Feed(chain, log, 0, 5);
    const Hash object = log.records[5].object_id;
    Hash wrong = variant == 0 ? Hash{} : RecordHash(log.bytes[4]);
    if (wrong == log.links.at(object).prev_case_record) wrong[0] ^= 1;
    CheckedRecord c = AppendOk(chain, log.bytes[5], log.CaseOfWith(object, wrong));
    EXPECT_EQ(Rules(c), std::vector<ChainRule>{ChainRule::kCaseChain}) << variant;
    EXPECT_FALSE(c.BreaksChain());
    EXPECT_EQ(c.status().message(), "record 5 of " + OriginName(log.origin) +
                                        ": its link box does not name the case's previous record "
                                        "in this log (case chain broken)");
  }
  // Without keys (no case for any record), case chains are not checked.
  ChainChecker no_cases(log.origin);
  EXPECT_TRUE(AppendOk(no_cases, log.bytes[0], nullptr).ok());
}

TEST(ChainCheckerTest, ARecordWhoseCaseIsUnknownMayBeTheNextOnesPredecessor) {
  TestLog log(30, /*cases=*/3, /*seed=*/7);
  const uint64_t unknown = 10;
  ChainChecker chain(log.origin);
  for (uint64_t i = 0; i < log.bytes.size(); ++i) {
    CaseOfRecord case_of = log.CaseOf();
    if (i == unknown) case_of = [](const Record&) -> Result<std::optional<CaseLink>> { return std::optional<CaseLink>(); };
    CheckedRecord c = AppendOk(chain, log.bytes[i], case_of);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
  }
  // A link to neither is still broken; and record 10 can be the predecessor of one record only.
  std::string c10 = log.case_of_entry.at(log.records[unknown].object_id);
  uint64_t next = unknown + 1;
  while (next < log.bytes.size() && log.case_of_entry.at(log.records[next].object_id) != c10) ++next;
  ASSERT_LT(next + 1, log.bytes.size());
  auto unknown_case = [](const Record&) -> Result<std::optional<CaseLink>> { return std::optional<CaseLink>(); };
  auto case_named = [](std::string c, Hash prev) {
    return [c, prev](const Record&) -> Result<std::optional<CaseLink>> {
      return std::optional<CaseLink>(CaseLink{c, prev});
    };
  };
  ChainChecker again(log.origin);
  for (uint64_t i = 0; i < next; ++i) AppendOk(again, log.bytes[i], i == unknown ? CaseOfRecord(unknown_case) : log.CaseOf());
  EXPECT_EQ(Rules(AppendOk(again, log.bytes[next],
                           log.CaseOfWith(log.records[next].object_id, Sha256("no record")))),
            std::vector<ChainRule>{ChainRule::kCaseChain});

  ChainChecker twice(log.origin);
  for (uint64_t i = 0; i < next; ++i) AppendOk(twice, log.bytes[i], i == unknown ? CaseOfRecord(unknown_case) : log.CaseOf());
  EXPECT_TRUE(AppendOk(twice, log.bytes[next], case_named("another case", RecordHash(log.bytes[unknown]))).ok());
  EXPECT_EQ(Rules(AppendOk(twice, log.bytes[next + 1], case_named(c10, RecordHash(log.bytes[unknown])))),
            std::vector<ChainRule>{ChainRule::kCaseChain});
}

TEST(ChainCheckerTest, AChangedRecordLeadsToAnotherRoot) {
  TestLog log(9);
  const Hash signed_root = log.RootAt(9);
  Record r = log.records[8];
  r.received_at_ms += 1;  // a field no chain rule covers: only the root tells
  ChainChecker chain(log.origin);
  Feed(chain, log, 0, 8);
  CheckedRecord c = AppendOk(chain, Encode(r), log.CaseOf());
  EXPECT_TRUE(c.ok());
  ASSERT_TRUE(chain.Root().has_value());
  EXPECT_NE(*chain.Root(), signed_root);
}

TEST(ChainCheckerTest, ResumingFromAnyPrefixFindsWhatCheckingFromScratchFinds) {
  TestLog log(70, /*cases=*/4, /*seed=*/3);
  // A damaged log: record 50's link box names the wrong predecessor of its case, and record 60
  // does not chain to record 59.
  log.links[log.records[50].object_id].prev_case_record[5] ^= 1;
  Record r = log.records[60];
  r.prev_record[5] ^= 1;
  log.bytes[60] = Encode(r);
  ChainChecker scratch(log.origin);
  std::vector<std::string> want = Feed(scratch, log, 0, 70);
  ASSERT_GE(want.size(), 3u);  // record 50's link, records 60's and 61's prev_record
  EXPECT_EQ(want[0].rfind("50: its link box", 0), 0u) << want[0];
  for (uint64_t k = 0; k <= 70; ++k) {
    // The verified prefix, as a store keeps it: the persisted perfect nodes and the case index.
    std::map<std::pair<unsigned, uint64_t>, Hash> nodes;
    std::map<std::string, Hash> tips;
    ChainChecker prefix(log.origin);
    for (uint64_t i = 0; i < k; ++i) {
      CheckedRecord c = AppendOk(prefix, log.bytes[i], log.CaseOf());
      for (const TreeNode& n : c.completed) nodes[{n.level, n.index}] = n.hash;
      tips[log.case_of_entry.at(log.records[i].object_id)] = c.record_hash;
    }
    SubtreeFn stored = [&nodes](unsigned level, uint64_t index) -> Result<Hash> {
      auto it = nodes.find({level, index});
      if (it == nodes.end()) return Status::NotFound("no node");
      return it->second;
    };
    auto frontier = MerkleFrontier::FromSubtrees(k, stored);
    ASSERT_TRUE(frontier.ok()) << k << ": " << frontier.status().ToString();
    int lookups = 0;
    ChainChecker resumed = ChainChecker::Resume(
        log.origin, *frontier, k > 0 ? RecordHash(log.bytes[k - 1]) : Hash{},
        [&](const std::string& c) -> Result<std::optional<Hash>> {
          ++lookups;
          auto it = tips.find(c);
          return it == tips.end() ? std::optional<Hash>() : std::optional<Hash>(it->second);
        });
    EXPECT_EQ(resumed.size(), k);
    std::vector<std::string> want_after;
    for (const std::string& p : want) {
      if (std::stoull(p) >= k) want_after.push_back(p);
    }
    EXPECT_EQ(Feed(resumed, log, k, 70), want_after) << "resumed at " << k;
    EXPECT_EQ(resumed.Root(), scratch.Root()) << "resumed at " << k;
    EXPECT_LE(lookups, 4) << "each case is looked up once";
    // The frontier a checker ends with is the one the store's nodes give.
    EXPECT_EQ(prefix.frontier().Root(), frontier->Root());
  }
}

TEST(ChainCheckerTest, LargeRandomLogsMatchMerkleRootOverTheNodesTheyComplete) {
  for (uint32_t seed : {11u, 12u}) {
    const uint64_t n = seed == 11 ? 100'000 : 4097;
    TestLog log(n, /*cases=*/50, seed);
    ChainChecker chain(log.origin);
    std::map<std::pair<unsigned, uint64_t>, Hash> nodes;
    SubtreeFn stored = [&nodes](unsigned level, uint64_t index) -> Result<Hash> {
      auto it = nodes.find({level, index});
      if (it == nodes.end()) return Status::NotFound("no node");
      return it->second;
    };
    std::mt19937 rng(seed);
    for (uint64_t i = 0; i < n; ++i) {
      CheckedRecord c = AppendOk(chain, log.bytes[i], log.CaseOf());
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      for (const TreeNode& node : c.completed) nodes[{node.level, node.index}] = node.hash;
      if (i + 1 == n || rng() % 64 == 0) {
        auto root = MerkleRoot(i + 1, stored);
        ASSERT_TRUE(root.ok()) << root.status().ToString();
        EXPECT_EQ(chain.Root(), *root) << "size " << i + 1;
      }
    }
    size_t perfect = 0;
    for (uint64_t w = n; w > 0; w >>= 1) perfect += w;
    EXPECT_EQ(nodes.size(), perfect);
    EXPECT_EQ(chain.Root(), log.RootAt(n));
  }
}

TEST(ChainCheckerTest, SkippingRecordsChecksOneCaseOnItsOwn) {
  // A court bundle: only the records of one case, each at its index.
  TestLog log(40, /*cases=*/3, /*seed=*/5);
  const std::string kase = log.case_of_entry.at(log.records[0].object_id);
  std::vector<uint64_t> of_case;
  for (uint64_t i = 0; i < 40; ++i) {
    if (log.case_of_entry.at(log.records[i].object_id) == kase) of_case.push_back(i);
  }
  ASSERT_GE(of_case.size(), 4u);
  auto check = [&](const std::vector<uint64_t>& held) {
    ChainChecker chain(log.origin);
    std::vector<std::pair<uint64_t, ChainRule>> found;
    for (uint64_t i : held) {
      EXPECT_TRUE(chain.SkipTo(i).ok());
      CheckedRecord c = AppendOk(chain, log.bytes[i], log.CaseOf());
      for (const ChainProblem& p : c.problems) found.emplace_back(i, p.rule);
    }
    return found;
  };
  EXPECT_TRUE(check(of_case).empty());
  std::vector<uint64_t> gap = of_case;
  gap.erase(gap.begin() + 2);
  EXPECT_EQ(check(gap), (std::vector<std::pair<uint64_t, ChainRule>>{{of_case[3], ChainRule::kCaseChain}}));
  std::vector<uint64_t> late = of_case;
  late.erase(late.begin());
  EXPECT_EQ(check(late), (std::vector<std::pair<uint64_t, ChainRule>>{{of_case[1], ChainRule::kCaseChain}}));

  ChainChecker chain(log.origin);
  EXPECT_TRUE(chain.SkipTo(5).ok());
  EXPECT_EQ(chain.size(), 5u);
  EXPECT_FALSE(chain.Root().has_value());
  EXPECT_FALSE(chain.last_record_hash().has_value());
  EXPECT_EQ(chain.SkipTo(4).code(), Code::kInvalidArgument);
  // Consecutive records after a skip are chained again.
  AppendOk(chain, log.bytes[5], nullptr);
  Record r = log.records[6];
  r.prev_record[0] ^= 1;
  EXPECT_EQ(Rules(AppendOk(chain, Encode(r), nullptr)), std::vector<ChainRule>{ChainRule::kHashChain});
}

TEST(ChainCheckerTest, ErrorsOfTheCallerEndAppend) {
  TestLog log(2);
  ChainChecker chain(log.origin);
  auto failed = chain.Append(log.bytes[0], [](const Record&) -> Result<std::optional<CaseLink>> {
    return Status::IOError("disk on fire");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Code::kIOError);

  ChainChecker resumed = ChainChecker::Resume(log.origin, MerkleFrontier(), Hash{},
                                              [](const std::string&) -> Result<std::optional<Hash>> {
                                                return Status::IOError("store gone");
                                              });
  auto tip_failed = resumed.Append(log.bytes[0], log.CaseOf());
  ASSERT_FALSE(tip_failed.ok());
  EXPECT_EQ(tip_failed.status().code(), Code::kIOError);
}

}  // namespace
}  // namespace khronika
