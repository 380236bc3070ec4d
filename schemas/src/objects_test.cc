#include "khronika/schemas/objects.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "khronika/schemas/json_view.h"

namespace khronika {
namespace {

using nlohmann::json;

// =============================================================================================
// Helpers, including an independent writer of the documented byte layout:
//   header   = 0x01 (little-endian marker) || type byte || format version (1)
//   u8       = 1 byte;  u64 / i64 = 8 bytes little-endian (two's complement for i64)
//   string   = u64 length || bytes;  hash list = u64 count || 32-byte hashes
// =============================================================================================

class Layout {
 public:
  explicit Layout(uint8_t type) : b_{0x01, type, 0x01} {}
  Layout& U8(uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  Layout& U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Layout& I64(int64_t v) { return U64(static_cast<uint64_t>(v)); }
  Layout& Fixed(ByteView v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }
  Layout& Str(std::string_view s) {
    U64(s.size());
    return Fixed(AsBytes(s));
  }
  Layout& Hashes(const std::vector<Hash>& hs) {
    U64(hs.size());
    for (const Hash& h : hs) Fixed(h);
    return *this;
  }
  const Bytes& bytes() const { return b_; }

 private:
  Bytes b_;
};

Bytes LayoutOf(const FileManifest& m) {
  return Layout('M')
      .Str(m.name)
      .Str(m.media_type)
      .U64(m.size)
      .Fixed(m.content_sha256)
      .Hashes(m.chunks)
      .bytes();
}

Layout EntryLayoutUnsigned(const Entry& e) {
  Layout l('E');
  l.Str(e.case_id).Fixed(e.author).I64(e.created_at_ms).Str(e.kind).Hashes(e.manifests);
  l.U64(e.metadata.size());
  for (const auto& [k, v] : e.metadata) l.Str(k).Str(v);
  l.U8(e.corrects ? 1 : 0);
  if (e.corrects) l.Fixed(*e.corrects);
  return l;
}

Bytes LayoutOf(const Entry& e) { return EntryLayoutUnsigned(e).Fixed(e.signature).bytes(); }

Bytes LayoutOf(const Record& r) {
  return Layout('R')
      .Fixed(r.origin)
      .U64(r.index)
      .Fixed(r.prev_record)
      .Fixed(r.entry_id)
      .Fixed(r.prev_case_record)
      .I64(r.received_at_ms)
      .bytes();
}

Bytes IndepSha256(ByteView data) {
  Bytes out(32);
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr), 1);
  return out;
}

bool IndepEd25519Verify(const PublicKey& pub, ByteView msg, const Signature& sig) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size()),
      EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!pkey || !ctx ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), msg.data(), msg.size()) == 1;
}

// A hash whose bytes are start, start + 1, ..., start + 31: easy to spot in a hex dump.
Hash Pattern(uint8_t start) {
  Hash h;
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(start + i);
  return h;
}

