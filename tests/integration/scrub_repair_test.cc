// `khronika scrub`: a byte flipped in a stored sealed chunk of a replica is found, named, and
// repaired from the origin over mutual TLS; without a peer (or with only a serve-only one) it is
// reported as unrepairable in the exit code, `status` and /metrics.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/sealed_objects.h"
#include "server_fixture.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

// Flips one bit inside every copy of `needle` in the node's data.mdb, as a rotting disk would.
int Rot(const std::filesystem::path& data, const std::string& needle) {
  const auto file = data / "store" / "data.mdb";
  std::string db = ReadFile(file);
  int n = 0;
  for (size_t pos = db.find(needle); pos != std::string::npos; pos = db.find(needle, pos + 1), ++n) {
    db[pos + 7] = static_cast<char>(db[pos + 7] ^ 0x01);
  }
  WriteFile(file, db);
  return n;
}

TEST(ScrubRepairTest, DamagedChunkIsRepairedFromAPeerOrReportedUnrepairable) {
  ServedNode a("scrub_interval_h = 0\n"), b("scrub_interval_h = 0\n");
  Federate({&a, &b});
  WritePseudoRandomFile(a / "video.bin", 300000, 11);
  RunResult submitted = a.Submit(a.admin().secret, "case-1", {a / "video.bin"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  RunResult synced = RunKhronika({"sync", "--data", b.data().string()});
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  b.server().Stop();  // a quiet store to flip bytes in

  // B holds A's entry sealed: the file is one sealed chunk, named by the SHA-256 of its
  // ciphertext (what B can check without A's keys). The plaintext is nowhere in B's store.
  const std::string content = ReadFile(a / "video.bin");
  ASSERT_EQ(Rot(b.data(), content.substr(1000, 64)), 0);
  std::vector<json> held;
  for (json& r : JsonLines(RunKhronika({"log", "--data", b.data().string(), "--origin",
                                        IdOf(a.data())["node_id"], "--json"}).out)) {
    if (r["object_type"] == "sealed_entry") held.push_back(std::move(r));  // not custody records
  }
  ASSERT_EQ(held.size(), 1u);
  auto object = FromHex(held[0]["object_hex"].get<std::string>());
  ASSERT_TRUE(object.ok());
  auto sealed = DecodeSealedEntry(*object);
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  ASSERT_EQ(sealed->files.size(), 1u);
  ASSERT_EQ(sealed->files[0].chunks.size(), 1u);
  const Hash sealed_chunk = sealed->files[0].chunks[0];
  const std::string chunk = ToHex(sealed_chunk);
  EXPECT_NE(sealed_chunk, Sha256(content));
  // A bit of its ciphertext flips on B's disk, under its id.
  ASSERT_TRUE(FlipStoredValueBit(b.data() / "store", "chunks", std::string(AsChars(sealed_chunk))));
  RunResult check = RunKhronika({"scrub", "--data", b.data().string(), "--no-repair"});
  EXPECT_EQ(check.exit_code, 1) << check.out << check.err;
  EXPECT_NE(check.out.find("DAMAGED  chunk " + chunk + ": damaged"), std::string::npos) << check.out;

  RunResult repair = RunKhronika({"scrub", "--data", b.data().string()});
  EXPECT_EQ(repair.exit_code, 0) << repair.out << repair.err;
  EXPECT_NE(repair.out.find("repaired chunk " + chunk), std::string::npos) << repair.out;
  RunResult verify = RunKhronika({"verify", "--data", b.data().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  RunResult status = RunKhronika({"status", "--data", b.data().string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  json last = json::parse(status.out)["last_scrub"];
  EXPECT_EQ(last["damaged"], 1);
  EXPECT_EQ(last["repaired"], 1);
  EXPECT_EQ(last["unrepaired"], 0);

  // With no peer to ask, the damage is reported, not hidden.
  ASSERT_EQ(RunKhronika({"peer", "remove", "--data", b.data().string(), IdOf(a.data())["node_id"]}).exit_code, 0);
  ASSERT_TRUE(FlipStoredValueBit(b.data() / "store", "chunks", std::string(AsChars(sealed_chunk))));
  RunResult alone = RunKhronika({"scrub", "--data", b.data().string()});
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_NE(alone.err.find("could not be repaired"), std::string::npos) << alone.err;
  RunResult text = RunKhronika({"status", "--data", b.data().string()});
  EXPECT_NE(text.out.find("1 items no peer could supply"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("chunk " + chunk + ": damaged"), std::string::npos) << text.out;
  ServerProcess again(b.data());
  ASSERT_TRUE(again.started());
  HttpReply metrics = Get(again, "/metrics", b.admin().secret);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("\nkhronika_scrub_unrepaired 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("\nkhronika_scrub_damaged 1\n"), std::string::npos) << metrics.body;

  // A serve-only peer is never asked, even one that holds the chunk; the same node as an
  // ordinary peer repairs it at once.
  json id_a = IdOf(a.data());
  for (bool serve_only : {true, false}) {
    std::vector<std::string> add = {"peer", "add", "--data", b.data().string(), "--url",
                                    a.server().url(), "--id", id_a["node_id"], "--cert-sha256",
                                    id_a["cert_sha256"]};
    if (serve_only) add.push_back("--serve-only");
    ASSERT_EQ(RunKhronika(add).exit_code, 0);
    RunResult scrub = RunKhronika({"scrub", "--data", b.data().string()});
    EXPECT_EQ(scrub.exit_code, serve_only ? 1 : 0) << scrub.out << scrub.err;
    EXPECT_EQ(scrub.out.find("repaired chunk " + chunk) != std::string::npos, !serve_only)
        << scrub.out;
  }
}

}  // namespace
}  // namespace khronika::testing
