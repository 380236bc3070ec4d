// Recovery of a destroyed node's archive key into a new node (Node::AdoptArchiveKey, AdoptLog),
// with real stores, real shares sealed to real X25519 recovery keys, and the destroyed node's
// log copied table by table as a sync from a partner would leave it.
#include <cstring>
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/rekey.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/schemas/recovery_objects.h"
#include "statements_for_tests.h"

namespace khronika {
namespace {

namespace fs = std::filesystem;

const ScryptParams kFast{10, 8, 1};
Unlock KeyFile(fs::path p) { return Unlock{.passphrase = "", .key_file = std::move(p)}; }

class AdoptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "adopt-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    ASSERT_TRUE(CreateKeyFile(root_ / "o.key").ok());
    ASSERT_TRUE(CreateKeyFile(root_ / "n.key").ok());
    NodeInitOptions o;
    o.seal_with = KeyFile(root_ / "o.key");
    auto origin = Node::Init(root_ / "origin", "ngo", std::move(o));
    ASSERT_TRUE(origin.ok()) << origin.status().ToString();
    origin_ = std::move(origin).value();
    ASSERT_TRUE(RegisterAuthor(origin_->store(), author_.public_key(), "Author").ok());
    for (auto [case_id, content] : {std::pair{"case-1", "first statement, case one"},
                                    std::pair{"case-2", "second statement, case two"},
                                    std::pair{"case-1", "third statement, case one"}}) {
      auto r = origin_->log().Append({MakeSubmission(case_id, content)});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      entries_.push_back((*r)[0].entry_id);
    }
    for (int i = 0; i < 3; ++i) {
      partners_.push_back(RecoveryKey::Generate());
      Hash id{};
      id[0] = static_cast<uint8_t>(0x70 + i);
      partner_ids_.push_back(id);
    }
    std::vector<ShareRecipient> to;
    for (int i = 0; i < 3; ++i) to.push_back({partner_ids_[i], partners_[i].public_key()});
    auto set = MakeRecoverySet(origin_->id(), origin_->archive_key(), 2, to);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    set_ = *set;
    ASSERT_TRUE(origin_->log().AppendCustodyObject(Encode(set_)).ok());
    origin_key_ = origin_->archive_key();
    origin_id_ = origin_->id();

    NodeInitOptions n;
    n.seal_with = KeyFile(root_ / "n.key");
    ASSERT_TRUE(Node::Init(root_ / "new", "ngo rebuilt", std::move(n)).ok());
  }
  void TearDown() override { fs::remove_all(root_); }