SigningKey KeyFromSeed(uint8_t start) {
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(start + i);
  auto key = SigningKey::FromSeed(seed);
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

// ---- The fixed objects pinned by tests/golden/*.hex ----

SigningKey GoldenKey() { return KeyFromSeed(0); }  // seed bytes 0x00..0x1f

FileManifest GoldenManifest() {
  FileManifest m;
  m.name = "witness statement.pdf";
  m.media_type = "application/pdf";
  m.size = 2 * kChunkSize + 100;
  m.content_sha256 = Pattern(0xa0);
  m.chunks = {Pattern(0x10), Pattern(0x30), Pattern(0x50)};
  return m;
}

Entry GoldenEntry() {
  Entry e;
  e.case_id = "case-2024.017";
  e.created_at_ms = 1718000000123;
  e.kind = "evidence";
  e.manifests = {ObjectId(Encode(GoldenManifest())), Pattern(0x70)};
  e.metadata = {{"location", "Kharkiv"}, {"source", "drone footage"}};
  e.corrects = Pattern(0xc0);
  SignEntry(e, GoldenKey());
  return e;
}

Record GoldenRecord() {
  Record r;
  r.origin = NodeIdFromPublicKey(GoldenKey().public_key());
  r.index = 41;
  r.prev_record = Pattern(0x01);
  r.entry_id = ObjectId(Encode(GoldenEntry()));
  r.prev_case_record = Hash{};
  r.received_at_ms = 1718000000456;
  return r;
}

std::string ReadGoldenHex(const std::string& file) {
  std::ifstream in(std::string(KHRONIKA_GOLDEN_DIR) + "/" + file);
  EXPECT_TRUE(in.good()) << "cannot open " << KHRONIKA_GOLDEN_DIR << "/" << file;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

template <typename T>
void ExpectInvalid(const Result<T>& r, const std::string& what) {
  EXPECT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << what << ": " << r.status().ToString();
}

void ExpectInvalid(const Status& s, const std::string& what) {
  EXPECT_FALSE(s.ok()) << what;
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << what;
}

void ExpectNoObjectDecodes(ByteView b, const std::string& what) {
  ExpectInvalid(DecodeManifest(b), what + " (as manifest)");
  ExpectInvalid(DecodeEntry(b), what + " (as entry)");
  ExpectInvalid(DecodeRecord(b), what + " (as record)");
}

// =============================================================================================
// Golden vectors and the documented layout.
// =============================================================================================

TEST(GoldenTest, ManifestBytes) {
  Bytes bytes = Encode(GoldenManifest());
  EXPECT_EQ(ToHex(bytes), ReadGoldenHex("manifest.hex"));
  EXPECT_EQ(bytes, LayoutOf(GoldenManifest()));
}

TEST(GoldenTest, EntryBytes) {
  Bytes bytes = Encode(GoldenEntry());
  EXPECT_EQ(ToHex(bytes), ReadGoldenHex("entry.hex"));
  EXPECT_EQ(bytes, LayoutOf(GoldenEntry()));
}

TEST(GoldenTest, RecordBytes) {
  Bytes bytes = Encode(GoldenRecord());
  EXPECT_EQ(ToHex(bytes), ReadGoldenHex("record.hex"));
  EXPECT_EQ(bytes, LayoutOf(GoldenRecord()));
}

TEST(GoldenTest, GoldenFilesDecodeAndVerify) {
  auto m = FromHex(ReadGoldenHex("manifest.hex"));
  auto e = FromHex(ReadGoldenHex("entry.hex"));
  auto r = FromHex(ReadGoldenHex("record.hex"));
  ASSERT_TRUE(m.ok() && e.ok() && r.ok());
  auto dm = DecodeManifest(*m);
  ASSERT_TRUE(dm.ok()) << dm.status().ToString();
  EXPECT_EQ(*dm, GoldenManifest());
  auto de = DecodeEntry(*e);
  ASSERT_TRUE(de.ok()) << de.status().ToString();
  EXPECT_EQ(*de, GoldenEntry());
  EXPECT_TRUE(VerifyEntrySignature(*de));
  EXPECT_EQ(de->author, GoldenKey().public_key());
  auto dr = DecodeRecord(*r);
  ASSERT_TRUE(dr.ok()) << dr.status().ToString();
  EXPECT_EQ(*dr, GoldenRecord());
}

TEST(LayoutTest, HeaderAndIntegersAreLittleEndian) {
  Bytes m = Encode(GoldenManifest());
  ASSERT_GE(m.size(), 11u);
  EXPECT_EQ(m[0], 0x01);
  EXPECT_EQ(m[1], 'M');
  EXPECT_EQ(m[2], 0x01);
  // Name length 21 as a little-endian u64, then the name.
  EXPECT_EQ(ToHex(ByteView(m).subspan(3, 8)), "1500000000000000");
  EXPECT_EQ(AsChars(ByteView(m).subspan(11, 21)), "witness statement.pdf");

  Record rec;
  rec.index = 0x0102030405060708;
  rec.received_at_ms = -2;
  Bytes r = Encode(rec);
  ASSERT_EQ(r.size(), 3u + 32 + 8 + 32 + 32 + 32 + 8);
  EXPECT_EQ(r[1], 'R');
  EXPECT_EQ(ToHex(ByteView(r).subspan(35, 8)), "0807060504030201");
  EXPECT_EQ(ToHex(ByteView(r).subspan(r.size() - 8)), "feffffffffffffff");

  Entry e;
  e.case_id = "c";
  e.kind = "k";
  e.created_at_ms = std::numeric_limits<int64_t>::min();
  Bytes eb = Encode(e);
  EXPECT_EQ(eb[1], 'E');
  EXPECT_EQ(eb, LayoutOf(e));
  // No corrects: flag byte 0, then directly the 64-byte signature.
  EXPECT_EQ(eb[eb.size() - 65], 0x00);
  e.corrects = Pattern(0);
  Bytes with = Encode(e);
  EXPECT_EQ(with.size(), eb.size() + 32);
  EXPECT_EQ(with[with.size() - 97], 0x01);
}

TEST(LayoutTest, IdsAndHashes) {
  Bytes m = Encode(GoldenManifest());
  Hash id = ObjectId(m);
  EXPECT_EQ(Bytes(id.begin(), id.end()), IndepSha256(m));
  Bytes r = Encode(GoldenRecord());
  Hash rh = RecordHash(r);
  EXPECT_EQ(Bytes(rh.begin(), rh.end()), IndepSha256(r));
  Bytes prefixed = {0x00};
  prefixed.insert(prefixed.end(), r.begin(), r.end());
  Hash leaf = LeafHash(r);
  EXPECT_EQ(Bytes(leaf.begin(), leaf.end()), IndepSha256(prefixed));
  Hash empty_leaf = LeafHash({});
  EXPECT_EQ(ToHex(empty_leaf), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  PublicKey pub = GoldenKey().public_key();
  Hash node = NodeIdFromPublicKey(pub);
  EXPECT_EQ(Bytes(node.begin(), node.end()), IndepSha256(pub));
  Bytes chunk = {1, 2, 3};
  Hash cid = ChunkId(chunk);
  EXPECT_EQ(Bytes(cid.begin(), cid.end()), IndepSha256(chunk));
}

// =============================================================================================
// Round trips.
// =============================================================================================

TEST(RoundTripTest, Manifests) {
  std::vector<FileManifest> ms;
  ms.push_back(GoldenManifest());
  FileManifest empty;
  empty.name = "empty.txt";
  empty.media_type = "text/plain";
  empty.size = 0;
  empty.content_sha256 = Sha256(std::string_view(""));
  ms.push_back(empty);
  FileManifest exact = empty;
  exact.name = "\xd0\xbf\xd1\x80\xd0\xbe\xd1\x82\xd0\xbe\xd0\xba\xd0\xbe\xd0\xbb.json";
  exact.media_type = "application/vnd.khronika+json";
  exact.size = kChunkSize;
  exact.chunks = {Pattern(9)};
  ms.push_back(exact);
  FileManifest long_name = exact;
  long_name.name = std::string(kMaxFileNameBytes, 'n');
  ms.push_back(long_name);
  for (const FileManifest& m : ms) {
    ASSERT_TRUE(ValidateManifest(m).ok()) << m.name;
    Bytes b = Encode(m);
    auto back = DecodeManifest(b);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, m);
    EXPECT_EQ(Encode(*back), b);
    auto peek = PeekObjectType(b);
    ASSERT_TRUE(peek.ok());
    EXPECT_EQ(*peek, kTypeManifest);
  }
}

TEST(RoundTripTest, Entries) {
  SigningKey key = KeyFromSeed(50);
  std::vector<Entry> es;
  es.push_back(GoldenEntry());
  Entry minimal;
  minimal.case_id = "1";
  minimal.kind = "note";
  minimal.created_at_ms = -5;
  SignEntry(minimal, key);
  es.push_back(minimal);
  Entry rich = GoldenEntry();
  rich.metadata.clear();
  for (int i = 0; i < 64; ++i) rich.metadata["k" + std::to_string(100 + i)] = "v\t\n\xc3\xa9";
  rich.corrects.reset();
  rich.kind = "correction";
  for (int i = 0; i < 20; ++i) rich.manifests.push_back(Pattern(static_cast<uint8_t>(i)));
  SignEntry(rich, key);
  es.push_back(rich);
  Entry empty_value = minimal;
  empty_value.metadata = {{"empty", ""}};
  SignEntry(empty_value, key);
  es.push_back(empty_value);
  for (const Entry& e : es) {
    ASSERT_TRUE(ValidateEntryFields(e).ok());
    Bytes b = Encode(e);
    EXPECT_EQ(b, LayoutOf(e));
    auto back = DecodeEntry(b);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, e);
    EXPECT_EQ(back->metadata, e.metadata);
    EXPECT_EQ(back->corrects, e.corrects);
    EXPECT_TRUE(VerifyEntrySignature(*back));
    EXPECT_EQ(*PeekObjectType(b), kTypeEntry);
  }
}

TEST(RoundTripTest, Records) {
  std::vector<Record> rs = {GoldenRecord(), Record{}};
  Record extreme;
  extreme.origin = Pattern(0xff);
  extreme.index = UINT64_MAX;
  extreme.prev_record = Pattern(0x80);
  extreme.entry_id = Pattern(0x81);
  extreme.prev_case_record = Pattern(0x82);
  extreme.received_at_ms = std::numeric_limits<int64_t>::min();
  rs.push_back(extreme);
  for (const Record& r : rs) {
    Bytes b = Encode(r);
    EXPECT_EQ(b.size(), 3u + 32 + 8 + 32 + 32 + 32 + 8);
    auto back = DecodeRecord(b);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, r);
    EXPECT_EQ(*PeekObjectType(b), kTypeRecord);
  }
}

