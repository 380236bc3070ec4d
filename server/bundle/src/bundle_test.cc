#include "khronika/bundle/bundle.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "khronika/bundle/bundle_paths.h"
#include "khronika/bundle/verify_bundle.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"
#include "khronika/replication/witness.h"
#include "khronika/store/files.h"

namespace khronika {
namespace {

namespace fs = std::filesystem;

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "bundle-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    node_ = std::move(Node::Init(dir_ / "node", "ngo-a").value());
    ASSERT_TRUE(RegisterAuthor(node_->store(), author_.public_key(), "Alice").ok());
  }
  void TearDown() override {
    node_.reset();
    fs::remove_all(dir_);
  }

  Hash Add(const std::string& case_id, const std::string& name, const std::string& content) {
    FileManifest m;
    m.name = name;
    m.media_type = GuessMediaType(name);
    m.size = content.size();
    m.content_sha256 = Sha256(content);
    EXPECT_TRUE(node_->store().Update([&](WriteTxn& txn) -> Status {
      for (size_t off = 0; off < content.size(); off += kChunkSize) {
        auto piece = AsBytes(content).subspan(off, std::min(kChunkSize, content.size() - off));
        KH_ASSIGN_OR_RETURN(Hash id, PutChunk(txn, piece));
        m.chunks.push_back(id);
      }
      return Status::Ok();
    }).ok());
    Submission s;
    s.entry.case_id = case_id;
    s.entry.kind = "evidence";
    s.entry.created_at_ms = 1767225600000;
    s.entry.manifests = {ObjectId(Encode(m))};
    s.entry.metadata = {{"source", "*witness* [link](http://x)"}};
    SignEntry(s.entry, author_);
    s.manifests = {m};
    auto r = node_->log().Append({s});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)[0].entry_id : Hash{};
  }

  Result<BundlePlan> Plan(const std::string& case_id) {
    Result<BundlePlan> plan = Status::InvalidArgument("unset");
    Status s = node_->store().View([&](ReadTxn& txn) -> Status {
      plan = PlanBundle(txn, {case_id, 1767225700000, "local operator", node_->cosigner_verifier_key()});
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok());
    return plan;
  }

  fs::path Export(const std::string& case_id, const std::string& name = "bundle") {
    auto plan = Plan(case_id);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    fs::path out = dir_ / name;
    Status s = WriteBundleDirectory(node_->store(), *plan, out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  static std::string Problems(const BundleVerification& v) {
    std::string all;
    for (const auto& p : v.problems) all += p + "\n";
    return all;
  }

  // Flips one byte of `file` at `offset` (from the end when negative).
  static void Flip(const fs::path& file, long offset) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    long size = f.tellg();
    long at = offset >= 0 ? offset : size + offset;
    f.seekg(at);
    char c;
    f.get(c);
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x01));
  }

  fs::path dir_;
  std::unique_ptr<Node> node_;
  SigningKey author_ = SigningKey::Generate();
};

TEST_F(BundleTest, RoundTripVerifiesAndHoldsTheFilesAsSubmitted) {
  std::string big(2 * kChunkSize + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4093);  // no chunk repeats
  Add("case-1", "statement.txt", "I saw it.\n");
  Add("case-2", "other.txt", "not in the bundle");
  Hash video = Add("case-1", "video.mp4", big);
  Add("case-1", "photo.jpg", "jpeg bytes");

  fs::path out = Export("case-1");
  auto v = VerifyBundle(out);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok()) << Problems(*v);
  EXPECT_EQ(v->case_id, "case-1");
  EXPECT_EQ(v->entries, 3u);
  EXPECT_EQ(v->files, 3u);
  ASSERT_EQ(v->logs.size(), 1u);
  EXPECT_EQ(v->logs[0].records, 3u);
  EXPECT_EQ(v->logs[0].checkpoint_size, 4u);

  // Record 2 (the video) is in its generated folder, byte for byte, named by type only.
  std::string dir = bundle_paths::EntryDir(node_->id(), 2);
  EXPECT_EQ(ReadSmallFile(out / dir / "files/0.mp4", 8 << 20).value(), big);
  EXPECT_EQ(ReadSmallFile(out / bundle_paths::EntryDir(node_->id(), 3) / "files/0.jpg", 1024).value(),
            "jpeg bytes");
  EXPECT_FALSE(fs::exists(out / bundle_paths::EntryDir(node_->id(), 1)));  // another case
  std::string report = ReadSmallFile(out / "REPORT.md", 1 << 20).value();
  EXPECT_NE(report.find(ToHex(video)), std::string::npos);
  EXPECT_NE(report.find("Alice"), std::string::npos);
  // Metadata cannot restyle the report.
  EXPECT_NE(report.find("\\*witness\\* \\[link\\](http://x)"), std::string::npos);

  // sha256sum's own format: every file but the list itself, once.
  std::string sums = ReadSmallFile(out / "MANIFEST.sha256", 1 << 20).value();
  size_t lines = std::count(sums.begin(), sums.end(), '\n');
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(out)) files += e.is_regular_file();
  EXPECT_EQ(lines, files - 1);
  EXPECT_EQ(std::system(("cd '" + out.string() + "' && sha256sum --quiet -c MANIFEST.sha256").c_str()), 0);

  EXPECT_EQ(WriteBundleDirectory(node_->store(), *Plan("case-1"), out).code(), Code::kAlreadyExists);
  EXPECT_EQ(Plan("no-such-case").status().code(), Code::kNotFound);
}

