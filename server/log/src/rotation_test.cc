// Node::RotateDataKey with real LMDB stores: every value and every blinded key moves to the new
// data key, the keyrings of before stop opening the store, and a process that dies at any step
// (a forked child that _exits there) leaves a store that the next Open finishes or rolls back.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <gtest/gtest.h>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/rekey.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "statements_for_tests.h"

namespace khronika {
namespace {

namespace fs = std::filesystem;

const ScryptParams kFast{10, 8, 1};

std::string FileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::map<std::string, std::string> Snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename() != "lock.mdb") {
      files[e.path().string()] = FileBytes(e.path());
    }
  }
  return files;
}

Unlock KeyFile(fs::path p) { return Unlock{.passphrase = "", .key_file = std::move(p)}; }
Unlock Passphrase(std::string p) { return Unlock{.passphrase = std::move(p), .key_file = {}}; }

Hash ChunkOf(std::string_view content) { return ChunkId(AsBytes(content)); }

class RotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rotation-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / "node";
    ASSERT_TRUE(CreateKeyFile(root_ / "old.key").ok());
    ASSERT_TRUE(CreateKeyFile(root_ / "new.key").ok());
  }
  void TearDown() override { fs::remove_all(root_); }

  // A node (locked by old.key) with entries in two cases by two authors, one of them recorded
  // the way an older khronika did (name only), and chunks uploaded by a token and by the
  // operator but not yet in an entry, and one by a token since removed.
  void MakeNode() {
    NodeInitOptions init;
    init.seal_with = KeyFile(root_ / "old.key");
    auto node = Node::Init(dir_, "ngo", std::move(init));
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    Store& store = (*node)->store();
    ASSERT_TRUE(RegisterAuthor(store, alice_.public_key(), "Alice").ok());
    ASSERT_TRUE(store
                    .Update([&](WriteTxn& txn) {
                      return txn.Put(Table::kAuthors, keys::Author(txn, bob_.public_key()),
                                     AsBytes("Old Bob"));
                    })
                    .ok());
    Log& log = (*node)->log();
    for (auto [case_id, content, author] :
         {std::tuple{"case-1", "first statement", &alice_},
          std::tuple{"case-2", "second statement", &bob_},
          std::tuple{"case-1", "third statement", &alice_}}) {
      auto r = log.Append({Submission_(store, case_id, content, *author)});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      entries_.push_back((*r)[0].entry_id);
    }
    ASSERT_TRUE(store
                    .Update([&](WriteTxn& txn) -> Status {
                      auto pending = AsBytes(std::string_view("uploaded, not yet named"));
                      KH_RETURN_IF_ERROR(PutUploadChunk(txn, "token-1", pending).status());
                      KH_RETURN_IF_ERROR(PutUploadChunk(txn, "", pending).status());
                      return PutUploadChunk(txn, "token-gone", pending).status();
                    })
                    .ok());
  }

  Submission Submission_(Store& store, const std::string& case_id, const std::string& content,
                         const SigningKey& author) {
    auto s = testing::StatementSubmission(store, case_id, content, author);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }

  static Node::KeyRenamePlan Plan() {
    return [](const ReadTxn& txn, const std::function<Bytes(ByteView)>& next,
              const SymmetricKey& archive_key) {
      return PlanBlindedKeys(txn, next, {"token-1", "token-2"}, archive_key);
    };
  }
  Result<Store::Rotation> Rotate(const std::function<void(std::string_view)>& at_step = nullptr) {
    return Node::RotateDataKey(dir_, KeyFile(root_ / "old.key"), KeyFile(root_ / "new.key"), Plan(),
                               {}, kFast, at_step);
  }

  // Everything the node held before, read through the node: verify, cases, authors, uploads.
  void ExpectEverythingReadable(Node& node) {
    auto report = VerifyStore(node.store(), VerifyOptions{&node.archive_key(), node.id()});
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->clean()) << (report->problems.empty() ? "" : report->problems[0]);
    EXPECT_EQ(report->records, 3u);
    EXPECT_EQ(node.name(), "ngo");
    ASSERT_TRUE(node.store()
                    .View([&](ReadTxn& txn) -> Status {
                      int case1 = 0;
                      KH_RETURN_IF_ERROR(txn.Scan(
                          Table::kCaseIndex, keys::CasePrefix(txn, "case-1", node.id()),
                          [&](ByteView, ByteView) -> Result<bool> { return ++case1, true; }));
                      EXPECT_EQ(case1, 2);
                      KH_ASSIGN_OR_RETURN(auto alice, FindAuthor(txn, alice_.public_key()));
                      KH_ASSIGN_OR_RETURN(auto bob, FindAuthor(txn, bob_.public_key()));
                      EXPECT_TRUE(alice && alice->name == "Alice");
                      EXPECT_TRUE(bob && bob->name == "Old Bob");
                      KH_ASSIGN_OR_RETURN(bool by_token,
                                          HasUploadChunk(txn, "token-1",
                                                         ChunkOf("uploaded, not yet named")));
                      EXPECT_TRUE(by_token);
                      KH_ASSIGN_OR_RETURN(bool by_operator,
                                          HasUploadChunk(txn, "",
                                                         ChunkOf("uploaded, not yet named")));
                      EXPECT_TRUE(by_operator);
                      KH_ASSIGN_OR_RETURN(bool other_token,
                                          HasUploadChunk(txn, "token-2",
                                                         ChunkOf("uploaded, not yet named")));
                      EXPECT_FALSE(other_token);
                      // Every entry still opens, and its signed entry is still recognised.
                      for (const Hash& id : entries_) {
                        KH_ASSIGN_OR_RETURN(
                            OpenedEntry e,
                            OpenEntry(txn, node.id(), EntryKey::Archive(node.archive_key()), id));
                        KH_ASSIGN_OR_RETURN(
                            auto logged,
                            txn.Get(Table::kSignedEntries,
                                    keys::SignedEntry(txn, ObjectId(e.signed_entry_bytes))));
                        EXPECT_TRUE(logged && *logged == Bytes(id.begin(), id.end()));
                      }
                      return Status::Ok();
                    })
                    .ok());
  }

  fs::path root_, dir_;
  std::vector<Hash> entries_;
  SigningKey alice_ = SigningKey::Generate();
  SigningKey bob_ = SigningKey::Generate();
};