// =============================================================================================
// Entry signatures.
// =============================================================================================

TEST(EntrySignatureTest, SigningMessageIsPrefixAndHashOfUnsignedBytes) {
  Entry e = GoldenEntry();
  Bytes encoded = Encode(e);
  Bytes unsigned_bytes(encoded.begin(), encoded.end() - 64);
  EXPECT_EQ(unsigned_bytes, EntryLayoutUnsigned(e).bytes());
  Bytes want(kEntrySignaturePrefix.begin(), kEntrySignaturePrefix.end());
  ASSERT_EQ(want.size(), 28u);
  EXPECT_EQ(std::memcmp(want.data(), "khronika entry signature v1", 27), 0);
  EXPECT_EQ(want[27], 0x00);
  Bytes digest = IndepSha256(unsigned_bytes);
  want.insert(want.end(), digest.begin(), digest.end());
  EXPECT_EQ(EntrySigningMessage(e), want);
  // The signature is a plain Ed25519 signature of that message by the author.
  EXPECT_TRUE(IndepEd25519Verify(e.author, want, e.signature));
  // The signature field itself is not part of the message.
  Entry resigned = e;
  resigned.signature = Signature{};
  EXPECT_EQ(EntrySigningMessage(resigned), want);
}

TEST(EntrySignatureTest, SignEntrySetsAuthorAndVerifies) {
  SigningKey key = KeyFromSeed(9), other = KeyFromSeed(10);
  Entry e = GoldenEntry();
  SignEntry(e, key);
  EXPECT_EQ(e.author, key.public_key());
  EXPECT_TRUE(VerifyEntrySignature(e));
  Entry wrong_author = e;
  wrong_author.author = other.public_key();
  EXPECT_FALSE(VerifyEntrySignature(wrong_author));
  Entry zero_sig = e;
  zero_sig.signature = Signature{};
  EXPECT_FALSE(VerifyEntrySignature(zero_sig));
  Entry zero_author = e;
  zero_author.author = PublicKey{};
  EXPECT_FALSE(VerifyEntrySignature(zero_author));
  // Every field is covered.
  std::vector<Entry> changed(9, e);
  changed[0].case_id += "x";
  changed[1].created_at_ms += 1;
  changed[2].kind = "note";
  changed[3].manifests.pop_back();
  changed[4].metadata["location"] = "Kharkiv ";
  changed[5].metadata["zz"] = "";
  changed[6].corrects.reset();
  changed[7].corrects = Pattern(0xc1);
  changed[8].manifests = {e.manifests[1], e.manifests[0]};
  for (size_t i = 0; i < changed.size(); ++i) {
    EXPECT_FALSE(VerifyEntrySignature(changed[i])) << "field change " << i;
  }
}

TEST(EntrySignatureTest, EverySingleBitFlipIsRejected) {
  const Entry original = GoldenEntry();
  const Bytes encoded = Encode(original);
  ASSERT_TRUE(VerifyEntrySignature(*DecodeEntry(encoded)));
  size_t decode_failures = 0, signature_failures = 0;
  for (size_t bit = 0; bit < encoded.size() * 8; ++bit) {
    Bytes flipped = encoded;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto decoded = DecodeEntry(flipped);
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), Code::kInvalidArgument) << "bit " << bit;
      ++decode_failures;
      continue;
    }
    EXPECT_FALSE(VerifyEntrySignature(*decoded)) << "bit " << bit << " accepted";
    EXPECT_NE(*decoded, original) << "bit " << bit;
    ++signature_failures;
  }
  // Both defences take part: structure for headers and lengths, the signature for content.
  EXPECT_GT(decode_failures, 0u);
  EXPECT_GT(signature_failures, 0u);
}

TEST(DecodeTest, BitFlipsOfManifestsAndRecordsNeverDecodeToTheOriginal) {
  const FileManifest m = GoldenManifest();
  const Bytes mb = Encode(m);
  for (size_t bit = 0; bit < mb.size() * 8; ++bit) {
    Bytes flipped = mb;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto d = DecodeManifest(flipped);
    if (d.ok()) {
      EXPECT_NE(*d, m) << bit;
      EXPECT_EQ(Encode(*d), flipped) << bit;
    } else {
      EXPECT_EQ(d.status().code(), Code::kInvalidArgument) << bit;
    }
  }
  const Record r = GoldenRecord();
  const Bytes rb = Encode(r);
  for (size_t bit = 0; bit < rb.size() * 8; ++bit) {
    Bytes flipped = rb;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto d = DecodeRecord(flipped);
    if (bit < 24) {
      ExpectInvalid(d, "header bit " + std::to_string(bit));
    } else {
      ASSERT_TRUE(d.ok()) << bit;  // fixed-width fields: every value is well-formed
      EXPECT_NE(*d, r) << bit;
    }
  }
}

// =============================================================================================
// Malformed encodings: all rejected with InvalidArgument, never a crash.
// =============================================================================================

