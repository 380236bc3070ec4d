// Format 2's canonical objects (docs/format-2.md section 5): the golden vectors, the documented
// layout written independently, round trips, signatures, and every malformed input refused.
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
#include "khronika/schemas/sealed_objects.h"

namespace khronika {
namespace {

using nlohmann::json;

// =============================================================================================
// Helpers, including an independent writer of the documented byte layout:
//   header   = 0x01 (little-endian marker) || type byte || format version (2)
//   u8       = 1 byte;  u64 / i64 = 8 bytes little-endian (two's complement for i64)
//   string   = u64 length || bytes;  hash list = u64 count || 32-byte hashes
// =============================================================================================

class Layout {
 public:
  explicit Layout(uint8_t type) : b_{0x01, type, 0x02} {}
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

Bytes LayoutOf(const FileDescriptor& d) {
  return Layout('D').Str(d.name).Str(d.media_type).U64(d.size).Fixed(d.content_sha256).bytes();
}

Layout EntryLayoutUnsigned(const SignedEntry& e) {
  Layout l('E');
  l.Str(e.case_id).Fixed(e.author).I64(e.created_at_ms).Str(e.kind).Hashes(e.files);
  l.U64(e.metadata.size());
  for (const auto& [k, v] : e.metadata) l.Str(k).Str(v);
  l.U8(e.corrects ? 1 : 0);
  if (e.corrects) l.Fixed(*e.corrects);
  return l;
}

Bytes LayoutOf(const SignedEntry& e) { return EntryLayoutUnsigned(e).Fixed(e.signature).bytes(); }

Bytes LayoutOf(const SealedEntry& e) {
  Layout l('S');
  l.Fixed(e.nonce).Fixed(e.index_box).Fixed(e.link_box).U64(e.entry_box.size()).Fixed(e.entry_box);
  l.U64(e.files.size());
  for (const SealedFile& f : e.files) {
    l.Fixed(f.descriptor_box).U64(f.sealed_size).Hashes(f.chunks);
    // A sealed message of at most 4168 bytes (a file padded to at most 4 KiB) follows,
    // unprefixed. Written whenever present, so that a test can encode one where it may not be.
    l.Fixed(f.inline_chunk);
  }
  return l.bytes();
}

Bytes LayoutOf(const Record& r) {
  return Layout('R')
      .Fixed(r.origin)
      .U64(r.index)
      .Fixed(r.prev_record)
      .Fixed(r.object_id)
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

// N bytes start, start + 1, ...: easy to spot in a hex dump.
template <size_t N>
std::array<uint8_t, N> PatternOf(uint8_t start) {
  std::array<uint8_t, N> a;
  for (size_t i = 0; i < N; ++i) a[i] = static_cast<uint8_t>(start + i);
  return a;
}
Hash Pattern(uint8_t start) { return PatternOf<32>(start); }

SigningKey KeyFromSeed(uint8_t start) {
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(start + i);
  auto key = SigningKey::FromSeed(seed);
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

// ---- The fixed objects pinned by tests/golden/*.hex ----
// Every secret and every random input is fixed (the sealing functions take nonces and salts as
// inputs, and boxes use a zero nonce under single-use keys), so sealing is reproducible.
// tests/integration/format2_golden.py rebuilds these vectors from the same inputs in Python;
// change both together.

SigningKey GoldenKey() { return KeyFromSeed(0); }  // seed bytes 0x00..0x1f
SymmetricKey GoldenArchiveKey() { return PatternOf<32>(0x40); }
EntryNonce GoldenNonce() { return PatternOf<32>(0x60); }
const Hash kGoldenPrevCaseRecord = PatternOf<32>(0x02);

Bytes GoldenContent(size_t i) {
  if (i == 1) return {};
  Bytes b(5000);
  for (size_t k = 0; k < b.size(); ++k) b[k] = static_cast<uint8_t>(k * 7 + (k >> 8));
  return b;
}

FileDescriptor GoldenDescriptor(size_t i = 0) {
  FileDescriptor d;
  d.name = i == 0 ? "witness statement.pdf" : "empty.txt";
  d.media_type = i == 0 ? "application/pdf" : "text/plain";
  d.size = GoldenContent(i).size();
  d.content_sha256 = Sha256(GoldenContent(i));
  return d;
}
CommitmentSalt GoldenCommitmentSalt(size_t i) {
  return PatternOf<32>(static_cast<uint8_t>(0x80 + 0x20 * i));
}
ChunkedSalt GoldenFileSalt(size_t i) { return PatternOf<24>(static_cast<uint8_t>(0xd0 + i)); }

SignedEntry GoldenEntry() {
  SignedEntry e;
  e.case_id = "case-2024.017";
  e.created_at_ms = 1718000000123;
  e.kind = "evidence";
  for (size_t i = 0; i < 2; ++i) {
    e.files.push_back(FileCommitment(GoldenCommitmentSalt(i), Encode(GoldenDescriptor(i))));
  }
  e.metadata = {{"location", "Kharkiv"}, {"source", "drone footage"}};
  e.corrects = Pattern(0xc0);
  SignEntry(e, GoldenKey());
  return e;
}

// The golden entry sealed; `chunks` (if given) receives the sealed chunks by id.
SealedEntry GoldenSealedEntry(std::map<Hash, Bytes>* chunks = nullptr) {
  EntryToSeal in;
  in.nonce = GoldenNonce();
  in.case_id = "case-2024.017";
  in.prev_case_record = kGoldenPrevCaseRecord;
  in.signed_entry = Encode(GoldenEntry());
  SymmetricKey case_key = DeriveCaseKey(GoldenArchiveKey(), in.case_id);
  for (size_t i = 0; i < 2; ++i) {
    in.openings.push_back({GoldenDescriptor(i), GoldenCommitmentSalt(i)});
    FileSealer sealer(DeriveFileKey(case_key, in.nonce, static_cast<uint32_t>(i)),
                      GoldenContent(i).size(), GoldenFileSalt(i),
                      [&](ByteView chunk, const Hash& id) {
                        if (chunks) (*chunks)[id] = Bytes(chunk.begin(), chunk.end());
                        return Status::Ok();
                      });
    EXPECT_TRUE(sealer.Update(GoldenContent(i)).ok());
    auto sealed = sealer.Finish();
    EXPECT_TRUE(sealed.ok()) << sealed.status().ToString();
    // A small file's one chunk is not emitted (the entry carries it); `chunks` lists it too.
    if (chunks && !sealed->inline_chunk.empty()) {
      EXPECT_EQ(chunks->count(sealed->chunks[0]), 0u);
      (*chunks)[sealed->chunks[0]] = sealed->inline_chunk;
    }
    in.sealed_files.push_back(*sealed);
  }
  auto sealed = SealEntry(GoldenArchiveKey(), in);
  EXPECT_TRUE(sealed.ok()) << sealed.status().ToString();
  return *sealed;
}

Record GoldenRecord() {
  Record r;
  r.origin = NodeIdFromPublicKey(GoldenKey().public_key());
  r.index = 41;
  r.prev_record = Pattern(0x01);
  r.object_id = ObjectId(Encode(GoldenSealedEntry()));
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
  ExpectInvalid(DecodeDescriptor(b), what + " (as descriptor)");
  ExpectInvalid(DecodeSignedEntry(b), what + " (as entry)");
  ExpectInvalid(DecodeSealedEntry(b), what + " (as sealed entry)");
  ExpectInvalid(DecodeRecord(b), what + " (as record)");
}

// =============================================================================================
// Golden vectors and the documented layout.
// =============================================================================================

TEST(GoldenTest, DescriptorBytes) {
  Bytes bytes = Encode(GoldenDescriptor());
  EXPECT_EQ(ToHex(bytes), ReadGoldenHex("descriptor.hex"));
  EXPECT_EQ(bytes, LayoutOf(GoldenDescriptor()));
}

TEST(GoldenTest, EntryBytes) {
  Bytes bytes = Encode(GoldenEntry());
  EXPECT_EQ(ToHex(bytes), ReadGoldenHex("entry.hex"));
  EXPECT_EQ(bytes, LayoutOf(GoldenEntry()));
}

TEST(GoldenTest, SealedEntryBytes) {
  Bytes bytes = Encode(GoldenSealedEntry());
  EXPECT_EQ(ToHex(bytes), ReadGoldenHex("sealed_entry.hex"));
  EXPECT_EQ(bytes, LayoutOf(GoldenSealedEntry()));
}

TEST(GoldenTest, RecordBytes) {
  Bytes bytes = Encode(GoldenRecord());
  EXPECT_EQ(ToHex(bytes), ReadGoldenHex("record.hex"));
  EXPECT_EQ(bytes, LayoutOf(GoldenRecord()));
  EXPECT_EQ(bytes.size(), kRecordBytes);
}

TEST(GoldenTest, GoldenFilesDecodeVerifyAndOpen) {
  auto d = FromHex(ReadGoldenHex("descriptor.hex"));
  auto e = FromHex(ReadGoldenHex("entry.hex"));
  auto s = FromHex(ReadGoldenHex("sealed_entry.hex"));
  auto r = FromHex(ReadGoldenHex("record.hex"));
  ASSERT_TRUE(d.ok() && e.ok() && s.ok() && r.ok());
  auto dd = DecodeDescriptor(*d);
  ASSERT_TRUE(dd.ok()) << dd.status().ToString();
  EXPECT_EQ(*dd, GoldenDescriptor());
  auto de = DecodeSignedEntry(*e);
  ASSERT_TRUE(de.ok()) << de.status().ToString();
  EXPECT_EQ(*de, GoldenEntry());
  EXPECT_TRUE(VerifyEntrySignature(*de));
  EXPECT_EQ(de->author, GoldenKey().public_key());
  auto dr = DecodeRecord(*r);
  ASSERT_TRUE(dr.ok()) << dr.status().ToString();
  EXPECT_EQ(*dr, GoldenRecord());
  EXPECT_EQ(dr->object_id, ObjectId(*s));

  // The sealed entry opens, with the archive key, to the golden entry, descriptors and content.
  auto ds = DecodeSealedEntry(*s);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  ASSERT_EQ(ds->files.size(), 2u);
  auto case_id = OpenIndexBox(GoldenArchiveKey(), *ds);
  ASSERT_TRUE(case_id.ok()) << case_id.status().ToString();
  EXPECT_EQ(*case_id, "case-2024.017");
  SymmetricKey case_key = DeriveCaseKey(GoldenArchiveKey(), *case_id);
  EXPECT_EQ(OpenLinkBox(DeriveLinkKey(case_key, ds->nonce), *ds).value(), kGoldenPrevCaseRecord);
  auto opened = OpenEntryBox(DeriveEntryKey(case_key, ds->nonce), *ds);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(Encode(*opened), *e);
  std::map<Hash, Bytes> chunks;
  EXPECT_EQ(GoldenSealedEntry(&chunks), *ds);
  for (uint32_t i = 0; i < 2; ++i) {
    SymmetricKey file_key = DeriveFileKey(case_key, ds->nonce, i);
    auto opening = OpenDescriptorBox(file_key, *ds, *opened, i);
    ASSERT_TRUE(opening.ok()) << opening.status().ToString();
    EXPECT_EQ(opening->descriptor, GoldenDescriptor(i));
    EXPECT_EQ(opening->salt, GoldenCommitmentSalt(i));
    Bytes sealed;
    for (const Hash& id : ds->files[i].chunks) {
      ASSERT_TRUE(chunks.count(id));
      EXPECT_EQ(Bytes(id.begin(), id.end()), IndepSha256(chunks[id]));
      sealed.insert(sealed.end(), chunks[id].begin(), chunks[id].end());
    }
    EXPECT_EQ(sealed.size(), ds->files[i].sealed_size);
    auto plain = ChunkedOpen(file_key, AsBytes(kFileContentContext), sealed);
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    Bytes content = GoldenContent(i);
    ASSERT_EQ(plain->size(), PaddedFileSize(content.size()));
    EXPECT_EQ(Bytes(plain->begin(), plain->begin() + static_cast<ptrdiff_t>(content.size())),
              content);
  }
}

TEST(LayoutTest, HeaderAndIntegersAreLittleEndian) {
  Bytes d = Encode(GoldenDescriptor());
  ASSERT_GE(d.size(), 11u);
  EXPECT_EQ(d[0], 0x01);
  EXPECT_EQ(d[1], 'D');
  EXPECT_EQ(d[2], 0x02);
  // Name length 21 as a little-endian u64, then the name.
  EXPECT_EQ(ToHex(ByteView(d).subspan(3, 8)), "1500000000000000");
  EXPECT_EQ(AsChars(ByteView(d).subspan(11, 21)), "witness statement.pdf");

  Record rec;
  rec.index = 0x0102030405060708;
  rec.received_at_ms = -2;
  Bytes r = Encode(rec);
  ASSERT_EQ(r.size(), 115u);
  EXPECT_EQ(r[1], 'R');
  EXPECT_EQ(ToHex(ByteView(r).subspan(35, 8)), "0807060504030201");
  EXPECT_EQ(ToHex(ByteView(r).subspan(r.size() - 8)), "feffffffffffffff");

  SignedEntry e;
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

  // A sealed entry: nonce, then the two fixed boxes, then the entry box's length.
  Bytes s = Encode(GoldenSealedEntry());
  EXPECT_EQ(s[1], 'S');
  EXPECT_EQ(ToHex(ByteView(s).subspan(3, 32)), ToHex(GoldenNonce()));
  const size_t box_len = 3 + 32 + kIndexBoxBytes + kLinkBoxBytes;
  EXPECT_EQ(box_len, 263u);
  uint64_t entry_box = 0;
  for (int i = 7; i >= 0; --i) entry_box = entry_box << 8 | s[box_len + static_cast<size_t>(i)];
  EXPECT_EQ(entry_box, GoldenSealedEntry().entry_box.size());
  EXPECT_EQ(entry_box, PaddedBoxSize(Encode(GoldenEntry()).size()) + kAeadTagBytes);
}

TEST(LayoutTest, IdsAndHashes) {
  Bytes s = Encode(GoldenSealedEntry());
  Hash id = ObjectId(s);
  EXPECT_EQ(Bytes(id.begin(), id.end()), IndepSha256(s));
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
  // The file commitment: SHA-256("khronika/2 file commitment" || 0x00 || salt || descriptor).
  ByteView label = AsBytes("khronika/2 file commitment");
  Bytes committed(label.begin(), label.end());
  committed.push_back(0x00);
  CommitmentSalt salt = GoldenCommitmentSalt(0);
  committed.insert(committed.end(), salt.begin(), salt.end());
  Bytes descriptor = Encode(GoldenDescriptor());
  committed.insert(committed.end(), descriptor.begin(), descriptor.end());
  Hash commitment = GoldenEntry().files[0];
  EXPECT_EQ(Bytes(commitment.begin(), commitment.end()), IndepSha256(committed));
}

// =============================================================================================
// Round trips.
// =============================================================================================

TEST(RoundTripTest, Descriptors) {
  std::vector<FileDescriptor> ms;
  ms.push_back(GoldenDescriptor());
  FileDescriptor empty;
  empty.name = "empty.txt";
  empty.media_type = "text/plain";
  empty.size = 0;
  empty.content_sha256 = Sha256(std::string_view(""));
  ms.push_back(empty);
  FileDescriptor exact = empty;
  exact.name = "\xd0\xbf\xd1\x80\xd0\xbe\xd1\x82\xd0\xbe\xd0\xba\xd0\xbe\xd0\xbb.json";
  exact.media_type = "application/vnd.khronika+json";
  exact.size = kMaxFileSize;
  ms.push_back(exact);
  FileDescriptor long_name = exact;
  long_name.name = std::string(kMaxFileNameBytes, 'n');
  ms.push_back(long_name);
  for (const FileDescriptor& m : ms) {
    ASSERT_TRUE(ValidateDescriptor(m).ok()) << m.name;
    Bytes b = Encode(m);
    auto back = DecodeDescriptor(b);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, m);
    EXPECT_EQ(Encode(*back), b);
    auto peek = PeekObjectType(b);
    ASSERT_TRUE(peek.ok());
    EXPECT_EQ(*peek, kTypeDescriptor);
  }
}

TEST(RoundTripTest, Entries) {
  SigningKey key = KeyFromSeed(50);
  std::vector<SignedEntry> es;
  es.push_back(GoldenEntry());
  SignedEntry minimal;
  minimal.case_id = "1";
  minimal.kind = "note";
  minimal.created_at_ms = -5;
  SignEntry(minimal, key);
  es.push_back(minimal);
  SignedEntry rich = GoldenEntry();
  rich.metadata.clear();
  for (int i = 0; i < 64; ++i) rich.metadata["k" + std::to_string(100 + i)] = "v\t\n\xc3\xa9";
  rich.corrects.reset();
  rich.kind = "correction";
  for (int i = 0; i < 20; ++i) rich.files.push_back(Pattern(static_cast<uint8_t>(i)));
  SignEntry(rich, key);
  es.push_back(rich);
  SignedEntry empty_value = minimal;
  empty_value.metadata = {{"empty", ""}};
  SignEntry(empty_value, key);
  es.push_back(empty_value);
  for (const SignedEntry& e : es) {
    ASSERT_TRUE(ValidateSignedEntryFields(e).ok());
    Bytes b = Encode(e);
    EXPECT_EQ(b, LayoutOf(e));
    auto back = DecodeSignedEntry(b);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, e);
    EXPECT_EQ(back->metadata, e.metadata);
    EXPECT_EQ(back->corrects, e.corrects);
    EXPECT_TRUE(VerifyEntrySignature(*back));
    EXPECT_EQ(*PeekObjectType(b), kTypeEntry);
  }
}

TEST(RoundTripTest, SealedEntries) {
  // Two entries sealed from the same signed entry under different nonces share no box.
  std::map<Hash, Bytes> chunks;
  SealedEntry golden = GoldenSealedEntry(&chunks);
  EXPECT_EQ(chunks.size(), 2u);  // each file is one sealed chunk
  SealedEntry no_files;
  no_files.nonce = Pattern(3);
  no_files.entry_box.assign(256 + kAeadTagBytes, 0x5a);
  SealedEntry big = golden;
  big.files[0].sealed_size = SealedFileSize(3 * kSealedChunkSize);
  big.files[0].chunks.clear();
  for (uint64_t i = 0; i < SealedChunkCount(big.files[0].sealed_size); ++i) {
    big.files[0].chunks.push_back(Pattern(static_cast<uint8_t>(0x10 + i)));
  }
  for (const SealedEntry& e : {golden, no_files, big}) {
    ASSERT_TRUE(ValidateSealedEntry(e).ok()) << ValidateSealedEntry(e).ToString();
    Bytes b = Encode(e);
    EXPECT_EQ(b, LayoutOf(e));
    auto back = DecodeSealedEntry(b);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, e);
    EXPECT_EQ(*PeekObjectType(b), kTypeSealedEntry);
  }
}

// A file padded to at most 4 KiB travels inside its sealed entry, after its one chunk id; the
// sealed bytes must be there exactly for such files, and must be the chunk the id names.
TEST(RoundTripTest, SmallFilesTravelInsideTheirSealedEntry) {
  std::map<Hash, Bytes> chunks;
  const SealedEntry golden = GoldenSealedEntry(&chunks);
  ASSERT_EQ(golden.files.size(), 2u);
  // File 0 has 5,000 bytes (padded 5,120): a sealed chunk of its own. File 1 is empty (padded
  // 512): inline.
  EXPECT_TRUE(golden.files[0].inline_chunk.empty());
  ASSERT_EQ(golden.files[1].chunks.size(), 1u);
  EXPECT_EQ(golden.files[1].inline_chunk, chunks.at(golden.files[1].chunks[0]));
  EXPECT_EQ(golden.files[1].inline_chunk.size(), SealedFileSize(0));
  EXPECT_TRUE(IsInlineSealedSize(SealedFileSize(4096)));
  EXPECT_FALSE(IsInlineSealedSize(SealedFileSize(4097)));

  SealedEntry missing = golden;
  missing.files[1].inline_chunk.clear();
  ExpectInvalid(ValidateSealedEntry(missing), "a small file without its sealed bytes");
  SealedEntry extra = golden;
  extra.files[0].inline_chunk = chunks.at(golden.files[0].chunks[0]);
  ExpectInvalid(ValidateSealedEntry(extra), "a larger file's bytes inline");
  SealedEntry short_bytes = golden;
  short_bytes.files[1].inline_chunk.pop_back();
  ExpectInvalid(ValidateSealedEntry(short_bytes), "inline bytes shorter than the sealed size");

  // Encoded by hand (the validation is not what refuses these): each fails to decode.
  for (const SealedEntry* bad : {&missing, &extra}) {
    ExpectInvalid(DecodeSealedEntry(LayoutOf(*bad)), "an encoding the sizes do not allow");
  }
  SealedEntry altered = golden;
  altered.files[1].inline_chunk[100] ^= 0x01;
  ExpectInvalid(DecodeSealedEntry(LayoutOf(altered)), "inline bytes that are not their chunk");
  SealedEntry renamed = golden;
  renamed.files[1].chunks[0][0] ^= 0x01;
  ExpectInvalid(DecodeSealedEntry(LayoutOf(renamed)), "a chunk id its inline bytes do not have");
}

TEST(RoundTripTest, Records) {
  std::vector<Record> rs = {GoldenRecord(), Record{}};
  Record extreme;
  extreme.origin = Pattern(0xff);
  extreme.index = UINT64_MAX;
  extreme.prev_record = Pattern(0x80);
  extreme.object_id = Pattern(0x81);
  extreme.received_at_ms = std::numeric_limits<int64_t>::min();
  rs.push_back(extreme);
  for (const Record& r : rs) {
    Bytes b = Encode(r);
    EXPECT_EQ(b.size(), 3u + 32 + 8 + 32 + 32 + 8);
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
  SignedEntry e = GoldenEntry();
  Bytes encoded = Encode(e);
  Bytes unsigned_bytes(encoded.begin(), encoded.end() - 64);
  EXPECT_EQ(unsigned_bytes, EntryLayoutUnsigned(e).bytes());
  Bytes want(kEntrySignaturePrefix.begin(), kEntrySignaturePrefix.end());
  ASSERT_EQ(want.size(), 28u);
  EXPECT_EQ(std::memcmp(want.data(), "khronika entry signature v2", 27), 0);
  EXPECT_EQ(want[27], 0x00);
  Bytes digest = IndepSha256(unsigned_bytes);
  want.insert(want.end(), digest.begin(), digest.end());
  EXPECT_EQ(SignedEntryMessage(e), want);
  // The signature is a plain Ed25519 signature of that message by the author.
  EXPECT_TRUE(IndepEd25519Verify(e.author, want, e.signature));
  // The signature field itself is not part of the message.
  SignedEntry resigned = e;
  resigned.signature = Signature{};
  EXPECT_EQ(SignedEntryMessage(resigned), want);
}

TEST(EntrySignatureTest, SignEntrySetsAuthorAndVerifies) {
  SigningKey key = KeyFromSeed(9), other = KeyFromSeed(10);
  SignedEntry e = GoldenEntry();
  SignEntry(e, key);
  EXPECT_EQ(e.author, key.public_key());
  EXPECT_TRUE(VerifyEntrySignature(e));
  SignedEntry wrong_author = e;
  wrong_author.author = other.public_key();
  EXPECT_FALSE(VerifyEntrySignature(wrong_author));
  SignedEntry zero_sig = e;
  zero_sig.signature = Signature{};
  EXPECT_FALSE(VerifyEntrySignature(zero_sig));
  SignedEntry zero_author = e;
  zero_author.author = PublicKey{};
  EXPECT_FALSE(VerifyEntrySignature(zero_author));
  // Every field is covered.
  std::vector<SignedEntry> changed(9, e);
  changed[0].case_id += "x";
  changed[1].created_at_ms += 1;
  changed[2].kind = "note";
  changed[3].files.pop_back();
  changed[4].metadata["location"] = "Kharkiv ";
  changed[5].metadata["zz"] = "";
  changed[6].corrects.reset();
  changed[7].corrects = Pattern(0xc1);
  changed[8].files = {e.files[1], e.files[0]};
  for (size_t i = 0; i < changed.size(); ++i) {
    EXPECT_FALSE(VerifyEntrySignature(changed[i])) << "field change " << i;
  }
}

TEST(EntrySignatureTest, EverySingleBitFlipIsRejected) {
  const SignedEntry original = GoldenEntry();
  const Bytes encoded = Encode(original);
  ASSERT_TRUE(VerifyEntrySignature(*DecodeSignedEntry(encoded)));
  size_t decode_failures = 0, signature_failures = 0;
  for (size_t bit = 0; bit < encoded.size() * 8; ++bit) {
    Bytes flipped = encoded;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto decoded = DecodeSignedEntry(flipped);
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

TEST(DecodeTest, BitFlipsOfDescriptorsAndRecordsNeverDecodeToTheOriginal) {
  const FileDescriptor m = GoldenDescriptor();
  const Bytes mb = Encode(m);
  for (size_t bit = 0; bit < mb.size() * 8; ++bit) {
    Bytes flipped = mb;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto d = DecodeDescriptor(flipped);
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

// Opens every box of a sealed entry with the golden archive key.
Status OpenEverything(const SealedEntry& e) {
  KH_ASSIGN_OR_RETURN(std::string case_id, OpenIndexBox(GoldenArchiveKey(), e));
  SymmetricKey case_key = DeriveCaseKey(GoldenArchiveKey(), case_id);
  KH_RETURN_IF_ERROR(OpenLinkBox(DeriveLinkKey(case_key, e.nonce), e).status());
  KH_ASSIGN_OR_RETURN(SignedEntry entry, OpenEntryBox(DeriveEntryKey(case_key, e.nonce), e));
  for (uint32_t i = 0; i < e.files.size(); ++i) {
    KH_RETURN_IF_ERROR(
        OpenDescriptorBox(DeriveFileKey(case_key, e.nonce, i), e, entry, i).status());
  }
  return Status::Ok();
}

TEST(DecodeTest, BitFlipsOfSealedEntriesAreRefusedOrFailToOpen) {
  const SealedEntry original = GoldenSealedEntry();
  const Bytes sb = Encode(original);
  ASSERT_TRUE(OpenEverything(original).ok());
  // The byte ranges a key protects: nonce and boxes, then each file's descriptor box.
  std::vector<std::pair<size_t, size_t>> sealed_ranges = {
      {3, 263}, {271, 271 + original.entry_box.size()}};
  size_t at = 271 + original.entry_box.size() + 8;
  for (const SealedFile& f : original.files) {
    sealed_ranges.push_back({at, at + kDescriptorBoxBytes});
    at += kDescriptorBoxBytes + 8 + 8 + 32 * f.chunks.size() + f.inline_chunk.size();
  }
  ASSERT_EQ(at, sb.size());
  size_t refused = 0, failed_to_open = 0;
  for (size_t bit = 0; bit < sb.size() * 8; ++bit) {
    Bytes flipped = sb;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto d = DecodeSealedEntry(flipped);
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), Code::kInvalidArgument) << bit;
      ++refused;
      continue;
    }
    EXPECT_NE(*d, original) << bit;
    bool in_box = false;
    for (const auto& [from, to] : sealed_ranges) in_box |= bit / 8 >= from && bit / 8 < to;
    if (in_box) {
      EXPECT_FALSE(OpenEverything(*d).ok()) << "bit " << bit << " opened";
      ++failed_to_open;
    }
  }
  // Structure refuses sizes and lengths; the boxes refuse any change to what they seal (a
  // changed chunk id is caught when the chunk is fetched and hashed).
  EXPECT_GT(refused, 0u);
  EXPECT_GT(failed_to_open, 8 * 256u);
}

// =============================================================================================
// Malformed encodings: all rejected with InvalidArgument, never a crash.
// =============================================================================================

TEST(DecodeTest, TruncationAtEveryLength) {
  const std::vector<std::pair<std::string, Bytes>> objects = {
      {"descriptor", Encode(GoldenDescriptor())},
      {"entry", Encode(GoldenEntry())},
      {"sealed entry", Encode(GoldenSealedEntry())},
      {"record", Encode(GoldenRecord())}};
  for (const auto& [what, bytes] : objects) {
    for (size_t len = 0; len < bytes.size(); ++len) {
      ExpectNoObjectDecodes(ByteView(bytes).first(len), what + " cut to " + std::to_string(len));
    }
  }
}

TEST(DecodeTest, TrailingBytes) {
  const std::vector<std::pair<std::string, Bytes>> objects = {
      {"descriptor", Encode(GoldenDescriptor())},
      {"entry", Encode(GoldenEntry())},
      {"sealed entry", Encode(GoldenSealedEntry())},
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
                           (uint64_t{1} << 59) + 1, 256, 1001};
  const SignedEntry e = GoldenEntry();
  const Bytes eb = Encode(e);
  const FileDescriptor d = GoldenDescriptor();
  const Bytes db = Encode(d);
  const SealedEntry se = GoldenSealedEntry();
  const Bytes sb = Encode(se);
  // Offsets of the length/count fields, from the documented layout.
  const size_t case_len = 3;
  const size_t kind_len = case_len + 8 + e.case_id.size() + 32 + 8;
  const size_t file_count = kind_len + 8 + e.kind.size();
  const size_t metadata_count = file_count + 8 + 32 * e.files.size();
  const size_t first_key_len = metadata_count + 8;
  const size_t first_value_len = first_key_len + 8 + e.metadata.begin()->first.size();
  ASSERT_EQ(ReadLe(eb, metadata_count), e.metadata.size());
  const size_t name_len = 3;
  const size_t media_len = name_len + 8 + d.name.size();
  const size_t entry_box_len = 3 + 32 + kIndexBoxBytes + kLinkBoxBytes;
  const size_t sealed_file_count = entry_box_len + 8 + se.entry_box.size();
  const size_t first_sealed_size = sealed_file_count + 8 + kDescriptorBoxBytes;
  const size_t first_chunk_count = first_sealed_size + 8;
  ASSERT_EQ(ReadLe(sb, entry_box_len), se.entry_box.size());
  ASSERT_EQ(ReadLe(sb, sealed_file_count), se.files.size());
  ASSERT_EQ(ReadLe(sb, first_chunk_count), se.files[0].chunks.size());
  for (uint64_t v : huge) {
    for (size_t off : {case_len, kind_len, file_count, metadata_count, first_key_len,
                       first_value_len}) {
      ExpectInvalid(DecodeSignedEntry(WithU64At(eb, off, v)),
                    "entry field at " + std::to_string(off) + " = " + std::to_string(v));
    }
    for (size_t off : {name_len, media_len}) {
      ExpectInvalid(DecodeDescriptor(WithU64At(db, off, v)),
                    "descriptor field at " + std::to_string(off) + " = " + std::to_string(v));
    }
    for (size_t off : {entry_box_len, sealed_file_count, first_sealed_size, first_chunk_count}) {
      ExpectInvalid(DecodeSealedEntry(WithU64At(sb, off, v)),
                    "sealed entry field at " + std::to_string(off) + " = " + std::to_string(v));
    }
  }
  // A length that fits its limit but runs past the end of the input.
  ExpectInvalid(DecodeSignedEntry(WithU64At(eb, case_len, 128)), "case id past the end");
  ExpectInvalid(DecodeDescriptor(WithU64At(db, name_len, 255)), "name past the end");
  ExpectInvalid(DecodeSealedEntry(WithU64At(sb, entry_box_len, kMaxEntryBoxBytes)),
                "entry box past the end");
  // A minimal sealed entry whose one file claims the size of a 1 TiB file and as many chunks,
  // none of them present.
  Layout lone('S');
  lone.Fixed(Pattern(0)).Fixed(Bytes(kIndexBoxBytes + kLinkBoxBytes)).U64(272).Fixed(Bytes(272));
  lone.U64(1).Fixed(Bytes(kDescriptorBoxBytes)).U64(SealedFileSize(kMaxFileSize));
  lone.U64(SealedChunkCount(SealedFileSize(kMaxFileSize)));
  ExpectInvalid(DecodeSealedEntry(lone.bytes()), "a million sealed chunks, none present");
  // A thousand files announced, none present.
  Layout many('S');
  many.Fixed(Pattern(0)).Fixed(Bytes(kIndexBoxBytes + kLinkBoxBytes)).U64(272).Fixed(Bytes(272));
  many.U64(kMaxFilesPerEntry);
  ExpectInvalid(DecodeSealedEntry(many.bytes()), "a thousand files, none present");
}

TEST(DecodeTest, HeaderErrors) {
  const std::vector<Bytes> objects = {Encode(GoldenDescriptor()), Encode(GoldenEntry()),
                                      Encode(GoldenSealedEntry()), Encode(GoldenRecord())};
  for (const Bytes& b : objects) {
    // Version 1 is format 1, which is no longer read.
    for (uint8_t version : {0, 1, 3, 0x7f, 0xff}) {
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
    for (uint8_t type : {uint8_t{'d'}, uint8_t{'e'}, uint8_t{'s'}, uint8_t{'r'}, uint8_t{'M'},
                         uint8_t{'X'}, uint8_t{0x00}, uint8_t{0xff}}) {
      Bytes v = b;
      v[1] = type;
      ExpectNoObjectDecodes(v, "type " + std::to_string(type));
    }
  }
  // Each type is only accepted by its own decoder.
  for (size_t i = 0; i < objects.size(); ++i) {
    const std::string what = "object " + std::to_string(i);
    if (i != 0) ExpectInvalid(DecodeDescriptor(objects[i]), what + " as descriptor");
    if (i != 1) ExpectInvalid(DecodeSignedEntry(objects[i]), what + " as entry");
    if (i != 2) ExpectInvalid(DecodeSealedEntry(objects[i]), what + " as sealed entry");
    if (i != 3) ExpectInvalid(DecodeRecord(objects[i]), what + " as record");
    // With its type byte changed to another's, no object decodes either.
    for (uint8_t type : {uint8_t{'D'}, uint8_t{'E'}, uint8_t{'S'}, uint8_t{'R'}}) {
      Bytes v = objects[i];
      if (v[1] == type) continue;
      v[1] = type;
      ExpectNoObjectDecodes(v, what + " typed " + std::string(1, static_cast<char>(type)));
    }
  }
  ExpectInvalid(PeekObjectType(Bytes{}), "peek empty");
  ExpectInvalid(PeekObjectType(Bytes{0x01, 'E'}), "peek two bytes");
  ExpectNoObjectDecodes(Bytes{}, "empty");
}

TEST(DecodeTest, ObjectSizeLimit) {
  Bytes big(kMaxObjectBytes + 1, 0);
  big[0] = 0x01;
  big[2] = 0x02;
  for (uint8_t type : {uint8_t{'D'}, uint8_t{'E'}, uint8_t{'S'}, uint8_t{'R'}}) {
    big[1] = type;
    ExpectNoObjectDecodes(big, "oversized object of type " + std::string(1, char(type)));
  }
}

SignedEntry UnsignedEntry() {
  SignedEntry e;
  e.case_id = "case-1";
  e.author = Pattern(0x20);
  e.created_at_ms = 1;
  e.kind = "evidence";
  e.files = {Pattern(0x40)};
  return e;
}

// Builds an entry encoding with metadata pairs in the given order (not necessarily sorted).
Bytes EntryWithPairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                     uint8_t corrects_flag = 0, bool with_hash = false) {
  SignedEntry e = UnsignedEntry();
  Layout l('E');
  l.Str(e.case_id).Fixed(e.author).I64(e.created_at_ms).Str(e.kind).Hashes(e.files);
  l.U64(pairs.size());
  for (const auto& [k, v] : pairs) l.Str(k).Str(v);
  l.U8(corrects_flag);
  if (with_hash) l.Fixed(Pattern(0x90));
  l.Fixed(Signature{});
  return l.bytes();
}

TEST(DecodeTest, MetadataKeysMustBeSortedAndUnique) {
  auto sorted = DecodeSignedEntry(EntryWithPairs({{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  ASSERT_TRUE(sorted.ok()) << sorted.status().ToString();  // the control: only order differs
  EXPECT_EQ(sorted->metadata.size(), 3u);
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({{"b", "2"}, {"a", "1"}})), "unsorted");
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({{"a", "1"}, {"c", "3"}, {"b", "2"}})), "unsorted 3");
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({{"a", "1"}, {"a", "1"}})), "duplicate");
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({{"a", "1"}, {"a", "2"}})), "duplicate key");
  // Byte order, not some other collation: "B" (0x42) sorts before "a" (0x61).
  EXPECT_TRUE(DecodeSignedEntry(EntryWithPairs({{"B", "x"}, {"a", "y"}})).ok());
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({{"a", "y"}, {"B", "x"}})), "a before B");
}