TEST_F(BundleTest, EveryKindOfTamperingIsNamed) {
  for (int i = 0; i < 4; ++i) Add("case-1", "f" + std::to_string(i) + ".txt", "content " + std::to_string(i));
  const std::string e1 = bundle_paths::EntryDir(node_->id(), 1) + "/";
  const std::string e2 = bundle_paths::EntryDir(node_->id(), 2) + "/";
  const std::string cp = bundle_paths::Checkpoint(node_->id());
  struct Case {
    std::string name;
    std::function<void(const fs::path&)> tamper;
    std::string expected;  // a problem line starts with this file
  };
  std::vector<Case> cases = {
      {"evidence byte", [&](const fs::path& b) { Flip(b / e1 / "files/0.txt", 2); }, e1 + "files/0.txt"},
      {"entry", [&](const fs::path& b) { Flip(b / e1 / "entry.bin", -70); }, e1 + "entry.bin"},
      {"proof", [&](const fs::path& b) {
         std::string p = ReadSmallFile(b / e1 / "proof.json", 1 << 20).value();
         size_t at = p.find("\"proof\": [\n    \"") + 16;
         p[at] = p[at] == 'a' ? 'b' : 'a';
         fs::remove(b / e1 / "proof.json");
         ASSERT_TRUE(WriteNewFile(b / e1 / "proof.json", p, 0644).ok());
       }, e1 + "proof.json"},
      {"checkpoint", [&](const fs::path& b) { Flip(b / cp, 75); }, cp},
      {"missing middle entry", [&](const fs::path& b) { fs::remove_all(b / e2); }, bundle_paths::EntryDir(node_->id(), 3)},
      {"extra file", [&](const fs::path& b) { ASSERT_TRUE(WriteNewFile(b / e1 / "files/evil.sh", "x", 0644).ok()); },
       e1 + "files/evil.sh"},
      // Twenty digits beyond 2^64 - 1: a path, not a number that overflows (and throws).
      {"index beyond u64", [&](const fs::path& b) {
         fs::path beyond = b / fs::path(e1).parent_path().parent_path() / "99999999999999999999";
         fs::rename(b / e1, beyond);
       }, fs::path(e1).parent_path().parent_path().string() + "/99999999999999999999"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    fs::path out = Export("case-1", "b-" + std::to_string(&c - cases.data()));
    c.tamper(out);
    auto v = VerifyBundle(out);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_FALSE(v->ok());
    bool named = std::any_of(v->problems.begin(), v->problems.end(),
                             [&](const std::string& p) { return p.rfind(c.expected, 0) == 0; });
    EXPECT_TRUE(named) << "wanted a problem naming " << c.expected << ", got:\n" << Problems(*v);
  }
}

// A bundle's records are checked by the log's chain rules: each is the record its folder names,
// consecutive ones chain, and the case chain skips no record of the case.
TEST_F(BundleTest, TheCasesRecordsAreCheckedByTheChainRules) {
  for (int i = 0; i < 4; ++i) Add("case-1", "f" + std::to_string(i) + ".txt", "content " + std::to_string(i));
  auto rewrite = [&](const fs::path& b, uint64_t index, const std::function<void(Record&)>& change) {
    const fs::path file = b / (bundle_paths::EntryDir(node_->id(), index) + "/record.bin");
    Record r = DecodeRecord(AsBytes(ReadSmallFile(file, 1 << 20).value())).value();
    change(r);
    fs::remove(file);
    ASSERT_TRUE(WriteNewFile(file, std::string(AsChars(Encode(r))), 0644).ok());
  };
  auto problems_of = [&](const fs::path& b) {
    auto v = VerifyBundle(b);
    EXPECT_TRUE(v.ok());
    return v.ok() ? v->problems : std::vector<std::string>{};
  };
  auto has = [](const std::vector<std::string>& lines, const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  const std::string e1 = bundle_paths::EntryDir(node_->id(), 1) + "/record.bin";
  const std::string e2 = bundle_paths::EntryDir(node_->id(), 2) + "/record.bin";

  fs::path chain = Export("case-1", "chain");
  rewrite(chain, 2, [](Record& r) { r.prev_record[4] ^= 1; });
  std::vector<std::string> p = problems_of(chain);
  EXPECT_TRUE(has(p, e2 + ": prev_record is not the hash of record 1 (hash chain broken)")) << Problems(*VerifyBundle(chain));

  fs::path index = Export("case-1", "index");
  rewrite(index, 1, [](Record& r) { r.index = 5; });
  p = problems_of(index);
  EXPECT_TRUE(has(p, e1 + ": index is 5, not its position 1 (wrong index)")) << Problems(*VerifyBundle(index));

  fs::path case_chain = Export("case-1", "case-chain");
  Hash skipped{};
  rewrite(case_chain, 2, [&](Record& r) { skipped = r.prev_case_record = Sha256("a record not in the bundle"); });
  p = problems_of(case_chain);
  EXPECT_TRUE(has(p, e2 + ": the case's previous record in this log (record hash " + ToHex(skipped) +
                         ") is missing from the bundle")) << Problems(*VerifyBundle(case_chain));
}

TEST_F(BundleTest, CosignaturesOfOtherMembersAreCarriedAndTrustIsChecked) {
  // Node B keeps a copy of A's log and cosigns A's checkpoint, as a federation member does.
  auto b = std::move(Node::Init(dir_ / "b", "ngo-b").value());
  ASSERT_TRUE(AddMember(b->store(), node_->verifier_key(), "").ok());
  ASSERT_TRUE(AddMember(node_->store(), b->verifier_key(), b->cosigner_verifier_key()).ok());
  Add("case-1", "a.txt", "one");
  Add("case-1", "b.txt", "two");
  // B cosigns A's latest checkpoint, and A learns the cosignature, as sync does both.
  std::string note;
  ASSERT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(note, CheckpointWithCosignatures(txn, node_->id(), 2));
    return Status::Ok();
  }).ok());
  auto parsed = ParseSignedNote(note).value();
  NoteSignatureLine line = CosignCheckpoint(parsed.text, b->cosigner_name(), b->cosigner_key(), 1767225650);
  parsed.signatures.push_back(line);
  ASSERT_EQ(IngestCosignatures(node_->store(), node_->id(), FormatSignedNote(parsed)).value(), 1u);

  fs::path out = Export("case-1");
  auto v = VerifyBundle(out);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << Problems(*v);
  ASSERT_EQ(v->logs.size(), 1u);
  EXPECT_EQ(v->logs[0].cosigners, std::vector<std::string>{ToHex(b->id())});
  EXPECT_NE(ReadSmallFile(out / "REPORT.md", 1 << 20).value().find("cosigned by 1 other organisation"),
            std::string::npos);

  fs::path trust = dir_ / "trust.txt";
  ASSERT_TRUE(WriteNewFile(trust, "# keys we got from the NGOs in person\n" + node_->verifier_key() + "\n" +
                                      b->cosigner_verifier_key() + "\n", 0644).ok());
  auto trusted = VerifyBundle(out, trust);
  ASSERT_TRUE(trusted.ok());
  EXPECT_TRUE(trusted->ok()) << Problems(*trusted);
  EXPECT_TRUE(trusted->logs[0].origin_trusted);
  EXPECT_EQ(trusted->logs[0].trusted_cosigners, std::vector<std::string>{ToHex(b->id())});

  fs::path other = dir_ / "other.txt";
  ASSERT_TRUE(WriteNewFile(other, b->verifier_key() + "\n", 0644).ok());
  auto untrusted = VerifyBundle(out, other);
  ASSERT_TRUE(untrusted.ok());
  EXPECT_FALSE(untrusted->ok());
  EXPECT_EQ(untrusted->problems.at(0).rfind("keys/origins/" + ToHex(node_->id()), 0), 0u);

  // A cosignature line forged under B's name is named, not counted.
  std::string cp_text = ReadSmallFile(out / bundle_paths::Checkpoint(node_->id()), 1 << 20).value();
  size_t at = cp_text.rfind(' ') + 10;
  cp_text[at] = cp_text[at] == 'A' ? 'B' : 'A';
  fs::remove(out / bundle_paths::Checkpoint(node_->id()));
  ASSERT_TRUE(WriteNewFile(out / bundle_paths::Checkpoint(node_->id()), cp_text, 0644).ok());
  auto forged = VerifyBundle(out);
  ASSERT_TRUE(forged.ok());
  EXPECT_FALSE(forged->ok());
}