TEST(DecodeTest, TruncationAtEveryLength) {
  const std::vector<std::pair<std::string, Bytes>> objects = {
      {"manifest", Encode(GoldenManifest())},
      {"entry", Encode(GoldenEntry())},
      {"record", Encode(GoldenRecord())}};
  for (const auto& [what, bytes] : objects) {
    for (size_t len = 0; len < bytes.size(); ++len) {
      ExpectNoObjectDecodes(ByteView(bytes).first(len), what + " cut to " + std::to_string(len));
    }
  }
}

TEST(DecodeTest, TrailingBytes) {
  const std::vector<std::pair<std::string, Bytes>> objects = {
      {"manifest", Encode(GoldenManifest())},
      {"entry", Encode(GoldenEntry())},
      {"record", Encode(GoldenRecord())}};
  for (const auto& [what, bytes] : objects) {
    for (const Bytes& tail : {Bytes{0}, Bytes{0x01}, Bytes(8, 0), Bytes(32, 0xff), bytes}) {
      Bytes longer = bytes;
      longer.insert(longer.end(), tail.begin(), tail.end());
      ExpectNoObjectDecodes(longer, what + " + " + std::to_string(tail.size()) + " bytes");
    }
  }
}

uint64_t ReadLe(const Bytes& b, size_t offset) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | b[offset + static_cast<size_t>(i)];
  return v;
}

// Overwrites the little-endian u64 at `offset`.
Bytes WithU64At(Bytes b, size_t offset, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[offset + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
  return b;
}

TEST(DecodeTest, HugeLengthPrefixes) {
  const uint64_t huge[] = {uint64_t{1} << 62, UINT64_MAX, uint64_t{1} << 32,
                           (uint64_t{1} << 59) + 1, 256, 1000};
  const Entry e = GoldenEntry();
  const Bytes eb = Encode(e);
  const FileManifest m = GoldenManifest();
  const Bytes mb = Encode(m);
  // Offsets of the length/count fields, from the documented layout.
  const size_t case_len = 3;
  const size_t kind_len = case_len + 8 + e.case_id.size() + 32 + 8;
  const size_t manifest_count = kind_len + 8 + e.kind.size();
  const size_t metadata_count = manifest_count + 8 + 32 * e.manifests.size();
  const size_t first_key_len = metadata_count + 8;
  const size_t first_value_len = first_key_len + 8 + e.metadata.begin()->first.size();
  ASSERT_EQ(ReadLe(eb, metadata_count), e.metadata.size());
  const size_t name_len = 3;
  const size_t media_len = name_len + 8 + m.name.size();
  const size_t chunk_count = media_len + 8 + m.media_type.size() + 8 + 32;
  ASSERT_EQ(ReadLe(mb, chunk_count), m.chunks.size());
  for (uint64_t v : huge) {
    for (size_t off : {case_len, kind_len, manifest_count, metadata_count, first_key_len,
                       first_value_len}) {
      ExpectInvalid(DecodeEntry(WithU64At(eb, off, v)),
                    "entry field at " + std::to_string(off) + " = " + std::to_string(v));
    }
    for (size_t off : {name_len, media_len, chunk_count}) {
      ExpectInvalid(DecodeManifest(WithU64At(mb, off, v)),
                    "manifest field at " + std::to_string(off) + " = " + std::to_string(v));
    }
  }
  // A length that fits its limit but runs past the end of the input.
  ExpectInvalid(DecodeEntry(WithU64At(eb, case_len, 128)), "case id past the end");
  ExpectInvalid(DecodeManifest(WithU64At(mb, name_len, 255)), "name past the end");
  // A minimal manifest whose chunk count claims the maximum number of chunks.
  Bytes lone = Layout('M').Str("a").Str("a/b").U64(kMaxFileSize).Fixed(Hash{}).U64(1u << 20).bytes();
  ExpectInvalid(DecodeManifest(lone), "a million chunks, none present");
}

TEST(DecodeTest, HeaderErrors) {
  const std::vector<Bytes> objects = {Encode(GoldenManifest()), Encode(GoldenEntry()),
                                      Encode(GoldenRecord())};
  for (const Bytes& b : objects) {
    for (uint8_t version : {0, 2, 3, 0x7f, 0xff}) {
      Bytes v = b;
      v[2] = version;
      ExpectNoObjectDecodes(v, "version " + std::to_string(version));
      ExpectInvalid(PeekObjectType(v), "peek version " + std::to_string(version));
    }
    for (uint8_t marker : {0x00, 0x02, 0xff}) {  // 0x00 is cereal's big-endian marker
      Bytes v = b;
      v[0] = marker;
      ExpectNoObjectDecodes(v, "marker " + std::to_string(marker));
      ExpectInvalid(PeekObjectType(v), "peek marker " + std::to_string(marker));
    }
    for (uint8_t type : {uint8_t{'m'}, uint8_t{'e'}, uint8_t{'r'}, uint8_t{'X'}, uint8_t{0x00},
                         uint8_t{0xff}}) {
      Bytes v = b;
      v[1] = type;
      ExpectNoObjectDecodes(v, "type " + std::to_string(type));
    }
  }
  // Each type is only accepted by its own decoder.
  ExpectInvalid(DecodeEntry(objects[0]), "manifest as entry");
  ExpectInvalid(DecodeRecord(objects[0]), "manifest as record");
  ExpectInvalid(DecodeManifest(objects[1]), "entry as manifest");
  ExpectInvalid(DecodeRecord(objects[1]), "entry as record");
  ExpectInvalid(DecodeManifest(objects[2]), "record as manifest");
  ExpectInvalid(DecodeEntry(objects[2]), "record as entry");
  // A record with its type byte changed is the right length for nothing else.
  Bytes r_as_m = objects[2];
  r_as_m[1] = 'M';
  ExpectInvalid(DecodeManifest(r_as_m), "record bytes typed M");
  ExpectInvalid(PeekObjectType(Bytes{}), "peek empty");
  ExpectInvalid(PeekObjectType(Bytes{0x01, 'E'}), "peek two bytes");
  ExpectNoObjectDecodes(Bytes{}, "empty");
}

TEST(DecodeTest, ObjectSizeLimit) {
  Bytes big(kMaxObjectBytes + 1, 0);
  big[0] = 0x01;
  big[1] = 'M';
  big[2] = 0x01;
  ExpectInvalid(DecodeManifest(big), "oversized manifest");
  big[1] = 'E';
  ExpectInvalid(DecodeEntry(big), "oversized entry");
}

Entry UnsignedEntry() {
  Entry e;
  e.case_id = "case-1";
  e.author = Pattern(0x20);
  e.created_at_ms = 1;
  e.kind = "evidence";
  e.manifests = {Pattern(0x40)};
  return e;
}

// Builds an entry encoding with metadata pairs in the given order (not necessarily sorted).
Bytes EntryWithPairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                     uint8_t corrects_flag = 0, bool with_hash = false) {
  Entry e = UnsignedEntry();
  Layout l('E');
  l.Str(e.case_id).Fixed(e.author).I64(e.created_at_ms).Str(e.kind).Hashes(e.manifests);
  l.U64(pairs.size());
  for (const auto& [k, v] : pairs) l.Str(k).Str(v);
  l.U8(corrects_flag);
  if (with_hash) l.Fixed(Pattern(0x90));
  l.Fixed(Signature{});
  return l.bytes();
}

