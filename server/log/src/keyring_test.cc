#include "khronika/log/keyring.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <gtest/gtest.h>

#include "khronika/log/node.h"

namespace khronika {
namespace {

const ScryptParams kFast{10, 8, 1};  // keeps the tests quick; `khronika init` uses 2^17

std::string FileBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every file under `dir` with its bytes: to show that something changed nothing at all.
std::map<std::string, std::string> Snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[e.path().string()] = FileBytes(e.path());
  }
  return files;
}

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "keyring-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  NodeSecrets Secrets() {
    return NodeSecrets{RandomSymmetricKey(), SigningKey::Generate(), SigningKey::Generate(),
                       RandomSymmetricKey()};
  }
  static Unlock Passphrase(std::string p) { return Unlock{.passphrase = std::move(p), .key_file = {}}; }
  static Unlock KeyFile(std::filesystem::path p) { return Unlock{.passphrase = "", .key_file = std::move(p)}; }

  std::filesystem::path dir_;
};

TEST_F(KeyringTest, PassphraseKeyringOpensOnlyWithThePassphrase) {
  NodeSecrets s = Secrets();
  auto path = dir_ / "node.keyring";
  ASSERT_TRUE(WriteKeyring(path, s, Passphrase("correct horse battery"), false, kFast).ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Nothing of the three keys is readable in the file.
  std::string bytes = FileBytes(path);
  EXPECT_EQ(bytes.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(bytes.find(ToHex(s.data_key)), std::string::npos);
  EXPECT_EQ(bytes.find(ToHex(s.archive_key)), std::string::npos);
  EXPECT_EQ(ReadKeyringInfo(path).value().lock, LockKind::kPassphrase);

  auto opened = OpenKeyring(path, Passphrase("correct horse battery"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->data_key, s.data_key);
  EXPECT_EQ(opened->node_key.public_key(), s.node_key.public_key());
  EXPECT_EQ(opened->cosigner_key.public_key(), s.cosigner_key.public_key());
  EXPECT_EQ(opened->archive_key, s.archive_key);
  EXPECT_NE(opened->archive_key, opened->data_key);
  EXPECT_EQ(OpenKeyring(path, Passphrase("correct horse battery!")).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(OpenKeyring(path, Unlock{}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(WriteKeyring(path, s, Passphrase("x"), false, kFast).code(), Code::kAlreadyExists);
  // Any altered byte is refused like a wrong passphrase.
  for (size_t i : {size_t{0}, size_t{9}, size_t{20}, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[i] ^= 0x04;
    std::filesystem::remove(dir_ / "bad");
    std::ofstream(dir_ / "bad", std::ios::binary) << bad;
    EXPECT_FALSE(OpenKeyring(dir_ / "bad", Passphrase("correct horse battery")).ok()) << "byte " << i;
  }
}

TEST_F(KeyringTest, KeyFileKeyringRemembersWhereTheKeyFileWas) {
  auto key_file = dir_ / "usb" / "node.key-file";
  std::filesystem::create_directories(key_file.parent_path());
  ASSERT_TRUE(CreateKeyFile(key_file).ok());
  EXPECT_EQ(CreateKeyFile(key_file).code(), Code::kAlreadyExists);  // never replaced
  NodeSecrets s = Secrets();
  auto path = dir_ / "node.keyring";
  ASSERT_TRUE(WriteKeyring(path, s, KeyFile(key_file), false).ok());
  KeyringInfo info = ReadKeyringInfo(path).value();
  EXPECT_EQ(info.lock, LockKind::kKeyFile);
  EXPECT_EQ(info.key_file_hint, key_file);
  EXPECT_EQ(OpenKeyring(path, KeyFile(key_file)).value().data_key, s.data_key);

  ASSERT_TRUE(CreateKeyFile(dir_ / "other-key").ok());
  EXPECT_EQ(OpenKeyring(path, KeyFile(dir_ / "other-key")).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(OpenKeyring(path, Passphrase("a passphrase")).status().code(), Code::kInvalidArgument);
  std::ofstream(dir_ / "not-a-key") << "hello\n";
  EXPECT_EQ(OpenKeyring(path, KeyFile(dir_ / "not-a-key")).status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(WriteKeyring(path, s, Unlock{}, true).ok());
}

// What an unlock agent holds: the keyring's own key, which opens that keyring file and no other.
TEST_F(KeyringTest, TheKeyringKeyOpensThisKeyringOnly) {
  NodeSecrets s = Secrets();
  auto path = dir_ / "node.keyring";
  ASSERT_TRUE(WriteKeyring(path, s, Passphrase("correct horse battery"), false, kFast).ok());
  SymmetricKey key = KeyringKey(path, Passphrase("correct horse battery")).value();
  Unlock by_key;
  by_key.keyring_key = key;
  auto opened = OpenKeyring(path, by_key);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->data_key, s.data_key);
  // A wrong passphrase gives a key too (scrypt cannot tell), but it opens nothing.
  by_key.keyring_key = KeyringKey(path, Passphrase("wrong horse battery")).value();
  EXPECT_EQ(OpenKeyring(path, by_key).status().code(), Code::kPermissionDenied);
  // The same secrets sealed again under the same passphrase: a new salt, so the old key is useless.
  ASSERT_TRUE(WriteKeyring(path, s, Passphrase("correct horse battery"), true, kFast).ok());
  by_key.keyring_key = key;
  EXPECT_EQ(OpenKeyring(path, by_key).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(KeyringKey(path, KeyFile(dir_ / "k")).status().code(), Code::kInvalidArgument);
  // A key-file keyring's key is the key file's.
  ASSERT_TRUE(CreateKeyFile(dir_ / "k").ok());
  auto file_ring = dir_ / "file.keyring";
  ASSERT_TRUE(WriteKeyring(file_ring, s, KeyFile(dir_ / "k"), false).ok());
  by_key.keyring_key = KeyringKey(file_ring, KeyFile(dir_ / "k")).value();
  EXPECT_EQ(*by_key.keyring_key, ReadKeyFile(dir_ / "k").value());
  EXPECT_TRUE(OpenKeyring(file_ring, by_key).ok());
  EXPECT_EQ(OpenKeyring(path, by_key).status().code(), Code::kPermissionDenied);
  // It never seals.
  EXPECT_EQ(WriteKeyring(dir_ / "x.keyring", s, by_key, false).code(), Code::kInvalidArgument);
}

class EncryptedNodeTest : public KeyringTest {};

TEST_F(EncryptedNodeTest, WrongPassphraseLeavesEveryFileByteIdentical) {
  auto dir = dir_ / "node";
  NodeInitOptions init;
  init.seal_with = Passphrase("the first passphrase");
  init.scrypt = kFast;
  Hash id;
  {
    auto node = Node::Init(dir, "ngo-a", std::move(init));
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    EXPECT_TRUE((*node)->encrypted());
    id = (*node)->id();
  }
  EXPECT_TRUE(Node::IsEncrypted(dir));
  EXPECT_FALSE(std::filesystem::exists(Node::KeyPath(dir)));
  EXPECT_FALSE(std::filesystem::exists(Node::CosignerKeyPath(dir)));
  auto before = Snapshot(dir);
  auto wrong = Node::Open(dir, {}, Passphrase("not the passphrase"));
  EXPECT_EQ(wrong.status().code(), Code::kPermissionDenied);
  auto none = Node::Open(dir);
  EXPECT_EQ(none.status().code(), Code::kPermissionDenied);
  EXPECT_NE(none.status().message().find("passphrase"), std::string::npos);
  EXPECT_EQ(Snapshot(dir), before);

  auto node = Node::Open(dir, {}, Passphrase("the first passphrase"));
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ((*node)->id(), id);
  EXPECT_EQ((*node)->name(), "ngo-a");
}

TEST_F(EncryptedNodeTest, ChangingThePassphraseRewrapsWithoutTouchingTheStore) {
  auto dir = dir_ / "node";
  NodeInitOptions init;
  init.seal_with = Passphrase("the first passphrase");
  init.scrypt = kFast;
  ASSERT_TRUE(Node::Init(dir, "ngo-a", std::move(init)).ok());
  std::string store_before = FileBytes(Node::StorePath(dir) / "data.mdb");

  EXPECT_EQ(Node::ChangeUnlock(dir, Passphrase("a wrong one"), Passphrase("the second passphrase"), kFast).code(),
            Code::kPermissionDenied);
  ASSERT_TRUE(Node::ChangeUnlock(dir, Passphrase("the first passphrase"), Passphrase("the second passphrase"), kFast).ok());
  EXPECT_EQ(Node::Open(dir, {}, Passphrase("the first passphrase")).status().code(), Code::kPermissionDenied);
  ASSERT_TRUE(Node::Open(dir, {}, Passphrase("the second passphrase")).ok());

  // From a passphrase to a key file: then the node opens with no secret given, from the path
  // the keyring remembers, and says where it looked once the key file is gone.
  ASSERT_TRUE(CreateKeyFile(dir_ / "key").ok());
  ASSERT_TRUE(Node::ChangeUnlock(dir, Passphrase("the second passphrase"), KeyFile(dir_ / "key")).ok());
  ASSERT_TRUE(Node::Open(dir).ok());
  EXPECT_EQ(FileBytes(Node::StorePath(dir) / "data.mdb"), store_before);
  std::filesystem::rename(dir_ / "key", dir_ / "key-elsewhere");
  auto gone = Node::Open(dir);
  EXPECT_EQ(gone.status().code(), Code::kPermissionDenied);
  EXPECT_NE(gone.status().message().find((dir_ / "key").string()), std::string::npos);
  EXPECT_TRUE(Node::Open(dir, {}, KeyFile(dir_ / "key-elsewhere")).ok());
  EXPECT_FALSE(std::filesystem::exists(Node::KeyringPath(dir).string() + ".new"));
}

TEST_F(EncryptedNodeTest, KeyringOfAnotherNodeIsRefused) {
  ASSERT_TRUE(CreateKeyFile(dir_ / "key").ok());
  for (const char* name : {"a", "b"}) {
    NodeInitOptions init;
    init.seal_with = KeyFile(dir_ / "key");
    ASSERT_TRUE(Node::Init(dir_ / name, name, std::move(init)).ok());
  }
  std::filesystem::remove(Node::KeyringPath(dir_ / "a"));
  std::filesystem::copy_file(Node::KeyringPath(dir_ / "b"), Node::KeyringPath(dir_ / "a"));
  auto mixed = Node::Open(dir_ / "a");
  EXPECT_EQ(mixed.status().code(), Code::kPermissionDenied) << mixed.status().ToString();
  EXPECT_NE(mixed.status().message().find("does not open the store"), std::string::npos);
}

}  // namespace
}  // namespace khronika