TEST_F(BundleTest, TarStreamExtractsToTheSameFolderAndRefusesHostileArchives) {
  Add("case-1", "a.txt", "one");
  Add("case-1", "b.pdf", std::string(kChunkSize + 3, 'x'));
  fs::path tar = dir_ / "bundle.tar";
  ASSERT_TRUE(WriteBundleTar(node_->store(), Plan("case-1").value(), tar).ok());
  BundleTar sizer(node_->store(), Plan("case-1").value());
  EXPECT_EQ(fs::file_size(tar), sizer.size());

  // Our extractor, fed in odd-sized pieces.
  std::string bytes = ReadSmallFile(tar, 64 << 20).value();
  BundleTarExtractor x(dir_ / "ours");
  for (size_t off = 0; off < bytes.size(); off += 777) {
    ASSERT_TRUE(x.Write(AsBytes(bytes).subspan(off, std::min<size_t>(777, bytes.size() - off))).ok());
  }
  ASSERT_TRUE(x.Finish().ok());
  auto v = VerifyBundle(dir_ / "ours");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << Problems(*v);

  // GNU tar reads it too.
  fs::create_directory(dir_ / "gnu");
  ASSERT_EQ(std::system(("tar -xf '" + tar.string() + "' -C '" + (dir_ / "gnu").string() + "'").c_str()), 0);
  auto g = VerifyBundle(dir_ / "gnu");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->ok()) << Problems(*g);

  // Re-packed by hand ("./REPORT.md", ..., long names as GNU 'L' or pax records), it still extracts.
  for (std::string format : {"gnu", "pax"}) {
    SCOPED_TRACE(format);
    fs::path repacked_tar = dir_ / ("repacked-" + format + ".tar");
    ASSERT_EQ(std::system(("tar --format=" + format + " -C '" + (dir_ / "gnu").string() + "' -cf '" +
                           repacked_tar.string() + "' .").c_str()), 0);
    std::string repacked = ReadSmallFile(repacked_tar, 64 << 20).value();
    BundleTarExtractor z(dir_ / ("repacked-" + format));
    ASSERT_TRUE(z.Write(AsBytes(repacked)).ok());
    ASSERT_TRUE(z.Finish().ok());
    auto r = VerifyBundle(dir_ / ("repacked-" + format));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->ok()) << Problems(*r);
  }

  // An archive naming a path outside the bundle grammar is refused before anything is written.
  fs::create_directory(dir_ / "evil-src");
  ASSERT_TRUE(WriteNewFile(dir_ / "evil-src" / "x", "pwned", 0644).ok());
  ASSERT_EQ(std::system(("tar -cf '" + (dir_ / "evil.tar").string() + "' -C '" + (dir_ / "evil-src").string() +
                         "' --transform 's,^x$,../escaped,' -P x").c_str()), 0);
  std::string evil = ReadSmallFile(dir_ / "evil.tar", 1 << 20).value();
  BundleTarExtractor y(dir_ / "victim" / "inner");
  fs::create_directory(dir_ / "victim");
  EXPECT_FALSE(y.Write(AsBytes(evil)).ok());
  EXPECT_FALSE(fs::exists(dir_ / "victim" / "escaped"));
  EXPECT_FALSE(fs::exists(dir_ / "escaped"));
}

