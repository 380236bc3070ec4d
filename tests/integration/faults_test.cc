// Faults a node meets in the field, with a real `khronika serve`, the real `khronika submit`,
// curl and `openssl s_client`/`s_server`:
//
// - the LMDB map fills up under concurrent submissions: clients get 507 `store_full`, nothing
//   acknowledged is lost, reads go on, and appends resume once the node is restarted with a
//   larger --map-size;
// - the file system under the data directory fills up (a small tmpfs, or ext4 on a loop device
//   where tmpfs cannot be mounted): the same, and appends resume as soon as space is freed,
//   without a restart;
// - TLS: the node offers only TLS 1.3 with its three AEAD suites, never renegotiates, and its
//   own client (submit, get, and the peer-to-peer sync) speaks nothing else either.
//   server_tls_test.cc already checks that TLS 1.1 and 1.2 clients are refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "khronika/store/store.h"
#include "server_fixture.h"
#include "small_file_system.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kFileSize = 100 * 1024;  // one chunk each
constexpr const char* kCase = "case-full";


// ---- submissions until the node is full ----

// WritePseudoRandomFile uses seed | 1: distinct odd seeds give distinct files.
uint64_t Seed(uint64_t n) { return 2 * n + 1; }

struct Submitted {
  fs::path file;
  std::string entry_id;  // set when acknowledged (exit 0 and a receipt)
  int exit_code = -1;
  std::string err;
};

struct Fill {
  std::vector<Submitted> acknowledged;
  std::vector<Submitted> refused;
};

std::vector<std::string> SubmitArgs(const ServerProcess& server, const std::string& token,
                                    const fs::path& key, const fs::path& file) {
  return {"submit", "--node",     server.url(), "--pin", server.pin(), "--token",    token,
          "--key",  key.string(), "--case",     kCase,   "--json",     file.string()};
}