  Submission MakeSubmission(const std::string& case_id, const std::string& content) {
    auto s = testing::StatementSubmission(origin_->store(), case_id, content, author_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }

  // What a partner holds of the origin's log, and what a sync leaves on the new node: every
  // record, object, sealed chunk, tree node and checkpoint of it, and where each entry is.
  void CopyOriginLogInto(Node& to) {
    const Hash o = origin_->id();
    ASSERT_TRUE(origin_->store()
                    .View([&](ReadTxn& from) -> Status {
                      return to.store().Update([&](WriteTxn& txn) -> Status {
                        for (Table t : {Table::kRecords, Table::kTree, Table::kCheckpoints}) {
                          KH_RETURN_IF_ERROR(
                              from.Scan(t, o, [&](ByteView k, ByteView v) -> Result<bool> {
                                KH_RETURN_IF_ERROR(txn.Put(t, k, v));
                                return true;
                              }));
                        }
                        for (Table t : {Table::kObjects, Table::kChunks, Table::kEntryIndex}) {
                          KH_RETURN_IF_ERROR(
                              from.Scan(t, {}, [&](ByteView k, ByteView v) -> Result<bool> {
                                KH_RETURN_IF_ERROR(txn.Put(t, k, v));
                                return true;
                              }));
                        }
                        return txn.Put(Table::kOrigins, o, origin_->key().public_key());
                      });
                    })
                    .ok());
  }

  // The key the shares of `who` (partner indexes) give the new node, released to `recipient`.
  Result<SymmetricKey> Recover(const std::vector<int>& who, const RecoveryKey& recipient,
                               const Hash& recipient_id) {
    std::vector<SecretShare> shares;
    for (int i : who) {
      KH_ASSIGN_OR_RETURN(SecretShare own,
                          OpenOwnShare(set_, origin_id_, partner_ids_[i], partners_[i]));
      KH_ASSIGN_OR_RETURN(ShareRelease release,
                          MakeShareRelease(origin_id_, ObjectId(Encode(set_)), own,
                                           {recipient_id, recipient.public_key()}));
      KH_ASSIGN_OR_RETURN(SecretShare opened, OpenShareRelease(release, recipient));
      shares.push_back(std::move(opened));
    }
    return RecoverArchiveKey(set_, shares);
  }

  fs::path root_;
  SigningKey author_ = SigningKey::Generate();
  std::unique_ptr<Node> origin_;
  SymmetricKey origin_key_{};
  Hash origin_id_{};
  std::vector<Hash> entries_;
  std::vector<RecoveryKey> partners_;
  std::vector<Hash> partner_ids_;
  RecoverySet set_;
};

TEST_F(AdoptTest, TwoOfThreeSharesGiveTheKeyAndTheNewNodeReadsEveryOldEntry) {
  RecoveryKey new_node_key = RecoveryKey::Generate();
  Hash new_id;
  {
    auto n = Node::Open(root_ / "new", {}, KeyFile(root_ / "n.key"));
    ASSERT_TRUE(n.ok());
    new_id = (*n)->id();
    CopyOriginLogInto(**n);
  }
  const Hash origin_id = origin_id_;
  origin_.reset();
  fs::remove_all(root_ / "origin");  // the raid: the origin and its keys are gone
  fs::remove(root_ / "o.key");

  // One share opens nothing; two do, whichever two.
  EXPECT_EQ(Recover({1}, new_node_key, new_id).status().code(), Code::kInvalidArgument);
  for (const std::vector<int>& two : {std::vector<int>{0, 1}, {1, 2}, {0, 2}}) {
    auto key = Recover(two, new_node_key, new_id);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(*key, origin_key_);
  }
  // Released to another node's recovery key, a share opens nothing for this one.
  RecoveryKey stranger = RecoveryKey::Generate();
  {
    auto own = OpenOwnShare(set_, origin_id, partner_ids_[0], partners_[0]);
    ASSERT_TRUE(own.ok());
    auto release = MakeShareRelease(origin_id, ObjectId(Encode(set_)), *own,
                                    {new_id, stranger.public_key()});
    ASSERT_TRUE(release.ok());
    EXPECT_EQ(OpenShareRelease(*release, new_node_key).status().code(), Code::kPermissionDenied);
  }

  auto key = Recover({0, 2}, new_node_key, new_id);
  ASSERT_TRUE(key.ok());
  // A wrong key adopts nothing.
  SymmetricKey wrong = *key;
  wrong[0] ^= 1;
  EXPECT_EQ(Node::AdoptArchiveKey(root_ / "new", KeyFile(root_ / "n.key"), origin_id, wrong, kFast)
                .code(),
            Code::kCorruption);
  ASSERT_TRUE(
      Node::AdoptArchiveKey(root_ / "new", KeyFile(root_ / "n.key"), origin_id, *key, kFast).ok());

  auto n = Node::Open(root_ / "new", {}, KeyFile(root_ / "n.key"));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ((*n)->archive_key(), origin_key_);
  ASSERT_TRUE((*n)->store()
                  .View([&](ReadTxn& txn) -> Status {
                    KH_ASSIGN_OR_RETURN(std::vector<Hash> origins, OpenableOrigins(txn));
                    EXPECT_EQ(origins, (std::vector<Hash>{new_id, origin_id}));
                    int case1 = 0;
                    KH_RETURN_IF_ERROR(txn.Scan(Table::kCaseIndex, keys::CaseIdPrefix(txn, "case-1"),
                                                [&](ByteView, ByteView) -> Result<bool> {
                                                  return ++case1, true;
                                                }));
                    EXPECT_EQ(case1, 2);
                    for (const Hash& id : entries_) {
                      KH_ASSIGN_OR_RETURN(
                          OpenedEntry e,
                          OpenEntry(txn, origin_id, EntryKey::Archive((*n)->archive_key()), id));
                      SymmetricKey file_key = DeriveFileKey(e.case_key, e.sealed.nonce, 0);
                      KH_ASSIGN_OR_RETURN(SealedFileReader reader,
                                          SealedFileReader::Open(ChunksIn(txn), e.sealed,
                                                                 e.files[0].descriptor, file_key,
                                                                 0));
                      KH_ASSIGN_OR_RETURN(Bytes plain, reader.Read(0, 1 << 20));
                      EXPECT_EQ(Sha256(plain), e.files[0].descriptor.content_sha256);
                    }
                    return Status::Ok();
                  })
                  .ok());
  VerifyOptions with_key{&(*n)->archive_key(), origin_id};
  auto report = VerifyStore((*n)->store(), with_key);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean()) << (report->problems.empty() ? "" : report->problems[0]);
  n->reset();