TEST(DecodeTest, MetadataKeysMustBeSortedAndUnique) {
  auto sorted = DecodeEntry(EntryWithPairs({{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  ASSERT_TRUE(sorted.ok()) << sorted.status().ToString();  // the control: only order differs
  EXPECT_EQ(sorted->metadata.size(), 3u);
  ExpectInvalid(DecodeEntry(EntryWithPairs({{"b", "2"}, {"a", "1"}})), "unsorted");
  ExpectInvalid(DecodeEntry(EntryWithPairs({{"a", "1"}, {"c", "3"}, {"b", "2"}})), "unsorted 3");
  ExpectInvalid(DecodeEntry(EntryWithPairs({{"a", "1"}, {"a", "1"}})), "duplicate");
  ExpectInvalid(DecodeEntry(EntryWithPairs({{"a", "1"}, {"a", "2"}})), "duplicate key");
  // Byte order, not some other collation: "B" (0x42) sorts before "a" (0x61).
  EXPECT_TRUE(DecodeEntry(EntryWithPairs({{"B", "x"}, {"a", "y"}})).ok());
  ExpectInvalid(DecodeEntry(EntryWithPairs({{"a", "y"}, {"B", "x"}})), "a before B");
}

TEST(DecodeTest, CorrectsFlag) {
  EXPECT_TRUE(DecodeEntry(EntryWithPairs({}, 0, false)).ok());
  auto with = DecodeEntry(EntryWithPairs({}, 1, true));
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  ASSERT_TRUE(with->corrects.has_value());
  EXPECT_EQ(*with->corrects, Pattern(0x90));
  ExpectInvalid(DecodeEntry(EntryWithPairs({}, 2, true)), "flag 2 with hash");
  ExpectInvalid(DecodeEntry(EntryWithPairs({}, 2, false)), "flag 2 without hash");
  ExpectInvalid(DecodeEntry(EntryWithPairs({}, 0xff, true)), "flag 255");
  ExpectInvalid(DecodeEntry(EntryWithPairs({}, 1, false)), "flag 1 without hash");
  ExpectInvalid(DecodeEntry(EntryWithPairs({}, 0, true)), "flag 0 with hash");
}

TEST(DecodeTest, DecodersEnforceFieldValidation) {
  auto entry_with = [](auto mutate) {
    Entry e = UnsignedEntry();
    mutate(e);
    return Encode(e);
  };
  ASSERT_TRUE(DecodeEntry(entry_with([](Entry&) {})).ok());
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) { e.case_id = ""; })), "empty case id");
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) { e.case_id = "-x"; })), "bad case id");
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) { e.case_id = std::string(129, 'c'); })),
                "long case id");
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) { e.kind = "Evidence"; })), "bad kind");
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) { e.kind = std::string(33, 'k'); })),
                "long kind");
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) { e.metadata["bad key"] = "v"; })),
                "bad metadata key");
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) { e.metadata["k"] = "\x01"; })),
                "control byte in value");
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) { e.metadata["k"] = "\xff"; })),
                "invalid UTF-8 value");
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) {
                  for (int i = 0; i < 65; ++i) e.metadata["k" + std::to_string(i)] = "";
                })),
                "65 metadata pairs");
  ExpectInvalid(DecodeEntry(entry_with([](Entry& e) {
                  e.manifests.assign(kMaxManifestsPerEntry + 1, Pattern(1));
                })),
                "1001 manifests");
  auto thousand = DecodeEntry(
      entry_with([](Entry& e) { e.manifests.assign(kMaxManifestsPerEntry, Pattern(1)); }));
  EXPECT_TRUE(thousand.ok()) << thousand.status().ToString();

  FileManifest m = GoldenManifest();
  m.chunks.pop_back();
  ExpectInvalid(DecodeManifest(Encode(m)), "too few chunks");
  m = GoldenManifest();
  m.chunks.push_back(Pattern(0));
  ExpectInvalid(DecodeManifest(Encode(m)), "too many chunks");
  m = GoldenManifest();
  m.media_type = "Application/PDF";
  ExpectInvalid(DecodeManifest(Encode(m)), "uppercase media type");
  m = GoldenManifest();
  m.size = kMaxFileSize + 1;
  m.chunks.assign(ChunkCount(m.size), Hash{});
  ExpectInvalid(DecodeManifest(Encode(m)), "file over 1 TiB");
}

// =============================================================================================
// File names.
// =============================================================================================