// `workers` concurrent `khronika submit` processes, each of a new ~100 KiB file, until
// 2 * workers of them have been refused as full (or `max_submissions` were tried).
Fill FillUntilFull(const ServerProcess& server, const std::string& token, const fs::path& key,
                   const fs::path& files, int workers, int max_submissions) {
  Fill fill;
  std::mutex mu;
  std::atomic<int> next{0}, full{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (;;) {
        if (full.load() >= 2 * workers) return;
        int i = next++;
        if (i >= max_submissions) return;
        Submitted s;
        s.file = files / ("evidence-" + std::to_string(i) + ".bin");
        WritePseudoRandomFile(s.file, kFileSize, Seed(1000 + static_cast<uint64_t>(i)));
        RunResult r = RunKhronika(SubmitArgs(server, token, key, s.file));
        s.exit_code = r.exit_code;
        s.err = r.err;
        if (r.exit_code == 0) {
          json receipt = json::parse(r.out, nullptr, false);
          if (receipt.is_object() && receipt.contains("entry_id")) {
            s.entry_id = receipt["entry_id"].get<std::string>();
          }
        } else if (r.err.find("HTTP 507") != std::string::npos) {
          ++full;
        }
        std::lock_guard lock(mu);
        (s.exit_code == 0 ? fill.acknowledged : fill.refused).push_back(std::move(s));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::cout << "[ info     ] " << fill.acknowledged.size() << " submissions acknowledged, "
            << fill.refused.size() << " refused\n";
  return fill;
}

// The node is full: every refusal was a 507 (never a 500, never a crash), a chunk is refused
// with the documented JSON error, and the operator has been told in the log.
void ExpectFull(ServerProcess& server, const std::string& token, const Fill& fill,
                const std::string& expected_message) {
  ASSERT_FALSE(fill.acknowledged.empty()) << "nothing fitted at all";
  ASSERT_FALSE(fill.refused.empty())
      << "never full after " << fill.acknowledged.size() << " submissions";
  for (const Submitted& s : fill.refused) {
    EXPECT_NE(s.err.find("HTTP 507"), std::string::npos)
        << s.file << " was refused, but not as full (exit " << s.exit_code << "): " << s.err;
  }
  ASSERT_TRUE(server.Running()) << server.Stderr();

  // A fresh 1 MiB chunk (larger than anything that failed) is refused: 507, JSON, store_full.
  std::string chunk(1 << 20, '\0');
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>((i * 2654435761u) >> 13);
  HttpRequest put;
  put.method = "PUT";
  put.path = "/v1/chunks/" + HexSha256(chunk);
  put.token = token;
  put.body = chunk;
  put.headers = {"Content-Type: application/octet-stream"};
  HttpReply r = Curl(server, put);
  EXPECT_EQ(r.status, 507) << r.Describe();
  EXPECT_EQ(r.Header("Content-Type"), "application/json") << r.headers;
  EXPECT_TRUE(r.IsJsonError()) << r.Describe();
  EXPECT_EQ(r.Json().value("error", ""), "store_full") << r.Describe();
  EXPECT_NE(r.Json().value("message", "").find(expected_message), std::string::npos)
      << r.Describe();

  // One line in the log for the operator, not one per refused request.
  std::string log = server.Stderr();
  size_t first = log.find("store full");
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("store full", first + 1), std::string::npos) << log;
}

// Everything acknowledged is there and readable: entries, file content (which also writes an
// access record), the checkpoint; the log holds exactly the acknowledged entries.
void ExpectReadsWork(const ServerProcess& server, const std::string& token, const fs::path& data,
                     const std::vector<Submitted>& acknowledged) {
  ASSERT_FALSE(acknowledged.empty());
  std::set<std::string> ids;
  for (const Submitted& s : acknowledged) {
    ASSERT_EQ(s.entry_id.size(), 64u) << "no receipt for acknowledged " << s.file;
    ids.insert(s.entry_id);
    HttpReply e = Get(server, "/v1/entries/" + s.entry_id, token);
    ASSERT_EQ(e.status, 200) << e.Describe();
    EXPECT_EQ(e.Json()["entry_id"], s.entry_id);
  }
  for (const Submitted* s : {&acknowledged.front(), &acknowledged.back()}) {
    HttpReply e = Get(server, "/v1/entries/" + s->entry_id, token);
    ASSERT_EQ(e.Json()["files"].size(), 1u) << e.Describe();
    EXPECT_EQ(e.Json()["files"][0]["index"], 0) << e.Describe();
    HttpReply content = Get(server, "/v1/entries/" + s->entry_id + "/files/0/content", token);
    EXPECT_EQ(content.status, 200) << content.Describe();
    EXPECT_TRUE(content.body == ReadFile(s->file)) << s->file << ": content differs";
  }
  HttpReply cp = Get(server, "/v1/checkpoint", token);
  EXPECT_EQ(cp.status, 200) << cp.Describe();
  std::istringstream lines(cp.body);
  std::string origin, size;
  std::getline(lines, origin);
  std::getline(lines, size);
  // The reads above are custody events: the log may hold custody records after the entries,
  // one more of them perhaps sealed between the checkpoint's answer and the listing.
  const std::vector<json> log = LogRecordsJson(data);
  EXPECT_GE(std::stoull(size), acknowledged.size()) << cp.body;
  EXPECT_LE(std::stoull(size), log.size()) << cp.body;

  std::set<std::string> logged;
  for (const json& line : log) {
    if (line["object_type"] == "custody_record") continue;
    logged.insert(line["entry_id"].get<std::string>());
  }
  EXPECT_EQ(logged, ids) << "the log must hold exactly the acknowledged entries";
  RunResult verify = RunKhronika({"verify", "--data", data.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

// A value of /metrics.
uint64_t Metric(const ServerProcess& server, const std::string& token, const std::string& name) {
  HttpReply m = Get(server, "/metrics", token);
  size_t at = m.body.find("\n" + name + " ");
  if (m.status != 200 || at == std::string::npos) {
    ADD_FAILURE() << name << " not in /metrics: " << m.Describe();
    return 0;
  }
  return std::stoull(m.body.substr(at + name.size() + 2));
}

RunResult SubmitOne(const ServerProcess& server, const std::string& token, const fs::path& key,
                    const fs::path& file, uint64_t seed) {
  WritePseudoRandomFile(file, kFileSize, Seed(seed));
  return RunKhronika(SubmitArgs(server, token, key, file));
}

// ---- map full ----

TEST(FaultsTest, MapFullRefusesWith507KeepsEverythingAndResumesWithALargerMap) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  Token admin = MakeToken(node.data, "admin");  // before serving: one writer at a time
  fs::create_directories(dir / "files");
  // 4 MiB holds the empty store and a few dozen 100 KiB files.
  const std::string small_map = std::to_string(4 << 20);
  auto server =
      std::make_unique<ServerProcess>(node.data, std::vector<std::string>{"--map-size", small_map});
  ASSERT_TRUE(server->started());

  Fill fill = FillUntilFull(*server, admin.secret, node.key, dir / "files", 4, 300);
  ASSERT_NO_FATAL_FAILURE(ExpectFull(*server, admin.secret, fill, "map is full"));
  EXPECT_GE(fill.acknowledged.size(), 10u);
  EXPECT_EQ(Metric(*server, admin.secret, "khronika_store_map_bytes"), uint64_t{4} << 20);
  EXPECT_GT(Metric(*server, admin.secret, "khronika_store_used_bytes"), uint64_t{3} << 20);

  ExpectReadsWork(*server, admin.secret, node.data, fill.acknowledged);

  // A local command run without --map-size maps 64 GiB: `khronika add` of a 1 MiB file grows
  // the store past the node's 4 MiB map. The node follows (instead of failing every request,
  // reads too, with MDB_MAP_RESIZED until restarted) and keeps its own limit for uploads.
  fs::path local = dir / "files" / "local.bin";
  WritePseudoRandomFile(local, 1 << 20, Seed(5));
  RunResult add = RunKhronika({"add", "--data", node.data.string(), "--key", node.key.string(),
                               "--case", kCase, "--json", local.string()});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  fill.acknowledged.push_back(Submitted{local, json::parse(add.out)["entry_id"], 0, ""});
  EXPECT_GT(fs::file_size(node.data / "store" / "data.mdb"), uint64_t{4} << 20);
  ExpectReadsWork(*server, admin.secret, node.data, fill.acknowledged);

  // Still full: reads did not make room, a submission is still refused.
  RunResult again = SubmitOne(*server, admin.secret, node.key, dir / "files" / "again.bin", 1);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("HTTP 507"), std::string::npos) << again.err;

  // The operator grows the map: restart with a larger --map-size.
  ASSERT_EQ(server->Stop(), 0) << server->Stderr();
  server = std::make_unique<ServerProcess>(
      node.data, std::vector<std::string>{"--map-size", std::to_string(64 << 20)});
  ASSERT_TRUE(server->started());
  RunResult resumed = SubmitOne(*server, admin.secret, node.key, dir / "files" / "resumed.bin", 2);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  Submitted s{dir / "files" / "resumed.bin", json::parse(resumed.out)["entry_id"], 0, ""};
  fill.acknowledged.push_back(s);
  EXPECT_EQ(Metric(*server, admin.secret, "khronika_store_map_bytes"), uint64_t{64} << 20);
  ExpectReadsWork(*server, admin.secret, node.data, fill.acknowledged);
}

// ---- disk full ----

TEST(FaultsTest, DiskFullRefusesWith507KeepsEverythingAndResumesWhenSpaceIsFreed) {
  TempDir work;  // the files to submit, off the small file system
  TempDir dir;   // the small file system: node data, author key, a filler file
  SmallFileSystem small(dir.path(), 10 << 20);
  if (!small.mounted()) GTEST_SKIP() << "no small file system to fill: " << small.why_not();
  SCOPED_TRACE("file system: " + small.kind());
  // Filler taken at the start, freed at the end, like the operator deleting old logs.
  WritePseudoRandomFile(dir / "filler", 3 << 20, 7);
  LocalNode node = MakeNodeWithAuthor(dir);
  Token admin = MakeToken(node.data, "admin");
  fs::create_directories(work / "files");
  // The default map (64 GiB, sparse) is far larger than the file system.
  auto server = std::make_unique<ServerProcess>(node.data);
  ASSERT_TRUE(server->started());

  Fill fill = FillUntilFull(*server, admin.secret, node.key, work / "files", 4, 300);
  ASSERT_NO_FATAL_FAILURE(ExpectFull(*server, admin.secret, fill, "no space left"));
  ExpectReadsWork(*server, admin.secret, node.data, fill.acknowledged);

  // Space comes back: appends resume at once, without a restart.
  fs::remove(dir / "filler");
  RunResult resumed = SubmitOne(*server, admin.secret, node.key, work / "files" / "resumed.bin", 3);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  fill.acknowledged.push_back(
      Submitted{work / "files" / "resumed.bin", json::parse(resumed.out)["entry_id"], 0, ""});
  ExpectReadsWork(*server, admin.secret, node.data, fill.acknowledged);
  // The node stops cleanly (so the file system can be unmounted) and starts again.
  ASSERT_EQ(server->Stop(), 0) << server->Stderr();
  server = std::make_unique<ServerProcess>(node.data);
  ASSERT_TRUE(server->started());
  ExpectReadsWork(*server, admin.secret, node.data, fill.acknowledged);
  server.reset();
}

// ---- the store itself on a full file system: LMDB's own ENOSPC or short write ----

// Chunks stop at the reserve; small writes (access records) then fill the file system for
// real, which must be StoreFull (not an I/O error), leave the store readable and usable, and
// writes resume in the same process once space is freed.
void FillStoreOnSmallFileSystem(const TempDir& dir) {
  WritePseudoRandomFile(dir / "filler", 1 << 20, Seed(9));
  auto opened = Store::Open(dir / "store");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> store = std::move(opened).value();
  auto key = [](const std::string& s) { return Bytes(s.begin(), s.end()); };

  Bytes chunk(kFileSize, 0x5a);
  uint64_t chunks = 0;
  Status st;
  while (st.ok() && chunks < 1000) {
    std::string id = "chunk-" + std::to_string(chunks);
    std::copy(id.begin(), id.end(), chunk.begin());
    st = store->Update([&](WriteTxn& txn) { return txn.Put(Table::kChunks, key(id), chunk); });
    if (st.ok()) ++chunks;
  }
  EXPECT_EQ(st.code(), Code::kStoreFull) << st.ToString();
  EXPECT_NE(st.message().find("no space left"), std::string::npos) << st.ToString();
  EXPECT_GT(chunks, 5u);

  uint64_t records = 0;
  st = Status::Ok();
  while (st.ok() && records < 200000) {
    st = store->Update([&](WriteTxn& txn) -> Status {
      for (int i = 0; i < 50; ++i) {
        KH_RETURN_IF_ERROR(
            txn.Put(Table::kAccessLog, key("r" + std::to_string(records + i)), Bytes(150, 0x44)));
      }
      return Status::Ok();
    });
    if (st.ok()) records += 50;
  }
  EXPECT_EQ(st.code(), Code::kStoreFull)
      << "a full file system must read as full: " << st.ToString();
  EXPECT_NE(st.message().find("no space left"), std::string::npos) << st.ToString();
  EXPECT_GT(records, 500u);
  std::cout << "[ info     ] " << chunks << " chunks, then " << records
            << " access records, then: " << st.ToString() << "\n";

  auto counts = [&](uint64_t* c, uint64_t* r) {
    return store->View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(*c, txn.Count(Table::kChunks));
      KH_ASSIGN_OR_RETURN(*r, txn.Count(Table::kAccessLog));
      return Status::Ok();
    });
  };
  uint64_t c = 0, r = 0;
  ASSERT_TRUE(counts(&c, &r).ok());
  EXPECT_EQ(c, chunks);
  EXPECT_EQ(r, records);

  fs::remove(dir / "filler");
  Status after = store->Update(
      [&](WriteTxn& txn) { return txn.Put(Table::kAccessLog, key("after"), Bytes(150, 0x45)); });
  EXPECT_TRUE(after.ok()) << after.ToString();
  Status more =
      store->Update([&](WriteTxn& txn) { return txn.Put(Table::kChunks, key("more"), chunk); });
  EXPECT_TRUE(more.ok()) << more.ToString();
  ASSERT_TRUE(counts(&c, &r).ok());
  EXPECT_EQ(c, chunks + 1);
  EXPECT_EQ(r, records + 1);
}

