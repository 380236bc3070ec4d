// What a partner learns of another member's evidence (issue #14, docs/threat-model.md "What a
// partner learns (evidence format 2)"): three federated nodes A, B and C; at A, 1,000 canaries
// (random strings) in file contents, file names, media types, metadata keys and values, kinds,
// case ids and author names, submitted with `khronika add`, `khronika submit` over HTTPS and a
// hand-built POST /v1/entries; B takes A's log partly through C (a relay) and partly from A. Then,
// with B's keys unlocked, everything B can show is searched: B's store opened through its own
// Node API (every table, keys and values decrypted, and every logged entry B's archive key
// opens), every file of B's data directory, B's server output and its sync commands' output, its
// git mirror export (every object, decompressed), every answer of every route of docs/api.md to
// an admin, submitter, reader and auditor token of B, the /v1/sync/* answers to C's certificate,
// and `khronika log/verify/conflicts/status/...` on B. None of the canaries is found, nor A's
// authors' public keys, nor the plaintext SHA-256 of any file or 1 MiB chunk, in any of these
// forms: raw, hex (lower and upper case) and base64 (standard and URL-safe, at each of the three
// alignments a value may have inside a longer encoding).
//
// The search can fail: the very same dump, run on A with A's keys, finds every canary, and A's
// API finds them too; on B it finds B's own canaries (an entry B logged itself), and in B's
// mirror, store and sync answers it finds A's entry ids, which B does hold.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/schemas/bytes.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealing.h"
#include "khronika/store/store.h"
#include "server_fixture.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- secrets and the forms they may take ----