TEST(FileNameTest, InvalidNamesRejectedEverywhere) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"slash", "a/b"},
      {"leading slash", "/etc"},
      {"backslash", "a\\b"},
      {"dot dot", ".."},
      {"dot", "."},
      {"embedded dot dot", "a..b"},
      {"trailing dot dot", "report.."},
      {"control byte", "x\x01y"},
      {"newline", "x\ny"},
      {"tab", "x\ty"},
      {"DEL", "x\x7fy"},
      {"NUL", std::string("x\0y", 3)},
      {"empty", ""},
      {"256 bytes", std::string(256, 'a')},
      {"lone continuation byte", "a\x80"},
      {"invalid lead byte", "\xff"},
      {"truncated sequence", "a\xe2\x82"},
      {"truncated at end", "\xc3"},
      {"bad continuation", "\xc3\x28"},
      {"overlong slash", "\xc0\xaf"},
      {"overlong 3-byte", "\xe0\x80\xaf"},
      {"UTF-16 surrogate", "\xed\xa0\x80"},
      {"above U+10FFFF", "\xf4\x90\x80\x80"},
      {"5-byte form", "\xf8\x88\x80\x80\x80"},
      {"C1 control U+0085", "a\xc2\x85" "b"},
      {"right-to-left override U+202E", "evil\xe2\x80\xaetxt.exe"},
      {"left-to-right isolate U+2066", "a\xe2\x81\xa6" "b"},
      {"right-to-left mark U+200F", "a\xe2\x80\x8f" "b"},
      {"Arabic letter mark U+061C", "a\xd8\x9c" "b"},
      {"zero width space U+200B", "a\xe2\x80\x8b" "b"},
      {"word joiner U+2060", "a\xe2\x81\xa0" "b"},
      {"byte order mark U+FEFF", "\xef\xbb\xbf" "a"},
      {"soft hyphen U+00AD", "a\xc2\xad" "b"},
      {"tag LATIN SMALL LETTER A U+E0061", "a\xf3\xa0\x81\xa1"},
  };
  for (const auto& [what, name] : bad) {
    ExpectInvalid(ValidateFileName(name), what);
    FileManifest m = GoldenManifest();
    m.name = name;
    ExpectInvalid(ValidateManifest(m), what + " (manifest)");
    ExpectInvalid(DecodeManifest(Encode(m)), what + " (decode)");
    json j = ToJson(m);
    ExpectInvalid(ManifestFromJson(j), what + " (json)");
  }
}

TEST(FileNameTest, ValidNames) {
  for (const std::string& name :
       {std::string("a"), std::string("photo.jpg"), std::string(".hidden"), std::string("a.b.c"),
        std::string("with space.txt"), std::string("\xd1\x84\xd0\xb0\xd0\xb9\xd0\xbb.txt"),
        std::string("\xe6\x97\xa5\xe6\x9c\xac.png"), std::string("\xf0\x9f\x93\xb7"),
        std::string("\xf4\x8f\xbf\xbf"), std::string(255, 'a'), std::string("-rf"),
        // Persian "mi-khaham" with its zero width non-joiner U+200C, which Persian needs.
        std::string("\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xae\xd9\x88\xd8\xa7\xd9\x87\xd9\x85.txt")}) {
    EXPECT_TRUE(ValidateFileName(name).ok()) << name;
    FileManifest m = GoldenManifest();
    m.name = name;
    auto d = DecodeManifest(Encode(m));
    ASSERT_TRUE(d.ok()) << name << ": " << d.status().ToString();
    EXPECT_EQ(d->name, name);
  }
}

// =============================================================================================
// Validation of the fields people type.
// =============================================================================================

TEST(ValidationTest, CaseIds) {
  for (const std::string& id : {std::string("1"), std::string("A"), std::string("case-1"),
                                std::string("a.b_c-D"), std::string("2024.KX-17_b"),
                                std::string(128, 'c')}) {
    EXPECT_TRUE(ValidateCaseId(id).ok()) << id;
  }
  for (const std::string& id :
       {std::string(""), std::string("-a"), std::string(".a"), std::string("_a"),
        std::string("a b"), std::string("a/b"), std::string("a+b"), std::string("a:b"),
        std::string(129, 'c'), std::string("\xc3\xa4"), std::string("a\n")}) {
    ExpectInvalid(ValidateCaseId(id), "case id '" + id + "'");
  }
}

TEST(ValidationTest, Kinds) {
  for (const std::string& k : {std::string("evidence"), std::string("note"),
                               std::string("correction"), std::string("a1"),
                               std::string("chain-of_custody"), std::string(32, 'k')}) {
    EXPECT_TRUE(ValidateKind(k).ok()) << k;
  }
  for (const std::string& k :
       {std::string(""), std::string("1a"), std::string("-a"), std::string("_a"),
        std::string("Evidence"), std::string("a b"), std::string("a.b"), std::string("a/b"),
        std::string(33, 'k'), std::string("\xc3\xa9")}) {
    ExpectInvalid(ValidateKind(k), "kind '" + k + "'");
  }
}

TEST(ValidationTest, MediaTypes) {
  for (const std::string& t :
       {std::string("image/jpeg"), std::string("application/pdf"),
        std::string("application/vnd.ms-excel"), std::string("application/ld+json"),
        std::string("video/mp4"), std::string("x_y/z.w"),
        std::string("a/") + std::string(125, 'b')}) {
    EXPECT_TRUE(ValidateMediaType(t).ok()) << t;
  }
  for (const std::string& t :
       {std::string(""), std::string("image"), std::string("/jpeg"), std::string("image/"),
        std::string("/"), std::string("image/jpeg/x"), std::string("Image/JPEG"),
        std::string("text/plain; charset=utf-8"), std::string("text/plain "),
        std::string("a/") + std::string(126, 'b'), std::string("te xt/plain"),
        std::string("text/pl\xc3\xa4in")}) {
    ExpectInvalid(ValidateMediaType(t), "media type '" + t + "'");
  }
}