TEST(FaultsStoreTest, FullTmpfsIsStoreFullAndWritesResumeWhenSpaceIsFreed) {
  TempDir dir;
  SmallFileSystem small(dir.path(), 4 << 20, FsKind::kTmpfs);
  if (!small.mounted()) GTEST_SKIP() << small.why_not();
  FillStoreOnSmallFileSystem(dir);
}

TEST(FaultsStoreTest, FullExt4IsStoreFullAndWritesResumeWhenSpaceIsFreed) {
  TempDir dir;
  SmallFileSystem small(dir.path(), 8 << 20, FsKind::kExt4Loop);
  if (!small.mounted()) GTEST_SKIP() << small.why_not();
  FillStoreOnSmallFileSystem(dir);
}

// ---- TLS ----

std::string Target(const ServerProcess& server) {
  return "127.0.0.1:" + std::to_string(server.port());
}

// `openssl s_client ... -connect TARGET` with no input: it handshakes and leaves.
RunResult SClient(const std::string& target, std::vector<std::string> options) {
  std::vector<std::string> argv{"openssl", "s_client", "-connect", target};
  argv.insert(argv.end(), options.begin(), options.end());
  return RunProgram(argv);
}

// The suite s_client reports ("New, TLSv1.3, Cipher is X"), or "" / "(NONE)".
std::string NegotiatedCipher(const RunResult& r) {
  const std::string marker = "Cipher is ";
  size_t at = r.out.find(marker);
  if (at == std::string::npos) return "";
  size_t end = r.out.find('\n', at);
  return r.out.substr(at + marker.size(), end - at - marker.size());
}