// One ustar member: its header (with a valid checksum) and its data padded to whole blocks.
std::string TarMember(const std::string& name, char type, const std::string& data) {
  char h[512] = {};
  std::memcpy(h, name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(h + 100, 8, "%07o", 0644);
  std::snprintf(h + 108, 8, "%07o", 0);
  std::snprintf(h + 116, 8, "%07o", 0);
  std::snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(data.size()));
  std::snprintf(h + 136, 12, "%011o", 0);
  h[156] = type;
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  std::string out(h, sizeof h);
  out += data;
  out.append((512 - data.size() % 512) % 512, '\0');
  return out;
}

// Found while writing tests/fuzz/bundle_tar_fuzz, whose corpus keeps both reproducers
// (crash-pax-negative-length: a hang; crash-empty-meta-record: a file descriptor left open).
TEST_F(BundleTest, TarExtractorRefusesMalformedPaxRecordsAndKeepsDataAfterEmptyOnes) {
  const std::string end(1024, '\0');
  // A pax length of "-1" once sent the parser backwards for ever; lengths that are not plain
  // digits, or that do not end their record with a newline, are refused.
  int n = 0;
  for (std::string pax : {"3 a1-1 x", "-1 path=REPORT.md\n", "18446744073709551615 x\n",
                          "20 path=REPORT.md\n", "19 path=REPORT.md\n\n", "1 \n"}) {
    SCOPED_TRACE(pax);
    BundleTarExtractor x(dir_ / ("pax-" + std::to_string(n++)));
    std::string tar =
        TarMember("PaxHeaders/x", 'x', pax) + TarMember("REPORT.md", '0', "hello") + end;
    EXPECT_FALSE(x.Write(AsBytes(tar)).ok());
  }
  {
    BundleTarExtractor x(dir_ / "pax-good");
    std::string tar = TarMember("PaxHeaders/x", 'x', "18 path=REPORT.md\n") +
                      TarMember("ignored", '0', "hello") + end;
    ASSERT_TRUE(x.Write(AsBytes(tar)).ok());
    ASSERT_TRUE(x.Finish().ok());
    EXPECT_EQ(ReadSmallFile(dir_ / "pax-good" / "REPORT.md", 100).value(), "hello");
  }
  // An empty pax record names nothing, and the next member keeps its data (it used to be taken
  // for the record's, leaving the file empty and its descriptor open).
  {
    BundleTarExtractor x(dir_ / "empty-pax");
    std::string tar = TarMember("PaxHeaders/x", 'x', "") +
                      TarMember("REPORT.md", '0', "bundle.json") +
                      TarMember("x", '0', "hello") + end;
    EXPECT_FALSE(x.Write(AsBytes(tar)).ok());  // "x" is no bundle path
    EXPECT_EQ(ReadSmallFile(dir_ / "empty-pax" / "REPORT.md", 100).value(), "bundle.json");
    EXPECT_FALSE(fs::exists(dir_ / "empty-pax" / "bundle.json"));
  }
  {
    BundleTarExtractor x(dir_ / "empty-long-name");
    std::string tar =
        TarMember("././@LongLink", 'L', "") + TarMember("REPORT.md", '0', "hello") + end;
    EXPECT_FALSE(x.Write(AsBytes(tar)).ok());
  }
}