TEST(ValidationTest, MetadataLimits) {
  std::map<std::string, std::string> md;
  EXPECT_TRUE(ValidateMetadata(md).ok());
  for (int i = 0; i < 64; ++i) md["key" + std::to_string(i)] = "value";
  EXPECT_TRUE(ValidateMetadata(md).ok());
  md["key64"] = "value";
  ExpectInvalid(ValidateMetadata(md), "65 pairs");

  EXPECT_TRUE(ValidateMetadata({{std::string(64, 'k'), "v"}}).ok());
  ExpectInvalid(ValidateMetadata({{std::string(65, 'k'), "v"}}), "65-byte key");
  ExpectInvalid(ValidateMetadata({{"", "v"}}), "empty key");
  for (std::string key : {"a b", "a/b", "a:b", "a\n", "\xc3\xa9", "a=b"}) {
    ExpectInvalid(ValidateMetadata({{key, "v"}}), "key '" + key + "'");
  }
  EXPECT_TRUE(ValidateMetadata({{"A.z_0-9", ""}}).ok());

  EXPECT_TRUE(ValidateMetadata({{"k", std::string(4096, 'v')}}).ok());
  ExpectInvalid(ValidateMetadata({{"k", std::string(4097, 'v')}}), "4097-byte value");
  EXPECT_TRUE(ValidateMetadata({{"k", "line one\nline\ttwo \xe2\x9c\x93"}}).ok());
  for (const std::string& v : {std::string("\x01"), std::string("a\rb"), std::string("\x7f"),
                               std::string("a\0b", 3), std::string("\xff"),
                               std::string("\xc3"), std::string("\xed\xa0\x80")}) {
    ExpectInvalid(ValidateMetadata({{"k", v}}), "value " + ToHex(AsBytes(v)));
  }

  // Total size: 8 values of 4000 bytes fit in 32 KiB, 9 do not.
  std::map<std::string, std::string> big;
  for (int i = 0; i < 8; ++i) big["k" + std::to_string(i)] = std::string(4000, 'v');
  EXPECT_TRUE(ValidateMetadata(big).ok());
  big["k8"] = std::string(4000, 'v');
  ExpectInvalid(ValidateMetadata(big), "36 KB of metadata");
  // Exactly at the limit: 8 pairs of 2-byte keys and 4094-byte values = 32768 bytes.
  std::map<std::string, std::string> exact;
  for (int i = 0; i < 8; ++i) exact["k" + std::to_string(i)] = std::string(4094, 'v');
  EXPECT_TRUE(ValidateMetadata(exact).ok());
  exact["k0"] += "v";
  ExpectInvalid(ValidateMetadata(exact), "32 KiB + 1");
}

TEST(ValidationTest, ManifestsAndEntries) {
  FileManifest m = GoldenManifest();
  EXPECT_TRUE(ValidateManifest(m).ok());
  m.chunks.pop_back();
  ExpectInvalid(ValidateManifest(m), "missing chunk");
  m = GoldenManifest();
  m.size = 2 * kChunkSize;  // exactly two full chunks, but three listed
  ExpectInvalid(ValidateManifest(m), "extra chunk");
  m.chunks.pop_back();
  EXPECT_TRUE(ValidateManifest(m).ok());
  m.media_type = "pdf";
  ExpectInvalid(ValidateManifest(m), "bad media type");
  // A chunk listed twice is refused, and so is the decoding of such a manifest.
  m = GoldenManifest();
  m.chunks[2] = m.chunks[0];
  ExpectInvalid(ValidateManifest(m), "a repeated chunk");
  EXPECT_FALSE(DecodeManifest(Encode(m)).ok());

  EXPECT_EQ(ChunkCount(0), 0u);
  EXPECT_EQ(ChunkCount(1), 1u);
  EXPECT_EQ(ChunkCount(kChunkSize), 1u);
  EXPECT_EQ(ChunkCount(kChunkSize + 1), 2u);
  EXPECT_EQ(ChunkCount(kMaxFileSize), uint64_t{1} << 20);
  EXPECT_EQ(ChunkLength(kChunkSize + 1, 0), kChunkSize);
  EXPECT_EQ(ChunkLength(kChunkSize + 1, 1), 1u);
  EXPECT_EQ(ChunkLength(2 * kChunkSize, 1), kChunkSize);
  EXPECT_EQ(ChunkLength(5, 0), 5u);

  Entry e = UnsignedEntry();
  EXPECT_TRUE(ValidateEntryFields(e).ok());
  e.manifests.assign(kMaxManifestsPerEntry, Hash{});
  EXPECT_TRUE(ValidateEntryFields(e).ok());
  e.manifests.push_back(Hash{});
  ExpectInvalid(ValidateEntryFields(e), "1001 manifests");
  e = UnsignedEntry();
  e.case_id = "";
  ExpectInvalid(ValidateEntryFields(e), "empty case id");
  e = UnsignedEntry();
  e.kind = "";
  ExpectInvalid(ValidateEntryFields(e), "empty kind");
  e = UnsignedEntry();
  e.metadata[""] = "x";
  ExpectInvalid(ValidateEntryFields(e), "empty metadata key");
}

// =============================================================================================
// JSON views.
// =============================================================================================

TEST(JsonTest, ManifestRoundTrip) {
  for (FileManifest m : {GoldenManifest(), FileManifest{"e.txt", "text/plain", 0, Hash{}, {}}}) {
    json j = ToJson(m);
    auto back = ManifestFromJson(j);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, m);
    auto reparsed = ManifestFromJson(json::parse(j.dump()));
    ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString();
    EXPECT_EQ(*reparsed, m);
  }
  json j = ToJson(GoldenManifest());
  EXPECT_EQ(j["name"], "witness statement.pdf");
  EXPECT_EQ(j["media_type"], "application/pdf");
  EXPECT_EQ(j["size"], 2 * kChunkSize + 100);
  EXPECT_EQ(j["sha256"], ToHex(Pattern(0xa0)));
  ASSERT_EQ(j["chunks"].size(), 3u);
  EXPECT_EQ(j["chunks"][1], ToHex(Pattern(0x30)));
}

TEST(JsonTest, EntryRoundTrip) {
  Entry bare = UnsignedEntry();
  SignEntry(bare, KeyFromSeed(3));
  for (const Entry& e : {GoldenEntry(), bare}) {
    json j = ToJson(e);
    auto back = EntryFromJson(j);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, e);
    EXPECT_TRUE(VerifyEntrySignature(*back));
    auto reparsed = EntryFromJson(json::parse(j.dump()));
    ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString();
    EXPECT_EQ(*reparsed, e);
    EXPECT_EQ(Encode(*reparsed), Encode(e));
  }
  json j = ToJson(GoldenEntry());
  EXPECT_EQ(j["case"], "case-2024.017");
  EXPECT_EQ(j["author"], ToHex(GoldenKey().public_key()));
  EXPECT_EQ(j["created_at_ms"], 1718000000123);
  EXPECT_EQ(j["kind"], "evidence");
  EXPECT_EQ(j["metadata"]["location"], "Kharkiv");
  EXPECT_EQ(j["corrects"], ToHex(Pattern(0xc0)));
  EXPECT_EQ(j["signature"], ToHex(GoldenEntry().signature));
  EXPECT_FALSE(ToJson(bare).contains("corrects"));
  // Negative timestamps survive the round trip.
  Entry past = bare;
  past.created_at_ms = -86400000;
  auto back = EntryFromJson(json::parse(ToJson(past).dump()));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->created_at_ms, -86400000);
  // Metadata may be omitted entirely.
  json no_meta = ToJson(bare);
  no_meta.erase("metadata");
  auto nm = EntryFromJson(no_meta);
  ASSERT_TRUE(nm.ok()) << nm.status().ToString();
  EXPECT_TRUE(nm->metadata.empty());
}