TEST_F(RotationTest, NewKeyOpensEverythingAndTheOldKeyringNoLonger) {
  MakeNode();
  fs::copy_file(Node::KeyringPath(dir_), root_ / "old.keyring");
  Hash id;
  {
    auto before = Node::Open(dir_);
    ASSERT_TRUE(before.ok());
    id = (*before)->id();
  }
  auto done = Rotate();
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  // 3 records' case_index keys, their 3 signed_entries keys, 2 authors, 2 upload chunks; the
  // upload chunk of a token that no longer exists is left out.
  EXPECT_EQ(done->renamed, 10u);
  EXPECT_EQ(done->dropped, 1u);
  EXPECT_FALSE(fs::exists(Node::NextKeyringPath(dir_)));

  // The new keyring (under new.key) opens the store; old.key opens nothing here any more.
  auto node = Node::Open(dir_, {}, KeyFile(root_ / "new.key"));
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ((*node)->id(), id);  // the node key is not rotated
  ExpectEverythingReadable(**node);
  node->reset();
  EXPECT_EQ(Node::Open(dir_, {}, KeyFile(root_ / "old.key")).status().code(),
            Code::kPermissionDenied);

  // The keyring of before, with its own key file, still unwraps: but its data key is refused.
  fs::copy_file(root_ / "old.keyring", Node::KeyringPath(dir_),
                fs::copy_options::overwrite_existing);
  auto old = Node::Open(dir_, {}, KeyFile(root_ / "old.key"));
  EXPECT_EQ(old.status().code(), Code::kPermissionDenied);
  EXPECT_NE(old.status().message().find("data key does not open the store"), std::string::npos)
      << old.status().ToString();
}

TEST_F(RotationTest, APassphraseKeyringIsRotatedToo) {
  NodeInitOptions init;
  init.seal_with = Passphrase("the old passphrase");
  init.scrypt = kFast;
  ASSERT_TRUE(Node::Init(dir_, "ngo", std::move(init)).ok());
  auto done = Node::RotateDataKey(dir_, Passphrase("the old passphrase"),
                                  Passphrase("the new passphrase"), Plan(), {}, kFast);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(Node::Open(dir_, {}, Passphrase("the old passphrase")).status().code(),
            Code::kPermissionDenied);
  EXPECT_TRUE(Node::Open(dir_, {}, Passphrase("the new passphrase")).ok());
}