// ---- a file that repeats one chunk ----

// A disk image is mostly zeros: every 1 MiB chunk of a file of zeros has the same id. The file
// is logged by `add` and by `submit` (the one upload chunk read once per place it holds), and
// `cat` gives back every byte.
TEST(FaultsTest, AFileOfZerosRepeatingOneChunkIsLoggedByAddAndSubmit) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  Token submitter = MakeToken(node.data, "submitter", {kCase});
  Token admin = MakeToken(node.data, "admin");
  const fs::path zeros = dir / "disk.img";
  const std::string content(3 << 20, '\0');
  WriteFile(zeros, content);

  auto cat = [&](const std::string& entry_id) {
    fs::path out = dir / ("cat-" + entry_id);
    RunResult r = RunProgram({"sh", "-c",
                              "exec " + std::string(KHRONIKA_BINARY) + " cat --data '" +
                                  node.data.string() + "' " + entry_id + " disk.img > '" +
                                  out.string() + "'"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ReadFile(out);
  };

  RunResult add = RunKhronika({"add", "--data", node.data.string(), "--key", node.key.string(),
                               "--case", kCase, "--json", zeros.string()});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const std::string added = json::parse(add.out)["entry_id"];
  EXPECT_TRUE(cat(added) == content) << "cat of the added file of zeros differs";

  ServerProcess server(node.data);
  ASSERT_TRUE(server.started());
  RunResult submit = RunKhronika(SubmitArgs(server, submitter.secret, node.key, zeros));
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string submitted = json::parse(submit.out)["entry_id"];
  EXPECT_NE(submitted, added);
  HttpReply got = Get(server, "/v1/entries/" + submitted + "/files/0/content", admin.secret);
  EXPECT_EQ(got.status, 200) << got.Describe();
  EXPECT_TRUE(got.body == content) << "GET of the submitted file of zeros differs";
  EXPECT_TRUE(cat(submitted) == content) << "cat of the submitted file of zeros differs";
  RunResult verify = RunKhronika({"verify", "--data", node.data.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST(FaultsTlsTest, ServerOffersOnlyTheTls13AeadSuites) {
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  const std::set<std::string> aead = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                      "TLS_CHACHA20_POLY1305_SHA256"};

  RunResult plain = SClient(Target(server), {"-tls1_3"});
  ASSERT_EQ(plain.exit_code, 0) << plain.out << plain.err;
  EXPECT_NE(plain.out.find("New, TLSv1.3, Cipher is "), std::string::npos) << plain.out;
  EXPECT_TRUE(aead.count(NegotiatedCipher(plain))) << NegotiatedCipher(plain);

  // Each AEAD suite on its own is accepted...
  for (const std::string& suite : aead) {
    RunResult r = SClient(Target(server), {"-tls1_3", "-ciphersuites", suite});
    EXPECT_EQ(r.exit_code, 0) << suite << "\n" << r.out << r.err;
    EXPECT_EQ(NegotiatedCipher(r), suite) << r.out;
  }
  // ...and the CCM suites are not: CCM_8 has a 64-bit tag, and neither is needed.
  for (const std::string suite : {"TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_SHA256"}) {
    RunResult r = SClient(Target(server), {"-tls1_3", "-ciphersuites", suite});
    EXPECT_NE(r.exit_code, 0) << suite << " was accepted:\n" << r.out;
    EXPECT_EQ(r.out.find("BEGIN CERTIFICATE"), std::string::npos) << r.out;
    EXPECT_NE(NegotiatedCipher(r), suite) << r.out;
  }
  // No TLS 1.2 suite either, AEAD or not, even when the client offers nothing else.
  RunResult gcm12 =
      SClient(Target(server), {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"});
  EXPECT_NE(gcm12.exit_code, 0) << gcm12.out;
  RunResult cbc12 = SClient(Target(server), {"-no_tls1_3", "-cipher", "ECDHE-ECDSA-AES128-SHA"});
  EXPECT_NE(cbc12.exit_code, 0) << cbc12.out;
  EXPECT_EQ(Get(server, "/healthz").status, 200);
  EXPECT_TRUE(server.Running());
}

TEST(FaultsTlsTest, RenegotiationIsNeverPossible) {
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  // Renegotiation exists only up to TLS 1.2, and a client that wants it (even the insecure
  // legacy kind) never gets a connection.
  for (const std::vector<std::string>& options :
       {std::vector<std::string>{"-tls1_2", "-legacy_renegotiation"},
        std::vector<std::string>{"-no_tls1_3", "-legacy_renegotiation"},
        std::vector<std::string>{"-tls1_2", "-legacy_server_connect"}}) {
    RunResult r = SClient(Target(server), options);
    EXPECT_NE(r.exit_code, 0) << options[0] << " " << options[1] << ":\n" << r.out;
    EXPECT_EQ(r.out.find("BEGIN CERTIFICATE"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Secure Renegotiation IS supported"), std::string::npos) << r.out;
  }
  // Over TLS 1.3, s_client reports no renegotiation at all.
  RunResult r = SClient(Target(server), {"-tls1_3"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("Secure Renegotiation IS NOT supported"), std::string::npos) << r.out;
  EXPECT_TRUE(server.Running());
}

// `openssl s_server` with the node's own certificate, so that a pinned client trusts it. It
// answers every line with the line reversed (-rev), which no HTTP client takes for an answer.
class FakeNode {
 public:
  FakeNode(const fs::path& data, std::vector<std::string> options) {
    std::vector<std::string> argv{"openssl",
                                  "s_server",
                                  "-accept",
                                  "127.0.0.1:0",
                                  "-rev",
                                  "-cert",
                                  (data / "tls.crt").string(),
                                  "-key",
                                  (data / "tls.key").string()};
    argv.insert(argv.end(), options.begin(), options.end());
    pid_ = SpawnProgram(argv, logs_ / "out", logs_ / "err");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out = ReadFile(logs_ / "out");
      size_t at = out.find("ACCEPT 127.0.0.1:");
      size_t end = out.find('\n', at);
      if (at != std::string::npos && end != std::string::npos) {
        port_ = std::stoi(out.substr(at + 17, end - at - 17));
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "openssl s_server did not start: " << ReadFile(logs_ / "err");
  }
  ~FakeNode() {
    ::kill(pid_, SIGTERM);
    WaitProgram(pid_);
  }
  FakeNode(const FakeNode&) = delete;
  FakeNode& operator=(const FakeNode&) = delete;
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  TempDir logs_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST(FaultsTlsTest, ClientSpeaksOnlyTls13WithAeadSuites) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  RunResult id = RunKhronika({"id", "--data", node.data.string(), "--json"});
  ASSERT_EQ(id.exit_code, 0) << id.err;
  const std::string pin = "sha256:" + json::parse(id.out)["cert_sha256"].get<std::string>();
  WriteFile(dir / "statement.txt", "for the node only\n");
  // `timeout`: a client that waited for an answer s_server never sends would hang the test.
  auto khronika = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"timeout", "60", KHRONIKA_BINARY});
    return RunProgram(args);
  };
  auto submit = [&](const FakeNode& fake) {
    return khronika({"submit", "--node", fake.url(), "--pin", pin, "--token", "khr_x", "--key",
                     node.key.string(), "--case", "c1", (dir / "statement.txt").string()});
  };

  {  // A TLS 1.2 node: no handshake.
    FakeNode fake(node.data, {"-tls1_2"});
    ASSERT_NE(fake.port(), 0);
    RunResult r = submit(fake);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("TLS handshake"), std::string::npos) << r.err;
  }
  {  // A TLS 1.3 node that only has a CCM suite: no handshake either.
    FakeNode fake(node.data, {"-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"});
    ASSERT_NE(fake.port(), 0);
    RunResult r = submit(fake);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("TLS handshake"), std::string::npos) << r.err;
  }
  {  // The control: TLS 1.3 with an AEAD suite gets through TLS and the pin, and fails only on
     // HTTP (s_server is no Khronika node).
    FakeNode fake(node.data, {"-tls1_3"});
    ASSERT_NE(fake.port(), 0);
    RunResult r = submit(fake);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err.find("TLS handshake"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("does not match the pinned"), std::string::npos) << r.err;
    // Its first request: the small file travels inside the entry's POST.
    EXPECT_NE(r.err.find("POST /v1/entries"), std::string::npos) << r.err;
  }
  {  // The peer-to-peer client (mutual TLS, `khronika sync`) is the same client: a TLS 1.2
     // partner is not pulled from.
    FakeNode fake(node.data, {"-tls1_2", "-verify", "1"});
    ASSERT_NE(fake.port(), 0);
    TempDir other;
    LocalNode puller = MakeNodeWithAuthor(other);
    RunResult add =
        RunKhronika({"peer", "add", "--data", puller.data.string(), "--url", fake.url(), "--id",
                     json::parse(id.out)["node_id"], "--cert-sha256", pin.substr(7)});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    RunResult sync = khronika({"sync", "--data", puller.data.string()});
    EXPECT_NE(sync.out + sync.err, "");
    EXPECT_NE((sync.out + sync.err).find("TLS handshake"), std::string::npos)
        << sync.out << sync.err;
  }
}

}  // namespace
}  // namespace khronika::testing