TEST(JsonTest, RecordView) {
  Record r = GoldenRecord();
  json j = ToJson(r);
  EXPECT_EQ(j["origin"], ToHex(r.origin));
  EXPECT_EQ(j["index"], 41);
  EXPECT_EQ(j["prev_record"], ToHex(Pattern(0x01)));
  EXPECT_EQ(j["entry_id"], ToHex(ObjectId(Encode(GoldenEntry()))));
  EXPECT_EQ(j["prev_case_record"], std::string(64, '0'));
  EXPECT_EQ(j["received_at_ms"], 1718000000456);
  EXPECT_EQ(j.size(), 6u);
}

TEST(JsonTest, StrictParsing) {
  const json manifest = ToJson(GoldenManifest());
  const json entry = ToJson(GoldenEntry());
  ASSERT_TRUE(ManifestFromJson(manifest).ok());
  ASSERT_TRUE(EntryFromJson(entry).ok());

  auto manifest_with = [&](const char* key, json value) {
    json j = manifest;
    j[key] = std::move(value);
    return ManifestFromJson(j);
  };
  auto entry_with = [&](const char* key, json value) {
    json j = entry;
    j[key] = std::move(value);
    return EntryFromJson(j);
  };
  auto manifest_without = [&](const char* key) {
    json j = manifest;
    j.erase(key);
    return ManifestFromJson(j);
  };
  auto entry_without = [&](const char* key) {
    json j = entry;
    j.erase(key);
    return EntryFromJson(j);
  };

  ExpectInvalid(manifest_with("extra", 1), "unknown manifest field");
  ExpectInvalid(manifest_with("Name", "x"), "field names are case-sensitive");
  ExpectInvalid(entry_with("extra", 1), "unknown entry field");
  ExpectInvalid(entry_with("id", ToHex(Pattern(0))), "entry id is not a field");
  for (const char* key : {"name", "media_type", "size", "sha256", "chunks"}) {
    ExpectInvalid(manifest_without(key), std::string("manifest without ") + key);
  }
  for (const char* key : {"case", "author", "created_at_ms", "kind", "manifests", "signature"}) {
    ExpectInvalid(entry_without(key), std::string("entry without ") + key);
  }
  ExpectInvalid(ManifestFromJson(json::array()), "array as manifest");
  ExpectInvalid(EntryFromJson(json("entry")), "string as entry");
  ExpectInvalid(EntryFromJson(json(nullptr)), "null as entry");

  ExpectInvalid(manifest_with("size", -1), "negative size");
  ExpectInvalid(manifest_with("size", "3145828"), "size as string");
  ExpectInvalid(manifest_with("size", 3145828.0), "size as float");
  ExpectInvalid(manifest_with("sha256", ToHex(Pattern(0)).substr(2)), "short sha256");
  std::string upper = ToHex(Pattern(0xa0));
  upper[0] = 'A';
  ExpectInvalid(manifest_with("sha256", upper), "uppercase sha256");
  ExpectInvalid(manifest_with("chunks", "abc"), "chunks as string");
  ExpectInvalid(manifest_with("chunks", json::array({1, 2, 3})), "chunks as numbers");
  ExpectInvalid(manifest_with("name", 5), "name as number");
  ExpectInvalid(manifest_with("name", "../etc/passwd"), "path as name");

  ExpectInvalid(entry_with("created_at_ms", "1718000000123"), "timestamp as string");
  ExpectInvalid(entry_with("created_at_ms", 1.5), "timestamp as float");
  ExpectInvalid(entry_with("author", ToHex(Pattern(0)) + "00"), "long author");
  ExpectInvalid(entry_with("signature", ToHex(Pattern(0))), "32-byte signature");
  ExpectInvalid(entry_with("corrects", nullptr), "null corrects");
  ExpectInvalid(entry_with("corrects", "zz"), "bad corrects");
  ExpectInvalid(entry_with("metadata", json::array()), "metadata as array");
  ExpectInvalid(entry_with("metadata", json{{"k", 1}}), "metadata value as number");
  ExpectInvalid(entry_with("metadata", json{{"bad key", "v"}}), "bad metadata key");
  ExpectInvalid(entry_with("manifests", json::array({"00"})), "short manifest id");
  ExpectInvalid(entry_with("case", ""), "empty case");
  ExpectInvalid(entry_with("kind", "Evidence"), "bad kind");
}

TEST(JsonTest, TimestampOutsideInt64IsRejected) {
  // nlohmann keeps numbers above INT64_MAX as unsigned; they must not wrap to negative times.
  json j = ToJson(GoldenEntry());
  j["created_at_ms"] = json::parse("18446744073709551615");
  ExpectInvalid(EntryFromJson(j), "created_at_ms = 2^64 - 1");
  j["created_at_ms"] = json::parse("9223372036854775808");
  ExpectInvalid(EntryFromJson(j), "created_at_ms = 2^63");
}

TEST(MediaTypeTest, OutputExtensionsComeFromTheTypeOnly) {
  EXPECT_EQ(FileExtensionFor("image/jpeg"), ".jpg");
  EXPECT_EQ(FileExtensionFor("application/pdf"), ".pdf");
  EXPECT_EQ(FileExtensionFor(GuessMediaType("Statement.TXT")), ".txt");
  EXPECT_EQ(FileExtensionFor("application/octet-stream"), ".bin");
  EXPECT_EQ(FileExtensionFor("text/x-../../evil"), ".bin");
}

}  // namespace
}  // namespace khronika
