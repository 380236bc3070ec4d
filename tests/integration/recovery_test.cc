// `khronika recovery keygen` and `member add --recovery-pubkey`: a partner's offline recovery key
// is sealed in a file under its operator's passphrase, and its node keeps only the public half.
#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/bytes.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;

const std::string kPass = "a recovery passphrase of some length";

// Opens the sealed recovery key file with Python's own scrypt and AES-GCM (not our code), and
// prints the private key's hex and the public key derived from it.
RunResult OpenWithPython(const fs::path& file, const std::string& passphrase) {
  const std::string script = R"PY(
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives import serialization
text = open(sys.argv[1]).read().splitlines()
blob = base64.b64decode("".join(text[1:-1]))
assert blob[:8] == b"KHRSEAL1"
n, r, p = 1 << blob[8], blob[9], blob[10]
salt, nonce, body = blob[11:27], blob[27:39], blob[39:]
key = hashlib.scrypt(sys.argv[2].encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=1 << 30)
plain = json.loads(AESGCM(key).decrypt(nonce, body, blob[:27]))
priv = X25519PrivateKey.from_private_bytes(bytes.fromhex(plain["private"]))
pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
print(plain["private"], "x25519:" + pub.hex())
)PY";
  return RunProgram({"python3", "-c", script, file.string(), passphrase});
}

TEST(RecoveryKeygenTest, TheKeyIsSealedOffTheNodeAndOnlyItsPublicHalfStays) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir, /*encrypted=*/false);
  const fs::path pass_file = dir / "pass";
  WriteFile(pass_file, kPass + "\n" + kPass + "\n");
  const fs::path key_file = dir / "recovery.key";

  RunResult made = RunKhronikaWithFd3(
      pass_file, {"recovery", "keygen", "--data", node.data.string(), "--out", key_file.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  ASSERT_EQ(made.out.rfind("recovery_pubkey x25519:", 0), 0u) << made.out;
  const std::string pub = made.out.substr(16, 7 + 64);
  struct stat st{};
  ASSERT_EQ(::stat(key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(IdOf(node.data)["recovery_pubkey"], pub);

  // The file opens with the passphrase and a stock implementation, and its private key is the
  // one whose public half the node printed.
  RunResult opened = OpenWithPython(key_file, kPass);
  ASSERT_EQ(opened.exit_code, 0) << opened.err;
  const std::string private_hex = opened.out.substr(0, 64);
  EXPECT_EQ(opened.out.substr(65, 7 + 64), pub);
  EXPECT_NE(OpenWithPython(key_file, kPass + "x").exit_code, 0);

  // Nothing under the data directory (a store in clear here) holds the private key.
  Bytes raw = FromHex(private_hex).value();
  for (const auto& entry : fs::recursive_directory_iterator(node.data)) {
    if (!entry.is_regular_file()) continue;
    std::string content = ReadFile(entry.path());
    EXPECT_EQ(content.find(private_hex), std::string::npos) << entry.path();
    EXPECT_EQ(content.find(std::string(raw.begin(), raw.end())), std::string::npos) << entry.path();
  }

  // A second key is refused unless asked for, and an existing file is never overwritten.
  RunResult again = RunKhronikaWithFd3(
      pass_file, {"recovery", "keygen", "--data", node.data.string(), "--out", (dir / "k2").string()});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("--replace"), std::string::npos) << again.err;
  EXPECT_FALSE(fs::exists(dir / "k2"));
  std::string before = ReadFile(key_file);
  RunResult over = RunKhronikaWithFd3(pass_file, {"recovery", "keygen", "--data", node.data.string(),
                                                  "--out", key_file.string(), "--replace"});
  EXPECT_NE(over.exit_code, 0);
  EXPECT_EQ(ReadFile(key_file), before);
  EXPECT_EQ(IdOf(node.data)["recovery_pubkey"], pub);
}

TEST(RecoveryKeygenTest, MembersLearnARecoveryKeyAndRefuseAMalformedOne) {
  TempDir dir;
  LocalNode a = MakeNodeWithAuthor(dir, /*encrypted=*/false);
  TempDir dir_b;
  LocalNode b = MakeNodeWithAuthor(dir_b, /*encrypted=*/false);
  const fs::path pass_file = dir / "pass";
  WriteFile(pass_file, kPass + "\n" + kPass + "\n");
  RunResult made = RunKhronikaWithFd3(
      pass_file, {"recovery", "keygen", "--data", b.data.string(), "--out", (dir / "b.rk").string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  nlohmann::json id_b = IdOf(b.data);
  const std::string pub = id_b["recovery_pubkey"];

  RunResult bad = RunKhronika({"member", "add", "--data", a.data.string(), "--vkey", id_b["vkey"],
                               "--recovery-pubkey", "x25519:" + std::string(64, 'z')});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  RunResult listed = RunKhronika({"member", "list", "--data", a.data.string(), "--json"});
  ASSERT_EQ(listed.exit_code, 0);
  EXPECT_EQ(listed.out.find(std::string(id_b["node_id"])), std::string::npos)
      << "a refused member add changed the roster";

  RunResult added = RunKhronika({"member", "add", "--data", a.data.string(), "--vkey", id_b["vkey"],
                                 "--recovery-pubkey", pub});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  // Adding it again without the key keeps the key.
  ASSERT_EQ(RunKhronika({"member", "add", "--data", a.data.string(), "--vkey", id_b["vkey"]}).exit_code, 0);
  bool found = false;
  for (const nlohmann::json& m :
       JsonLines(RunKhronika({"member", "list", "--data", a.data.string(), "--json"}).out)) {
    if (m["node_id"] == id_b["node_id"]) {
      found = true;
      EXPECT_EQ(m["recovery_pubkey"], pub);
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace khronika::testing
