// What a seized disk shows, checked claim by claim against docs/threat-model.md ("A seized
// disk"): an encrypted node with entries in three cases (two logs), two authors, three tokens, a
// peer given in khronika.conf, its partner's cosignatures, an access log with reads and exports,
// a proven conflict and a scrub is stopped; then `mdb_dump -a` of its store is read table by
// table, as someone who took the disk would, and each row of the table is held to account. The
// data key is used only by the test, to show that every value is what the table says it is
// (AES-256-GCM under that key, with the table and key as associated data; sealed chunks are
// ciphertext already) and that the plaintexts do hold every name searched for (the control for
// the searches in clear), except what format 2 seals under an origin's archive key (file names
// and contents, metadata, a partner's case ids): the data key opens none of it, and the control
// for those is what the archive keys open.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/log/keyring.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/seal.h"
#include "khronika/store/store.h"
#include "server_fixture.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Item {
  Bytes key, value;
};
using Dump = std::map<std::string, std::vector<Item>>;

// `mdb_dump -a STORE` (lmdb-utils): per named database, "database=NAME", a header, then each
// key and each value on a line of its own as a space and hex, until "DATA=END".
Dump DumpStore(const fs::path& store) {
  RunResult r = RunProgram({"mdb_dump", "-a", store.string()});
  EXPECT_EQ(r.exit_code, 0) << "mdb_dump (package lmdb-utils, ops/install-deps.sh): " << r.err;
  Dump out;
  std::string table;
  bool data = false;
  std::optional<Bytes> key;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("database=", 0) == 0) {
      table = line.substr(9);
      out[table];
    } else if (line == "HEADER=END") {
      data = true;
    } else if (line == "DATA=END") {
      data = false;
      EXPECT_FALSE(key) << table << ": a key without a value";
    } else if (data && !line.empty() && line[0] == ' ') {
      auto bytes = FromHex(line.substr(1));
      EXPECT_TRUE(bytes.ok()) << line;
      if (!bytes.ok()) continue;
      if (!key) {
        key = std::move(*bytes);
      } else {
        out[table].push_back({std::move(*key), std::move(*bytes)});
        key.reset();
      }
    }
  }
  return out;
}