struct Secret {
  std::string category;  // "file name", "content", "file SHA-256", ...
  std::string value;     // bytes (a canary's text, a raw hash, a raw key)
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Every way `value` may be written: as is, hex, and base64 (both alphabets) of each of the three
// alignments it can have inside a longer base64 text (the whole 3-byte groups only).
std::vector<std::string> Forms(const std::string& value) {
  std::vector<std::string> out = {value};
  const std::string hex = ToHex(AsBytes(value));
  out.push_back(Lower(hex));
  out.push_back(Upper(hex));
  for (size_t skip = 0; skip < 3 && skip < value.size(); ++skip) {
    std::string part = value.substr(skip);
    part.resize(part.size() / 3 * 3);
    if (part.size() < 6) continue;
    std::string b64 = Base64Encode(AsBytes(part));
    out.push_back(b64);
    std::string url = b64;
    for (char& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c;
    if (url != b64) out.push_back(url);
  }
  return out;
}

// Finds which secrets occur in a text, in one pass: each needle (a form of a secret, at least 8
// bytes) is keyed by its first 8 bytes, with a 24-bit filter on its first 3 so that most
// positions cost one bit test. 1,000 secrets in a few dozen MiB take about a second.
class Finder {
 public:
  explicit Finder(const std::vector<Secret>& secrets) : filter_(size_t{1} << 18) {
    for (size_t s = 0; s < secrets.size(); ++s) {
      for (std::string& form : Forms(secrets[s].value)) {
        if (form.size() < 8) throw std::runtime_error("needle too short: " + secrets[s].category);
        const int n = static_cast<int>(needles_.size());
        by_prefix_[Prefix(form.data())].push_back(n);
        const uint32_t bit = Bit3(form.data());
        filter_[bit >> 6] |= uint64_t{1} << (bit & 63);
        needles_.push_back(std::move(form));
        owner_.push_back(s);
      }
    }
  }
  // Secret index -> offset of its first occurrence found.
  std::map<size_t, size_t> Find(std::string_view text) const {
    std::map<size_t, size_t> found;
    if (text.size() < 8) return found;
    for (size_t i = 0; i + 8 <= text.size(); ++i) {
      const uint32_t bit = Bit3(text.data() + i);
      if (!(filter_[bit >> 6] >> (bit & 63) & 1)) continue;
      auto it = by_prefix_.find(Prefix(text.data() + i));
      if (it == by_prefix_.end()) continue;
      for (int n : it->second) {
        const std::string& needle = needles_[n];
        if (text.size() - i >= needle.size() &&
            std::memcmp(text.data() + i, needle.data(), needle.size()) == 0) {
          found.emplace(owner_[n], i);
        }
      }
    }
    return found;
  }

 private:
  static uint64_t Prefix(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static uint32_t Bit3(const char* p) {
    auto u = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
    return u(0) << 16 | u(1) << 8 | u(2);
  }
  std::vector<std::string> needles_;
  std::vector<size_t> owner_;
  std::unordered_map<uint64_t, std::vector<int>> by_prefix_;
  std::vector<uint64_t> filter_;
};

// A printable excerpt around `at`, for failure messages.
std::string Around(std::string_view text, size_t at) {
  size_t from = at < 60 ? 0 : at - 60;
  std::string out;
  for (char c : text.substr(from, 180)) {
    out += (c >= 32 && c < 127) ? c : '.';
  }
  return out;
}

std::string Trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}
size_t CountOf(const std::map<std::string, size_t>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

std::string RandomHex(size_t n) {
  static std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += kHex[rng() % 16];
  return s;
}

// ---- a node's store, opened with its own keys ----

// Every key and value of every table of the node's store, as its own Store API gives them
// (decrypted with its data key), then every logged entry its archive key opens: the signed
// entry's bytes, case id, metadata, each file's descriptor (name, media type, raw SHA-256) and
// plaintext. `opened` counts, per origin (hex), the entries opened; `refused` those it did not.
struct NodeDump {
  std::string text;
  size_t rows = 0;
  std::map<std::string, size_t> opened, refused;
  std::set<std::string> chunk_ids;  // hex, of the sealed chunks held
};

NodeDump DumpNode(const fs::path& data, const fs::path& key_file) {
  NodeDump d;
  StoreOptions options;
  options.read_only = true;
  auto node = Node::Open(data, options, Unlock{.passphrase = "", .key_file = key_file});
  if (!node.ok()) {
    ADD_FAILURE() << "open " << data << ": " << node.status().ToString();
    return d;
  }
  Status s = (*node)->store().View([&](ReadTxn& txn) -> Status {
    for (int t = 0; t < kTableCount; ++t) {
      const Table table = static_cast<Table>(t);
      KH_RETURN_IF_ERROR(txn.Scan(table, {}, [&](ByteView k, ByteView v) -> Result<bool> {
        d.text += TableName(table);
        d.text += '\n';
        d.text += AsChars(k);
        d.text += '\n';
        d.text += AsChars(v);
        d.text += '\n';
        ++d.rows;
        if (table == Table::kChunks) d.chunk_ids.insert(ToHex(k));
        return true;
      }));
    }
    std::vector<std::pair<Hash, uint64_t>> records;
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kRecords, {}, [&](ByteView k) -> Result<bool> {
      if (k.size() != 40) return Status::Corruption("a records key of " + std::to_string(k.size()));
      Hash origin;
      std::copy(k.begin(), k.begin() + 32, origin.begin());
      records.push_back({origin, ReadBigEndian64(k.data() + 32)});
      return true;
    }));
    const EntryKey archive = EntryKey::Archive((*node)->archive_key());
    for (const auto& [origin, index] : records) {
      KH_ASSIGN_OR_RETURN(LoggedObject o, ReadLoggedObject(txn, origin, index));
      auto e = OpenEntry(txn, origin, archive, o.record.object_id);
      if (!e.ok()) {
        ++d.refused[ToHex(origin)];
        continue;
      }
      ++d.opened[ToHex(origin)];
      d.text += e->case_id + '\n' + e->entry.kind + '\n';
      d.text += AsChars(e->signed_entry_bytes);
      d.text += std::string(AsChars(ByteView(e->entry.author.data(), e->entry.author.size())));
      for (const auto& [k, v] : e->entry.metadata) d.text += k + '=' + v + '\n';
      for (uint32_t i = 0; i < e->files.size(); ++i) {
        const FileDescriptor& f = e->files[i].descriptor;
        d.text += f.name + '\n' + f.media_type + '\n';
        d.text += AsChars(ByteView(f.content_sha256.data(), f.content_sha256.size()));
        auto reader = SealedFileReader::Open(ChunksIn(txn), e->sealed, f,
                                             DeriveFileKey(e->case_key, e->sealed.nonce, i), i);
        KH_RETURN_IF_ERROR(reader.status());
        for (uint64_t at = 0; at < reader->size();) {
          KH_ASSIGN_OR_RETURN(Bytes piece, reader->Read(at, kChunkSize));
          if (piece.empty()) return Status::Corruption("short file");
          d.text += AsChars(piece);
          at += piece.size();
        }
      }
    }
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return d;
}

// Every file under `dir`, concatenated.
std::string FilesUnder(const fs::path& dir) {
  std::string out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out += e.path().string() + '\n' + ReadFile(e.path()) + '\n';
  }
  return out;
}

std::string Answer(const HttpReply& r) {
  return std::to_string(r.status) + '\n' + r.headers + '\n' + r.body + '\n';
}

TEST(CanaryTest, APartnerWithItsKeysUnlockedFindsNoneOfAMembersSecrets) {
  ServedNode a, b, c;
  Federate({&a, &b, &c});
  const json id_a = IdOf(a.data()), id_b = IdOf(b.data()), id_c = IdOf(c.data());
  const std::string origin_a = id_a["node_id"], origin_b = id_b["node_id"],
                    origin_c = id_c["node_id"];

  // ---- the secrets of A ----
  std::vector<Secret> secrets;
  auto canary = [&](const std::string& category) {
    secrets.push_back({category, RandomHex(24)});
    return secrets.back().value;
  };
  auto file_hashes = [&](const std::string& content) {
    secrets.push_back({"file SHA-256", std::string(AsChars(Sha256(AsBytes(content))))});
    for (size_t off = 0; off < content.size(); off += kChunkSize) {
      Hash h = Sha256(AsBytes(std::string_view(content).substr(off, kChunkSize)));
      secrets.push_back({"1 MiB chunk SHA-256", std::string(AsChars(h))});
    }
  };
  // Two authors of A, their names canaries; their public keys must not reach B either.
  std::vector<fs::path> author_keys;
  for (int i = 0; i < 2; ++i) {
    const fs::path key = a / ("canary-author" + std::to_string(i) + ".key");
    RunResult made = RunKhronika({"keygen", "--out", key.string()});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    const std::string printed = Trimmed(made.out);
    ASSERT_GE(printed.size(), 64u) << printed;
    const std::string hex = printed.substr(printed.size() - 64);
    secrets.push_back({"author public key", std::string(AsChars(*FromHex(hex)))});
    RunResult added =
        RunKhronika({"author", "add", "--data", a.data().string(), "--name",
                     "Author " + canary("author name"), "--pubkey", key.string() + ".pub"});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    author_keys.push_back(key);
  }
  std::vector<std::string> cases;
  for (int i = 0; i < 20; ++i) cases.push_back("case-" + canary("case id"));

  // Bulk: `khronika add`, 60 entries of 3 files and 5 metadata pairs, a kind of its own each.
  int entry_number = 0;
  auto add_entries = [&](int count) {
    for (int i = 0; i < count; ++i, ++entry_number) {
      const fs::path dir = a / ("e" + std::to_string(entry_number));
      fs::create_directories(dir);
      std::vector<std::string> argv = {"add",
                                       "--data",
                                       a.data().string(),
                                       "--key",
                                       author_keys[entry_number % 2].string(),
                                       "--case",
                                       cases[entry_number % cases.size()],
                                       "--kind",
                                       "k" + canary("kind")};
      for (int m = 0; m < 5; ++m) {
        argv.push_back("--meta");
        argv.push_back(canary("metadata key") + "=" + canary("metadata value"));
      }
      for (int f = 0; f < 3; ++f) {
        const fs::path file = dir / (canary("file name") + ".txt");
        const std::string content = "statement " + canary("file content") + "\n";
        WriteFile(file, content);
        file_hashes(content);
        argv.push_back(file.string());
      }
      RunResult r = RunKhronika(argv);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  };
  // Over HTTPS, the real path: `khronika submit`, one file of several 1 MiB chunks.
  const Token submitter = MakeToken(a.data(), "submitter");
  auto submit_entries = [&](int count) {
    for (int i = 0; i < count; ++i, ++entry_number) {
      const fs::path dir = a / ("s" + std::to_string(entry_number));
      fs::create_directories(dir);
      std::vector<fs::path> files;
      for (int f = 0; f < 2; ++f) {
        files.push_back(dir / (canary("file name") + ".txt"));
        std::string content = "witness statement " + canary("file content") + "\n";
        if (i == 0 && f == 0) {
          // 2.5 MiB: three chunks, the canary at the start of each.
          std::string big;
          while (big.size() < 5 * kChunkSize / 2) big += content;
          for (size_t off = 0; off < big.size(); off += kChunkSize) {
            big.replace(off, content.size(), content);
          }
          content = big;
        }
        WriteFile(files.back(), content);
        file_hashes(content);
      }
      // ServedNode::Submit signs with the node's default author; an A author signs here.
      std::vector<std::string> argv = {"submit",
                                       "--node",
                                       a.server().url(),
                                       "--pin",
                                       a.server().pin(),
                                       "--token",
                                       submitter.secret,
                                       "--key",
                                       author_keys[entry_number % 2].string(),
                                       "--case",
                                       cases[entry_number % cases.size()],
                                       "--json",
                                       "--kind",
                                       "k" + canary("kind")};
      for (int m = 0; m < 3; ++m) {
        argv.push_back("--meta");
        argv.push_back(canary("metadata key") + "=" + canary("metadata value"));
      }
      for (const fs::path& f : files) argv.push_back(f.string());
      RunResult r = RunKhronika(argv);
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  };
  // By hand over POST /v1/entries, for what the command line does not let one choose: the
  // media type.
  auto post_entries = [&](int count) {
    for (int i = 0; i < count; ++i, ++entry_number) {
      const std::string content = "photo " + canary("file content") + "\n";
      BuiltSubmission s = BuildSubmission(author_keys[0], cases[entry_number % cases.size()],
                                          canary("file name") + ".bin", content);
      file_hashes(content);
      s.body["files"][0]["descriptor"]["media_type"] = "application/x-" + canary("media type");
      s.body["entry"]["metadata"] = {{canary("metadata key"), canary("metadata value")}};
      Resign(author_keys[0], s);
      ASSERT_TRUE(UploadChunks(a.server(), submitter.secret, s));
      HttpRequest post;
      post.method = "POST";
      post.path = "/v1/entries";
      post.token = submitter.secret;
      post.body = s.body.dump();
      post.headers = {"Content-Type: application/json"};
      HttpReply r = Curl(a.server(), post);
      ASSERT_EQ(r.status, 201) << r.Describe();
    }
  };

  // B's own entry, with canaries of its own: what B's keys do open (the control on B).
  std::vector<Secret> b_own;
  const std::string b_case = "case-" + RandomHex(24), b_name = RandomHex(24) + ".txt",
                    b_content = "our statement " + RandomHex(24) + "\n", b_meta_key = RandomHex(24),
                    b_meta_value = RandomHex(24), b_author = "Author " + RandomHex(24);
  for (const std::string& v : {b_case, b_name, b_content, b_meta_key, b_meta_value, b_author}) {
    b_own.push_back({"B's own", v});
  }
  {
    const fs::path key = b / "b-author.key";
    ASSERT_EQ(RunKhronika({"keygen", "--out", key.string()}).exit_code, 0);
    ASSERT_EQ(RunKhronika({"author", "add", "--data", b.data().string(), "--name", b_author,
                           "--pubkey", key.string() + ".pub"})
                  .exit_code,
              0);
    WriteFile(b / b_name, b_content);
    RunResult r =
        RunKhronika({"add", "--data", b.data().string(), "--key", key.string(), "--case", b_case,
                     "--meta", b_meta_key + "=" + b_meta_value, (b / b_name).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::vector<json> b_log = LogJson(b.data());
  ASSERT_EQ(b_log.size(), 1u);
  const std::string b_entry = b_log[0]["entry_id"];

  // First batch; C takes it from A, B from C (C relays A's log, which it cannot read either).
  std::vector<RunResult> b_syncs;
  add_entries(30);
  ASSERT_FALSE(HasFatalFailure());
  submit_entries(3);
  ASSERT_FALSE(HasFatalFailure());
  RunResult sc = RunKhronika({"sync", "--data", c.data().string(), "--peer", origin_a});
  ASSERT_EQ(sc.exit_code, 0) << sc.out << sc.err;
  b_syncs.push_back(RunKhronika({"sync", "--data", b.data().string(), "--peer", origin_c}));
  ASSERT_EQ(b_syncs.back().exit_code, 0) << b_syncs.back().out << b_syncs.back().err;
  // Second batch; B takes it from A itself.
  add_entries(30);
  ASSERT_FALSE(HasFatalFailure());
  submit_entries(3);
  ASSERT_FALSE(HasFatalFailure());
  post_entries(4);
  ASSERT_FALSE(HasFatalFailure());
  // Reads and an export of A's canary cases at A: custody events naming canary case ids and
  // entries, which A's serve seals into custody records of its log (docs/format.md section 7.3),
  // which B then holds with the rest of A's log.
  {
    std::vector<json> a_log = LogJson(a.data());
    ASSERT_GE(a_log.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      HttpReply r = Get(a.server(), "/v1/entries/" + a_log[i]["entry_id"].get<std::string>() +
                                        "/files/0/content", a.admin().secret);
      ASSERT_EQ(r.status, 200) << r.Describe();
    }
    HttpReply bundle = Get(a.server(), "/v1/cases/" + a_log[0]["case"].get<std::string>() +
                                           "/bundle", a.admin().secret);
    ASSERT_EQ(bundle.status, 200) << bundle.Describe();
    bool logged = false;
    for (int tries = 0; tries < 300 && !logged; ++tries) {
      HttpReply events = Get(a.server(), "/v1/access-log?limit=1000", a.admin().secret);
      ASSERT_EQ(events.status, 200) << events.Describe();
      const json listed = events.Json()["events"];
      logged = listed.size() >= 4;
      for (const json& e : listed) logged = logged && !e["logged"].is_null();
      if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(logged) << "A's custody events were not sealed into its log";
  }
  b_syncs.push_back(RunKhronika({"sync", "--data", b.data().string(), "--peer", origin_a}));
  ASSERT_EQ(b_syncs.back().exit_code, 0) << b_syncs.back().out << b_syncs.back().err;
  RunResult sc2 = RunKhronika({"sync", "--data", c.data().string()});
  EXPECT_EQ(sc2.exit_code, 0) << sc2.out << sc2.err;
  b_syncs.push_back(RunKhronika({"sync", "--data", b.data().string()}));
  EXPECT_EQ(b_syncs.back().exit_code, 0) << b_syncs.back().out << b_syncs.back().err;

  {
    RunResult held =
        RunKhronika({"log", "--data", b.data().string(), "--origin", origin_a, "--json"});
    ASSERT_EQ(held.exit_code, 0) << held.err;
    EXPECT_NE(held.out.find("\"custody_record\""), std::string::npos)
        << "B holds no custody record of A's: the search below would not cover them";
  }

  size_t canaries = 0;
  for (const Secret& s : secrets) {
    canaries +=
        s.category.find("SHA-256") == std::string::npos && s.category != "author public key";
  }
  EXPECT_GE(canaries, 1000u);
  const std::vector<json> a_log = LogRecordsJson(a.data());
  RunResult b_log_a =
      RunKhronika({"log", "--data", b.data().string(), "--origin", origin_a, "--json"});
  ASSERT_EQ(b_log_a.exit_code, 0) << b_log_a.err;
  ASSERT_EQ(JsonLines(b_log_a.out).size(), a_log.size()) << "B holds all of A's log";
  // A's log also holds its custody records (the reads and export above), which B holds too.
  ASSERT_EQ(std::count_if(a_log.begin(), a_log.end(),
                          [](const json& r) { return r["object_type"] != "custody_record"; }),
            entry_number);
  std::vector<std::string> a_entries;
  for (const json& r : a_log) a_entries.push_back(r["entry_id"]);
  // A's entry ids are public handles B holds: the search must find them on B (the control).
  std::vector<Secret> held;
  for (const std::string& id : a_entries)
    held.push_back({"A's entry id", std::string(AsChars(*FromHex(id)))});

  const Finder finder(secrets), own_finder(b_own), held_finder(held);
  // On B: every corpus searched, by name. None may hold a secret of A.
  std::map<std::string, std::string> on_b;
  // Requests that carry a secret of A (a case id asked for): the answer may echo it, and only
  // what it holds beyond that is searched.
  struct Echoed {
    std::string name, text;
    std::set<size_t> asked;
  };
  std::vector<Echoed> echoed;

  // ---- every API answer B gives, to every role ----
  const Token b_admin = b.admin(), b_submitter = MakeToken(b.data(), "submitter"),
              b_reader = MakeToken(b.data(), "reader", {b_case}),
              b_auditor = MakeToken(b.data(), "auditor");
  const std::vector<std::pair<std::string, const Token*>> roles = {{"admin", &b_admin},
                                                                   {"submitter", &b_submitter},
                                                                   {"reader", &b_reader},
                                                                   {"auditor", &b_auditor}};
  std::string& api = on_b["API answers"];
  size_t answered_200 = 0;
  auto get = [&](const std::string& path, const Token& t) {
    HttpReply r = Get(b.server(), path, t.secret);
    answered_200 += r.status == 200;
    // The path is not searched: it is what B asked, and it names A's entries (the control below
    // must find them in what B answers, not in the question).
    api += Answer(r);
    return r;
  };
  for (const auto& [role, token] : roles) {
    SCOPED_TRACE(role);
    for (const std::string& path :
         {std::string("/healthz"), std::string("/"), std::string("/v1/session"),
          std::string("/v1/cases"), std::string("/v1/cases/") + b_case + "/entries",
          std::string("/v1/cases/") + b_case + "/bundle", std::string("/v1/checkpoint"),
          std::string("/v1/checkpoint/witnessed"), std::string("/v1/proof/consistency?from=0"),
          std::string("/v1/proof/inclusion?index=0"), std::string("/v1/logs"),
          std::string("/v1/conflicts"), std::string("/v1/node/status"),
          std::string("/v1/access-log?limit=1000"), std::string("/metrics"),
          "/v1/entries/" + b_entry, "/v1/entries/" + b_entry + "/files/0/content"}) {
      get(path, *token);
    }
    for (const std::string& origin : {origin_a, origin_b, origin_c}) {
      for (size_t from = 0; from < a_entries.size() + 1; from += 1000) {
        get("/v1/logs/" + origin + "/records?from=" + std::to_string(from) + "&limit=1000", *token);
      }
    }
    // Every record of A's log, as proofs; every entry of A's by its id: 404, A's log is not B's.
    const size_t n = role == "admin" ? a_entries.size() : 3;
    for (size_t i = 0; i < n; ++i) {
      get("/v1/proof/inclusion?index=" + std::to_string(i) + "&origin=" + origin_a, *token);
      HttpReply e = get("/v1/entries/" + a_entries[i], *token);
      EXPECT_NE(e.status, 200) << e.Describe();
      for (int f = 0; f < (i < 3 ? 2 : 1); ++f) {
        HttpReply content =
            get("/v1/entries/" + a_entries[i] + "/files/" + std::to_string(f) + "/content", *token);
        EXPECT_NE(content.status, 200) << content.Describe();
        EXPECT_NE(content.status, 206) << content.Describe();
      }
    }
  }
  EXPECT_GT(answered_200, 40u);
  // The sync endpoints, to C's certificate (C is a configured peer of B): what a partner, or
  // anyone who took C's key, gets of A's log from B.
  const std::vector<std::string> as_c = {"--cert", (c.data() / "tls.crt").string(), "--key",
                                         (c.data() / "tls.key").string()};
  std::string& sync_answers = on_b["sync answers to C"];
  auto sync = [&](const std::string& method, const std::string& path, const std::string& body) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.extra_args = as_c;
    if (!body.empty()) {
      r.body = body;
      r.headers = {"Content-Type: application/json"};
    }
    HttpReply reply = Curl(b.server(), r);
    sync_answers += Answer(reply);
    return reply;
  };
  EXPECT_EQ(sync("GET", "/v1/sync/heads", "").status, 200);
  const std::string n_a = std::to_string(a_entries.size());
  EXPECT_EQ(sync("GET", "/v1/sync/consistency?origin=" + origin_a + "&from=1&to=" + n_a, "").status,
            200);
  for (size_t from = 0; from < a_entries.size();) {
    HttpReply pack = sync(
        "GET", "/v1/sync/pack?origin=" + origin_a + "&from=" + std::to_string(from) + "&to=" + n_a,
        "");
    ASSERT_EQ(pack.status, 200) << pack.Describe();
    from += 512;  // a pack holds at most 512 records; A's log is far shorter
  }

  // ---- B's store, through its own Node API, with its keys ----
  const NodeDump b_dump = DumpNode(b.data(), b.dir() / "node.key-file");
  on_b["B's store (decrypted)"] = b_dump.text;
  EXPECT_EQ(CountOf(b_dump.opened, origin_a), 0u) << "B's archive key opened an entry of A";
  EXPECT_EQ(CountOf(b_dump.refused, origin_a), a_entries.size());
  EXPECT_EQ(CountOf(b_dump.opened, origin_b), 1u) << "the control: B opens its own entry";
  ASSERT_FALSE(b_dump.chunk_ids.empty());
  std::vector<std::string> chunk_ids(b_dump.chunk_ids.begin(), b_dump.chunk_ids.end());
  size_t chunks_sent = 0;
  for (size_t i = 0; i < chunk_ids.size(); i += 4) {
    json ids = json::array();
    for (size_t j = i; j < std::min(i + 4, chunk_ids.size()); ++j) ids.push_back(chunk_ids[j]);
    HttpReply r = sync("POST", "/v1/sync/chunks", json{{"ids", ids}}.dump());
    ASSERT_EQ(r.status, 200) << r.Describe();
    chunks_sent += ids.size();
  }
  EXPECT_EQ(chunks_sent, chunk_ids.size());

  // ---- what B's commands print ----
  std::string& cli = on_b["B's commands"];
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"log", "--origin", origin_a, "--json"},
                                             {"log", "--origin", origin_c, "--json"},
                                             {"log", "--json"},
                                             {"verify"},
                                             {"conflicts"},
                                             {"conflicts", "--json"},
                                             {"status", "--json"},
                                             {"checkpoint", "--origin", origin_a},
                                             {"proof", "--index", "0", "--origin", origin_a},
                                             {"author", "list", "--json"},
                                             {"access-log", "--json"},
                                             {"token", "list"},
                                             {"scrub"},
                                             {"cat", b_entry, b_name}}) {
    std::vector<std::string> argv = {args[0]};
    size_t rest = 1;
    if (args[0] == "author" || args[0] == "token") argv.push_back(args[rest++]);
    argv.insert(argv.end(), {"--data", b.data().string()});
    argv.insert(argv.end(), args.begin() + static_cast<long>(rest), args.end());
    RunResult r = RunKhronika(argv);
    std::string line;
    for (const std::string& arg : argv) line += arg + ' ';
    EXPECT_EQ(r.exit_code, 0) << line << '\n' << r.out << r.err;
    cli += line + '\n' + r.out + '\n' + r.err + '\n';
  }
  for (const RunResult& r : b_syncs) cli += r.out + '\n' + r.err + '\n';

  // ---- B's git mirror, every object decompressed, and its refs ----
  const fs::path mirror = b / "mirror.git";
  RunResult exported =
      RunKhronika({"mirror", "export", "--data", b.data().string(), "--git", mirror.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.out << exported.err;
  cli += exported.out + exported.err;
  RunResult objects =
      RunProgram({"git", "-C", mirror.string(), "cat-file", "--batch-all-objects", "--batch"});
  ASSERT_EQ(objects.exit_code, 0) << objects.err;
  RunResult refs = RunProgram({"git", "-C", mirror.string(), "for-each-ref"});
  ASSERT_EQ(refs.exit_code, 0) << refs.err;
  on_b["B's git mirror"] = objects.out + '\n' + refs.out + '\n' + FilesUnder(mirror);
  EXPECT_GT(objects.out.size(), 1000u);

  // ---- B's logs and every file of its data directory ----
  on_b["B's server output"] = b.server().Stdout() + '\n' + b.server().Stderr();
  on_b["B's data directory"] = FilesUnder(b.data());

  // ---- requests that name A's secrets (as a nosy operator of B would) ----
  auto echo = [&](const std::string& name, const std::string& text, const std::string& asked) {
    Echoed e{name, text, {}};
    for (const auto& [s, at] : finder.Find(asked)) e.asked.insert(s);
    echoed.push_back(std::move(e));
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const std::string& case_id = cases[ci];
    for (const auto& [role, token] : roles) {
      if (role != "admin" && ci >= 5) continue;
      for (const std::string& path :
           {"/v1/cases/" + case_id + "/entries", "/v1/cases/" + case_id + "/bundle"}) {
        HttpReply r = Get(b.server(), path, token->secret);
        echo(role + " GET " + path, Answer(r), path);
        if (r.status == 200 && path.find("/entries") != std::string::npos) {
          EXPECT_TRUE(r.Json()["entries"].empty()) << r.Describe();
        } else {
          EXPECT_NE(r.status, 200) << path << ' ' << r.Describe();
        }
      }
    }
    RunResult log = RunKhronika({"log", "--data", b.data().string(), "--case", case_id, "--json"});
    echo("log --case " + case_id, log.out + log.err, case_id);
    EXPECT_EQ(log.out, "");
    RunResult exp = RunKhronika({"export", "--data", b.data().string(), "--case", case_id, "--out",
                                 (b / ("bundle-" + case_id)).string()});
    std::string bundle = exp.out + exp.err;
    if (fs::exists(b / ("bundle-" + case_id))) bundle += FilesUnder(b / ("bundle-" + case_id));
    echo("export --case " + case_id, bundle, case_id);
  }
  {
    // A reader of B limited to one of A's case ids (B's operator may type any case id it has
    // learnt): the case of B's log by that name is empty, and A's entries under it stay A's.
    const Token nosy = MakeToken(b.data(), "reader", {cases[0]});
    for (const std::string& path :
         {std::string("/v1/session"), std::string("/v1/cases"),
          "/v1/cases/" + cases[0] + "/entries", "/v1/cases/" + cases[0] + "/bundle"}) {
      HttpReply r = Get(b.server(), path, nosy.secret);
      echo("reader of " + cases[0] + " GET " + path, Answer(r), cases[0]);
      if (path.find("/entries") != std::string::npos) {
        ASSERT_EQ(r.status, 200) << r.Describe();
        EXPECT_TRUE(r.Json()["entries"].empty()) << r.Describe();
      }
    }
  }
  {
    // Whether B holds an upload chunk of A's files: per token, so "missing", all of them.
    json ids = json::array();
    for (const Secret& s : secrets) {
      if (s.category.find("SHA-256") != std::string::npos && ids.size() < 1000) {
        ids.push_back(ToHex(AsBytes(s.value)));
      }
    }
    HttpRequest r;
    r.method = "POST";
    r.path = "/v1/chunks/missing";
    r.token = b_submitter.secret;
    r.body = json{{"ids", ids}}.dump();
    r.headers = {"Content-Type: application/json"};
    HttpReply reply = Curl(b.server(), r);
    EXPECT_EQ(reply.status, 200) << reply.Describe();
    echo("POST /v1/chunks/missing", Answer(reply), *r.body);
  }

  // ---- the search on B ----
  std::map<std::string, size_t> hits_by_category;
  auto report = [&](const std::string& corpus, const std::string& text,
                    const std::set<size_t>& asked) {
    int shown = 0;
    for (const auto& [s, at] : finder.Find(text)) {
      if (asked.count(s)) continue;
      ++hits_by_category[secrets[s].category];
      if (++shown <= 10) {
        ADD_FAILURE() << "A's " << secrets[s].category << " found in " << corpus << ": ..."
                      << Around(text, at) << "...";
      }
    }
  };
  for (const auto& [corpus, text] : on_b) report(corpus, text, {});
  for (const Echoed& e : echoed) report(e.name, e.text, e.asked);
  for (const auto& [category, n] : hits_by_category) {
    ADD_FAILURE() << n << " of A's " << category << " secrets found on B";
  }

  // ---- the controls: the same search finds what is there ----
  // On B: B's own canaries, which its keys open, in its store, API answers and commands; A's
  // entry ids, which it holds, in its store, mirror, sync answers and commands.
  for (const std::string& corpus : {std::string("B's store (decrypted)"),
                                    std::string("B's commands"), std::string("API answers")}) {
    EXPECT_EQ(own_finder.Find(on_b[corpus]).size(), b_own.size()) << corpus;
  }
  for (const std::string& corpus : {std::string("B's store (decrypted)"),
                                    std::string("B's git mirror"), std::string("sync answers to C"),
                                    std::string("B's commands"), std::string("API answers")}) {
    EXPECT_EQ(held_finder.Find(on_b[corpus]).size(), held.size()) << corpus;
  }
  EXPECT_NE(on_b["B's server output"].find(b.server().fingerprint()), std::string::npos);
  // On A: its own store, dumped exactly as B's was, holds every secret but the 1 MiB chunk
  // hashes of multi-chunk files (those are nowhere once sealed, A included); its API answers
  // hold every case id, file name, media type, metadata, kind and file SHA-256.
  const NodeDump a_dump = DumpNode(a.data(), a.dir() / "node.key-file");
  // Every entry (A's custody records, among a_entries, are not entries).
  EXPECT_EQ(CountOf(a_dump.opened, origin_a), static_cast<size_t>(entry_number));
  std::string a_api;
  HttpReply a_cases = Get(a.server(), "/v1/cases", a.admin().secret);
  a_api += Answer(a_cases);
  for (const std::string& case_id : cases) {
    a_api +=
        Answer(Get(a.server(), "/v1/cases/" + case_id + "/entries?limit=1000", a.admin().secret));
  }
  const auto in_a_dump = finder.Find(a_dump.text), in_a_api = finder.Find(a_api);
  std::map<std::string, std::pair<size_t, size_t>> control;  // category -> (in dump, of all)
  for (size_t s = 0; s < secrets.size(); ++s) {
    const std::string& cat = secrets[s].category;
    control[cat].first += in_a_dump.count(s);
    ++control[cat].second;
    if (cat == "1 MiB chunk SHA-256") continue;
    EXPECT_TRUE(in_a_dump.count(s)) << "the control: A's " << cat << " not in A's own dump";
    const bool listed = cat != "file content" && cat != "author name";
    if (listed) {
      EXPECT_TRUE(in_a_api.count(s)) << "the control: A's " << cat << " not in A's API";
    }
  }
  for (const auto& [cat, counts] : control) {
    std::cout << "control on A's store: " << counts.first << " of " << counts.second << ' ' << cat
              << '\n';
  }
  std::cout << "searched on B:";
  for (const auto& [corpus, text] : on_b)
    std::cout << ' ' << corpus << " (" << text.size() << " B)";
  std::cout << ", and " << echoed.size() << " answers to requests naming A's case ids\n";
}

}  // namespace
}  // namespace khronika::testing
