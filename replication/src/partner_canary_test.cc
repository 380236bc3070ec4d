// What a partner holds of another member's evidence (issue #14): ciphertext and ids of
// ciphertext only. Node A logs entries whose content, file names, media types, metadata, case
// id and author name are canary strings; partner B (encrypted, its keys unlocked) syncs, cosigns
// and exports its git mirror. A full logical dump of B's store, read through B's own Store API
// with B's data key, what B serves to its peers (heads, packs, sealed chunks), and every object
// and ref of B's mirror hold no canary, no author key and no SHA-256 of any plaintext file or
// chunk, in hex or binary.
#include <git2.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "direct_transport_for_tests.h"
#include "entries_for_tests.h"
#include "khronika/log/keyring.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/replication/git_mirror.h"
#include "khronika/replication/protocol.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"
#include "khronika/replication/witness.h"

namespace khronika {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCanary = "CANARY";

struct Needle {
  std::string what;
  Bytes bytes;
};

// The first needle found in `haystack`, if any.
std::optional<std::string> FindNeedle(const Bytes& haystack, const std::vector<Needle>& needles) {
  for (const Needle& n : needles) {
    if (std::search(haystack.begin(), haystack.end(), n.bytes.begin(), n.bytes.end()) !=
        haystack.end()) {
      return n.what;
    }
  }
  return std::nullopt;
}

void AddHash(std::vector<Needle>& needles, const std::string& what, const Hash& h) {
  needles.push_back({what + " (binary)", Bytes(h.begin(), h.end())});
  std::string hex = ToHex(h);
  needles.push_back({what + " (hex)", Bytes(hex.begin(), hex.end())});
  std::string upper = hex;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  needles.push_back({what + " (HEX)", Bytes(upper.begin(), upper.end())});
}

// Every key and value of every table, as `store` reads them (decrypted with its data key).
Bytes DumpStore(const Store& store) {
  Bytes dump;
  EXPECT_TRUE(store.View([&](ReadTxn& txn) -> Status {
    for (int t = 0; t < kTableCount; ++t) {
      KH_RETURN_IF_ERROR(txn.Scan(static_cast<Table>(t), {},
                                  [&](ByteView key, ByteView value) -> Result<bool> {
                                    dump.insert(dump.end(), key.begin(), key.end());
                                    dump.push_back('\n');
                                    dump.insert(dump.end(), value.begin(), value.end());
                                    dump.push_back('\n');
                                    return true;
                                  }));
    }
    return Status::Ok();
  }).ok());
  return dump;
}

// Every object of the repository (commits, trees, blobs, as git stores them inflated) and the
// name of every reference.
Bytes DumpRepository(const fs::path& git_dir) {
  Bytes dump;
  git_repository* repo = nullptr;
  EXPECT_EQ(git_repository_open_bare(&repo, git_dir.c_str()), 0);
  if (!repo) return dump;
  git_odb* odb = nullptr;
  EXPECT_EQ(git_repository_odb(&odb, repo), 0);
  struct Walk {
    git_odb* odb;
    Bytes* dump;
    size_t objects = 0;
  } walk{odb, &dump};
  EXPECT_EQ(git_odb_foreach(
                odb,
                [](const git_oid* id, void* payload) -> int {
                  auto* w = static_cast<Walk*>(payload);
                  git_odb_object* object = nullptr;
                  if (git_odb_read(&object, w->odb, id) != 0) return -1;
                  auto* data = static_cast<const uint8_t*>(git_odb_object_data(object));
                  w->dump->insert(w->dump->end(), data, data + git_odb_object_size(object));
                  w->dump->push_back('\n');
                  git_odb_object_free(object);
                  ++w->objects;
                  return 0;
                },
                &walk),
            0);
  EXPECT_GT(walk.objects, 0u);
  git_strarray refs{};
  EXPECT_EQ(git_reference_list(&refs, repo), 0);
  for (size_t i = 0; i < refs.count; ++i) {
    std::string name = refs.strings[i];
    dump.insert(dump.end(), name.begin(), name.end());
    dump.push_back('\n');
  }
  git_strarray_dispose(&refs);
  git_odb_free(odb);
  git_repository_free(repo);
  return dump;
}

class PartnerCanaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    git_libgit2_init();
    std::string tmpl = (fs::temp_directory_path() / "canary-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    fs::remove_all(dir_);
    git_libgit2_shutdown();
  }
  fs::path dir_;
};