TEST(DecodeTest, CorrectsFlag) {
  EXPECT_TRUE(DecodeSignedEntry(EntryWithPairs({}, 0, false)).ok());
  auto with = DecodeSignedEntry(EntryWithPairs({}, 1, true));
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  ASSERT_TRUE(with->corrects.has_value());
  EXPECT_EQ(*with->corrects, Pattern(0x90));
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({}, 2, true)), "flag 2 with hash");
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({}, 2, false)), "flag 2 without hash");
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({}, 0xff, true)), "flag 255");
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({}, 1, false)), "flag 1 without hash");
  ExpectInvalid(DecodeSignedEntry(EntryWithPairs({}, 0, true)), "flag 0 with hash");
}

TEST(DecodeTest, DecodersEnforceFieldValidation) {
  auto entry_with = [](auto mutate) {
    SignedEntry e = UnsignedEntry();
    mutate(e);
    return Encode(e);
  };
  ASSERT_TRUE(DecodeSignedEntry(entry_with([](SignedEntry&) {})).ok());
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) { e.case_id = ""; })), "empty case id");
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) { e.case_id = "-x"; })), "bad case id");
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) { e.case_id = std::string(129, 'c'); })),
                "long case id");
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) { e.kind = "Evidence"; })), "bad kind");
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) { e.kind = std::string(33, 'k'); })),
                "long kind");
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) { e.metadata["bad key"] = "v"; })),
                "bad metadata key");
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) { e.metadata["k"] = "\x01"; })),
                "control byte in value");
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) { e.metadata["k"] = "\xff"; })),
                "invalid UTF-8 value");
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) {
                  for (int i = 0; i < 65; ++i) e.metadata["k" + std::to_string(i)] = "";
                })),
                "65 metadata pairs");
  ExpectInvalid(DecodeSignedEntry(entry_with([](SignedEntry& e) {
                  e.files.assign(kMaxFilesPerEntry + 1, Pattern(1));
                })),
                "1001 files");
  auto thousand = DecodeSignedEntry(
      entry_with([](SignedEntry& e) { e.files.assign(kMaxFilesPerEntry, Pattern(1)); }));
  EXPECT_TRUE(thousand.ok()) << thousand.status().ToString();

  FileDescriptor m = GoldenDescriptor();
  m.media_type = "Application/PDF";
  ExpectInvalid(DecodeDescriptor(Encode(m)), "uppercase media type");
  m = GoldenDescriptor();
  m.size = kMaxFileSize + 1;
  ExpectInvalid(DecodeDescriptor(Encode(m)), "file over 1 TiB");
  m.size = kMaxFileSize;
  EXPECT_TRUE(DecodeDescriptor(Encode(m)).ok());

  // What a partner checks without keys: padded sizes, chunk counts, no chunk twice.
  const SealedEntry golden = GoldenSealedEntry();
  auto sealed_with = [&](auto mutate) {
    SealedEntry e = golden;
    mutate(e);
    return Encode(e);
  };
  ExpectInvalid(DecodeSealedEntry(sealed_with([](SealedEntry& e) { e.files[0].sealed_size++; })),
                "a sealed size that no padded file has");
  ExpectInvalid(DecodeSealedEntry(sealed_with([](SealedEntry& e) {
                  e.files[0].sealed_size = SealedFileSize(kChunkSize);
                })),
                "a sealed size whose chunk count differs");
  ExpectInvalid(DecodeSealedEntry(sealed_with([](SealedEntry& e) {
                  e.files[0].chunks.push_back(Pattern(7));
                })),
                "one chunk too many");
  ExpectInvalid(DecodeSealedEntry(sealed_with([](SealedEntry& e) {
                  e.files[1].chunks = e.files[0].chunks;
                })),
                "a chunk listed twice");
  ExpectInvalid(DecodeSealedEntry(sealed_with([](SealedEntry& e) { e.entry_box.push_back(0); })),
                "an entry box of an unpadded size");
  ExpectInvalid(DecodeSealedEntry(sealed_with([](SealedEntry& e) { e.entry_box.resize(200); })),
                "an entry box below 256 bytes");
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
    FileDescriptor m = GoldenDescriptor();
    m.name = name;
    ExpectInvalid(ValidateDescriptor(m), what + " (descriptor)");
    ExpectInvalid(DecodeDescriptor(Encode(m)), what + " (decode)");
    json j = ToJson(m);
    ExpectInvalid(DescriptorFromJson(j), what + " (json)");
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
    FileDescriptor m = GoldenDescriptor();
    m.name = name;
    auto d = DecodeDescriptor(Encode(m));
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

