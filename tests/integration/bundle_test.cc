// Court bundles end to end, with the real binary: `khronika export` over HTTPS (folder and .tar)
// and from a data directory, `khronika verify-bundle`, GNU tar and sha256sum on what they write;
// every export in the access log and every refusal out of it; each kind of tampering caught and
// named by file (three federated nodes, so that checkpoints carry cosignatures); and hostile
// file names and hostile archives that never become paths.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "server_fixture.h"

// The suite is named in lower case so that `ctest -R bundle` selects it (ctest names are
// SUITE.TEST and its regular expressions are case-sensitive).
namespace khronika::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kMiB = 1024 * 1024;

// The bundle grammar (docs/format-2.md section 8), written out independently of bundle_paths.cc.
const std::regex kBundleFile(
    "REPORT\\.md|MANIFEST\\.sha256|bundle\\.json"
    "|keys/authors/[0-9a-f]{64}\\.pem|keys/(origins|cosigners)/[0-9a-f]{64}\\.vkey"
    "|logs/[0-9a-f]{64}/checkpoint\\.note"
    "|records/[0-9a-f]{64}/[0-9]{20}/"
    "(record\\.bin|record\\.json|sealed_entry\\.bin|proof\\.json|link\\.key"
    "|entry\\.key|entry\\.bin|entry\\.json"
    "|files/(0|[1-9][0-9]{0,2})/(file\\.key|salt\\.hex|descriptor\\.bin|descriptor\\.json"
    "|content\\.[a-z0-9]{1,8}|sealed/(0|[1-9][0-9]{0,6})\\.bin))"
    "|custody/[0-9a-f]{64}/[0-9]{20}/"
    "(record\\.bin|custody_record\\.bin|proof\\.json|events/(0|[1-9][0-9]{0,2})\\.(key|json))");
const std::regex kBundleFolder(
    "keys(/(authors|origins|cosigners))?|logs(/[0-9a-f]{64})?"
    "|records(/[0-9a-f]{64}(/[0-9]{20}(/files(/(0|[1-9][0-9]{0,2})(/sealed)?)?)?)?)?"
    "|custody(/[0-9a-f]{64}(/[0-9]{20}(/events)?)?)?");

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// True if a line of `text` starts with "PATH: " (how verify-bundle names a problem's file).
bool NamesFile(const std::string& text, const std::string& path) {
  for (const std::string& line : Lines(text)) {
    if (line.rfind(path + ": ", 0) == 0) return true;
  }
  return false;
}

#define EXPECT_CAUGHT(run, path)                                                                  \
  do {                                                                                            \
    EXPECT_EQ((run).exit_code, 1) << (run).out << (run).err;                                      \
    EXPECT_TRUE(NamesFile((run).err, (path))) << "no stderr line starts with " << (path) << ":\n" \
                                              << (run).err;                                       \
    EXPECT_NE((run).out.find("bundle NOT verified"), std::string::npos) << (run).out;             \
  } while (0)

// The first line of `verify-bundle` (and of `export --node`'s check) on a sound bundle.
std::string Verified(const std::string& case_id, const std::string& counts) {
  return "bundle verified: case " + case_id + ", " + counts + " disclosed (";
}

RunResult ExportRemote(ServedNode& node, const std::string& token, const std::string& case_id,
                       const fs::path& out, bool tar = false,
                       const std::vector<std::string>& selection = {}) {
  std::vector<std::string> args{"export",
                                "--node",
                                node.server().url(),
                                "--pin",
                                node.server().pin(),
                                "--token",
                                token,
                                "--case",
                                case_id,
                                "--out",
                                out.string()};
  if (tar) args.push_back("--tar");
  args.insert(args.end(), selection.begin(), selection.end());
  return RunKhronika(args);
}

RunResult ExportLocal(const fs::path& data, const std::string& case_id, const fs::path& out,
                      bool tar = false) {
  std::vector<std::string> args{"export", "--data", data.string(), "--case",
                                case_id,  "--out",  out.string()};
  if (tar) args.push_back("--tar");
  return RunKhronika(args);
}

RunResult VerifyBundle(const fs::path& dir) { return RunKhronika({"verify-bundle", dir.string()}); }

// Every path under `dir`, relative; folders end in "/", links in "@" (never followed).
std::set<std::string> Tree(const fs::path& dir) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    std::string rel = it->path().lexically_relative(dir).generic_string();
    auto st = it->symlink_status();
    if (fs::is_symlink(st)) {
      out.insert(rel + "@");
    } else if (fs::is_directory(st)) {
      out.insert(rel + "/");
    } else {
      out.insert(rel);
    }
  }
  return out;
}

std::set<std::string> FilesOf(const std::set<std::string>& tree) {
  std::set<std::string> files;
  for (const std::string& p : tree) {
    if (p.back() != '/') files.insert(p);
  }
  return files;
}

// Every path of the tree is a file or a folder of the bundle grammar; no links, nothing else.
void ExpectOnlyBundlePaths(const fs::path& dir) {
  for (const std::string& p : Tree(dir)) {
    if (p.back() == '/') {
      EXPECT_TRUE(std::regex_match(p.substr(0, p.size() - 1), kBundleFolder)) << "folder " << p;
    } else {
      EXPECT_TRUE(std::regex_match(p, kBundleFile)) << "file " << p;
      EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir / p))) << p;
    }
  }
}

void FlipByte(const fs::path& path, size_t offset) {
  std::string data = ReadFile(path);
  ASSERT_LT(offset, data.size()) << path;
  data[offset] = static_cast<char>(data[offset] ^ 0x01);
  WriteFile(path, data);
}

// Replaces one base64 character of `line_prefix`'s line (at `at` bytes into the line) by another
// base64 character, so that the text still parses.
void ChangeBase64Char(const fs::path& path, const std::string& line_prefix, size_t at) {
  std::string text = ReadFile(path);
  size_t pos = line_prefix.empty() ? 0 : text.find(line_prefix);
  ASSERT_NE(pos, std::string::npos) << line_prefix << " in\n" << text;
  size_t i = pos + at;
  ASSERT_LT(i, text.find('\n', pos));
  text[i] = text[i] == 'A' ? 'B' : 'A';
  WriteFile(path, text);
}

// Rewrites the MANIFEST.sha256 line of `rel` with the file's current SHA-256: what someone who
// tampers with a file and knows the format would do.
void Reseal(const fs::path& dir, const std::string& rel) {
  std::string out;
  bool found = false;
  for (const std::string& line : Lines(ReadFile(dir / "MANIFEST.sha256"))) {
    if (line.size() > 66 && line.substr(66) == rel) {
      out += HexSha256(ReadFile(dir / rel)) + "  " + rel + "\n";
      found = true;
    } else {
      out += line + "\n";
    }
  }
  ASSERT_TRUE(found) << rel << " is not in MANIFEST.sha256";
  WriteFile(dir / "MANIFEST.sha256", out);
}

// Drops every MANIFEST.sha256 line whose path starts with `prefix`; how many.
int DropFromManifest(const fs::path& dir, const std::string& prefix) {
  std::string out;
  int dropped = 0;
  for (const std::string& line : Lines(ReadFile(dir / "MANIFEST.sha256"))) {
    if (line.size() > 66 && line.compare(66, prefix.size(), prefix) == 0) {
      ++dropped;
    } else {
      out += line + "\n";
    }
  }
  WriteFile(dir / "MANIFEST.sha256", out);
  return dropped;
}

// "records/<origin>/<index>" of every record in the bundle, in order.
std::vector<std::string> RecordDirs(const fs::path& dir) {
  std::vector<std::string> out;
  for (const std::string& p : Tree(dir)) {
    if (std::count(p.begin(), p.end(), '/') == 3 && p.rfind("records/", 0) == 0 &&
        p.back() == '/') {
      out.push_back(p.substr(0, p.size() - 1));
    }
  }
  return out;  // std::set order: by origin, then by zero-padded index
}

struct Evidence {
  std::string name;    // the submitted name, from the descriptor
  std::string sha256;  // from the descriptor
  std::string rel;     // records/<origin>/<index>/files/<n>/content.<ext>
};

// The disclosed files of a bundle, found through files/<n>/descriptor.json.
std::vector<Evidence> EvidenceIn(const fs::path& dir) {
  std::vector<Evidence> out;
  for (const std::string& record : RecordDirs(dir)) {
    if (!fs::exists(dir / record / "files")) continue;
    std::set<int> positions;
    for (const auto& f : fs::directory_iterator(dir / record / "files")) {
      positions.insert(std::stoi(f.path().filename().string()));
    }
    for (int n : positions) {
      const std::string folder = record + "/files/" + std::to_string(n);
      json d = json::parse(ReadFile(dir / folder / "descriptor.json"));
      Evidence e{d["name"], d["sha256"], ""};
      for (const auto& f : fs::directory_iterator(dir / folder)) {
        std::string file = f.path().filename().string();
        if (file.rfind("content.", 0) == 0) e.rel = folder + "/" + file;
      }
      EXPECT_FALSE(e.rel.empty()) << folder << " has no content.*";
      out.push_back(e);
    }
  }
  return out;
}