TEST_F(RotationTest, RefusedRotationsChangeNothing) {
  MakeNode();
  auto before = Snapshot(root_);
  // A wrong current key file.
  EXPECT_EQ(Node::RotateDataKey(dir_, KeyFile(root_ / "new.key"), KeyFile(root_ / "new.key"),
                                Plan(), {}, kFast)
                .status()
                .code(),
            Code::kPermissionDenied);
  // The store open elsewhere (a server, another command).
  {
    auto open = Node::Open(dir_);
    ASSERT_TRUE(open.ok());
    auto busy = Rotate();
    EXPECT_EQ(busy.status().code(), Code::kIOError);
    EXPECT_NE(busy.status().message().find("open in another process"), std::string::npos)
        << busy.status().ToString();
  }
  // An author an older khronika registered, whose key no entry names.
  {
    auto node = Node::Open(dir_);
    ASSERT_TRUE(node.ok());
    ASSERT_TRUE((*node)
                    ->store()
                    .Update([](WriteTxn& txn) {
                      return txn.Put(Table::kAuthors,
                                     keys::Author(txn, SigningKey::Generate().public_key()),
                                     AsBytes("Nameless Carol"));
                    })
                    .ok());
  }
  before = Snapshot(root_);
  auto unknown = Rotate();
  EXPECT_EQ(unknown.status().code(), Code::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("Nameless Carol"), std::string::npos)
      << unknown.status().ToString();
  EXPECT_NE(unknown.status().message().find("author add"), std::string::npos);
  EXPECT_EQ(Snapshot(root_), before);
  EXPECT_TRUE(Node::Open(dir_).ok());
}

// A rotation killed at each step: the store opens, under the old key if the commit had not
// happened (the new keyring is discarded), under the new one if it had (the new keyring takes
// its place as soon as the new key file is given).
TEST_F(RotationTest, ACrashAtAnyStepLeavesAStoreThatOpens) {
  for (const char* stop : {"keyring written", "store re-encrypted", "store committed"}) {
    SCOPED_TRACE(stop);
    fs::remove_all(dir_);
    entries_.clear();
    MakeNode();
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto r = Rotate([&](std::string_view step) {
        if (step == stop) ::_exit(42);
      });
      ::_exit(r.ok() ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 42);
    ASSERT_TRUE(fs::exists(Node::NextKeyringPath(dir_)));
    bool committed = std::string_view(stop) == "store committed";
    if (!committed) {
      auto node = Node::Open(dir_, {}, KeyFile(root_ / "old.key"));
      ASSERT_TRUE(node.ok()) << node.status().ToString();
      ExpectEverythingReadable(**node);
      EXPECT_FALSE(fs::exists(Node::NextKeyringPath(dir_)));
      EXPECT_FALSE(
          fs::exists(Node::StorePath(dir_) / "data.mdb.rotating"));  // a copy never renamed
      node->reset();
      EXPECT_FALSE(Node::Open(dir_, {}, KeyFile(root_ / "new.key")).ok());
      // And the rotation can simply be run again.
      ASSERT_TRUE(Rotate().ok());
      EXPECT_TRUE(Node::Open(dir_, {}, KeyFile(root_ / "new.key")).ok());
      continue;
    }
    // The old key file: refused, saying which one is needed, and nothing moves.
    auto before = Snapshot(root_);
    auto old = Node::Open(dir_, {}, KeyFile(root_ / "old.key"));
    EXPECT_EQ(old.status().code(), Code::kPermissionDenied);
    EXPECT_NE(old.status().message().find("interrupted"), std::string::npos)
        << old.status().ToString();
    EXPECT_EQ(Snapshot(root_), before);
    // Read-only, with the new one: it opens, and the rotation is finished.
    StoreOptions ro;
    ro.read_only = true;
    auto node = Node::Open(dir_, ro, KeyFile(root_ / "new.key"));
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    ExpectEverythingReadable(**node);
    EXPECT_FALSE(fs::exists(Node::NextKeyringPath(dir_)));
    node->reset();
    EXPECT_TRUE(Node::Open(dir_).ok());  // the key file the new keyring remembers
  }
}

TEST_F(RotationTest, APassphraseChangeAfterAnInterruptedRotationSealsTheKeyThatOpensTheStore) {
  MakeNode();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)Rotate([](std::string_view step) {
      if (step == "store committed") ::_exit(42);
    });
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_EQ(WEXITSTATUS(status), 42);
  ASSERT_TRUE(
      Node::ChangeUnlock(dir_, KeyFile(root_ / "new.key"), Passphrase("a third secret"), kFast)
          .ok());
  EXPECT_FALSE(fs::exists(Node::NextKeyringPath(dir_)));
  auto node = Node::Open(dir_, {}, Passphrase("a third secret"));
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  ExpectEverythingReadable(**node);
}

}  // namespace
}  // namespace khronika
