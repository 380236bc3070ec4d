// Files through the real server: `khronika submit` and `khronika get` round trips, a 300 MiB
// file with the server's memory staying flat, Range requests, resumed uploads that send only
// the chunks the node lacks, and `submit --each` (one entry per file).
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/schemas/sealed_objects.h"
#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;
constexpr uint64_t kMiB = 1 << 20;

std::string EntryIdOf(const RunResult& submit) {
  json j = json::parse(submit.out, nullptr, false);
  if (!j.is_object() || !j.contains("entry_id")) return "";
  return j["entry_id"];
}

// The index of the file called `name` in entry `entry_id` (GET /v1/entries/{id}), as the path
// of its content names it.
std::string FileIndexOf(ServerProcess& server, const std::string& token,
                        const std::string& entry_id, const std::string& name) {
  HttpReply r = Get(server, "/v1/entries/" + entry_id, token);
  EXPECT_EQ(r.status, 200) << r.Describe();
  json entry = r.Json();
  for (const json& f : entry["files"]) {
    if (f["descriptor"]["name"] == name) return std::to_string(f["index"].get<uint64_t>());
  }
  ADD_FAILURE() << "no file " << name << " in " << r.body;
  return "";
}

TEST(ServerTransferTest, SubmitAndGetRoundTrip) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  WriteFile(node / "note.txt", "witness statement, page 1\n");
  WriteFile(node / "empty.bin", "");
  WritePseudoRandomFile(node / "video.mp4", 5 * kMiB, 11);
  WritePseudoRandomFile(node / "photo.jpg", kMiB + 1, 12);  // one full chunk and one byte
  WritePseudoRandomFile(node / "exact.bin", 2 * kMiB, 13);  // exactly two chunks
  std::vector<std::filesystem::path> files = {node / "note.txt", node / "empty.bin",
                                              node / "video.mp4", node / "photo.jpg",
                                              node / "exact.bin"};

  // The admin token's grant is a custody record at the head of the log.
  const uint64_t before = LogRecordsJson(node.data()).size();
  RunResult submit = node.Submit(node.admin().secret, "case-1", files, {"--meta", "place=Kharkiv"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  json receipt = json::parse(submit.out);
  EXPECT_EQ(receipt["index"], before);
  EXPECT_EQ(receipt["tree_size"], before + 1);
  // The video is over what may travel inside the entry's POST, so every file of the entry goes
  // through a sealing, a request a MiB (one for the note, one for the empty file), and the node
  // seals each piece as it arrives: no plaintext upload chunk is ever stored.
  EXPECT_EQ(receipt["sealed_on_arrival"], true);
  EXPECT_EQ(receipt["chunks_total"], 1 + 1 + 5 + 2 + 2);
  EXPECT_EQ(receipt["chunks_sent"], 1 + 1 + 5 + 2 + 2);
  EXPECT_EQ(receipt["inline_files"], 0);
  std::string entry_id = receipt["entry_id"];
  ASSERT_EQ(entry_id.size(), 64u);

  RunResult get =
      RunKhronika({"get", "--node", node.server().url(), "--pin", node.server().pin(), "--token",
                   node.admin().secret, entry_id, "--out", (node / "out").string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  for (const auto& f : files) {
    std::filesystem::path copy = node / "out" / f.filename();
    ASSERT_TRUE(std::filesystem::exists(copy)) << copy;
    EXPECT_EQ(ReadFile(copy), ReadFile(f)) << f.filename();
    EXPECT_FALSE(std::filesystem::exists(copy.string() + ".part"));
  }

  // A reader token gets the same bytes through the API, and the log shows one record.
  Token reader = MakeToken(node.data(), "reader", {"case-1"});
  std::string mid = FileIndexOf(node.server(), reader.secret, entry_id, "video.mp4");
  HttpReply content = Get(node.server(), "/v1/entries/" + entry_id + "/files/" + mid + "/content", reader.secret);
  EXPECT_EQ(content.status, 200) << content.Describe();
  EXPECT_TRUE(content.body == ReadFile(node / "video.mp4"));
  EXPECT_EQ(content.Header("X-Khronika-Sha256"), HexSha256(ReadFile(node / "video.mp4")));

  // get refuses to overwrite what is already there.
  RunResult again =
      RunKhronika({"get", "--node", node.server().url(), "--pin", node.server().pin(), "--token",
                   node.admin().secret, entry_id, "--out", (node / "out").string()});
  EXPECT_NE(again.exit_code, 0);
  std::vector<json> log = LogJson(node.data());
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["entry_id"], entry_id);
  RunResult verify = RunKhronika({"verify", "--data", node.data().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

// Samples the server's anonymous memory while a transfer runs: VmHWM also counts the LMDB file
// pages the server maps, which the kernel may drop at any time, while RssAnon is what the
// server allocated.
class MemorySampler {
 public:
  explicit MemorySampler(pid_t pid) : pid_(pid), thread_([this] { Run(); }) {}
  ~MemorySampler() { Stop(); }
  void Stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long peak_anon_kib() const { return peak_anon_; }

 private:
  void Run() {
    while (!done_) {
      long a = ProcStatusKiB(pid_, "RssAnon");
      if (a > peak_anon_) peak_anon_ = a;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  pid_t pid_;
  std::atomic<bool> done_{false};
  std::atomic<long> peak_anon_{0};
  std::thread thread_;
};

TEST(ServerTransferTest, LargeFileKeepsServerMemoryBounded) {
  constexpr uint64_t kSize = 300 * kMiB;
  constexpr long kMaxGrowthKiB = 96 * 1024;
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  // Warm the server up (TLS, thread pools, LMDB) so the baseline is a serving server.
  WriteFile(node / "warm.txt", "warm up\n");
  ASSERT_EQ(node.Submit(node.admin().secret, "big", {node / "warm.txt"}).exit_code, 0);
  std::filesystem::path file = node / "footage.mp4";
  WritePseudoRandomFile(file, kSize, 300);

  long hwm_before = ProcStatusKiB(server.pid(), "VmHWM");
  long anon_before = ProcStatusKiB(server.pid(), "RssAnon");
  ASSERT_GT(hwm_before, 0);
  MemorySampler sampler(server.pid());
  auto t0 = std::chrono::steady_clock::now();
  RunResult submit = node.Submit(node.admin().secret, "big", {file});
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  json receipt = json::parse(submit.out);
  EXPECT_EQ(receipt["chunks_sent"], 300);
  EXPECT_EQ(receipt["chunks_total"], 300);
  long hwm_after_upload = ProcStatusKiB(server.pid(), "VmHWM");

  RunResult get =
      RunKhronika({"get", "--node", server.url(), "--pin", server.pin(), "--token",
                   node.admin().secret, receipt["entry_id"], "--out", (node / "out").string()});
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_EQ(get.exit_code, 0) << get.err;
  sampler.Stop();
  long hwm_after = ProcStatusKiB(server.pid(), "VmHWM");
  RunResult cmp = RunProgram({"cmp", file.string(), (node / "out" / "footage.mp4").string()});
  EXPECT_EQ(cmp.exit_code, 0) << cmp.out << cmp.err;

  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::cout << "300 MiB: upload " << secs(t1 - t0) << " s, download " << secs(t2 - t1)
            << " s; server VmHWM " << hwm_before / 1024 << " -> " << hwm_after_upload / 1024
            << " (after upload) -> " << hwm_after / 1024 << " MiB; RssAnon " << anon_before / 1024
            << " -> peak " << sampler.peak_anon_kib() / 1024 << " MiB; client peaks: submit "
            << submit.peak_rss_kib / 1024 << " MiB, get " << get.peak_rss_kib / 1024 << " MiB\n";
  EXPECT_LT(hwm_after - hwm_before, kMaxGrowthKiB)
      << "the server's peak RSS grew by " << (hwm_after - hwm_before) / 1024 << " MiB";
  EXPECT_LT(sampler.peak_anon_kib() - anon_before, kMaxGrowthKiB);
  // The clients stream too.
  EXPECT_LT(submit.peak_rss_kib, kMaxGrowthKiB);
  EXPECT_LT(get.peak_rss_kib, kMaxGrowthKiB);
}

TEST(ServerTransferTest, RangeRequests) {
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  constexpr uint64_t kSize = 5 * kMiB + 1234;
  WritePseudoRandomFile(node / "video.mp4", kSize, 77);
  std::string content = ReadFile(node / "video.mp4");
  RunResult submit = node.Submit(node.admin().secret, "case-r", {node / "video.mp4"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  Token reader = MakeToken(node.data(), "reader", {"case-r"});
  std::string mid = FileIndexOf(server, reader.secret, EntryIdOf(submit), "video.mp4");
  ASSERT_EQ(mid, "0");
  std::string path = "/v1/entries/" + EntryIdOf(submit) + "/files/" + mid + "/content";
  std::string size = std::to_string(kSize);

  auto ranged = [&](const std::string& range) {
    HttpRequest r;
    r.path = path;
    r.token = reader.secret;
    r.headers = {"Range: " + range};
    return Curl(server, r);
  };
  struct Case {
    std::string range;
    uint64_t begin, end;  // [begin, end)
  };
  std::vector<Case> cases = {
      {"bytes=0-0", 0, 1},
      {"bytes=100-199", 100, 200},
      {"bytes=1048000-1049000", 1048000, 1049001},  // across the first chunk boundary
      {"bytes=1048576-3145727", kMiB, 3 * kMiB},    // exactly chunks 1 and 2
      {"bytes=5000000-", 5000000, kSize},           // open-ended
      {"bytes=-500", kSize - 500, kSize},           // suffix
      {"bytes=-1", kSize - 1, kSize},
      {"bytes=5242000-99999999", 5242000, kSize},  // end clipped to the file
      {"bytes=-99999999", 0, kSize},               // suffix longer than the file: all of it
  };
  for (const Case& c : cases) {
    HttpReply r = ranged(c.range);
    EXPECT_EQ(r.status, 206) << c.range << ": " << r.Describe();
    EXPECT_EQ(r.body.size(), c.end - c.begin) << c.range;
    EXPECT_TRUE(r.body == content.substr(c.begin, c.end - c.begin)) << c.range;
    EXPECT_EQ(r.Header("Content-Range"),
              "bytes " + std::to_string(c.begin) + "-" + std::to_string(c.end - 1) + "/" + size)
        << c.range;
    EXPECT_EQ(r.Header("Content-Length"), std::to_string(c.end - c.begin)) << c.range;
  }
  // Beyond the end, or nonsense: 416 with the size, as RFC 9110 says.
  for (std::string bad : {"bytes=" + size + "-", "bytes=" + size + "-" + std::to_string(kSize + 10),
                          std::string("bytes=-0"), std::string("bytes=9999999999-")}) {
    HttpReply r = ranged(bad);
    EXPECT_EQ(r.status, 416) << bad << ": " << r.Describe();
    EXPECT_EQ(r.Header("Content-Range"), "bytes */" + size) << bad;
    EXPECT_TRUE(r.IsJsonError()) << bad << ": " << r.body;
  }
  // No Range: the whole file, saying that ranges are accepted.
  HttpReply whole = Get(server, path, reader.secret);
  EXPECT_EQ(whole.status, 200) << whole.Describe();
  EXPECT_TRUE(whole.body == content);
  EXPECT_EQ(whole.Header("Accept-Ranges"), "bytes");
  // curl's own --range option, resuming a download half way.
  HttpRequest resume;
  resume.path = path;
  resume.token = reader.secret;
  resume.extra_args = {"--range", "2621440-"};
  HttpReply half = Curl(server, resume);
  EXPECT_EQ(half.status, 206);
  EXPECT_TRUE(half.body == content.substr(2621440));
  EXPECT_TRUE(server.Running());
}

// `submit --resumable`: upload chunks that the node keeps until the entry is sealed.
TEST(ServerTransferTest, ResumedUploadSendsOnlyMissingChunks) {
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  constexpr uint64_t kSize = 6 * kMiB + 4321;  // 7 chunks
  std::filesystem::path file = node / "interview.mp4";
  WritePseudoRandomFile(file, kSize, 5);
  std::string content = ReadFile(file);
  Token submitter = MakeToken(node.data(), "submitter", {"case-u"});

  // An upload that died after three chunks (1, 2 and 5), sent by hand.
  std::vector<size_t> sent_by_hand = {1, 2, 5};
  std::vector<std::string> ids;
  for (uint64_t off = 0; off < kSize; off += kMiB)
    ids.push_back(HexSha256(content.substr(off, kMiB)));
  ASSERT_EQ(ids.size(), 7u);
  for (size_t i : sent_by_hand) {
    HttpRequest put;
    put.method = "PUT";
    put.path = "/v1/chunks/" + ids[i];
    put.token = submitter.secret;
    put.body = content.substr(i * kMiB, kMiB);
    put.headers = {"Content-Type: application/octet-stream"};
    HttpReply r = Curl(server, put);
    EXPECT_EQ(r.status, 201) << r.Describe();
    EXPECT_EQ(r.Json()["stored"], true);
    // Sending it again is harmless, and answered the same (an upload reveals nothing).
    HttpReply again = Curl(server, put);
    EXPECT_EQ(again.status, 201) << again.Describe();
    EXPECT_EQ(again.Json()["stored"], true);
  }
  HttpRequest missing;
  missing.method = "POST";
  missing.path = "/v1/chunks/missing";
  missing.token = submitter.secret;
  missing.body = json{{"ids", ids}}.dump();
  HttpReply m = Curl(server, missing);
  ASSERT_EQ(m.status, 200) << m.Describe();
  EXPECT_EQ(m.Json()["missing"], json(std::vector<std::string>{ids[0], ids[3], ids[4], ids[6]}));

  RunResult submit = node.Submit(submitter.secret, "case-u", {file}, {"--resumable"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  json receipt = json::parse(submit.out);
  EXPECT_EQ(receipt["chunks_total"], 7);
  EXPECT_EQ(receipt["chunks_sent"], 7 - sent_by_hand.size());

  // The same file again (say, in another entry): sealing deleted the plaintext, so it is sent
  // again, whole (format 2: the origin keeps no plaintext once an entry is sealed).
  RunResult repeat =
      node.Submit(submitter.secret, "case-u", {file}, {"--meta", "copy=2", "--resumable"});
  ASSERT_EQ(repeat.exit_code, 0) << repeat.err;
  EXPECT_EQ(json::parse(repeat.out)["chunks_sent"], 7);

  // And the stored file is whole.
  RunResult get =
      RunKhronika({"get", "--node", server.url(), "--pin", server.pin(), "--token",
                   node.admin().secret, receipt["entry_id"], "--out", (node / "out").string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_TRUE(ReadFile(node / "out" / "interview.mp4") == content);
  EXPECT_EQ(LogJson(node.data()).size(), 2u);
}

// A download the node cannot finish (a sealed chunk damaged on its disk, after the first MiB
// has gone out) fails, and leaves neither the file nor its .part behind: the bytes already
// written were never the file.
TEST(ServerTransferTest, DownloadCutShortLeavesNothingBehind) {
  TempDir dir;
  LocalNode local = MakeNodeWithAuthor(dir);
  WritePseudoRandomFile(dir / "footage.mp4", 3 * kMiB + 5, 41);
  RunResult add = RunKhronika({"add", "--data", local.data.string(), "--key", local.key.string(),
                               "--case", "case-d", (dir / "footage.mp4").string()});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  std::vector<json> log = LogJson(local.data);
  ASSERT_EQ(log.size(), 1u);
  auto sealed = DecodeSealedEntry(*FromHex(log[0]["object_hex"].get<std::string>()));
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  ASSERT_GE(sealed->files[0].chunks.size(), 3u);
  std::string bytes;
  {
    auto node = Node::Open(local.data, StoreOptions{.read_only = true});
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    auto chunk = ReadChunk((*node)->store(), sealed->files[0].chunks[2]);
    ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
    bytes.assign(AsChars(*chunk));
  }
  // Sealed chunks are stored as they are: flip a bit in every copy of some of this one's bytes.
  const std::string needle = bytes.substr(4096, 64);
  std::string db = ReadFile(local.data / "store" / "data.mdb");
  int flipped = 0;
  for (size_t pos = db.find(needle); pos != std::string::npos; pos = db.find(needle, pos + 1)) {
    db[pos + 10] = static_cast<char>(db[pos + 10] ^ 0x01);
    ++flipped;
  }
  ASSERT_GE(flipped, 1);
  WriteFile(local.data / "store" / "data.mdb", db);

  ServerProcess server(local.data);
  ASSERT_TRUE(server.started());
  Token reader = MakeToken(local.data, "reader");
  std::filesystem::path out = dir / "out";
  RunResult get = RunKhronika({"get", "--node", server.url(), "--pin", server.pin(), "--token",
                               reader.secret, log[0]["entry_id"], "--out", out.string()});
  EXPECT_NE(get.exit_code, 0) << get.out;
  EXPECT_EQ(get.out.find("verified"), std::string::npos) << get.out;
  size_t left = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(out)) ++left;
  EXPECT_EQ(left, 0u) << "get left files in " << out;
  EXPECT_TRUE(server.Running());
}

// The lines of `text` that parse as JSON objects.
std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

// One file's chunks over several connections at once, a file over a single one, and files of
// every awkward size: the node stores each whole, and get brings back the same bytes.
TEST(ServerTransferTest, UploadOverSeveralConnections) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  WritePseudoRandomFile(node / "long.mp4", 11 * kMiB + 7, 21);  // 12 chunks, 3 batches
  WritePseudoRandomFile(node / "short.bin", 3 * kMiB, 22);
  for (const std::string connections : {"1", "3", "16"}) {
    RunResult submit = node.Submit(node.admin().secret, "case-c",
                                   {node / "long.mp4", node / "short.bin"},
                                   {"--connections", connections});
    ASSERT_EQ(submit.exit_code, 0) << connections << ": " << submit.err;
    json receipt = json::parse(submit.out);
    EXPECT_EQ(receipt["chunks_total"], 15);
    EXPECT_EQ(receipt["chunks_sent"], 15);
    std::filesystem::path out = node / ("out-" + connections);
    RunResult get = RunKhronika({"get", "--node", node.server().url(), "--pin", node.server().pin(),
                                 "--token", node.admin().secret, receipt["entry_id"], "--out",
                                 out.string()});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_TRUE(ReadFile(out / "long.mp4") == ReadFile(node / "long.mp4"));
    EXPECT_TRUE(ReadFile(out / "short.bin") == ReadFile(node / "short.bin"));
  }
  RunResult bad = node.Submit(node.admin().secret, "case-c", {node / "short.bin"},
                              {"--connections", "0"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_EQ(LogJson(node.data()).size(), 3u);
  RunResult verify = RunKhronika({"verify", "--data", node.data().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

// A node that takes fewer connections than the client asks for: the upload carries on over
// those it got.
TEST(ServerTransferTest, UploadCarriesOnOverFewerConnectionsThanAskedFor) {
  ServedNode node("max_connections = 2\n");
  ASSERT_TRUE(node.server().started());
  WritePseudoRandomFile(node / "long.mp4", 13 * kMiB, 23);
  RunResult submit = node.Submit(node.admin().secret, "case-c", {node / "long.mp4"},
                                 {"--connections", "8"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  json receipt = json::parse(submit.out);
  EXPECT_EQ(receipt["chunks_sent"], 13);
  RunResult get = RunKhronika({"get", "--node", node.server().url(), "--pin", node.server().pin(),
                               "--token", node.admin().secret, receipt["entry_id"], "--out",
                               (node / "out").string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_TRUE(ReadFile(node / "out" / "long.mp4") == ReadFile(node / "long.mp4"));
}

// With --resumable, small files go inside the entry's POST up to 2 MiB of them per entry; the
// rest of an entry's small files go as upload chunks. Without it, an entry that does not fit
// inline goes whole through a sealing. Either way get brings back the same bytes.
TEST(ServerTransferTest, SmallFilesGoInlineUpToTheEntrysBudget) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < 40; ++i) {
    files.push_back(node / ("page-" + std::to_string(i) + ".jpg"));
    // Distinct seeds after WritePseudoRandomFile's `seed | 1`: every file its own content.
    WritePseudoRandomFile(files.back(), 60 * 1024, 1000 + 2 * i);
  }
  files.push_back(node / "scan.tif");
  WritePseudoRandomFile(files.back(), 64 * 1024 + 1, 99);  // one byte over: never inline
  RunResult sealed = node.Submit(node.admin().secret, "case-i", files);
  ASSERT_EQ(sealed.exit_code, 0) << sealed.err;
  EXPECT_EQ(json::parse(sealed.out)["sealed_on_arrival"], true);
  EXPECT_EQ(json::parse(sealed.out)["inline_files"], 0);
  EXPECT_EQ(json::parse(sealed.out)["chunks_sent"], 41);
  RunResult submit = node.Submit(node.admin().secret, "case-i", files, {"--resumable"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  json receipt = json::parse(submit.out);
  EXPECT_EQ(receipt["sealed_on_arrival"], false);
  // 34 files of 60 KiB fill 2,088,960 of the 2,097,152 bytes; the 35th does not fit.
  EXPECT_EQ(receipt["inline_files"], 34);
  EXPECT_EQ(receipt["chunks_total"], 6 + 1);
  EXPECT_EQ(receipt["chunks_sent"], 6 + 1);
  RunResult get = RunKhronika({"get", "--node", node.server().url(), "--pin", node.server().pin(),
                               "--token", node.admin().secret, receipt["entry_id"], "--out",
                               (node / "out").string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  for (const auto& f : files) {
    EXPECT_TRUE(ReadFile(node / "out" / f.filename()) == ReadFile(f)) << f;
  }
  RunResult verify = RunKhronika({"verify", "--data", node.data().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST(ServerTransferTest, SubmitEachMakesOneEntryPerFile) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < 12; ++i) {
    files.push_back(node / ("statement-" + std::to_string(i) + ".txt"));
    WriteFile(files.back(), "statement " + std::to_string(i) + "\n");
  }
  files.push_back(node / "empty.bin");
  WriteFile(files.back(), "");
  files.push_back(node / "clip.mp4");
  WritePseudoRandomFile(files.back(), 5 * kMiB + 3, 31);
  Token submitter = MakeToken(node.data(), "submitter", {"case-e"});

  RunResult submit = node.Submit(submitter.secret, "case-e", files,
                                 {"--each", "--connections", "3", "--meta", "batch=1"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  std::vector<json> receipts = JsonLines(submit.out);
  ASSERT_EQ(receipts.size(), files.size()) << submit.out;
  EXPECT_NE(submit.err.find("submitted 14 of 14 files"), std::string::npos) << submit.err;
  std::set<std::string> entry_ids, named;
  for (const json& r : receipts) {
    entry_ids.insert(r["entry_id"].get<std::string>());
    named.insert(r["file"].get<std::string>());
  }
  EXPECT_EQ(entry_ids.size(), files.size());
  EXPECT_EQ(named.size(), files.size());
  for (const json& r : receipts) {
    // The statements and the empty file went inside their entries' POST; the clip as chunks.
    const bool clip = r["file"].get<std::string>().ends_with("clip.mp4");
    EXPECT_EQ(r["inline_files"], clip ? 0 : 1) << r["file"];
    EXPECT_EQ(r["chunks_total"], clip ? 6 : 0) << r["file"];
  }
  std::vector<json> log = LogJson(node.data());
  ASSERT_EQ(log.size(), files.size());
  std::set<std::string> logged;
  for (const json& l : log) logged.insert(l["entry_id"].get<std::string>());
  EXPECT_EQ(logged, entry_ids);

  // Each entry holds its own file and nothing else, and is the author's with the metadata.
  for (const json& r : receipts) {
    std::filesystem::path source = r["file"].get<std::string>();
    std::filesystem::path out = node / "out" / r["entry_id"].get<std::string>();
    RunResult get = RunKhronika({"get", "--node", node.server().url(), "--pin", node.server().pin(),
                                 "--token", node.admin().secret, r["entry_id"], "--out",
                                 out.string()});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_NE(get.out.find("batch: 1"), std::string::npos) << get.out;
    EXPECT_TRUE(ReadFile(out / source.filename()) == ReadFile(source)) << source;
    size_t count = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(out)) ++count;
    EXPECT_EQ(count, 1u) << out;
  }
  RunResult verify = RunKhronika({"verify", "--data", node.data().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST(ServerTransferTest, SubmitEachStopsAtAFailureAndKeepsWhatWasAcknowledged) {
  ServedNode node;
  ASSERT_TRUE(node.server().started());
  std::vector<std::filesystem::path> files;
  for (const char* name : {"a.txt", "b.txt", "gone.txt", "d.txt", "e.txt"}) {
    files.push_back(node / name);
    if (std::string(name) != "gone.txt") WriteFile(files.back(), std::string(name) + "\n");
  }
  // One connection takes the files in order: a and b are acknowledged, gone.txt cannot be
  // read, and neither d nor e is started.
  RunResult submit =
      node.Submit(node.admin().secret, "case-f", files, {"--each", "--connections", "1"});
  EXPECT_NE(submit.exit_code, 0);
  EXPECT_NE(submit.err.find("gone.txt"), std::string::npos) << submit.err;
  EXPECT_NE(submit.err.find("submitted 2 of 5 files"), std::string::npos) << submit.err;
  std::vector<json> receipts = JsonLines(submit.out);
  ASSERT_EQ(receipts.size(), 2u) << submit.out;
  EXPECT_EQ(receipts[0]["file"], files[0].string());
  EXPECT_EQ(receipts[1]["file"], files[1].string());
  std::vector<json> log = LogJson(node.data());
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["entry_id"], receipts[0]["entry_id"]);
  EXPECT_EQ(log[1]["entry_id"], receipts[1]["entry_id"]);

  // A token that may not submit to the case: the first file is refused, by name, and nothing
  // is logged.
  Token other = MakeToken(node.data(), "submitter", {"case-other"});
  RunResult refused = node.Submit(other.secret, "case-f", {files[0], files[1]},
                                  {"--each", "--connections", "1"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("a.txt"), std::string::npos) << refused.err;
  EXPECT_TRUE(JsonLines(refused.out).empty()) << refused.out;

  // A name no entry may carry is refused before anything is sent.
  WriteFile(node / "x..y.txt", "bad name\n");
  RunResult bad_name = node.Submit(node.admin().secret, "case-f", {files[0], node / "x..y.txt"},
                                   {"--each"});
  EXPECT_NE(bad_name.exit_code, 0);
  EXPECT_NE(bad_name.err.find("x..y.txt"), std::string::npos) << bad_name.err;
  EXPECT_TRUE(bad_name.out.empty()) << bad_name.out;
  // --each makes no entry that corrects another, and waits for no replicas.
  EXPECT_EQ(node.Submit(node.admin().secret, "case-f", {files[0]}, {"--each", "--replicas", "1"})
                .exit_code,
            2);
  EXPECT_EQ(LogJson(node.data()).size(), 2u);
  RunResult verify = RunKhronika({"verify", "--data", node.data().string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace khronika::testing