// Each disclosed file of the bundle is byte-identical to the submitted file of the same name, and
// exactly the submitted files are there.
void ExpectEvidence(const fs::path& dir, const std::map<std::string, fs::path>& submitted) {
  std::vector<Evidence> found = EvidenceIn(dir);
  std::multiset<std::string> names;
  for (const Evidence& e : found) {
    names.insert(e.name);
    auto it = submitted.find(e.name);
    if (it == submitted.end()) {
      ADD_FAILURE() << dir << ": " << e.rel << " is \"" << e.name << "\", which was not submitted";
      continue;
    }
    std::string content = ReadFile(dir / e.rel);
    EXPECT_TRUE(content == ReadFile(it->second)) << e.rel << " differs from " << it->second;
    EXPECT_EQ(HexSha256(content), e.sha256) << e.rel;
  }
  std::multiset<std::string> expected;
  for (const auto& [name, path] : submitted) expected.insert(name);
  EXPECT_EQ(names, expected) << dir;
}

// The export events of `case_id` in the node's access log: token ids, oldest first.
std::vector<std::string> ExportEvents(const fs::path& data, const std::string& case_id) {
  RunResult r = RunKhronika({"access-log", "--data", data.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> out;
  for (const std::string& line : Lines(r.out)) {
    json e = json::parse(line);
    if (e["action"] == "export" && e["case"] == case_id) out.push_back(e["token_id"]);
  }
  return out;
}

// A name with its unprintable bytes as \xNN, for messages.
std::string Printable(const std::string& name) {
  std::string out;
  for (char ch : name) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out.size() > 80 ? out.substr(0, 40) + "...(" + std::to_string(name.size()) + " bytes)"
                         : out;
}

// The "    cosigner HEX" lines verify-bundle prints under the line of log `origin`.
std::set<std::string> CosignersListed(const std::string& out, const std::string& origin) {
  std::set<std::string> members;
  bool in_log = false;
  for (const std::string& line : Lines(out)) {
    if (line.rfind("  log ", 0) == 0) in_log = line.rfind("  log " + origin + ": ", 0) == 0;
    if (in_log && line.rfind("    cosigner ", 0) == 0) members.insert(line.substr(13));
  }
  return members;
}

RunResult Untar(const fs::path& tar, const fs::path& into) {
  fs::create_directories(into);
  return RunProgram({"tar", "-xf", tar.string(), "-C", into.string()});
}

// ---------------------------------------------------------------- 1. round trip

TEST(bundle_integration, RoundTripOverHttpsAsFolderAndTarAndFromTheDataDirectory) {
  // Its exports are compared file for file: no custody record may be logged between them
  // (every 2 s by default, which a loaded machine reaches mid-test).
  ServedNode node("custody_interval_ms = 60000\n");
  Token submitter = MakeToken(node.data(), "submitter");
  Token reader = MakeToken(node.data(), "reader");
  const fs::path in = node / "in";
  fs::create_directories(in);
  std::map<std::string, fs::path> submitted;  // name -> file, for case-c
  auto file = [&](const std::string& name, const std::string& content) {
    WriteFile(in / name, content);
    submitted[name] = in / name;
    return in / name;
  };
  std::string binary;
  for (int i = 0; i < 70000; ++i) binary.push_back(static_cast<char>((i * 7919) >> 3));
  fs::path statement = file("statement.txt", "I saw the convoy at 06:40.\n");
  fs::path photo = file("photo.jpg", binary);
  fs::path scan = file("scan.pdf", "%PDF-1.4\n" + binary.substr(0, 3000));
  fs::path video = in / "video.mp4";
  WritePseudoRandomFile(video, 2 * kMiB + 12345, 7);  // three chunks, the last one partial
  submitted["video.mp4"] = video;
  fs::path empty = file("empty.csv", "");
  fs::path copy = file("copy of statement.txt", ReadFile(statement));  // same chunk, other name
  WriteFile(node / "other.txt", "evidence of another case\n");
  WriteFile(node / "other2.txt", "more evidence of another case\n");

  auto submit = [&](const std::string& case_id, const std::vector<fs::path>& files,
                    const std::vector<std::string>& extra = {}) {
    RunResult r = node.Submit(submitter.secret, case_id, files, extra);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  };
  submit("case-c", {statement, photo, scan});
  submit("case-o", {node / "other.txt"});
  submit("case-c", {video, empty});
  submit("case-o", {node / "other2.txt"});
  submit("case-c", {}, {"--kind", "note", "--meta", "summary=called the witness back"});
  submit("case-c", {copy});
  ASSERT_FALSE(::testing::Test::HasFailure());

  // export --node into a folder: extracted as it arrives, then verified.
  const fs::path folder = node / "bundle";
  RunResult e = ExportRemote(node, reader.secret, "case-c", folder);
  ASSERT_EQ(e.exit_code, 0) << e.out << e.err;
  const std::string all = Verified("case-c", "4 records, 4 entries and 6 files");
  EXPECT_NE(e.out.find(all), std::string::npos) << e.out;
  ExpectOnlyBundlePaths(folder);
  ExpectEvidence(folder, submitted);
  std::vector<std::string> records = RecordDirs(folder);
  ASSERT_EQ(records.size(), 4u);
  // The case's first and last records, wherever the tokens' grants put them in the log.
  std::vector<uint64_t> case_c;
  for (const json& r : LogJson(node.data())) {
    if (r["case"] == "case-c") case_c.push_back(r["index"].get<uint64_t>());
  }
  ASSERT_EQ(case_c.size(), 4u);
  auto twenty = [](uint64_t index) {
    std::string digits = std::to_string(index);
    return std::string(20 - digits.size(), '0') + digits;
  };
  EXPECT_EQ(records[0].substr(records[0].size() - 20), twenty(case_c.front()));
  EXPECT_EQ(records[3].substr(records[3].size() - 20), twenty(case_c.back()));
  for (const std::string& record : records) {
    EXPECT_EQ(json::parse(ReadFile(folder / record / "entry.json"))["case"], "case-c") << record;
    // Every record's folder opens what it discloses and holds its sealed form beside it.
    for (const char* f : {"record.bin", "sealed_entry.bin", "proof.json", "link.key", "entry.key"}) {
      EXPECT_TRUE(fs::is_regular_file(folder / record / f)) << record << "/" << f;
    }
  }
  EXPECT_FALSE(fs::exists(folder / records[2] / "files"));  // the note has no file
  EXPECT_EQ(json::parse(ReadFile(folder / records[2] / "entry.json"))["kind"], "note");
  // The video's three plaintext MiB are there sealed too, as the log holds them.
  EXPECT_TRUE(fs::is_regular_file(folder / records[1] / "files/0/sealed/2.bin"));
  EXPECT_EQ(ReadFile(folder / records[1] / "files/1/content.csv"), "");
  json index = json::parse(ReadFile(folder / "bundle.json"));
  EXPECT_EQ(index["format"], "khronika-bundle/2");
  EXPECT_EQ(index["case"], "case-c");
  ASSERT_EQ(index["records"].size(), 4u);
  for (const json& r : index["records"]) EXPECT_EQ(r["disclosed"], true) << r.dump();
  EXPECT_EQ(index["records"][0]["disclosed_files"], json::array({0, 1, 2}));
  EXPECT_EQ(index["exported_by"], "token " + reader.id + " (reader)");
  std::string report = ReadFile(folder / "REPORT.md");
  EXPECT_NE(report.find("**4 records**"), std::string::npos) << report;
  EXPECT_NE(report.find("**4 entries**"), std::string::npos) << report;
  EXPECT_NE(report.find("**6 evidence files**"), std::string::npos) << report;
  for (const auto& [name, path] : submitted) {
    EXPECT_NE(report.find(": \"" + name + "\" ("), std::string::npos) << name;
  }
  EXPECT_NE(report.find("summary: called the witness back"), std::string::npos) << report;
  EXPECT_EQ(report.find("another case"), std::string::npos);
  for (const std::string& f : FilesOf(Tree(folder))) {
    EXPECT_EQ(ReadFile(folder / f).find("another case"), std::string::npos) << f;
  }

  // MANIFEST.sha256 is what sha256sum checks, and lists every other file exactly once.
  RunResult sums = RunProgram(
      {"sh", "-c", "cd \"$1\" && sha256sum --strict -c MANIFEST.sha256", "sh", folder.string()});
  EXPECT_EQ(sums.exit_code, 0) << sums.out << sums.err;
  std::set<std::string> listed;
  for (const std::string& line : Lines(ReadFile(folder / "MANIFEST.sha256"))) {
    EXPECT_TRUE(listed.insert(line.substr(66)).second) << line;
  }
  std::set<std::string> files = FilesOf(Tree(folder));
  files.erase("MANIFEST.sha256");
  EXPECT_EQ(listed, files);
  RunResult v = VerifyBundle(folder);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find(all), std::string::npos) << v.out;

  // export --node --tar: an archive GNU tar extracts, to the same files.
  const fs::path tar = node / "bundle.tar";
  RunResult t = ExportRemote(node, reader.secret, "case-c", tar, true);
  ASSERT_EQ(t.exit_code, 0) << t.out << t.err;
  EXPECT_EQ(fs::file_size(tar) % 512, 0u);
  RunResult list = RunProgram({"tar", "-tvf", tar.string()});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  for (const std::string& line : Lines(list.out))
    EXPECT_EQ(line[0], '-') << "not a plain file: " << line;
  const fs::path from_tar = node / "from-tar";
  RunResult x = Untar(tar, from_tar);
  ASSERT_EQ(x.exit_code, 0) << x.err;
  RunResult vt = VerifyBundle(from_tar);
  EXPECT_EQ(vt.exit_code, 0) << vt.out << vt.err;
  EXPECT_NE(vt.out.find(all), std::string::npos) << vt.out;
  EXPECT_EQ(Tree(from_tar), Tree(folder));
  for (const std::string& f : FilesOf(Tree(folder))) {
    // Only the export's own statements (time) differ between two exports of the same case.
    if (f == "REPORT.md" || f == "bundle.json" || f == "MANIFEST.sha256") continue;
    EXPECT_TRUE(ReadFile(from_tar / f) == ReadFile(folder / f)) << f;
  }
  ExpectEvidence(from_tar, submitted);

  // export --data, with the node serving, then stopped.
  const fs::path local = node / "local";
  RunResult l = ExportLocal(node.data(), "case-c", local);
  ASSERT_EQ(l.exit_code, 0) << l.out << l.err;
  EXPECT_NE(l.out.find("exported case case-c: 4 records, 4 entries and 6 files disclosed ("),
            std::string::npos)
      << l.out;
  RunResult vl = VerifyBundle(local);
  EXPECT_EQ(vl.exit_code, 0) << vl.out << vl.err;
  ExpectEvidence(local, submitted);
  EXPECT_EQ(Tree(local), Tree(folder));

  ASSERT_EQ(node.server().Stop(), 0) << node.server().Stderr();
  const fs::path local_tar = node / "local.tar";
  RunResult lt = ExportLocal(node.data(), "case-c", local_tar, true);
  ASSERT_EQ(lt.exit_code, 0) << lt.out << lt.err;
  const fs::path from_local_tar = node / "from-local-tar";
  ASSERT_EQ(Untar(local_tar, from_local_tar).exit_code, 0);
  RunResult vlt = VerifyBundle(from_local_tar);
  EXPECT_EQ(vlt.exit_code, 0) << vlt.out << vlt.err;
  ExpectEvidence(from_local_tar, submitted);

  // An export never writes into something that exists, and leaves it as it was.
  const std::set<std::string> local_tree = Tree(local);
  const std::string tar_bytes = ReadFile(local_tar);
  RunResult again = ExportLocal(node.data(), "case-c", local);
  EXPECT_EQ(again.exit_code, 1) << again.out << again.err;
  EXPECT_NE(again.err.find(local.string()), std::string::npos) << again.err;
  RunResult again_tar = ExportLocal(node.data(), "case-c", local_tar, true);
  EXPECT_EQ(again_tar.exit_code, 1) << again_tar.out << again_tar.err;
  EXPECT_NE(again_tar.err.find(local_tar.string()), std::string::npos) << again_tar.err;
  EXPECT_EQ(Tree(local), local_tree);
  EXPECT_EQ(VerifyBundle(local).exit_code, 0);
  EXPECT_TRUE(ReadFile(local_tar) == tar_bytes);
}

// ---------------------------------------------------------------- 2. custody

TEST(bundle_integration, EveryExportIsInTheAccessLogAndRefusalsAreNot) {
  ServedNode node;
  WriteFile(node / "c.txt", "case c evidence\n");
  WriteFile(node / "d.txt", "case d evidence\n");
  ASSERT_EQ(node.Submit(node.admin().secret, "case-c", {node / "c.txt"}).exit_code, 0);
  ASSERT_EQ(node.Submit(node.admin().secret, "case-d", {node / "d.txt"}).exit_code, 0);
  Token reader = MakeToken(node.data(), "reader");
  Token reader_c = MakeToken(node.data(), "reader", {"case-c"});
  Token reader_d = MakeToken(node.data(), "reader", {"case-d"});
  Token submitter = MakeToken(node.data(), "submitter");
  Token auditor = MakeToken(node.data(), "auditor");
  EXPECT_TRUE(ExportEvents(node.data(), "case-c").empty());

  RunResult a = ExportRemote(node, reader.secret, "case-c", node / "by-reader");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(ExportEvents(node.data(), "case-c"), std::vector<std::string>({reader.id}));
  RunResult b = ExportRemote(node, reader_c.secret, "case-c", node / "by-reader-c.tar", true);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  RunResult c = ExportLocal(node.data(), "case-c", node / "local");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::vector<std::string> expected = {reader.id, reader_c.id, "local"};
  EXPECT_EQ(ExportEvents(node.data(), "case-c"), expected);
  RunResult text = RunKhronika({"access-log", "--data", node.data().string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  int lines = 0;
  for (const std::string& line : Lines(text.out)) {
    if (line.find("  export  case bundle  case case-c") != std::string::npos) ++lines;
  }
  EXPECT_EQ(lines, 3) << text.out;

  // A reader of another case: the CLI fails and writes nothing; curl gets a JSON 403.
  RunResult refused = ExportRemote(node, reader_d.secret, "case-c", node / "refused");
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("403"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("case-c"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(node / "refused"));
  RunResult refused_tar = ExportRemote(node, reader_d.secret, "case-c", node / "refused.tar", true);
  EXPECT_EQ(refused_tar.exit_code, 1) << refused_tar.out << refused_tar.err;
  EXPECT_FALSE(fs::exists(node / "refused.tar"));
  const std::string path = "/v1/cases/case-c/bundle";
  for (const Token* t : {&reader_d, &submitter, &auditor}) {
    HttpReply r = Get(node.server(), path, t->secret);
    EXPECT_EQ(r.status, 403) << t->id << ": " << r.Describe();
    EXPECT_TRUE(r.IsJsonError()) << r.body;
    EXPECT_EQ(r.body.find("case c evidence"), std::string::npos);
  }
  HttpReply anonymous = Get(node.server(), path);
  EXPECT_EQ(anonymous.status, 401) << anonymous.Describe();
  EXPECT_TRUE(anonymous.IsJsonError()) << anonymous.body;
  // An unknown case: 404 with a JSON error, and the CLI says so.
  HttpReply unknown = Get(node.server(), "/v1/cases/case-zz/bundle", reader.secret);
  EXPECT_EQ(unknown.status, 404) << unknown.Describe();
  EXPECT_TRUE(unknown.IsJsonError()) << unknown.body;
  RunResult unknown_cli = ExportRemote(node, reader.secret, "case-zz", node / "zz");
  EXPECT_EQ(unknown_cli.exit_code, 1) << unknown_cli.err;
  EXPECT_NE(unknown_cli.err.find("404"), std::string::npos) << unknown_cli.err;
  EXPECT_FALSE(fs::exists(node / "zz"));
  RunResult unknown_local = ExportLocal(node.data(), "case-zz", node / "zz-local");
  EXPECT_EQ(unknown_local.exit_code, 1) << unknown_local.err;
  EXPECT_FALSE(fs::exists(node / "zz-local"));
  // A malformed case id: 400 with a JSON error.
  HttpReply bad = Get(node.server(), "/v1/cases/-x/bundle", reader.secret);
  EXPECT_EQ(bad.status, 400) << bad.Describe();
  EXPECT_TRUE(bad.IsJsonError()) << bad.body;

  // None of that is in the access log.
  EXPECT_EQ(ExportEvents(node.data(), "case-c"), expected);
  EXPECT_TRUE(ExportEvents(node.data(), "case-zz").empty());
  // (The tokens' grants are custody events of their own: left out here.)
  RunResult all = RunKhronika({"access-log", "--data", node.data().string(), "--json", "--action",
                               "read-content", "--action", "export"});
  for (const Token* t : {&reader_d, &submitter, &auditor}) {
    EXPECT_EQ(all.out.find(t->id), std::string::npos) << all.out;
  }

  // The bundle as curl gets it: a tar of the announced length, logged like the others.
  HttpReply ok = Get(node.server(), path, reader_c.secret);
  ASSERT_EQ(ok.status, 200) << ok.Describe();
  EXPECT_EQ(ok.Header("Content-Type"), "application/x-tar");
  EXPECT_EQ(ok.Header("X-Khronika-Entries"), "1");
  EXPECT_EQ(ok.Header("Content-Length"), std::to_string(ok.body.size()));
  EXPECT_EQ(ok.body.size() % 512, 0u);
  EXPECT_NE(ok.body.find("case c evidence\n"), std::string::npos);
  expected.push_back(reader_c.id);
  EXPECT_EQ(ExportEvents(node.data(), "case-c"), expected);

  // Two bundles and then a JSON answer on one kept-alive connection: a streamed body ends cleanly.
  const fs::path one = node / "one.tar", two = node / "two.tar", three = node / "three.json";
  const std::string base = node.server().url();
  RunResult reuse = RunProgram(
      {"curl", "-sS", "-k", "--max-time", "60", "-H", "Authorization: Bearer " + reader.secret,
       "-w", "%{http_code} %{num_connects}\n", "-o", one.string(), base + path, "-o", two.string(),
       base + "/v1/cases/case-d/bundle", "-o", three.string(), base + "/v1/cases/case-c/entries"});
  ASSERT_EQ(reuse.exit_code, 0) << reuse.err;
  EXPECT_EQ(reuse.out, "200 1\n200 0\n200 0\n");
  for (const fs::path& t : {one, two}) {
    const fs::path dir = node / (t.stem().string() + "-x");
    ASSERT_EQ(Untar(t, dir).exit_code, 0) << t;
    RunResult vt = VerifyBundle(dir);
    EXPECT_EQ(vt.exit_code, 0) << vt.out << vt.err;
  }
  EXPECT_TRUE(json::parse(ReadFile(three), nullptr, false).is_object()) << ReadFile(three);
  EXPECT_EQ(ExportEvents(node.data(), "case-d"), std::vector<std::string>({reader.id}));
  EXPECT_TRUE(node.server().Running());
}

// ---------------------------------------------------------------- 3. tampering

TEST(bundle_integration, TamperingIsCaughtAndNamedByFile) {
  ServedNode a("sync_interval_s = 0\n"), b("sync_interval_s = 0\n"), c("sync_interval_s = 0\n");
  Federate({&a, &b, &c});
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const std::string origin_a = IdOf(a.data())["node_id"];
  // B and C: the other members, who cosign A's log (B also records one entry of the case).
  const std::string member_b = IdOf(b.data())["node_id"], member_c = IdOf(c.data())["node_id"];
  const std::string& origin_b = member_b;
  Token submitter = MakeToken(a.data(), "submitter");
  Token reader = MakeToken(a.data(), "reader");
  WritePseudoRandomFile(a / "video.mp4", 2 * kMiB + 777, 5);
  for (int i = 0; i < 4; ++i)
    WriteFile(a / ("note" + std::to_string(i) + ".txt"), "statement " + std::to_string(i));
  WriteFile(a / "other.txt", "another case");
  auto submit = [&](const std::string& case_id, const std::vector<fs::path>& files,
                    const std::vector<std::string>& extra = {}) {
    RunResult r = a.Submit(submitter.secret, case_id, files, extra);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  };
  submit("case-t", {a / "note0.txt", a / "video.mp4"});
  submit("case-o", {a / "other.txt"});
  submit("case-t", {a / "note1.txt"});
  submit("case-o", {a / "note3.txt"});
  // Wait until both partners have cosigned a checkpoint that holds every record of the case.
  submit("case-t", {a / "note2.txt"}, {"--replicas", "2", "--replicas-timeout", "60"});
  ASSERT_FALSE(::testing::Test::HasFailure());
  // An entry under the same case id in B's log: B's, not part of A's case-t.
  Token submitter_b = MakeToken(b.data(), "submitter");
  WriteFile(b / "from-b.txt", "recorded by the second organisation");
  RunResult rb = b.Submit(submitter_b.secret, "case-t", {b / "from-b.txt"},
                          {"--replicas", "2", "--replicas-timeout", "60"});
  ASSERT_EQ(rb.exit_code, 0) << rb.out << rb.err;
  for (ServedNode* n : {&a, &c}) {
    RunResult s = RunKhronika({"sync", "--data", n->data().string()});
    ASSERT_EQ(s.exit_code, 0) << s.out << s.err;
  }
  // A case belongs to the log that created it: C holds both logs but created no case-t, so it
  // has no bundle of it to give.
  Token reader_c = MakeToken(c.data(), "reader");
  RunResult from_c = ExportRemote(c, reader_c.secret, "case-t", c / "from-c");
  EXPECT_NE(from_c.exit_code, 0) << from_c.out << from_c.err;
  EXPECT_NE(from_c.err.find("no entry of case case-t in this node's log"), std::string::npos) << from_c.err;

  const fs::path pristine = a / "pristine";
  RunResult e = ExportRemote(a, reader.secret, "case-t", pristine);
  ASSERT_EQ(e.exit_code, 0) << e.out << e.err;
  EXPECT_NE(e.out.find("cosigned by 2 other members"), std::string::npos) << e.out;
  RunResult v = VerifyBundle(pristine);
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find(Verified("case-t", "3 records, 3 entries and 4 files")), std::string::npos)
      << v.out;
  EXPECT_NE(v.out.find("log " + origin_a + ": 3 records of the case"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("cosigned by 2 other members"), std::string::npos) << v.out;
  std::string report = ReadFile(pristine / "REPORT.md");
  EXPECT_NE(report.find("cosigned by 2 other organisations"), std::string::npos) << report;
  EXPECT_NE(report.find("  - node `" + member_b.substr(0, 16) + "…` on "), std::string::npos)
      << report;
  EXPECT_NE(report.find("  - node `" + member_c.substr(0, 16) + "…` on "), std::string::npos)
      << report;
  EXPECT_TRUE(fs::is_regular_file(pristine / "keys" / "cosigners" / (member_b + ".vkey")));
  EXPECT_TRUE(fs::is_regular_file(pristine / "keys" / "cosigners" / (member_c + ".vkey")));
  const std::string checkpoint = "logs/" + origin_a + "/checkpoint.note";
  const std::string dash = "\xE2\x80\x94 ";  // C2SP signature lines start with an em dash
  std::string note = ReadFile(pristine / checkpoint);
  EXPECT_NE(note.find(dash + "khronika/" + member_b + "/witness "), std::string::npos) << note;
  EXPECT_NE(note.find(dash + "khronika/" + member_c + "/witness "), std::string::npos) << note;
  // B's entry under the same case id is not in A's bundle.
  EXPECT_EQ(v.out.find("log " + origin_b), std::string::npos) << v.out;
  EXPECT_FALSE(fs::exists(pristine / "records" / origin_b));
  EXPECT_EQ(CosignersListed(v.out, origin_a), (std::set<std::string>{member_b, member_c})) << v.out;
  // --trust: the keys the organisations handed over. Every origin must be among them.
  json id_a = IdOf(a.data()), id_b = IdOf(b.data()), id_c = IdOf(c.data());
  WriteFile(a / "trust.txt", "# from the NGOs, on paper\n" + id_a["vkey"].get<std::string>() +
                                 "\n" + id_b["vkey"].get<std::string>() + "\n" +
                                 id_c["cosigner_vkey"].get<std::string>() + "\n");
  RunResult trusted =
      RunKhronika({"verify-bundle", pristine.string(), "--trust", (a / "trust.txt").string()});
  EXPECT_EQ(trusted.exit_code, 0) << trusted.out << trusted.err;
  // (The checkpoint's size counts the custody records of A's log as well: token grants.)
  EXPECT_TRUE(std::regex_search(
      trusted.out, std::regex("log " + origin_a +
                              ": 3 records of the case, checkpoint size [0-9]+, signed by its origin "
                              "\\(trusted key\\); cosigned by 2 other members, 1 of them trusted")))
      << trusted.out;
  WriteFile(a / "trust-b.txt", id_b["vkey"].get<std::string>() + "\n");
  RunResult untrusted =
      RunKhronika({"verify-bundle", pristine.string(), "--trust", (a / "trust-b.txt").string()});
  EXPECT_CAUGHT(untrusted, "keys/origins/" + origin_a + ".vkey");

  std::vector<std::string> entries;  // the case's records in A's log
  for (const std::string& record : RecordDirs(pristine)) {
    if (record.rfind("records/" + origin_a + "/", 0) == 0) entries.push_back(record);
  }
  ASSERT_EQ(entries.size(), 3u);
  std::vector<std::string> case_t;
  for (const json& r : LogJson(a.data())) {
    if (r["case"] == "case-t") case_t.push_back(std::to_string(r["index"].get<uint64_t>()));
  }
  ASSERT_EQ(case_t.size(), 3u);
  EXPECT_EQ(entries[1], "records/" + origin_a + "/" + std::string(20 - case_t[1].size(), '0') +
                            case_t[1]);

  // Each case on a fresh export: first as tampered, then with MANIFEST.sha256 updated to match,
  // so that the signed objects themselves must catch it.
  int n = 0;
  auto fresh = [&]() {
    fs::path out = a / ("tampered-" + std::to_string(++n));
    RunResult r = ExportLocal(a.data(), "case-t", out);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return out;
  };
  auto check = [&](const fs::path& dir, const std::string& rel, const std::string& deep_message) {
    SCOPED_TRACE(rel);
    RunResult first = VerifyBundle(dir);
    EXPECT_CAUGHT(first, rel);
    Reseal(dir, rel);
    RunResult deep = VerifyBundle(dir);
    EXPECT_CAUGHT(deep, rel);
    EXPECT_NE(deep.err.find(rel + ": " + deep_message), std::string::npos) << deep.err;
    EXPECT_EQ(deep.err.find("MANIFEST.sha256"), std::string::npos) << deep.err;
  };

  {  // a byte of an evidence file, in its second 1 MiB piece
    fs::path dir = fresh();
    std::string rel;
    for (const Evidence& ev : EvidenceIn(dir)) {
      if (ev.name == "video.mp4") rel = ev.rel;
    }
    ASSERT_EQ(rel, entries[0] + "/files/1/content.mp4");
    FlipByte(dir / rel, kMiB + 4321);
    check(dir, rel, "does not match its signed descriptor (size or SHA-256)");
  }
  {  // a byte of a sealed chunk of that file: what the log holds must be what is disclosed
    fs::path dir = fresh();
    const std::string rel = entries[0] + "/files/1/sealed/1.bin";
    FlipByte(dir / rel, 4321);
    check(dir, rel, "is not sealed chunk 1 as the sealed entry names it");
  }
  {  // a byte of the author-signed entry
    fs::path dir = fresh();
    const std::string rel = entries[1] + "/entry.bin";
    FlipByte(dir / rel, 40);
    check(dir, rel, "is not the signed entry that entry.key opens in the sealed entry");
  }
  {  // a byte of a sealed entry
    fs::path dir = fresh();
    const std::string rel = entries[1] + "/sealed_entry.bin";
    FlipByte(dir / rel, 300);
    check(dir, rel, "its SHA-256 is not the object id in record.bin");
  }
  {  // a file key of another file of the entry: it opens nothing of this one
    fs::path dir = fresh();
    const std::string rel = entries[0] + "/files/0/file.key";
    WriteFile(dir / rel, ReadFile(dir / entries[0] / "files/1/file.key"));
    check(dir, rel, "does not open the descriptor box of file 0");
  }
  {  // a link key of another record of the case
    fs::path dir = fresh();
    const std::string rel = entries[1] + "/link.key";
    WriteFile(dir / rel, ReadFile(dir / entries[2] / "link.key"));
    check(dir, rel, "does not open the sealed entry's link box");
  }
  {  // a salt that is not the one committed to
    fs::path dir = fresh();
    const std::string rel = entries[0] + "/files/0/salt.hex";
    std::string salt = ReadFile(dir / rel);
    salt[5] = salt[5] == '0' ? '1' : '0';
    WriteFile(dir / rel, salt);
    check(dir, rel, "is not the salt in the descriptor box");
  }
  {  // a hash of an inclusion proof
    fs::path dir = fresh();
    const std::string rel = entries[0] + "/proof.json";
    json proof = json::parse(ReadFile(dir / rel));
    ASSERT_FALSE(proof["proof"].empty()) << proof.dump();
    std::string h = proof["proof"][0];
    h[10] = h[10] == '0' ? '1' : '0';
    proof["proof"][0] = h;
    WriteFile(dir / rel, proof.dump(2) + "\n");
    check(dir, rel, "the inclusion proof does not lead to the checkpoint's root");
  }
  {  // a byte of the checkpoint (its root hash)
    fs::path dir = fresh();
    std::string text = ReadFile(dir / checkpoint);
    size_t root = text.find('\n', text.find('\n') + 1) + 1;  // the third line
    ChangeBase64Char(dir / checkpoint, text.substr(root, 12), 20);
    check(dir, checkpoint, "not signed by the log's origin");
  }
  {  // a byte of a cosignature
    fs::path dir = fresh();
    const std::string line = dash + "khronika/" + member_b + "/witness ";
    ChangeBase64Char(dir / checkpoint, line, line.size() + 60);
    check(dir, checkpoint, "the cosignature by " + member_b + " does not verify");
    RunResult r = VerifyBundle(dir);
    EXPECT_EQ(r.err.find(member_c), std::string::npos) << r.err;  // the other one still holds
  }
  {  // a record in the middle of the case, with its MANIFEST.sha256 lines: the chain catches it
    fs::path dir = fresh();
    fs::remove_all(dir / entries[1]);
    EXPECT_GT(DropFromManifest(dir, entries[1] + "/"), 5);
    RunResult r = VerifyBundle(dir);
    EXPECT_CAUGHT(r, entries[2] + "/link.key");
    EXPECT_NE(r.err.find("a record of the case is missing"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("MANIFEST.sha256"), std::string::npos) << r.err;
  }
  {  // the first record of the case
    fs::path dir = fresh();
    fs::remove_all(dir / entries[0]);
    DropFromManifest(dir, entries[0] + "/");
    RunResult r = VerifyBundle(dir);
    EXPECT_CAUGHT(r, entries[1] + "/link.key");
    EXPECT_NE(r.err.find("an earlier record of the case in this log"), std::string::npos) << r.err;
  }
  {  // a disclosed file left without its entry (entry.key, entry.bin, entry.json removed)
    fs::path dir = fresh();
    for (const char* f : {"entry.key", "entry.bin", "entry.json"}) {
      fs::remove(dir / entries[0] / f);
      EXPECT_EQ(DropFromManifest(dir, entries[0] + "/" + f), 1) << f;
    }
    RunResult r = VerifyBundle(dir);
    EXPECT_CAUGHT(r, entries[0] + "/files/1/content.mp4");
    EXPECT_NE(r.err.find(entries[0] + "/files/1/file.key: a file disclosed without its entry"),
              std::string::npos)
        << r.err;
  }
  // The pristine export was not touched by any of that.
  RunResult still = VerifyBundle(pristine);
  EXPECT_EQ(still.exit_code, 0) << still.err;
}

// ---------------------------------------------------------------- 4. hostile names and archives

// A stand-in node for `export --node`: answers every request with a fixed body over TLS 1.3, so
// that hand-made archives reach the extractor the way a bundle does.
class FakeNode {
 public:
  explicit FakeNode(const fs::path& dir) {
    ::signal(SIGPIPE, SIG_IGN);
    const fs::path key = dir / "fake.key", cert = dir / "fake.pem", der = dir / "fake.der";
    RunResult r = RunProgram({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.string(),
                              "-out", cert.string(), "-days", "1", "-subj", "/CN=127.0.0.1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = RunProgram(
        {"openssl", "x509", "-in", cert.string(), "-outform", "DER", "-out", der.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    pin_ = "sha256:" + HexSha256(ReadFile(der));
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    EXPECT_EQ(SSL_CTX_use_certificate_file(ctx_, cert.c_str(), SSL_FILETYPE_PEM), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM), 1);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    url_ = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeNode() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  void Serve(std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    body_ = std::move(body);
  }
  const std::string& url() const { return url_; }
  const std::string& pin() const { return pin_; }

 private:
  void Loop() {
    while (!stop_) {
      int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) {
        if (errno == EINTR) continue;
        return;
      }
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, conn);
      if (SSL_accept(ssl) == 1) {
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          request.append(buf, static_cast<size_t>(n));
        }
        std::string body;
        {
          std::lock_guard<std::mutex> lock(mu_);
          body = body_;
        }
        std::string answer =
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        for (size_t off = 0; off < answer.size();) {
          int n = SSL_write(ssl, answer.data() + off,
                            static_cast<int>(std::min<size_t>(answer.size() - off, 65536)));
          if (n <= 0) break;  // the client gave up on the archive: fine
          off += static_cast<size_t>(n);
        }
        SSL_shutdown(ssl);
      }
      ERR_clear_error();
      SSL_free(ssl);
      ::close(conn);
    }
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  std::string url_, pin_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string body_;
};

// Metadata values keep the bytes their author signed, but REPORT.md writes invisible and
// text-direction characters out as <U+202E> (Markdown-escaped: \<U+202E\>), and verify-bundle,
// which renders the report again from the verified entries, agrees byte for byte.
TEST(bundle_integration, InvisibleCharactersInMetadataAreWrittenOutInTheReport) {
  ServedNode node;
  Token submitter = MakeToken(node.data(), "submitter");
  Token reader = MakeToken(node.data(), "reader");
  WriteFile(node / "photo.jpg", "jpeg bytes\n");
  const std::string rlo = "\xE2\x80\xAE", zwsp = "\xE2\x80\x8B", bom = "\xEF\xBB\xBF",
                    tag_a = "\xF3\xA0\x81\xA1";
  // Persian "mi-khaham", whose zero width non-joiner (U+200C) is part of the word: shown as is.
  const std::string persian =
      "\xD9\x85\xDB\x8C\xE2\x80\x8C\xD8\xAE\xD9\x88\xD8\xA7\xD9\x87\xD9\x85";
  RunResult r = node.Submit(submitter.secret, "case-i", {node / "photo.jpg"},
                            {"--meta", "caption=photo" + rlo + "gpj.exe", "--meta",
                             "place=Khar" + zwsp + "kiv" + bom + tag_a, "--meta",
                             "quote=" + persian});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  const fs::path folder = node / "bundle";
  RunResult e = ExportRemote(node, reader.secret, "case-i", folder);
  ASSERT_EQ(e.exit_code, 0) << e.out << e.err;
  EXPECT_NE(e.out.find(Verified("case-i", "1 record, 1 entry and 1 file")), std::string::npos)
      << e.out;
  const std::string report = ReadFile(folder / "REPORT.md");
  EXPECT_NE(report.find("- caption: photo\\<U+202E\\>gpj.exe\n"), std::string::npos) << report;
  EXPECT_NE(report.find("- place: Khar\\<U+200B\\>kiv\\<U+FEFF\\>\\<U+E0061\\>\n"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("- quote: " + persian + "\n"), std::string::npos) << report;
  EXPECT_NE(report.find("they are written out as \\<U+…\\> with their Unicode code point"),
            std::string::npos)
      << report;
  for (const std::string& hidden : {rlo, zwsp, bom, tag_a, std::string("\xEF\xBF\xBD")}) {
    EXPECT_EQ(report.find(hidden), std::string::npos) << report;
  }
  // The signed value, byte for byte, in the entry's JSON.
  const std::vector<std::string> entries = RecordDirs(folder);
  ASSERT_EQ(entries.size(), 1u);
  json entry = json::parse(ReadFile(folder / entries[0] / "entry.json"));
  EXPECT_EQ(entry["metadata"]["caption"], "photo" + rlo + "gpj.exe");
  EXPECT_EQ(entry["metadata"]["place"], "Khar" + zwsp + "kiv" + bom + tag_a);

  // A report that shows the raw override instead (with MANIFEST.sha256 updated to match) is not
  // what the verified entry renders to.
  std::string raw = report;
  raw.replace(raw.find("\\<U+202E\\>"), 10, rlo);
  WriteFile(folder / "REPORT.md", raw);
  Reseal(folder, "REPORT.md");
  RunResult v = VerifyBundle(folder);
  EXPECT_CAUGHT(v, "REPORT.md");
  EXPECT_NE(v.err.find("REPORT.md: does not match the verified contents of the bundle"),
            std::string::npos)
      << v.err;
}

TEST(bundle_integration, HostileFileNamesNeverBecomePaths) {
  // Its exports are compared file for file: no custody record may be logged between them
  // (every 2 s by default, which a loaded machine reaches mid-test).
  ServedNode node("custody_interval_ms = 60000\n");
  Token reader = MakeToken(node.data(), "reader");
  Token submitter = MakeToken(node.data(), "submitter");
  const fs::path in = node / "names";
  fs::create_directories(in);

  // Names the node accepts, though some are dangerous as paths somewhere (shells, Windows,
  // tools that take "-" for an option, names of the bundle's own files).
  const std::vector<std::string> accepted = {
      "name with spaces.txt",
      "it's \"quoted\".txt",
      "$(touch PWNED).txt",
      "`touch PWNED2`.sh",
      "Доказательство №1.pdf",
      ".hidden",
      "-rf",
      "~root",
      "CON",
      "aux.txt",
      "a:b*c?d<e>f|g.txt",
      "trailing dot.",
      "MANIFEST.sha256",
      "REPORT.md",
      "record.bin",
      "0.txt",
      "*",
      std::string(251, 'n') + ".txt",  // 255 bytes
      [] {
        std::string s;
        for (int i = 0; i < 125; ++i) s += "ж";
        return s + "a.txt";
      }(),  // 255 bytes
  };
  std::map<std::string, fs::path> submitted;
  std::vector<fs::path> paths;
  for (size_t i = 0; i < accepted.size(); ++i) {
    ASSERT_LE(accepted[i].size(), 255u);
    fs::path p = in / accepted[i];
    WriteFile(p, "evidence number " + std::to_string(i) + " named " + accepted[i] + "\n");
    submitted[accepted[i]] = p;
    paths.push_back(p);
  }
  EXPECT_EQ(accepted[17].size(), 255u);
  EXPECT_EQ(accepted[18].size(), 255u);
  // In three entries.
  for (size_t start = 0; start < paths.size(); start += 7) {
    std::vector<fs::path> some(
        paths.begin() + static_cast<long>(start),
        paths.begin() + static_cast<long>(std::min(paths.size(), start + 7)));
    RunResult r = node.Submit(submitter.secret, "case-h", some);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  const size_t records = LogJson(node.data()).size();
  ASSERT_EQ(records, 3u);

  // Names refused at submission. The CLI refuses those a file can have here before sending
  // anything, naming the file; the node refuses them all when the request is made by hand.
  const std::vector<std::string> refused = {
      "..hidden",
      "..\\..\\evil.txt",
      "back\\slash.txt",
      "x..y",
      "ctl\x01.txt",
      "new\nline.txt",
      "esc\x1b[31m.txt",
      "bad\xff.txt",
      "\xE2\x80\xAEtxt.exe",           // U+202E, right-to-left override
      std::string(252, 'l') + ".txt",  // 256 bytes
  };
  std::vector<std::string> skipped;
  for (const std::string& name : refused) {
    fs::path p = in / name;
    {
      std::ofstream f(p, std::ios::binary);
      f << "should never be recorded";
    }
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      skipped.push_back(Printable(name));
      continue;  // this file system cannot hold the name: the node-side check below covers it
    }
    RunResult r = node.Submit(submitter.secret, "case-h", {p});
    EXPECT_EQ(r.exit_code, 1) << Printable(name) << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(p.string() + ": file name"), std::string::npos) << r.err;
    fs::remove(p);
  }
  for (const std::string& s : skipped)
    std::cout << "CLI sub-case skipped, no such file name here: " << s << "\n";
  // By hand, every name (JSON cannot carry the one that is not UTF-8).
  std::vector<std::string> by_hand = {
      "a/b.txt", "../../escape.txt",          "/etc/passwd",        "..",
      ".",       std::string("nul\0byte", 8), std::string(300, 'y')};
  for (const std::string& name : refused) {
    if (name != "bad\xff.txt") by_hand.push_back(name);
  }
  for (const std::string& name : by_hand) {
    BuiltSubmission s = BuildSubmission(node.key(), "case-h", name, "by hand\n");
    ASSERT_TRUE(UploadChunks(node.server(), submitter.secret, s));
    HttpRequest post;
    post.method = "POST";
    post.path = "/v1/entries";
    post.token = submitter.secret;
    post.body = s.body.dump();
    HttpReply r = Curl(node.server(), post);
    EXPECT_TRUE(r.status == 400 || r.status == 422) << Printable(name) << ": " << r.Describe();
    EXPECT_TRUE(r.IsJsonError()) << r.body;
    EXPECT_NE(r.body.find("file name"), std::string::npos) << Printable(name) << ": " << r.body;
  }
  EXPECT_EQ(LogJson(node.data()).size(), records);

  // The bundle as a .tar, extracted with GNU tar into a fresh folder of its own parent.
  const fs::path tar = node / "hostile.tar";
  RunResult e = ExportRemote(node, reader.secret, "case-h", tar, true);
  ASSERT_EQ(e.exit_code, 0) << e.out << e.err;
  RunResult members = RunProgram({"tar", "-tf", tar.string()});
  ASSERT_EQ(members.exit_code, 0) << members.err;
  for (const std::string& m : Lines(members.out))
    EXPECT_TRUE(std::regex_match(m, kBundleFile)) << m;
  const fs::path parent = node / "parent", x = parent / "x";
  fs::create_directories(x);
  ASSERT_EQ(Tree(parent), std::set<std::string>{"x/"});
  RunResult untar = RunProgram({"tar", "-xf", tar.string(), "-C", x.string()});
  ASSERT_EQ(untar.exit_code, 0) << untar.err;
  std::set<std::string> after = Tree(parent);
  for (const std::string& p : after) EXPECT_EQ(p.rfind("x/", 0), 0u) << "created outside x: " << p;
  ExpectOnlyBundlePaths(x);
  for (const Evidence& ev : EvidenceIn(x)) {
    EXPECT_TRUE(std::regex_match(ev.rel.substr(ev.rel.rfind("/files/") + 7),
                                 std::regex("(0|[1-9][0-9]{0,2})/content\\.[a-z0-9]{1,8}")))
        << ev.rel;
  }
  ExpectEvidence(x, submitted);
  RunResult v = VerifyBundle(x);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find(Verified("case-h", "3 records, 3 entries and 19 files")), std::string::npos)
      << v.out;
  std::string report = ReadFile(x / "REPORT.md");
  EXPECT_NE(report.find(": \"Доказательство №1.pdf\" ("), std::string::npos) << report;
  EXPECT_NE(report.find(": \"\\`touch PWNED2\\`.sh\" ("), std::string::npos) << report;
  for (const fs::path& dir : {fs::current_path(), in, parent, x, node.dir().path()}) {
    EXPECT_FALSE(fs::exists(dir / "PWNED")) << dir;
    EXPECT_FALSE(fs::exists(dir / "PWNED2")) << dir;
  }
  // Our own extractor (export --node into a folder) makes the same tree.
  const fs::path direct = node / "direct";
  RunResult d = ExportRemote(node, reader.secret, "case-h", direct);
  ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
  EXPECT_NE(d.out.find(Verified("case-h", "3 records, 3 entries and 19 files")), std::string::npos)
      << d.out;
  EXPECT_EQ(Tree(direct), Tree(x));

  // A bundle folder with anything it cannot hold fails verify-bundle, naming it.
  const std::vector<std::string> record_dirs = RecordDirs(x);
  ASSERT_EQ(record_dirs.size(), 3u) << "the bundle has not the case's three records";
  const std::string entry = record_dirs[0];
  const std::string author_key = [&] {
    for (const std::string& p : Tree(x)) {
      if (p.rfind("keys/authors/", 0) == 0 && p.back() != '/') return p;
    }
    return std::string();
  }();
  ASSERT_FALSE(author_key.empty());
  int copies = 0;
  auto copy = [&]() {
    fs::path y = node / ("extra-" + std::to_string(++copies));
    fs::copy(x, y, fs::copy_options::recursive);
    return y;
  };
  auto expect_named = [&](const fs::path& y, const std::string& rel, const std::string& what) {
    RunResult r = VerifyBundle(y);
    EXPECT_CAUGHT(r, rel);
    EXPECT_NE(r.err.find(rel + ": " + what), std::string::npos) << r.err;
  };
  {
    fs::path y = copy();
    WriteFile(y / "evil.sh", "#!/bin/sh\n");
    expect_named(y, "evil.sh", "unexpected file");
  }
  {
    fs::path y = copy();
    // In the grammar, but not this entry's: it has seven files.
    const std::string rel = entry + "/files/9/content.txt";
    fs::create_directories(y / entry / "files" / "9");
    WriteFile(y / rel, "planted\n");
    expect_named(y, rel, "not listed in MANIFEST.sha256");
    WriteFile(y / "MANIFEST.sha256",
              ReadFile(y / "MANIFEST.sha256") + HexSha256("planted\n") + "  " + rel + "\n");
    expect_named(y, rel, "unexpected file in the record's folder");
  }
  {
    fs::path y = copy();
    fs::copy_file(y / author_key, node / "outside.pem");
    fs::remove(y / author_key);
    fs::create_symlink(node / "outside.pem", y / author_key);
    expect_named(y, author_key, "is a link");
  }
  {
    fs::path y = copy();
    fs::rename(y / "REPORT.md", node / "outside-report.md");
    fs::create_symlink(node / "outside-report.md", y / "REPORT.md");
    expect_named(y, "REPORT.md", "is a link");
  }
  {
    fs::path y = copy();
    fs::rename(y / "logs", node / "outside-logs");
    fs::create_symlink(node / "outside-logs", y / "logs");
    expect_named(y, "logs", "is a link");
  }
  {
    fs::path y = copy();
    fs::create_directories(y / entry / "files" / "sub");
    WriteFile(y / entry / "files" / "sub" / "content.txt", "hidden\n");
    expect_named(y, entry + "/files/sub", "unexpected folder");
  }
  {
    fs::path y = copy();
    fs::create_directories(y / "__MACOSX");
    expect_named(y, "__MACOSX", "unexpected folder");
  }
  {
    fs::path y = copy();
    ASSERT_EQ(RunProgram({"mkfifo", (y / "keys" / "pipe").string()}).exit_code, 0);
    expect_named(y, "keys/pipe", "not a regular file");
  }

  // Archives served where a node would be, to reach our extractor and the check after it. First a
  // sound bundle, but of another case than the one asked for: not "verified".
  FakeNode fake(node.dir().path());
  fake.Serve(ReadFile(tar));
  {
    const fs::path out = node / "asked-for-case-x";
    RunResult r =
        RunKhronika({"export", "--node", fake.url(), "--pin", fake.pin(), "--token",
                     "khr_" + std::string(64, '0'), "--case", "case-x", "--out", out.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_TRUE(NamesFile(r.err, "bundle.json")) << r.err;
    EXPECT_EQ(r.out.find("bundle verified"), std::string::npos) << r.out;
  }

  // Hand-made hostile archives: our extractor refuses each and creates nothing outside the
  // folder it was given.
  const fs::path stage = node / "stage";
  fs::create_directories(stage / entry / "files" / "0");
  WriteFile(stage / "payload.txt", "escaped\n");
  WriteFile(stage / "payload22.txt", "replaced\n");
  const fs::path arena = node / "arena";
  fs::create_directories(arena);
  const fs::path absolute_target = node / "absolute-escape";
  struct HostileTar {
    std::string what;
    std::vector<std::string> tar_args;  // after "tar -cf FILE -C stage"
    std::string named;                  // what stderr must name
  };
  fs::create_symlink("/etc/passwd", stage / entry / "files" / "0" / "content.txt");
  WriteFile(stage / "REPORT.md", "linked\n");
  fs::create_hard_link(stage / "REPORT.md", stage / "bundle.json");
  std::vector<HostileTar> tars = {
      {"dot-dot", {"-P", "--transform", "s,^payload.txt$,../escape,", "payload.txt"}, "../escape"},
      {"absolute",
       {"-P", "--transform", "s,^payload.txt$," + absolute_target.string() + ",", "payload.txt"},
       absolute_target.string()},
      {"symlink", {entry + "/files/0/content.txt"}, entry + "/files/0/content.txt"},
      {"hard link", {"REPORT.md", "bundle.json"}, "'bundle.json' is not a regular file"},
      {"a bundle path twice",
       {"--transform", "s,^payload2*\\.txt$,REPORT.md,", "payload.txt", "payload22.txt"},
       "REPORT.md: File exists"},
  };
  for (const HostileTar& h : tars) {
    SCOPED_TRACE(h.what);
    const fs::path archive = node / ("hostile-" + std::to_string(&h - tars.data()) + ".tar");
    // ustar, so that the hostile names sit in the plain header fields (GNU long-name and pax
    // records are read too, and checked the same way).
    std::vector<std::string> argv = {"tar", "--format=ustar", "-cf", archive.string(),
                                     "-C",  stage.string()};
    argv.insert(argv.end(), h.tar_args.begin(), h.tar_args.end());
    RunResult made = RunProgram(argv);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    RunResult listed = RunProgram({"tar", "-tvf", archive.string()});
    SCOPED_TRACE("the archive holds:\n" + listed.out);
    fake.Serve(ReadFile(archive));
    const fs::path out = arena / "out";
    RunResult r =
        RunKhronika({"export", "--node", fake.url(), "--pin", fake.pin(), "--token",
                     "khr_" + std::string(64, '0'), "--case", "case-h", "--out", out.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(h.named), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("bundle verified"), std::string::npos) << r.out;
    for (const std::string& p : Tree(arena))
      EXPECT_EQ(p.rfind("out", 0), 0u) << "outside out/: " << p;
    if (fs::exists(out)) {
      for (const std::string& p : Tree(out)) {
        EXPECT_EQ(p.find('@'), std::string::npos) << "a link was made: " << p;
      }
    }
    EXPECT_FALSE(fs::exists(fs::symlink_status(arena / "escape")));
    // A refused archive leaves nothing behind: the partial folder is removed.
    EXPECT_FALSE(fs::exists(fs::symlink_status(out))) << "a partial export was left in " << out;
    EXPECT_FALSE(fs::exists(fs::symlink_status(absolute_target)));
    fs::remove_all(out);
  }
}

// ---------------------------------------------------------------- 5. selective disclosure

// Content that names itself at both ends, so that any piece of it that leaks can be found.
std::string Canary(const std::string& name, size_t size) {
  std::string s = "canary " + name + " begins here; ";
  const std::string tail = " and canary " + name + " ends here.";
  uint64_t x = std::hash<std::string>()(name) | 1;
  while (s.size() + tail.size() < size) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    s.push_back(static_cast<char>(x));
  }
  return s + tail;
}

bool Holds(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The issue's case: one file of a case of five, exported by a lawyer through the real CLI over
// HTTPS. The bundle holds that file and what proves it; of the four others, not a byte of their
// content, their names, their plaintext SHA-256 or the SHA-256 of any of their 1 MiB chunks (the
// ids they were uploaded under), in hex or binary, and not the undisclosed entries' metadata.
// verify-bundle and the by-hand procedure (docs/tools/check_bundle.sh) both accept it.
TEST(bundle_integration, OneFileOfAFiveFileCaseDisclosesThatFileAndNothingElse) {
  ServedNode node;
  Token submitter = MakeToken(node.data(), "submitter");
  Token lawyer = MakeToken(node.data(), "reader", {"case-5"});
  const fs::path in = node / "in";
  fs::create_directories(in);
  std::map<std::string, std::string> content;  // name -> bytes
  std::map<std::string, fs::path> path;
  for (const char* n : {"alpha", "bravo", "charlie", "delta", "echo"}) {
    // charlie is uploaded in two chunks, whose ids are not its SHA-256
    const std::string name = std::string(n) + "-secret-name" +
                             (std::string(n) == "bravo" ? ".pdf" : ".txt");
    content[name] = Canary(n, std::string(n) == "charlie" ? kMiB + 5000 : 3000);
    path[name] = in / name;
    WriteFile(path[name], content[name]);
  }
  WriteFile(in / "other-case.txt", "evidence of case-x\n");
  auto submit = [&](const std::string& case_id, const std::vector<std::string>& names,
                    const std::vector<std::string>& extra) {
    std::vector<fs::path> files;
    for (const std::string& n : names) files.push_back(n == "other-case.txt" ? in / n : path[n]);
    RunResult r = node.Submit(submitter.secret, case_id, files, extra);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return json::parse(r.out, nullptr, false).value("entry_id", std::string());
  };
  const std::string a = submit(
      "case-5", {"alpha-secret-name.txt", "bravo-secret-name.pdf", "charlie-secret-name.txt"},
      {"--meta", "place=disclosed-place"});
  submit("case-x", {"other-case.txt"}, {"--meta", "place=other-case-place"});
  submit("case-5", {"delta-secret-name.txt"}, {"--meta", "place=withheld-place-delta"});
  submit("case-5", {"echo-secret-name.txt"}, {"--kind", "interview"});
  ASSERT_EQ(a.size(), 64u);
  ASSERT_FALSE(::testing::Test::HasFailure());

  const fs::path tar = node / "one.tar";
  RunResult e = ExportRemote(node, lawyer.secret, "case-5", tar, true,
                             {"--entry", a, "--file", "bravo-secret-name.pdf"});
  ASSERT_EQ(e.exit_code, 0) << e.out << e.err;
  const std::string one = Verified("case-5", "3 records, 1 entry and 1 file");
  EXPECT_NE(e.out.find(one), std::string::npos) << e.out;
  RunResult v = VerifyBundle(tar);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find(one), std::string::npos) << v.out;

  const std::string bytes = ReadFile(tar);
  EXPECT_TRUE(Holds(bytes, content["bravo-secret-name.pdf"]));
  EXPECT_TRUE(Holds(bytes, "bravo-secret-name.pdf"));
  EXPECT_TRUE(Holds(bytes, "disclosed-place"));  // the disclosed entry's metadata
  for (const auto& [name, data] : content) {
    if (name == "bravo-secret-name.pdf") continue;
    SCOPED_TRACE(name);
    const std::string stem = name.substr(0, name.find('-'));
    EXPECT_FALSE(Holds(bytes, "canary " + stem));
    EXPECT_FALSE(Holds(bytes, data.substr(data.size() / 2, 32)));
    EXPECT_FALSE(Holds(bytes, name));
    EXPECT_FALSE(Holds(bytes, stem + "-secret"));
    std::vector<std::string> hashes = {data};
    for (size_t at = 0; data.size() > kMiB && at < data.size(); at += kMiB) {
      hashes.push_back(data.substr(at, kMiB));  // each upload chunk
    }
    for (const std::string& piece : hashes) {
      const std::string hex = HexSha256(piece);
      std::string binary;
      for (size_t i = 0; i < hex.size(); i += 2) {
        binary.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
      }
      EXPECT_FALSE(Holds(bytes, hex)) << piece.size() << " bytes";
      EXPECT_FALSE(Holds(bytes, binary)) << piece.size() << " bytes";
    }
  }
  for (const char* withheld : {"withheld-place-delta", "interview", "other-case", "case-x"}) {
    EXPECT_FALSE(Holds(bytes, withheld)) << withheld;
  }

  // What a court sees: three records, one of them opened, with one of its three files.
  const fs::path folder = node / "one";
  ASSERT_EQ(Untar(tar, folder).exit_code, 0);
  ExpectOnlyBundlePaths(folder);
  ExpectEvidence(folder, {{"bravo-secret-name.pdf", path["bravo-secret-name.pdf"]}});
  const std::vector<std::string> records = RecordDirs(folder);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_TRUE(fs::is_regular_file(folder / records[0] / "entry.key"));
  EXPECT_EQ(Tree(folder / records[0] / "files"),
            (std::set<std::string>{"1/", "1/content.pdf", "1/descriptor.bin", "1/descriptor.json",
                                   "1/file.key", "1/salt.hex", "1/sealed/", "1/sealed/0.bin"}));
  for (size_t i = 1; i < records.size(); ++i) {
    EXPECT_TRUE(fs::is_regular_file(folder / records[i] / "link.key")) << records[i];
    EXPECT_FALSE(fs::exists(folder / records[i] / "entry.key")) << records[i];
    EXPECT_FALSE(fs::exists(folder / records[i] / "files")) << records[i];
  }
  json index = json::parse(ReadFile(folder / "bundle.json"));
  ASSERT_EQ(index["records"].size(), 3u);
  EXPECT_EQ(index["records"][0]["entry_id"], a);
  EXPECT_EQ(index["records"][0]["files"], 3);
  EXPECT_EQ(index["records"][0]["disclosed_files"], json::array({1}));
  EXPECT_EQ(index["records"][1]["disclosed"], false);
  const std::string report = ReadFile(folder / "REPORT.md");
  EXPECT_TRUE(Holds(report, "2 other files of this entry not disclosed")) << report;
  EXPECT_TRUE(Holds(report, ". Not disclosed\n")) << report;

  // The export, and what it chose, is on record.
  RunResult log = RunKhronika({"access-log", "--data", node.data().string(), "--json"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  bool logged = false;
  for (const std::string& line : Lines(log.out)) {
    json ev = json::parse(line);
    if (ev["action"] == "export" && ev["case"] == "case-5" && ev["token_id"] == lawyer.id) {
      EXPECT_EQ(ev["object"], "case bundle (chosen: entries 1, files 1)") << line;
      logged = true;
    }
  }
  EXPECT_TRUE(logged) << log.out;

  // The expert's by-hand check, with stock tools only, passes it too.
  if (RunProgram({"python3", "-c", "import cryptography.hazmat.primitives.ciphers.aead"})
          .exit_code != 0) {
    GTEST_SKIP() << "python3 has no cryptography package: check_bundle.sh not run";
  }
  RunResult by_hand =
      RunProgram({"bash", std::string(KHRONIKA_SOURCE_DIR) + "/docs/tools/check_bundle.sh",
                  folder.string()});
  EXPECT_EQ(by_hand.exit_code, 0) << by_hand.out << by_hand.err;
  EXPECT_TRUE(Holds(by_hand.out, "bundle check: 8 of 8 steps passed")) << by_hand.out;
  EXPECT_TRUE(Holds(by_hand.out, "\"bravo-secret-name.pdf\", 3000 bytes, as signed")) << by_hand.out;
}

}  // namespace
}  // namespace khronika::testing
