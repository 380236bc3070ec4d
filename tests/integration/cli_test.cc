// End to end through the real khronika binary: init, keygen, author add, add, log, cat, id,
// checkpoint, proof and verify, plus the errors a person would hit.
#include <sys/stat.h>

#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

Hash HashFromHex(const std::string& hex) {
  auto h = ParseHashHex(hex);
  EXPECT_TRUE(h.ok()) << hex;
  return h.ok() ? *h : Hash{};
}

unsigned FileMode(const std::filesystem::path& p) {
  struct stat st;
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 0777;
}

TEST(CliTest, EndToEnd) {
  TempDir dir;
  std::string data = (dir / "node").string();
  RunResult init = RunKhronika({"init", "--data", data, "--name", "ngo-one", "--no-encryption"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(init.err.find("WITHOUT encryption"), std::string::npos) << init.err;
  EXPECT_NE(init.out.find("node_id "), std::string::npos);
  EXPECT_NE(init.out.find("vkey khronika/"), std::string::npos);
  EXPECT_EQ(FileMode(dir / "node" / "node.key"), 0600u);

  std::string key = (dir / "alice.key").string();
  RunResult keygen = RunKhronika({"keygen", "--out", key});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
  EXPECT_EQ(FileMode(key), 0600u);
  std::string author_hex = keygen.out.substr(0, 64);
  RunResult author = RunKhronika({"author", "add", "--data", data, "--name", "Alice", "--pubkey",
                                  key + ".pub"});
  ASSERT_EQ(author.exit_code, 0) << author.err;

  WriteFile(dir / "note.txt", "witness statement\n");
  WritePseudoRandomFile(dir / "video.bin", 5 * 1024 * 1024 + 123, 42);
  RunResult add1 = RunKhronika({"add", "--data", data, "--key", key, "--case", "case-7", "--meta",
                                "place=Kazan", (dir / "note.txt").string(),
                                (dir / "video.bin").string()});
  ASSERT_EQ(add1.exit_code, 0) << add1.err;
  EXPECT_NE(add1.out.find("index 0"), std::string::npos) << add1.out;
  RunResult add2 = RunKhronika(
      {"add", "--data", data, "--key", key, "--case", "case-8", (dir / "note.txt").string()});
  ASSERT_EQ(add2.exit_code, 0) << add2.err;
  RunResult add3 = RunKhronika({"add", "--data", data, "--key", key, "--case", "case-7", "--json",
                                (dir / "note.txt").string()});
  ASSERT_EQ(add3.exit_code, 0) << add3.err;
  json receipt = json::parse(add3.out);
  EXPECT_EQ(receipt["index"], 2);
  EXPECT_EQ(receipt["tree_size"], 3);

  // log --json: every line carries the fields auditors need, and leaf_hash covers record_hex;
  // the record names the sealed entry (object_hex), and the node's own entries, opened with its
  // archive key, carry the signed entry and each file's descriptor and salt, which prove the
  // file against the author's signature.
  RunResult log = RunKhronika({"log", "--data", data, "--json"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  std::vector<json> lines = JsonLines(log.out);
  ASSERT_EQ(lines.size(), 3u);
  std::vector<Hash> leaves;
  for (size_t i = 0; i < lines.size(); ++i) {
    const json& l = lines[i];
    EXPECT_EQ(l["index"], i);
    auto record = FromHex(l["record_hex"].get<std::string>());
    ASSERT_TRUE(record.ok());
    EXPECT_EQ(ToHex(LeafHash(*record)), l["leaf_hash"]);
    auto decoded = DecodeRecord(*record);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(ToHex(decoded->object_id), l["entry_id"]);
    EXPECT_EQ(l["object_type"], "sealed_entry");
    auto sealed_bytes = FromHex(l["object_hex"].get<std::string>());
    ASSERT_TRUE(sealed_bytes.ok());
    EXPECT_EQ(ToHex(ObjectId(*sealed_bytes)), l["entry_id"]);
    ASSERT_TRUE(DecodeSealedEntry(*sealed_bytes).ok());
    auto entry_bytes = FromHex(l["entry_hex"].get<std::string>());
    ASSERT_TRUE(entry_bytes.ok());
    auto entry = DecodeSignedEntry(*entry_bytes);
    ASSERT_TRUE(entry.ok()) << entry.status().ToString();
    EXPECT_TRUE(VerifyEntrySignature(*entry));
    EXPECT_EQ(entry->case_id, l["case"]);
    ASSERT_EQ(entry->files.size(), l["files"].size());
    for (size_t f = 0; f < entry->files.size(); ++f) {
      const json& file = l["files"][f];
      auto descriptor = FromHex(file["descriptor_hex"].get<std::string>());
      auto salt_bytes = FromHex(file["salt"].get<std::string>());
      ASSERT_TRUE(descriptor.ok() && salt_bytes.ok() && salt_bytes->size() == 32);
      CommitmentSalt salt{};
      std::copy(salt_bytes->begin(), salt_bytes->end(), salt.begin());
      EXPECT_EQ(FileCommitment(salt, *descriptor), entry->files[f]) << i << " " << f;
      EXPECT_EQ(ToHex(entry->files[f]), file["commitment"]);
    }
    EXPECT_EQ(l["author"], author_hex);
    leaves.push_back(LeafHash(*record));
  }
  EXPECT_EQ(lines[0]["case"], "case-7");
  EXPECT_EQ(lines[1]["case"], "case-8");
  EXPECT_EQ(receipt["entry_id"], lines[2]["entry_id"]);

  RunResult case_log = RunKhronika({"log", "--data", data, "--case", "case-7", "--json"});
  ASSERT_EQ(case_log.exit_code, 0);
  std::vector<json> case_lines = JsonLines(case_log.out);
  ASSERT_EQ(case_lines.size(), 2u);
  EXPECT_EQ(case_lines[0]["index"], 0);
  EXPECT_EQ(case_lines[1]["index"], 2);

  // The checkpoint verifies under the node's verifier key and commits to all three leaves.
  RunResult id = RunKhronika({"id", "--data", data, "--json"});
  ASSERT_EQ(id.exit_code, 0);
  json id_json = json::parse(id.out);
  auto verifier = ParseVerifierKey(id_json["vkey"].get<std::string>());
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  RunResult cp = RunKhronika({"checkpoint", "--data", data});
  ASSERT_EQ(cp.exit_code, 0);
  EXPECT_EQ(cp.out, receipt["checkpoint"]);
  auto note = ParseSignedNote(cp.out);
  ASSERT_TRUE(note.ok());
  EXPECT_TRUE(NoteSignedBy(*note, *verifier));
  auto checkpoint = ParseCheckpointBody(note->text);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ(checkpoint->size, 3u);
  EXPECT_EQ(checkpoint->origin, "khronika/" + id_json["node_id"].get<std::string>());

  // Inclusion proof for each leaf against the checkpoint root.
  for (uint64_t i = 0; i < 3; ++i) {
    RunResult proof = RunKhronika({"proof", "--data", data, "--index", std::to_string(i)});
    ASSERT_EQ(proof.exit_code, 0) << proof.err;
    json p = json::parse(proof.out);
    std::vector<Hash> path;
    for (const auto& h : p["proof"]) path.push_back(HashFromHex(h));
    EXPECT_TRUE(VerifyInclusion(leaves[i], i, 3, path, checkpoint->root)) << i;
  }
  // Consistency 1 -> 3, against the stored checkpoint at size 1 and the latest one.
  RunResult cons = RunKhronika({"proof", "--data", data, "--from", "1", "--to", "3"});
  ASSERT_EQ(cons.exit_code, 0) << cons.err;
  json c = json::parse(cons.out);
  std::vector<Hash> cpath;
  for (const auto& h : c["proof"]) cpath.push_back(HashFromHex(h));
  EXPECT_EQ(HashFromHex(c["old_root"]), leaves[0]);
  EXPECT_TRUE(VerifyConsistency(1, 3, leaves[0], checkpoint->root, cpath));

  RunResult verify = RunKhronika({"verify", "--data", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("clean"), std::string::npos);

  // cat gives back exactly the bytes added, and the read is a custody event of the log (after
  // the checks above, which it would have moved on by one record).
  std::string entry0 = lines[0]["entry_id"];
  RunResult cat = RunKhronika({"cat", "--data", data, entry0, "video.bin"});
  ASSERT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, ReadFile(dir / "video.bin"));
  RunResult missing = RunKhronika({"cat", "--data", data, entry0, "nope.bin"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no file named"), std::string::npos);
  RunResult reads = RunKhronika({"access-log", "--data", data, "--json"});
  ASSERT_EQ(reads.exit_code, 0) << reads.err;
  std::vector<json> events = JsonLines(reads.out);
  ASSERT_EQ(events.size(), 1u) << reads.out;  // the refused cat read nothing
  EXPECT_EQ(events[0]["action"], "read-content");
  EXPECT_EQ(events[0]["token_id"], "local");
  EXPECT_EQ(events[0]["object"], entry0 + "/1");  // video.bin, the entry's second file
  EXPECT_EQ(events[0]["case"], lines[0]["case"]);
  EXPECT_TRUE(events[0]["logged"].is_object()) << reads.out;
  EXPECT_NE(verify.out.find("3 entries of this node's log opened"), std::string::npos) << verify.out;

  // The plaintext was uploaded, sealed and deleted: `add` leaves no upload chunk behind, and the
  // same content added again is sealed anew (a fresh nonce and salt: another sealed entry).
  RunResult again = RunKhronika({"add", "--data", data, "--key", key, "--case", "case-7", "--json",
                                 (dir / "note.txt").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(json::parse(again.out)["entry_id"], receipt["entry_id"]);
}

// A partner's log is sealed: `log --origin` of it lists records and sealed objects only, and
// --case refuses to pretend it can tell which of them belong to a case.
TEST(CliTest, LogOfAnotherOriginIsSealedAndCaseIsRefused) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir, false);
  RunResult case_of_other = RunKhronika({"log", "--data", node.data.string(), "--origin",
                                         std::string(64, 'a'), "--case", "case-1"});
  EXPECT_EQ(case_of_other.exit_code, 2) << case_of_other.err;
  EXPECT_NE(case_of_other.err.find("own log (or one it adopted) only"), std::string::npos) << case_of_other.err;
}

TEST(CliTest, EveryCommandHasHelp) {
  for (const char* cmd : {"init", "keygen", "add", "log", "cat", "id", "checkpoint", "proof",
                          "verify"}) {
    RunResult r = RunKhronika({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find(std::string("khronika ") + cmd), std::string::npos) << cmd;
  }
  RunResult r = RunKhronika({"author", "add", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  RunResult overview = RunKhronika({"--help"});
  EXPECT_EQ(overview.exit_code, 0);
  EXPECT_NE(overview.out.find("verify"), std::string::npos);
}

TEST(CliTest, UsageErrorsExitTwoWithOneLine) {
  RunResult no_data = RunKhronika({"verify"});
  EXPECT_EQ(no_data.exit_code, 2);
  EXPECT_NE(no_data.err.find("--data"), std::string::npos);
  EXPECT_EQ(std::count(no_data.err.begin(), no_data.err.end(), '\n'), 1);
  RunResult unknown = RunKhronika({"log", "--data", "x", "--bogus"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("--bogus"), std::string::npos);
  RunResult bad_command = RunKhronika({"frobnicate"});
  EXPECT_EQ(bad_command.exit_code, 2);
  RunResult proof_both = RunKhronika({"proof", "--data", "x", "--index", "1", "--from", "0"});
  EXPECT_EQ(proof_both.exit_code, 2);
}

TEST(CliTest, BadInputChangesNothing) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  std::string data = node.data.string();
  WriteFile(dir / "ok.txt", "fine");
  ASSERT_EQ(RunKhronika({"add", "--data", data, "--key", node.key.string(), "--case", "c1",
                         (dir / "ok.txt").string()})
                .exit_code,
            0);
  std::string log_before = RunKhronika({"log", "--data", data, "--json"}).out;

  // An author that was never registered.
  std::string stranger = (dir / "stranger.key").string();
  ASSERT_EQ(RunKhronika({"keygen", "--out", stranger}).exit_code, 0);
  RunResult unregistered = RunKhronika(
      {"add", "--data", data, "--key", stranger, "--case", "c1", (dir / "ok.txt").string()});
  EXPECT_EQ(unregistered.exit_code, 1);
  EXPECT_NE(unregistered.err.find("not registered"), std::string::npos) << unregistered.err;

  // A file name with a control byte, a bad case id, bad metadata.
  WriteFile(dir / "bad\x01name.txt", "x");
  RunResult bad_name = RunKhronika({"add", "--data", data, "--key", node.key.string(), "--case",
                                    "c1", (dir / "bad\x01name.txt").string()});
  EXPECT_EQ(bad_name.exit_code, 1);
  EXPECT_NE(bad_name.err.find("control"), std::string::npos) << bad_name.err;
  RunResult bad_case = RunKhronika({"add", "--data", data, "--key", node.key.string(), "--case",
                                    "../etc", (dir / "ok.txt").string()});
  EXPECT_NE(bad_case.exit_code, 0);
  RunResult bad_meta = RunKhronika({"add", "--data", data, "--key", node.key.string(), "--case",
                                    "c1", "--meta", "no-equals", (dir / "ok.txt").string()});
  EXPECT_EQ(bad_meta.exit_code, 2);
  RunResult not_a_key = RunKhronika({"add", "--data", data, "--key", (dir / "ok.txt").string(),
                                     "--case", "c1", (dir / "ok.txt").string()});
  EXPECT_EQ(not_a_key.exit_code, 1);

  EXPECT_EQ(RunKhronika({"log", "--data", data, "--json"}).out, log_before);
  RunResult verify = RunKhronika({"verify", "--data", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;

  // A second init on the same directory refuses and keeps the node.
  RunResult again = RunKhronika({"init", "--data", data});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already exists"), std::string::npos);
  EXPECT_EQ(RunKhronika({"log", "--data", data, "--json"}).out, log_before);
}

// Every file under `dir` with its bytes.
std::map<std::string, std::string> Snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[e.path().string()] = ReadFile(e.path());
  }
  return files;
}

TEST(CliTest, EncryptedNodeOpensOnlyWithItsPassphraseAndChangesIt) {
  TempDir dir;
  std::string data = (dir / "node").string();
  WriteFile(dir / "first", "first passphrase of ngo\n");
  WriteFile(dir / "wrong", "not the passphrase\n");
  WriteFile(dir / "change", "first passphrase of ngo\nsecond passphrase of ngo\n");
  WriteFile(dir / "second", "second passphrase of ngo\n");
  WriteFile(dir / "short", "short\n");

  RunResult weak = RunKhronikaWithFd3(dir / "short", {"init", "--data", data});
  EXPECT_EQ(weak.exit_code, 1);
  EXPECT_NE(weak.err.find("at least 12"), std::string::npos) << weak.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "node" / "node.keyring"));

  RunResult init = RunKhronikaWithFd3(dir / "first", {"init", "--data", data, "--name", "ngo-enc"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_EQ(FileMode(dir / "node" / "node.keyring"), 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir / "node" / "node.key"));
  EXPECT_FALSE(std::filesystem::exists(dir / "node" / "cosigner.key"));
  std::string keyring = ReadFile(dir / "node" / "node.keyring");
  EXPECT_EQ(keyring.find("PRIVATE KEY"), std::string::npos);
  nlohmann::json id = nlohmann::json::parse(RunKhronikaWithFd3(dir / "first", {"id", "--data", data, "--json"}).out);

  // No passphrase, or a wrong one: refused, and not one byte of the directory changes.
  auto before = Snapshot(dir / "node");
  RunResult none = RunKhronika({"log", "--data", data});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("passphrase"), std::string::npos) << none.err;
  RunResult wrong = RunKhronikaWithFd3(dir / "wrong", {"verify", "--data", data});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("wrong passphrase"), std::string::npos) << wrong.err;
  RunResult wrong_write = RunKhronikaWithFd3(dir / "wrong", {"token", "create", "--data", data, "--role", "reader"});
  EXPECT_EQ(wrong_write.exit_code, 1);
  EXPECT_EQ(Snapshot(dir / "node"), before);

  RunResult change = RunKhronikaWithFd3(dir / "change", {"passphrase", "change", "--data", data});
  ASSERT_EQ(change.exit_code, 0) << change.err;
  // The store keeps its data key; what changed in it is the change's custody event.
  EXPECT_EQ(RunKhronikaWithFd3(dir / "first", {"verify", "--data", data}).exit_code, 1);
  RunResult after = RunKhronikaWithFd3(dir / "second", {"id", "--data", data, "--json"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(nlohmann::json::parse(after.out)["node_id"], id["node_id"]);

  // To a key file, after which the node opens with no question.
  RunResult to_file = RunKhronikaWithFd3(dir / "second", {"passphrase", "change", "--data", data,
                                                       "--new-key-file", (dir / "usb.key").string()});
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  EXPECT_EQ(FileMode(dir / "usb.key"), 0600u);
  EXPECT_EQ(RunKhronika({"verify", "--data", data}).exit_code, 0);
  // Both changes are custody events, sealed into the node's own log.
  RunResult custody = RunKhronika({"access-log", "--data", data, "--action", "passphrase-change",
                                   "--json"});
  ASSERT_EQ(custody.exit_code, 0) << custody.err;
  std::vector<nlohmann::json> changes = JsonLines(custody.out);
  ASSERT_EQ(changes.size(), 2u) << custody.out;
  EXPECT_EQ(changes[0]["object"], "keyring re-sealed under a new passphrase");
  EXPECT_EQ(changes[1]["object"], "keyring re-sealed under a key file");
  for (const nlohmann::json& c : changes) {
    EXPECT_EQ(c["token_id"], "local");
    EXPECT_TRUE(c["logged"].is_object()) << c.dump();
  }
  // A new key file is refused inside the data directory, as at init, and is not made there.
  RunResult into_dir = RunKhronika({"passphrase", "change", "--data", data, "--new-key-file",
                                    (dir / "node" / "key").string()});
  EXPECT_EQ(into_dir.exit_code, 2);
  EXPECT_NE(into_dir.err.find("outside the data directory"), std::string::npos) << into_dir.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "node" / "key"));
  RunResult inside = RunKhronika({"init", "--data", (dir / "other").string(), "--key-file",
                                  (dir / "other" / "key").string()});
  EXPECT_EQ(inside.exit_code, 2);
  EXPECT_NE(inside.err.find("outside the data directory"), std::string::npos) << inside.err;
}

}  // namespace
}  // namespace khronika::testing

namespace khronika::testing {
namespace {

// `id` prints the certificate's SHA-256 also as browsers show it, and that form is what openssl
// itself prints for the certificate.
TEST(CliTest, IdPrintsTheCertificateFingerprintAsBrowsersShowIt) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  nlohmann::json id = IdOf(node.data);
  const std::string hex = id["cert_sha256"];
  const std::string colons = id["cert_sha256_colons"];
  ASSERT_EQ(hex.size(), 64u);
  ASSERT_EQ(colons.size(), 95u);
  RunResult openssl = RunProgram({"openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                                  (node.data / "tls.crt").string()});
  ASSERT_EQ(openssl.exit_code, 0) << openssl.err;
  EXPECT_NE(openssl.out.find("=" + colons + "\n"), std::string::npos) << openssl.out << colons;
  RunResult text = RunKhronika({"id", "--data", node.data.string()});
  EXPECT_NE(text.out.find("cert_sha256_colons " + colons + "\n"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace khronika::testing