TEST(ValidationTest, DescriptorsAndEntries) {
  FileDescriptor d = GoldenDescriptor();
  EXPECT_TRUE(ValidateDescriptor(d).ok());
  d.media_type = "pdf";
  ExpectInvalid(ValidateDescriptor(d), "bad media type");
  d = GoldenDescriptor();
  d.name = "a/b";
  ExpectInvalid(ValidateDescriptor(d), "bad name");
  d = GoldenDescriptor();
  d.size = kMaxFileSize + 1;
  ExpectInvalid(ValidateDescriptor(d), "over 1 TiB");

  // Plaintext upload chunks (a submitter to its origin) are 1 MiB.
  EXPECT_EQ(ChunkCount(0), 0u);
  EXPECT_EQ(ChunkCount(1), 1u);
  EXPECT_EQ(ChunkCount(kChunkSize), 1u);
  EXPECT_EQ(ChunkCount(kChunkSize + 1), 2u);
  EXPECT_EQ(ChunkCount(kMaxFileSize), uint64_t{1} << 20);
  EXPECT_EQ(ChunkLength(kChunkSize + 1, 0), kChunkSize);
  EXPECT_EQ(ChunkLength(kChunkSize + 1, 1), 1u);
  EXPECT_EQ(ChunkLength(2 * kChunkSize, 1), kChunkSize);
  EXPECT_EQ(ChunkLength(5, 0), 5u);

  SignedEntry e = UnsignedEntry();
  EXPECT_TRUE(ValidateSignedEntryFields(e).ok());
  e.files.assign(kMaxFilesPerEntry, Hash{});
  EXPECT_TRUE(ValidateSignedEntryFields(e).ok());
  e.files.push_back(Hash{});
  ExpectInvalid(ValidateSignedEntryFields(e), "1001 files");
  e = UnsignedEntry();
  e.case_id = "";
  ExpectInvalid(ValidateSignedEntryFields(e), "empty case id");
  e = UnsignedEntry();
  e.kind = "";
  ExpectInvalid(ValidateSignedEntryFields(e), "empty kind");
  e = UnsignedEntry();
  e.metadata[""] = "x";
  ExpectInvalid(ValidateSignedEntryFields(e), "empty metadata key");
}