  // A data-key rotation afterwards gives the adopted log's blinded keys their new form too.
  ASSERT_TRUE(CreateKeyFile(root_ / "n2.key").ok());
  auto plan = [](const ReadTxn& txn, const std::function<Bytes(ByteView)>& next,
                 const SymmetricKey& archive_key) {
    return PlanBlindedKeys(txn, next, {}, archive_key);
  };
  auto rotated = Node::RotateDataKey(root_ / "new", KeyFile(root_ / "n.key"),
                                     KeyFile(root_ / "n2.key"), plan, {}, kFast);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  auto again = Node::Open(root_ / "new", {}, KeyFile(root_ / "n2.key"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_TRUE((*again)->store()
                  .View([&](ReadTxn& txn) -> Status {
                    int case1 = 0;
                    KH_RETURN_IF_ERROR(txn.Scan(Table::kCaseIndex, keys::CaseIdPrefix(txn, "case-1"),
                                                [&](ByteView, ByteView) -> Result<bool> {
                                                  return ++case1, true;
                                                }));
                    EXPECT_EQ(case1, 2);
                    return Status::Ok();
                  })
                  .ok());
  auto after = VerifyStore((*again)->store(), VerifyOptions{&(*again)->archive_key(), origin_id});
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->clean()) << (after->problems.empty() ? "" : after->problems[0]);
}

TEST_F(AdoptTest, ACaseOfTheAdoptedLogTakesNoNewEntriesAndANewCaseDoes) {
  {
    auto n = Node::Open(root_ / "new", {}, KeyFile(root_ / "n.key"));
    ASSERT_TRUE(n.ok());
    CopyOriginLogInto(**n);
  }
  ASSERT_TRUE(
      Node::AdoptArchiveKey(root_ / "new", KeyFile(root_ / "n.key"), origin_id_, origin_key_, kFast)
          .ok());
  auto n = Node::Open(root_ / "new", {}, KeyFile(root_ / "n.key"));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_TRUE(RegisterAuthor((*n)->store(), author_.public_key(), "Author").ok());
  auto onto_old = testing::StatementSubmission((*n)->store(), "case-1", "after the raid", author_,
                                               "later.txt");
  ASSERT_TRUE(onto_old.ok()) << onto_old.status().ToString();
  auto refused = (*n)->log().Append({*onto_old});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("case-1"), std::string::npos)
      << refused.status().ToString();
  // The same through `add`'s path, sealed from the source: refused, and nothing it sealed stays.
  const std::string content = "after the raid";
  LocalSealing sealing = (*n)->log().BeginLocal("case-1");
  auto at = std::make_shared<size_t>(0);
  ASSERT_TRUE((*n)->log()
                  .SealLocalFile(sealing, content.size(),
                                 [&](uint8_t* buf, size_t max) -> Result<size_t> {
                                   size_t k = std::min(max, content.size() - *at);
                                   std::memcpy(buf, content.data() + *at, k);
                                   *at += k;
                                   return k;
                                 })
                  .ok());
  Submission local = *onto_old;
  for (SubmittedFile& f : local.files) f.upload_chunks.clear();
  auto refused_local = (*n)->log().CheckLocal(local, std::move(sealing));
  ASSERT_FALSE(refused_local.ok());
  EXPECT_EQ(refused_local.status().code(), Code::kInvalidArgument)
      << refused_local.status().ToString();
  auto own_size = (*n)->log().Size();
  ASSERT_TRUE(own_size.ok());
  EXPECT_EQ(*own_size, 0u);

  auto onto_new = testing::StatementSubmission((*n)->store(), "case-1-after-raid",
                                               "after the raid", author_, "later.txt");
  ASSERT_TRUE(onto_new.ok()) << onto_new.status().ToString();
  auto appended = (*n)->log().Append({*onto_new});
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  ASSERT_TRUE((*n)->store()
                  .View([&](ReadTxn& txn) -> Status {
                    KH_ASSIGN_OR_RETURN(std::optional<Hash> old_case, LogOfCase(txn, "case-1"));
                    EXPECT_EQ(old_case, std::optional<Hash>(origin_id_));
                    KH_ASSIGN_OR_RETURN(std::optional<Hash> new_case,
                                        LogOfCase(txn, "case-1-after-raid"));
                    EXPECT_EQ(new_case, std::optional<Hash>((*n)->id()));
                    return Status::Ok();
                  })
                  .ok());
}

TEST_F(AdoptTest, ANodeThatHasLoggedEntriesOfItsOwnIsRefused) {
  {
    auto n = Node::Open(root_ / "new", {}, KeyFile(root_ / "n.key"));
    ASSERT_TRUE(n.ok());
    CopyOriginLogInto(**n);
    ASSERT_TRUE(RegisterAuthor((*n)->store(), author_.public_key(), "Author").ok());
    auto s = testing::StatementSubmission((*n)->store(), "case-9", "logged on the new node",
                                          author_, "own.txt");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*n)->log().Append({*s}).ok());
  }
  auto refused =
      Node::AdoptArchiveKey(root_ / "new", KeyFile(root_ / "n.key"), origin_->id(), origin_key_, kFast);
  EXPECT_EQ(refused.code(), Code::kInvalidArgument) << refused.ToString();
  auto n = Node::Open(root_ / "new", {}, KeyFile(root_ / "n.key"));
  ASSERT_TRUE(n.ok());
  EXPECT_NE((*n)->archive_key(), origin_key_);
  ASSERT_TRUE((*n)->store()
                  .View([&](ReadTxn& txn) -> Status {
                    KH_ASSIGN_OR_RETURN(std::vector<Hash> origins, OpenableOrigins(txn));
                    EXPECT_EQ(origins.size(), 1u);
                    return Status::Ok();
                  })
                  .ok());
}

}  // namespace
}  // namespace khronika