std::string_view View(const Bytes& b) { return AsChars(b); }
Bytes Raw(const Hash& h) { return Bytes(h.begin(), h.end()); }
Bytes HexBytes(const std::string& hex) { return FromHex(hex).value(); }
bool StartsWith(const Bytes& b, std::string_view prefix) {
  return View(b).substr(0, prefix.size()) == prefix;
}
unsigned ModeOf(const fs::path& p) {
  struct stat st{};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A name planted in the evidence and searched for on the disk.
struct Canary {
  std::string what;
  std::string text;
  bool stored = true;  // false: never stored, not even encrypted (a token's secret)
  // Sealed under an origin's archive key (format 2): in no plaintext the data key opens either.
  bool sealed = false;
};

std::string Random(std::string_view prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(prefix);
  for (int i = 0; i < 20; ++i) s += kHex[rng() % 16];
  return s;
}

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

TEST(SeizureDumpTest, AStoppedStoreShowsOnlyWhatTheThreatModelSays) {
  const int64_t test_start_ms = NowMs();
  TempDir work, pdir;
  std::vector<Canary> canaries;
  auto canary = [&](std::string what, std::string_view prefix) {
    canaries.push_back({std::move(what), Random(prefix)});
    return canaries.back().text;
  };
  auto sealed_canary = [&](std::string what, std::string_view prefix) {
    canaries.push_back({std::move(what), Random(prefix), true, true});
    return canaries.back().text;
  };

  // ---- P, the partner (the node that will fork its log), with one entry of its own ----
  LocalNode p = MakeNodeWithAuthor(pdir);
  WriteFile(p.data / "khronika.conf", "sync_interval_s = 1\n");
  const std::string p_case = sealed_canary("a case id (the partner's log)", "case-p-");
  WriteFile(pdir / "p0.txt", "the partner's first statement\n");
  ASSERT_EQ(RunKhronika({"add", "--data", p.data.string(), "--key", p.key.string(), "--case",
                         p_case, (pdir / "p0.txt").string()})
                .exit_code,
            0);
  auto p_server = std::make_unique<ServerProcess>(p.data);
  ASSERT_TRUE(p_server->started()) << p_server->Stderr();
  const json p_id = IdOf(p.data);
  const std::string p_node = p_id["node_id"];
  std::vector<std::string> p_urls = {p_server->url()};

  // ---- S, the node that is seized ----
  const fs::path s = work / "node", key_file = work / "node.key-file";
  const std::string node_name = canary("the node name", "node-");
  RunResult made = RunKhronika(
      {"init", "--data", s.string(), "--name", node_name, "--key-file", key_file.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::vector<fs::path> author_keys;
  std::vector<std::string> author_pubkeys;  // hex
  for (int i = 0; i < 2; ++i) {
    fs::path key = work / ("author" + std::to_string(i) + ".key");
    ASSERT_EQ(RunKhronika({"keygen", "--out", key.string()}).exit_code, 0);
    RunResult added =
        RunKhronika({"author", "add", "--data", s.string(), "--name",
                     canary("an author name", "Author "), "--pubkey", key.string() + ".pub"});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    author_pubkeys.push_back(
        added.out.substr(added.out.rfind(' ') + 1, 64));  // "registered author 'NAME' HEX"
    author_keys.push_back(key);
  }
  ASSERT_EQ(RunKhronika({"member", "add", "--data", s.string(), "--vkey", p_id["vkey"],
                         "--cosigner-vkey", p_id["cosigner_vkey"]})
                .exit_code,
            0);
  // The peer as an operator may give it: a line of khronika.conf (serve adds it to the store).
  const std::string conf = "sync_interval_s = 1\npeer = " + p_server->url() + " " + p_node + " " +
                           p_id["cert_sha256"].get<std::string>() + "\n";
  WriteFile(s / "khronika.conf", conf);
  const json s_id = IdOf(s);
  const std::string s_node = s_id["node_id"];
  Token admin = MakeToken(s, "admin"), submitter = MakeToken(s, "submitter");
  const std::string case1 = canary("a case id", "case-1-"), case2 = canary("a case id", "case-2-");
  Token reader = MakeToken(s, "reader", {case1});
  const std::string uploaded =
      "an upload: " + canary("an uploaded chunk's content", "upload-") + "\n";
  for (const Token* t : {&admin, &submitter, &reader}) {
    canaries.push_back({"a token secret", t->secret, false});
    canaries.push_back({"a token id", t->id});
  }

  std::string s_out, s_err;
  std::vector<std::string> contents;  // of each submitted file
  {
    ServerProcess server(s);
    ASSERT_TRUE(server.started()) << server.Stderr();
    ASSERT_EQ(RunKhronika({"member", "add", "--data", p.data.string(), "--vkey", s_id["vkey"],
                           "--cosigner-vkey", s_id["cosigner_vkey"]})
                  .exit_code,
              0);
    ASSERT_EQ(RunKhronika({"peer", "add", "--data", p.data.string(), "--url", server.url(), "--id",
                           s_node, "--cert-sha256", s_id["cert_sha256"]})
                  .exit_code,
              0);

    // Three entries in two cases, by both authors; file names, contents and metadata are canaries.
    struct Submission {
      std::string case_id;
      size_t author;
    };
    std::vector<std::string> entries;
    const std::vector<Submission> submissions = {{case1, 0}, {case1, 1}, {case2, 0}};
    for (size_t i = 0; i < submissions.size(); ++i) {
      fs::path dir = work / ("files" + std::to_string(i));
      fs::create_directories(dir);
      fs::path file = dir / (sealed_canary("a file name", "file-") + ".txt");
      // The first file is larger than 4 KiB, so that the chunks table holds a sealed chunk.
      WriteFile(file, "statement: " + sealed_canary("a file's content", "content-") + "\n" +
                          std::string(i == 0 ? 8000 : 0, '.'));
      std::vector<std::string> argv = {"submit",
                                       "--node",
                                       server.url(),
                                       "--pin",
                                       server.pin(),
                                       "--token",
                                       submitter.secret,
                                       "--key",
                                       author_keys[submissions[i].author].string(),
                                       "--case",
                                       submissions[i].case_id,
                                       "--json",
                                       "--meta",
                                       "place=" + sealed_canary("a metadata value", "place-")};
      if (i + 1 == submissions.size()) {
        // Acknowledged only once the partner has cosigned: the node then holds a cosignature.
        argv.insert(argv.end(), {"--replicas", "1", "--replicas-timeout", "60"});
      }
      argv.push_back(file.string());
      RunResult sent = RunKhronika(argv);
      ASSERT_EQ(sent.exit_code, 0) << sent.out << sent.err;
      entries.push_back(json::parse(sent.out)["entry_id"]);
      HttpReply e = Get(server, "/v1/entries/" + entries.back(), admin.secret);
      ASSERT_EQ(e.status, 200) << e.Describe();
      contents.push_back(ReadFile(file));
    }
    // Reads of content and an export, all put in the access log.
    auto content = [&](size_t i) {
      return "/v1/entries/" + entries[i] + "/files/0/content";
    };
    ASSERT_EQ(Get(server, content(0), reader.secret).status, 200);
    ASSERT_EQ(Get(server, content(2), admin.secret).status, 200);
    // A chunk uploaded and not (yet) named by any entry: the submitter's, in `upload_chunks`.
    HttpRequest put;
    put.method = "PUT";
    put.path = "/v1/chunks/" + HexSha256(uploaded);
    put.token = submitter.secret;
    put.body = uploaded;
    put.headers = {"Content-Type: application/octet-stream"};
    ASSERT_EQ(Curl(server, put).status, 201);
    ASSERT_EQ(Get(server, "/v1/cases/" + case1 + "/bundle", reader.secret).status, 200);

    // The partner goes offline: the node's next pull fails, and says so in its log.
    p_server.reset();
    const std::string failed = "peer " + p_node.substr(0, 16) + " failed";
    for (int i = 0; i < 200 && server.Stderr().find(failed) == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_NE(server.Stderr().find(failed), std::string::npos) << server.Stderr();
    ASSERT_EQ(server.Stop(), 0) << server.Stderr();
    s_out = server.Stdout();
    s_err = server.Stderr();
  }

  // ---- A conflict: P's operator runs two copies of P that append different entries ----
  const fs::path p2 = pdir / "node-copy";
  fs::copy(p.data, p2, fs::copy_options::recursive);
  WriteFile(pdir / "one.txt", "history one\n");
  WriteFile(pdir / "two.txt", "history two\n");
  ASSERT_EQ(RunKhronika({"add", "--data", p.data.string(), "--key", p.key.string(), "--case",
                         p_case, (pdir / "one.txt").string()})
                .exit_code,
            0);
  ASSERT_EQ(RunKhronika({"add", "--data", p2.string(), "--key", p.key.string(), "--case", p_case,
                         (pdir / "two.txt").string()})
                .exit_code,
            0);
  for (const fs::path& copy : {p.data, p2}) {
    ServerProcess fork(copy);
    ASSERT_TRUE(fork.started()) << fork.Stderr();
    p_urls.push_back(fork.url());
    ASSERT_EQ(RunKhronika({"peer", "add", "--data", s.string(), "--url", fork.url(), "--id", p_node,
                           "--cert-sha256", p_id["cert_sha256"]})
                  .exit_code,
              0);
    RunResult synced = RunKhronika({"sync", "--data", s.string(), "--peer", p_node});
    EXPECT_EQ(synced.exit_code, copy == p2 ? 1 : 0) << synced.out << synced.err;
  }
  // An export from the store itself, and a scrub (its summary is kept in the store).
  ASSERT_EQ(RunKhronika({"export", "--data", s.string(), "--case", case2, "--out",
                         (work / "bundle").string()})
                .exit_code,
            0);
  ASSERT_EQ(RunKhronika({"scrub", "--data", s.string()}).exit_code, 0);
  // Reads and exports (the tokens' grants, logged when they were made, are custody events too).
  RunResult access = RunKhronika({"access-log", "--data", s.string(), "--json", "--action",
                                  "read-content", "--action", "export"});
  ASSERT_EQ(access.exit_code, 0) << access.err;
  const std::vector<json> access_events = JsonLines(access.out);
  ASSERT_EQ(access_events.size(), 4u) << access.out;
  // The node opens its own log with its archive key; its partner's it holds sealed: no case.
  std::map<std::string, std::set<std::pair<std::string, uint64_t>>>
      records_of_case;  // case -> (origin, index)
  std::set<Hash> signed_entries;  // SHA-256 of each own signed entry
  std::string opened;  // what the archive keys open: the control for the sealed canaries
  for (const std::string& origin : {s_node, p_node}) {
    RunResult log = RunKhronika({"log", "--data", s.string(), "--origin", origin, "--json"});
    ASSERT_EQ(log.exit_code, 0) << log.err;
    for (const json& r : JsonLines(log.out)) {
      if (origin == p_node) {
        EXPECT_FALSE(r.contains("case")) << "a partner's entry opened: " << r.dump();
        continue;
      }
      if (r["object_type"] == "custody_record") continue;  // the reads and exports, sealed
      records_of_case[r["case"]].insert({origin, r["index"].get<uint64_t>()});
      signed_entries.insert(Sha256(HexBytes(r["entry_hex"])));
    }
    opened += log.out;
  }
  opened += RunKhronika({"log", "--data", p.data.string(), "--json"}).out;
  for (const std::string& c : contents) opened += c;
  std::vector<json> own_entries;  // custody records (token grants, reads) left out
  for (json& r : JsonLines(RunKhronika({"log", "--data", s.string(), "--json"}).out)) {
    if (r["object_type"] == "sealed_entry") own_entries.push_back(std::move(r));
  }
  ASSERT_GE(own_entries.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    // The contents as the node gives them back with its archive key.
    const json& line = own_entries[i];
    RunResult cat = RunKhronika({"cat", "--data", s.string(), line["entry_id"],
                                 line["files"][0]["name"]});
    ASSERT_EQ(cat.exit_code, 0) << cat.err;
    EXPECT_EQ(cat.out, contents[i]);
  }
  ASSERT_EQ(records_of_case.size(), 2u);

  // ---- The disk, as taken ----
  for (const std::string& url : p_urls) {
    canaries.push_back({"a peer's URL", url, url == p_urls.back()});
    canaries.push_back({"a peer's address", url.substr(url.find("//") + 2), false});
  }
  const Dump dump = DumpStore(s / "store");
  ASSERT_FALSE(dump.empty());
  auto secrets = OpenKeyring(s / "node.keyring", Unlock{.passphrase = "", .key_file = key_file});
  ASSERT_TRUE(secrets.ok()) << secrets.status().ToString();
  const SymmetricKey data_key = secrets->data_key;
  Hash index_hash = KeyedHash(data_key, AsBytes(std::string_view("khronika index key v1")));
  SymmetricKey index_key;
  std::copy(index_hash.begin(), index_hash.end(), index_key.begin());
  auto blind = [&](ByteView name) { return Raw(KeyedHash(index_key, name)); };
  std::map<std::string, uint8_t> table_number;
  for (int t = 0; t < kTableCount; ++t)
    table_number[TableName(static_cast<Table>(t))] = static_cast<uint8_t>(t);
  auto table = [&](const std::string& name) -> const std::vector<Item>& {
    static const std::vector<Item> kNone;
    auto it = dump.find(name);
    return it == dump.end() ? kNone : it->second;
  };
  const std::set<std::string> kClearMeta = {"store_format", "encryption", "key_check"};

  // Row "every value ... is AES-256-GCM under the data key, with the table and key as associated
  // data" and row "the size of each value: exactly 28 bytes more than its plaintext". Every
  // table the store has is one of those the threat model accounts for.
  std::map<std::string, std::string> plaintexts;  // table -> every plaintext, concatenated
  std::set<Bytes> sealed_values;
  size_t sealed = 0;
  for (const auto& [name, items] : dump) {
    SCOPED_TRACE("table " + name);
    ASSERT_TRUE(table_number.count(name)) << "a table docs/threat-model.md does not account for";
    for (const Item& item : items) {
      if (name == "meta" && kClearMeta.count(std::string(View(item.key)))) continue;
      if (name == "chunks") {
        // Sealed chunks are ciphertext under file keys already, stored without the at-rest
        // pass: each is its own id's preimage, and the data key opens none of them.
        EXPECT_EQ(Raw(Sha256(item.value)), item.key);
        Bytes ad{table_number[name]};
        ad.insert(ad.end(), item.key.begin(), item.key.end());
        EXPECT_FALSE(AeadOpen(data_key, item.value, ad).ok());
        continue;
      }
      Bytes ad{table_number[name]};
      ad.insert(ad.end(), item.key.begin(), item.key.end());
      auto plain = AeadOpen(data_key, item.value, ad);
      ASSERT_TRUE(plain.ok()) << "not sealed under the data key for its table and key: "
                              << ToHex(item.key);
      EXPECT_EQ(item.value.size(), plain->size() + kAeadOverhead);
      Bytes other_table{static_cast<uint8_t>((table_number[name] + 1) % kTableCount)};
      other_table.insert(other_table.end(), item.key.begin(), item.key.end());
      EXPECT_FALSE(AeadOpen(data_key, item.value, other_table).ok())
          << "moved to another table, it still opens";
      EXPECT_TRUE(sealed_values.insert(item.value).second)
          << "two stored values alike: a nonce repeated?";
      plaintexts[name] += std::string(View(*plain)) + "\n";
      ++sealed;
    }
  }
  EXPECT_GT(sealed, 50u);

  // Row "in clear in meta: store_format, encryption, key_check".
  std::set<std::string> clear_seen;
  for (const Item& item : table("meta")) {
    std::string k(View(item.key));
    if (!kClearMeta.count(k)) continue;
    clear_seen.insert(k);
    if (k == "store_format") {
      EXPECT_EQ(View(item.value), "khronika-store-3");
    }
    if (k == "encryption") {
      EXPECT_EQ(View(item.value), "aes-256-gcm");
    }
    if (k == "key_check") {
      auto check = AeadOpen(data_key, item.value, AsBytes(std::string_view("key_check")));
      ASSERT_TRUE(check.ok());
      EXPECT_EQ(View(*check), "khronika data key check");
    }
  }
  EXPECT_EQ(clear_seen, kClearMeta);

  // Rows "No" (names) and the control: no name planted appears in any key or value as stored,
  // nor anywhere in the store's files (free pages included); every one that is stored appears in
  // a plaintext, so the search would have found it in clear.
  std::string all_plain;
  for (const auto& [name, text] : plaintexts) all_plain += text;
  std::string store_files;  // every file of the data directory but khronika.conf (a row of its own)
  for (const auto& e : fs::recursive_directory_iterator(s)) {
    if (e.is_regular_file() && e.path().filename() != "khronika.conf")
      store_files += ReadFile(e.path());
  }
  for (const Canary& c : canaries) {
    SCOPED_TRACE(c.what + " " + c.text);
    for (const auto& [name, items] : dump) {
      for (const Item& item : items) {
        EXPECT_EQ(View(item.key).find(c.text), std::string_view::npos) << "in a key of " << name;
        EXPECT_EQ(View(item.value).find(c.text), std::string_view::npos)
            << "in a value of " << name;
      }
    }
    EXPECT_EQ(store_files.find(c.text), std::string::npos) << "in a file of the data directory";
    if (c.sealed) {
      EXPECT_EQ(all_plain.find(c.text), std::string::npos) << "sealed, yet the data key opens it";
      EXPECT_NE(opened.find(c.text), std::string::npos) << "the control: the archive key opens it";
    } else if (c.stored) {
      EXPECT_NE(all_plain.find(c.text), std::string::npos) << "the control: not in any plaintext";
    }
  }
  EXPECT_NE(plaintexts["peers"].find(p_urls.back()), std::string::npos);
  EXPECT_NE(plaintexts["meta"].find(node_name), std::string::npos);

  // Row "which case a record belongs to, which author registered which key: No (HMAC)" and row
  // "how many cases, how many records each, which records belong together: Yes". A case_index key
  // is Blind(case id) || 0x00 || origin (32) || index (u64 BE); its prefixes group the records
  // exactly as the cases do, and are not the case ids.
  std::map<Bytes, std::set<std::pair<std::string, uint64_t>>> by_prefix;
  for (const Item& item : table("case_index")) {
    ASSERT_EQ(item.key.size(), 32u + 1 + 32 + 8) << ToHex(item.key);
    EXPECT_EQ(item.key[32], 0);
    Bytes prefix(item.key.begin(), item.key.begin() + 32);
    std::string origin = ToHex(ByteView(item.key.data() + 33, 32));
    by_prefix[prefix].insert({origin, ReadBigEndian64(item.key.data() + 65)});
  }
  EXPECT_EQ(by_prefix.size(), records_of_case.size()) << "distinct prefixes count the cases";
  for (const auto& [case_id, records] : records_of_case) {
    Bytes prefix = blind(AsBytes(case_id));
    ASSERT_TRUE(by_prefix.count(prefix)) << case_id;
    EXPECT_EQ(by_prefix[prefix], records) << "the records under one prefix are that case's";
  }
  std::set<Bytes> author_keys_stored;
  for (const Item& item : table("authors")) author_keys_stored.insert(item.key);
  std::set<Bytes> author_blinds;
  for (const std::string& hex : author_pubkeys) {
    author_blinds.insert(blind(HexBytes(hex)));
    EXPECT_FALSE(author_keys_stored.count(HexBytes(hex))) << "an author key in clear";
  }
  EXPECT_EQ(author_keys_stored, author_blinds);
  // `upload_chunks` and `signed_entries`: each key one HMAC of the whole (token id, plaintext
  // chunk id) or signed entry hash. The upload the submitter left waits there; the uploads of
  // logged entries are gone with their plaintext.
  std::set<Bytes> uploads_stored, signed_stored, signed_expected;
  for (const Item& item : table("upload_chunks")) uploads_stored.insert(item.key);
  EXPECT_EQ(uploads_stored,
            (std::set<Bytes>{blind(keys::UploadChunkName(submitter.id, Sha256(uploaded)))}));
  for (const Item& item : table("signed_entries")) signed_stored.insert(item.key);
  for (const Hash& h : signed_entries) signed_expected.insert(blind(keys::SignedEntryName(h)));
  EXPECT_EQ(signed_stored, signed_expected);

  // Row "the access log: how many reads and exports, nothing more". Keys 0, 1, 2, ...; every
  // value one size; the plaintexts are the events `access-log` prints, padding aside, less what
  // it adds when it prints them (the readable time, and the file name from the manifest).
  // Since custody events are sealed into the log (docs/format.md section 7.3), the table holds
  // only those still pending, the last ones access-log prints: here none, as the export sealed
  // every event into a custody record (an object, sealed at rest like the others).
  const std::vector<Item>& log = table("access_log");
  size_t pending = 0;
  std::set<std::string> actions;
  for (const json& e : access_events) {
    if (e["logged"].is_null()) ++pending;
    actions.insert(e["action"]);
  }
  EXPECT_EQ(pending, 0u);
  ASSERT_EQ(log.size(), pending);
  const size_t first_pending = access_events.size() - pending;
  for (size_t i = 0; i < log.size(); ++i) {
    Bytes want;
    AppendBigEndian64(want, i);
    EXPECT_EQ(log[i].key, want);
    EXPECT_EQ(log[i].value.size(), 512 + kAeadOverhead) << "reads and exports must have one size";
    Bytes ad{table_number["access_log"]};
    ad.insert(ad.end(), log[i].key.begin(), log[i].key.end());
    auto plain = AeadOpen(data_key, log[i].value, ad);
    ASSERT_TRUE(plain.ok());
    json printed = access_events[first_pending + i];
    printed.erase("time");
    printed.erase("file");
    printed.erase("logged");
    EXPECT_EQ(json::parse(View(*plain)), printed);
  }
  EXPECT_EQ(actions, (std::set<std::string>{"read-content", "export"}));

  // Row "no key holds a time": no 8 bytes of any key, at any offset, read as a big-endian count
  // of milliseconds or seconds, fall within a day of this test.
  const int64_t lo_ms = test_start_ms - 86'400'000, hi_ms = NowMs() + 86'400'000;
  for (const auto& [name, items] : dump) {
    for (const Item& item : items) {
      for (size_t at = 0; at + 8 <= item.key.size(); ++at) {
        auto v = static_cast<int64_t>(ReadBigEndian64(item.key.data() + at));
        bool ms = v >= lo_ms && v <= hi_ms, secs = v >= lo_ms / 1000 && v <= hi_ms / 1000;
        EXPECT_FALSE(ms || secs) << "a time in a key of " << name << ": " << ToHex(item.key);
      }
    }
  }

  // Row "keys in clear: ids, origins, sizes, indexes, token hashes, the node ids of members,
  // peers and cosigners, one key per conflict". Each key has exactly the documented form, so no
  // table holds anything else in its keys.
  const std::set<std::string> origins = {s_node, p_node};
  auto is_origin = [&](const Bytes& k, size_t at = 0) {
    return k.size() >= at + 32 && origins.count(ToHex(ByteView(k.data() + at, 32)));
  };
  std::set<Bytes> token_hashes;
  for (const Token* t : {&admin, &submitter, &reader}) token_hashes.insert(Raw(Sha256(t->secret)));
  std::set<Bytes> chunk_ids;
  for (const Item& item : table("chunks")) chunk_ids.insert(item.key);
  std::map<std::string, size_t> count;
  for (const auto& [name, items] : dump) {
    count[name] = items.size();
    for (const Item& item : items) {
      const Bytes& k = item.key;
      SCOPED_TRACE(name + " key " + ToHex(k));
      if (name == "meta") {
        std::string text(View(k));
        bool named = kClearMeta.count(text) || text == "node_name" || text == "local_origin" ||
                     text == "last_scrub" || text == "restore_pending";
        bool member = StartsWith(k, "member/") && k.size() == 7 + 32 && is_origin(k, 7);
        bool peer_status = StartsWith(k, "peer_status/") && k.size() == 12 + 32 &&
                           ToHex(ByteView(k.data() + 12, 32)) == p_node;
        // custody/ and a sequence number (u64 BE): where each custody record is; the keys
        // show only how many there are, which the log itself shows (docs/format.md section 12).
        bool custody = StartsWith(k, "custody/") && k.size() == 8 + 8;
        EXPECT_TRUE(named || member || peer_status || custody);
      } else if (name == "chunks" || name == "entry_index") {
        EXPECT_EQ(k.size(), 32u);
      } else if (name == "records" || name == "objects" || name == "checkpoints") {
        EXPECT_TRUE(k.size() == 40 && is_origin(k));
      } else if (name == "tree") {
        EXPECT_TRUE(k.size() == 41 && is_origin(k));
      } else if (name == "cosignatures") {
        std::string witness(View(k).substr(std::min<size_t>(40, k.size())));
        EXPECT_TRUE(k.size() > 40 && is_origin(k) &&
                    (witness == "khronika/" + p_node + "/witness" ||
                     witness == "khronika/" + s_node + "/witness"));
      } else if (name == "origins") {
        EXPECT_TRUE(k.size() == 32 && is_origin(k));
      } else if (name == "peers") {
        EXPECT_EQ(ToHex(k), p_node);
      } else if (name == "tokens") {
        EXPECT_TRUE(token_hashes.count(k)) << "a token's key is the SHA-256 of its secret";
      } else if (name == "conflicts") {
        EXPECT_TRUE(k.size() == 48 && ToHex(ByteView(k.data(), 32)) == p_node);
      } else if (name != "case_index" && name != "authors" && name != "access_log" &&
                 name != "upload_chunks" && name != "signed_entries") {
        ADD_FAILURE() << "keys not accounted for";
      }
    }
  }
  // What the node holds is all there: each of these tables is in use, so each claim was tested.
  for (const char* name :
       {"chunks", "objects", "records", "tree", "case_index", "entry_index", "checkpoints",
        "cosignatures", "origins", "peers", "authors", "tokens", "conflicts",
        "upload_chunks", "signed_entries"}) {
    EXPECT_GT(count[name], 0u) << name << " is empty: the scenario no longer covers it";
  }
  // access_log holds only custody events still pending: none once the export sealed them into
  // the log (the row above checks that), so its emptiness is the scenario's, not a gap.
  EXPECT_EQ(count["access_log"], 0u);
  EXPECT_EQ(count["peers"], 1u);
  EXPECT_EQ(count["tokens"], 3u);
  EXPECT_EQ(count["authors"], 2u);
  EXPECT_EQ(count["conflicts"], 1u);
  // No id is a hash of plaintext (format 2): holding a file confirms nothing about the node.
  EXPECT_FALSE(chunk_ids.count(Raw(Sha256(ReadFile(pdir / "p0.txt")))));
  for (const std::string& c : contents) EXPECT_FALSE(chunk_ids.count(Raw(Sha256(c))));

  // Rows on the files of the data directory: names and modes (what `ls -l` shows).
  std::set<std::string> names, store_names;
  for (const auto& e : fs::directory_iterator(s)) names.insert(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(s / "store"))
    store_names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"khronika.conf", "node.keyring", "store", "tls.crt",
                                          "tls.key"}));
  EXPECT_EQ(store_names, (std::set<std::string>{"data.mdb", "lock.mdb"}));
  EXPECT_EQ(ModeOf(s), 0700u);
  EXPECT_EQ(ModeOf(s / "store"), 0700u);
  EXPECT_EQ(ModeOf(s / "store" / "data.mdb"), 0600u);
  EXPECT_EQ(ModeOf(s / "store" / "lock.mdb"), 0600u);
  EXPECT_EQ(ModeOf(s / "node.keyring"), 0600u);
  EXPECT_EQ(ModeOf(s / "tls.key"), 0600u);
  EXPECT_EQ(ModeOf(s / "tls.crt"), 0644u);

  // Row "the node's signing key, witness key and data key: only sealed in node.keyring", and row
  // "where the key file was kept: the keyring's hint, in clear".
  const std::string keyring = ReadFile(s / "node.keyring");
  EXPECT_EQ(keyring.substr(0, 9), std::string("KHRKEYR1\x02", 9));
  EXPECT_NE(keyring.find(fs::weakly_canonical(key_file).string()), std::string::npos) << "the hint";
  const std::string data_key_hex = ToHex(ByteView(data_key.data(), data_key.size()));
  const std::string node_pem = secrets->node_key.ToPem(),
                    witness_pem = secrets->cosigner_key.ToPem();
  auto pem_body = [](const std::string& pem) {  // the base64 between the BEGIN and END lines
    size_t begin = pem.find('\n') + 1;
    return pem.substr(begin, pem.find("\n-----END") - begin);
  };
  for (const auto& e : fs::recursive_directory_iterator(s)) {
    if (!e.is_regular_file()) continue;
    std::string bytes = ReadFile(e.path());
    SCOPED_TRACE(e.path().string());
    EXPECT_EQ(bytes.find(std::string(View(Bytes(data_key.begin(), data_key.end())))),
              std::string::npos);
    EXPECT_EQ(bytes.find(data_key_hex), std::string::npos);
    EXPECT_EQ(bytes.find(pem_body(node_pem)), std::string::npos);
    EXPECT_EQ(bytes.find(pem_body(witness_pem)), std::string::npos);
  }

  // Row "tls.key: Yes" and row "tls.crt: Yes, but it names nothing".
  EXPECT_NE(ReadFile(s / "tls.key").find("PRIVATE KEY-----"), std::string::npos);
  RunResult cert = RunProgram({"openssl", "x509", "-in", (s / "tls.crt").string(), "-noout",
                               "-subject", "-ext", "subjectAltName", "-startdate"});
  ASSERT_EQ(cert.exit_code, 0) << cert.err;
  EXPECT_NE(cert.out.find("subject=CN = khronika node\n"), std::string::npos) << cert.out;
  EXPECT_EQ(cert.out.find(node_name), std::string::npos) << cert.out;
  EXPECT_EQ(ReadFile(s / "tls.crt").find(node_name), std::string::npos);
  // Row "when": its validity starts an hour before `init` ran.
  std::tm not_before{};
  size_t at = cert.out.find("notBefore=");
  ASSERT_NE(at, std::string::npos) << cert.out;
  ASSERT_NE(::strptime(cert.out.c_str() + at + 10, "%b %d %H:%M:%S %Y GMT", &not_before), nullptr)
      << cert.out;
  const int64_t init_ms = int64_t{::timegm(&not_before)} * 1000 + 3'600'000;
  EXPECT_GE(init_ms, test_start_ms - 1000);
  EXPECT_LE(init_ms, NowMs());

  // Row "khronika.conf: Yes, as written" (peer lines name where the partners are).
  EXPECT_EQ(ReadFile(s / "khronika.conf"), conf);

  // Row "serve's log": its own id, name, address and fingerprint at start; peers only by id.
  const std::string serve_log = s_out + s_err;
  EXPECT_NE(serve_log.find(node_name), std::string::npos);
  for (const Canary& c : canaries) {
    if (c.text == node_name) continue;
    EXPECT_EQ(serve_log.find(c.text), std::string::npos) << c.what << " in serve's log:\n"
                                                         << serve_log;
  }
}

}  // namespace
}  // namespace khronika::testing