// =============================================================================================
// JSON views.
// =============================================================================================

TEST(JsonTest, DescriptorRoundTrip) {
  for (FileDescriptor d : {GoldenDescriptor(), FileDescriptor{"e.txt", "text/plain", 0, Hash{}}}) {
    json j = ToJson(d);
    auto back = DescriptorFromJson(j);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, d);
    auto reparsed = DescriptorFromJson(json::parse(j.dump()));
    ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString();
    EXPECT_EQ(*reparsed, d);
  }
  json j = ToJson(GoldenDescriptor());
  EXPECT_EQ(j["name"], "witness statement.pdf");
  EXPECT_EQ(j["media_type"], "application/pdf");
  EXPECT_EQ(j["size"], 5000);
  EXPECT_EQ(j["sha256"], ToHex(Sha256(GoldenContent(0))));
  EXPECT_EQ(j.size(), 4u);
}

TEST(JsonTest, EntryRoundTrip) {
  SignedEntry bare = UnsignedEntry();
  SignEntry(bare, KeyFromSeed(3));
  for (const SignedEntry& e : {GoldenEntry(), bare}) {
    json j = ToJson(e);
    auto back = SignedEntryFromJson(j);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, e);
    EXPECT_TRUE(VerifyEntrySignature(*back));
    auto reparsed = SignedEntryFromJson(json::parse(j.dump()));
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
  ASSERT_EQ(j["files"].size(), 2u);
  EXPECT_EQ(j["files"][1], ToHex(GoldenEntry().files[1]));
  EXPECT_EQ(j["signature"], ToHex(GoldenEntry().signature));
  EXPECT_FALSE(ToJson(bare).contains("corrects"));
  // Negative timestamps survive the round trip.
  SignedEntry past = bare;
  past.created_at_ms = -86400000;
  auto back = SignedEntryFromJson(json::parse(ToJson(past).dump()));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->created_at_ms, -86400000);
  // Metadata may be omitted entirely.
  json no_meta = ToJson(bare);
  no_meta.erase("metadata");
  auto nm = SignedEntryFromJson(no_meta);
  ASSERT_TRUE(nm.ok()) << nm.status().ToString();
  EXPECT_TRUE(nm->metadata.empty());
}