TEST_F(BundleTest, TheCheckpointWithTheMostVerifiedCosignaturesIsChosen) {
  auto b = std::move(Node::Init(dir_ / "b", "ngo-b").value());
  ASSERT_TRUE(AddMember(node_->store(), b->verifier_key(), b->cosigner_verifier_key()).ok());
  Add("case-1", "a.txt", "one");  // record 0: checkpoint 1
  std::string note;
  ASSERT_TRUE(node_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(note, CheckpointWithCosignatures(txn, node_->id(), 1));
    return Status::Ok();
  }).ok());
  auto parsed = ParseSignedNote(note).value();
  parsed.signatures.push_back(CosignCheckpoint(parsed.text, b->cosigner_name(), b->cosigner_key(), 1767225650));
  ASSERT_EQ(IngestCosignatures(node_->store(), node_->id(), FormatSignedNote(parsed)).value(), 1u);
  Add("case-2", "b.txt", "two");  // record 1: checkpoint 2
  // Two stored rows at size 2 that verify under no member's key (a damaged or planted table).
  ASSERT_TRUE(node_->store().Update([&](WriteTxn& txn) -> Status {
    for (std::string name : {"khronika/x/witness", "khronika/y/witness"}) {
      Bytes key = keys::Checkpoint(node_->id(), 2);
      key.insert(key.end(), name.begin(), name.end());
      KH_RETURN_IF_ERROR(txn.Put(Table::kCosignatures, key, AsBytes("\u2014 " + name + " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")));
    }
    return Status::Ok();
  }).ok());
  fs::path out = Export("case-1");
  auto v = VerifyBundle(out);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << Problems(*v);
  ASSERT_EQ(v->logs.size(), 1u);
  EXPECT_EQ(v->logs[0].checkpoint_size, 1u);
  EXPECT_EQ(v->logs[0].cosigners, std::vector<std::string>{ToHex(b->id())});
}

}  // namespace
}  // namespace khronika
