// Files through the real server: `khronika submit` and `khronika get` round trips, a 300 MiB
// file with the server's memory staying flat, Range requests, and resumed uploads that send only
// the chunks the node lacks.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

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

  RunResult submit = node.Submit(node.admin().secret, "case-1", files, {"--meta", "place=Kharkiv"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  json receipt = json::parse(submit.out);
  EXPECT_EQ(receipt["index"], 0);
  EXPECT_EQ(receipt["tree_size"], 1);
  EXPECT_EQ(receipt["chunks_total"], 0 + 0 + 5 + 2 + 2 + 1);  // note 1, empty 0
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

  RunResult submit = node.Submit(submitter.secret, "case-u", {file});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  json receipt = json::parse(submit.out);
  EXPECT_EQ(receipt["chunks_total"], 7);
  EXPECT_EQ(receipt["chunks_sent"], 7 - sent_by_hand.size());

  // The same file again (say, in another entry): sealing deleted the plaintext, so it is sent
  // again, whole (format 2: the origin keeps no plaintext once an entry is sealed).
  RunResult repeat = node.Submit(submitter.secret, "case-u", {file}, {"--meta", "copy=2"});
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

}  // namespace
}  // namespace khronika::testing