TEST(JsonTest, RecordView) {
  Record r = GoldenRecord();
  json j = ToJson(r);
  EXPECT_EQ(j["origin"], ToHex(r.origin));
  EXPECT_EQ(j["index"], 41);
  EXPECT_EQ(j["prev_record"], ToHex(Pattern(0x01)));
  EXPECT_EQ(j["object_id"], ToHex(ObjectId(Encode(GoldenSealedEntry()))));
  EXPECT_EQ(j["received_at_ms"], 1718000000456);
  EXPECT_EQ(j.size(), 5u);
}

TEST(JsonTest, StrictParsing) {
  const json descriptor = ToJson(GoldenDescriptor());
  const json entry = ToJson(GoldenEntry());
  ASSERT_TRUE(DescriptorFromJson(descriptor).ok());
  ASSERT_TRUE(SignedEntryFromJson(entry).ok());

  auto descriptor_with = [&](const char* key, json value) {
    json j = descriptor;
    j[key] = std::move(value);
    return DescriptorFromJson(j);
  };
  auto entry_with = [&](const char* key, json value) {
    json j = entry;
    j[key] = std::move(value);
    return SignedEntryFromJson(j);
  };
  auto descriptor_without = [&](const char* key) {
    json j = descriptor;
    j.erase(key);
    return DescriptorFromJson(j);
  };
  auto entry_without = [&](const char* key) {
    json j = entry;
    j.erase(key);
    return SignedEntryFromJson(j);
  };

  ExpectInvalid(descriptor_with("extra", 1), "unknown descriptor field");
  ExpectInvalid(descriptor_with("Name", "x"), "field names are case-sensitive");
  ExpectInvalid(entry_with("extra", 1), "unknown entry field");
  ExpectInvalid(entry_with("id", ToHex(Pattern(0))), "entry id is not a field");
  ExpectInvalid(descriptor_with("chunks", json::array()), "format 1's chunk list");
  for (const char* key : {"name", "media_type", "size", "sha256"}) {
    ExpectInvalid(descriptor_without(key), std::string("descriptor without ") + key);
  }
  for (const char* key : {"case", "author", "created_at_ms", "kind", "files", "signature"}) {
    ExpectInvalid(entry_without(key), std::string("entry without ") + key);
  }
  ExpectInvalid(DescriptorFromJson(json::array()), "array as descriptor");
  ExpectInvalid(SignedEntryFromJson(json("entry")), "string as entry");
  ExpectInvalid(SignedEntryFromJson(json(nullptr)), "null as entry");

  ExpectInvalid(descriptor_with("size", -1), "negative size");
  ExpectInvalid(descriptor_with("size", "3145828"), "size as string");
  ExpectInvalid(descriptor_with("size", 3145828.0), "size as float");
  ExpectInvalid(descriptor_with("sha256", ToHex(Pattern(0)).substr(2)), "short sha256");
  std::string upper = ToHex(Pattern(0xa0));
  upper[0] = 'A';
  ExpectInvalid(descriptor_with("sha256", upper), "uppercase sha256");
  ExpectInvalid(descriptor_with("name", 5), "name as number");
  ExpectInvalid(descriptor_with("name", "../etc/passwd"), "path as name");

  ExpectInvalid(entry_with("created_at_ms", "1718000000123"), "timestamp as string");
  ExpectInvalid(entry_with("created_at_ms", 1.5), "timestamp as float");
  ExpectInvalid(entry_with("author", ToHex(Pattern(0)) + "00"), "long author");
  ExpectInvalid(entry_with("signature", ToHex(Pattern(0))), "32-byte signature");
  ExpectInvalid(entry_with("corrects", nullptr), "null corrects");
  ExpectInvalid(entry_with("corrects", "zz"), "bad corrects");
  ExpectInvalid(entry_with("metadata", json::array()), "metadata as array");
  ExpectInvalid(entry_with("metadata", json{{"k", 1}}), "metadata value as number");
  ExpectInvalid(entry_with("metadata", json{{"bad key", "v"}}), "bad metadata key");
  ExpectInvalid(entry_with("files", json::array({"00"})), "short file commitment");
  ExpectInvalid(entry_with("files", json::array({1, 2})), "commitments as numbers");
  ExpectInvalid(entry_with("files", "abc"), "commitments as a string");
  ExpectInvalid(entry_with("manifests", json::array()), "format 1's manifests");
  ExpectInvalid(entry_with("case", ""), "empty case");
  ExpectInvalid(entry_with("kind", "Evidence"), "bad kind");
}

TEST(JsonTest, TimestampOutsideInt64IsRejected) {
  // nlohmann keeps numbers above INT64_MAX as unsigned; they must not wrap to negative times.
  json j = ToJson(GoldenEntry());
  j["created_at_ms"] = json::parse("18446744073709551615");
  ExpectInvalid(SignedEntryFromJson(j), "created_at_ms = 2^64 - 1");
  j["created_at_ms"] = json::parse("9223372036854775808");
  ExpectInvalid(SignedEntryFromJson(j), "created_at_ms = 2^63");
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