TEST_F(PartnerCanaryTest, APartnerHoldsAndServesNoPlaintextOfAnotherMember) {
  auto a = std::move(Node::Init(dir_ / "a", "ngo-a").value());
  ASSERT_TRUE(CreateKeyFile(dir_ / "b.key").ok());
  NodeInitOptions sealed_b;
  sealed_b.seal_with = Unlock{.passphrase = "", .key_file = dir_ / "b.key"};
  auto b_or = Node::Init(dir_ / "b", "ngo-b", std::move(sealed_b));
  ASSERT_TRUE(b_or.ok()) << b_or.status().ToString();
  auto b = std::move(*b_or);
  ASSERT_TRUE(b->encrypted());
  ASSERT_TRUE(AddMember(b->store(), a->verifier_key(), a->cosigner_verifier_key()).ok());

  SigningKey author = SigningKey::Generate();
  ASSERT_TRUE(RegisterAuthor(a->store(), author.public_key(), "CANARY-AUTHOR-Ana-Lima").ok());
  // A large file whose 1 MiB upload chunks differ, and small ones.
  std::string video(2 * kChunkSize + 4321, '.');
  for (size_t off = 0; off < video.size(); off += 997) {
    std::string mark = "CANARY-CONTENT-" + std::to_string(off);
    video.replace(off, std::min(mark.size(), video.size() - off), mark.substr(0, video.size() - off));
  }
  const std::vector<std::vector<TestFile>> entries = {
      {{"CANARY-NAME-raid-footage.mp4", video, "video/x-canary"},
       {"CANARY-NAME-statement.txt", "CANARY-CONTENT statement of the witness"}},
      {{"CANARY-NAME-photo.jpg", "CANARY-CONTENT a small photo"}},
      {}};
  std::vector<Needle> needles = {
      {"a canary string", Bytes(kCanary.begin(), kCanary.end())},
      {"a canary string (media type, kind)", Bytes{'c', 'a', 'n', 'a', 'r', 'y'}},
      {"the author key (binary)", Bytes(author.public_key().begin(), author.public_key().end())},
  };
  std::string author_hex = ToHex(author.public_key());
  needles.push_back({"the author key (hex)", Bytes(author_hex.begin(), author_hex.end())});
  for (size_t e = 0; e < entries.size(); ++e) {
    auto s = MakeTestSubmission(*a, author, "CANARY-CASE-2026-017", entries[e],
                                {{"CANARY-META-key", "CANARY-META-value"}}, "canary-kind");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE(a->log().Append({*s}).ok());
    for (const TestFile& f : entries[e]) {
      AddHash(needles, "SHA-256 of " + f.name, Sha256(f.content));
      for (size_t off = 0; off < f.content.size(); off += kChunkSize) {
        AddHash(needles, "SHA-256 of a chunk of " + f.name,
                Sha256(std::string_view(f.content).substr(off, kChunkSize)));
      }
    }
  }

  DirectTransport from_a(a->store());
  Witness witness{b->cosigner_name(), &b->cosigner_key()};
  auto report = PullFromPeer(b->store(), from_a, &witness);
  ASSERT_TRUE(report.ok());
  bool pulled = false;
  for (const LogSyncResult& l : report->logs) {
    if (l.origin != a->id()) continue;
    ASSERT_TRUE(l.status.ok()) << l.status.ToString();
    EXPECT_EQ(l.to, 3u);
    EXPECT_TRUE(l.cosigned);
    pulled = true;
  }
  ASSERT_TRUE(pulled);
  auto exported = ExportMirror(b->store(), dir_ / "b.git");
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();

  // The finder finds: A's own store names its author in clear (a node in clear).
  EXPECT_EQ(FindNeedle(DumpStore(a->store()), needles), std::optional<std::string>("a canary string"));

  Bytes store_dump = DumpStore(b->store());
  EXPECT_GT(store_dump.size(), video.size());  // the sealed video is there
  EXPECT_EQ(FindNeedle(store_dump, needles), std::nullopt) << "in B's store";

  // What B serves to its own peers.
  Bytes served;
  ASSERT_TRUE(b->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(std::vector<Head> heads, LocalHeads(txn));
    std::string json = HeadsToJson(b->id(), heads);
    served.insert(served.end(), json.begin(), json.end());
    KH_ASSIGN_OR_RETURN(Bytes pack, BuildPack(txn, a->id(), 0, 3));
    served.insert(served.end(), pack.begin(), pack.end());
    KH_ASSIGN_OR_RETURN(std::vector<PackItem> items, ParsePack(pack));
    for (const PackItem& item : items) {
      auto sealed = DecodeSealedEntry(item.object);
      if (!sealed.ok()) continue;
      for (const SealedFile& f : sealed->files) {
        // As a puller asks: as many whole sealed chunks as one answer holds.
        constexpr size_t kPerAnswer = kMaxChunkAnswerBytes / kSealedChunkSize;
        for (size_t i = 0; i < f.chunks.size(); i += kPerAnswer) {
          const size_t end = std::min(f.chunks.size(), i + kPerAnswer);
          std::vector<Hash> ids(f.chunks.begin() + static_cast<long>(i),
                                f.chunks.begin() + static_cast<long>(end));
          KH_ASSIGN_OR_RETURN(Bytes body, BuildChunkBody(txn, ids));
          served.insert(served.end(), body.begin(), body.end());
        }
      }
    }
    return Status::Ok();
  }).ok());
  EXPECT_GT(served.size(), video.size());
  EXPECT_EQ(FindNeedle(served, needles), std::nullopt) << "in what B serves";

  Bytes mirror_dump = DumpRepository(dir_ / "b.git");
  EXPECT_GT(mirror_dump.size(), video.size());
  // The finder finds what is there: A's node id names its log, in refs and commit messages.
  const std::string origin_hex = ToHex(a->id());
  const std::vector<Needle> origin = {{"A's node id", Bytes(origin_hex.begin(), origin_hex.end())}};
  EXPECT_EQ(FindNeedle(mirror_dump, origin), std::optional<std::string>("A's node id"));
  EXPECT_EQ(FindNeedle(mirror_dump, needles), std::nullopt) << "in B's git mirror";
  auto verified = VerifyMirror(dir_ / "b.git");
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok());
}

}  // namespace
}  // namespace khronika
