// Format 2's objects: canonical encoding, and sealing an entry so that each key opens what it
// names and nothing else.
#include "khronika/schemas/sealed_objects.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace khronika {
namespace {

constexpr std::string_view kCanaryCase = "case-canary-7f3a";
constexpr std::string_view kCanaryName = "witness-canary-91c2.pdf";
constexpr std::string_view kCanaryMeta = "canary-meta-value-55e1";

Bytes Content(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 11));
  return b;
}

bool Contains(ByteView haystack, ByteView needle) {
  return !needle.empty() &&
         std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
             haystack.end();
}

// One entry of three files sealed by an origin, with everything a test needs to look inside.
struct SealedFixture {
  SymmetricKey archive_key = RandomSymmetricKey();
  SigningKey author = SigningKey::Generate();
  std::vector<Bytes> contents = {Content(0, 1), Content(5000, 2), Content(3 * 1024 * 1024 + 7, 3)};
  std::vector<FileOpening> openings;
  std::map<Hash, Bytes> chunks;  // what a partner stores
  Bytes signed_bytes;
  SealedEntry sealed;
  Bytes sealed_bytes;

  SealedFixture() {
    SignedEntry entry;
    entry.case_id = kCaseId();
    entry.created_at_ms = 1700000000000;
    entry.kind = "evidence";
    entry.metadata = {{"place", std::string(kCanaryMeta)}};
    EntryToSeal in;
    RandomBytes(in.nonce.data(), in.nonce.size());
    in.case_id = entry.case_id;
    in.prev_case_record.fill(0xab);
    for (size_t i = 0; i < contents.size(); ++i) {
      FileOpening o;
      o.descriptor.name = i == 0 ? "empty.txt" : i == 1 ? std::string(kCanaryName) : "video.mp4";
      o.descriptor.media_type = "application/octet-stream";
      o.descriptor.size = contents[i].size();
      o.descriptor.content_sha256 = Sha256(contents[i]);
      RandomBytes(o.salt.data(), o.salt.size());
      entry.files.push_back(FileCommitment(o.salt, Encode(o.descriptor)));
      openings.push_back(o);
    }
    SignEntry(entry, author);
    signed_bytes = Encode(entry);
    in.signed_entry = signed_bytes;
    in.openings = openings;
    SymmetricKey case_key = DeriveCaseKey(archive_key, kCaseId());
    for (size_t i = 0; i < contents.size(); ++i) {
      ChunkedSalt salt;
      RandomBytes(salt.data(), salt.size());
      FileSealer sealer(DeriveFileKey(case_key, in.nonce, uint32_t(i)), contents[i].size(), salt,
                        [this](ByteView chunk, const Hash& id) {
                          EXPECT_EQ(id, Sha256(chunk));
                          chunks[id] = Bytes(chunk.begin(), chunk.end());
                          return Status::Ok();
                        });
      // Fed in uneven pieces, as an upload arrives.
      ByteView rest = contents[i];
      while (!rest.empty()) {
        size_t n = std::min<size_t>(rest.size(), 300000);
        EXPECT_TRUE(sealer.Update(rest.first(n)).ok());
        rest = rest.subspan(n);
      }
      in.sealed_files.push_back(sealer.Finish().value());
      // A small file's one chunk is not emitted: the entry carries it. Kept here with the rest,
      // by id, as a reader finds it.
      const SealedFile& f = in.sealed_files.back();
      if (!f.inline_chunk.empty()) {
        EXPECT_EQ(chunks.count(f.chunks[0]), 0u);
        chunks[f.chunks[0]] = f.inline_chunk;
      }
    }
    sealed = SealEntry(archive_key, in).value();
    sealed_bytes = Encode(sealed);
  }

  static std::string kCaseId() { return std::string(kCanaryCase); }
  SymmetricKey CaseKey() const { return DeriveCaseKey(archive_key, kCaseId()); }

  Bytes SealedContent(size_t i) const {
    Bytes out;
    for (const Hash& id : sealed.files[i].chunks) {
      const Bytes& c = chunks.at(id);
      out.insert(out.end(), c.begin(), c.end());
    }
    return out;
  }
};

TEST(SealedObjectsTest, ObjectsRoundTripCanonically) {
  SealedFixture f;
  auto decoded = DecodeSealedEntry(f.sealed_bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, f.sealed);
  EXPECT_EQ(DecodeSignedEntry(f.signed_bytes)->case_id, kCanaryCase);
  FileDescriptor d = f.openings[1].descriptor;
  EXPECT_EQ(DecodeDescriptor(Encode(d)).value(), d);
  Record r;
  r.origin.fill(1);
  r.index = 7;
  r.object_id = Sha256(f.sealed_bytes);
  r.received_at_ms = -5;
  Bytes rb = Encode(r);
  EXPECT_EQ(rb.size(), 115u);
  EXPECT_EQ(DecodeRecord(rb).value(), r);
}

TEST(SealedObjectsTest, DecodersRefuseEveryTruncationTrailingByteAndFormat1Header) {
  SealedFixture f;
  for (size_t cut = 0; cut < f.sealed_bytes.size(); cut += 97) {
    EXPECT_FALSE(DecodeSealedEntry(ByteView(f.sealed_bytes).first(cut)).ok()) << cut;
  }
  Bytes longer = f.sealed_bytes;
  longer.push_back(0);
  EXPECT_FALSE(DecodeSealedEntry(longer).ok());
  Bytes v1 = f.signed_bytes;
  v1[2] = 1;
  EXPECT_FALSE(DecodeSignedEntry(v1).ok());  // format 1 is no longer read
}

TEST(SealedObjectsTest, PartnerChecksCatchWrongSizesCountsAndRepeats) {
  SealedFixture f;
  SealedEntry bad = f.sealed;
  bad.files[2].sealed_size += 1;
  EXPECT_FALSE(ValidateSealedEntry(bad).ok());
  bad = f.sealed;
  bad.files[2].chunks.pop_back();
  EXPECT_FALSE(ValidateSealedEntry(bad).ok());
  bad = f.sealed;
  bad.files[2].chunks[1] = bad.files[2].chunks[0];
  EXPECT_FALSE(ValidateSealedEntry(bad).ok());
  bad = f.sealed;
  bad.entry_box.push_back(0);
  EXPECT_FALSE(ValidateSealedEntry(bad).ok());
  // Sealed chunk lengths follow from the sealed size alone.
  for (const SealedFile& file : f.sealed.files) {
    for (size_t i = 0; i < file.chunks.size(); ++i) {
      EXPECT_EQ(f.chunks.at(file.chunks[i]).size(), SealedChunkLength(file.sealed_size, i));
    }
  }
}

TEST(SealedObjectsTest, TheArchiveKeyOpensEverythingByteForByte) {
  SealedFixture f;
  SealedEntry e = DecodeSealedEntry(f.sealed_bytes).value();
  EXPECT_EQ(OpenIndexBox(f.archive_key, e).value(), kCanaryCase);
  SymmetricKey case_key = f.CaseKey();
  Hash link = OpenLinkBox(DeriveLinkKey(case_key, e.nonce), e).value();
  Hash expected_link;
  expected_link.fill(0xab);
  EXPECT_EQ(link, expected_link);
  SignedEntry entry = OpenEntryBox(DeriveEntryKey(case_key, e.nonce), e).value();
  EXPECT_EQ(Encode(entry), f.signed_bytes);
  EXPECT_EQ(entry.metadata.at("place"), kCanaryMeta);
  for (uint32_t i = 0; i < f.contents.size(); ++i) {
    SymmetricKey file_key = DeriveFileKey(case_key, e.nonce, i);
    FileOpening opening = OpenDescriptorBox(file_key, e, entry, i).value();
    EXPECT_EQ(opening.descriptor, f.openings[i].descriptor);
    Bytes padded = ChunkedOpen(file_key, AsBytes(kFileContentContext), f.SealedContent(i)).value();
    ASSERT_EQ(padded.size(), PaddedFileSize(f.contents[i].size()));
    EXPECT_TRUE(std::equal(f.contents[i].begin(), f.contents[i].end(), padded.begin())) << i;
    EXPECT_TRUE(std::all_of(padded.begin() + f.contents[i].size(), padded.end(),
                            [](uint8_t b) { return b == 0; }));
  }
}

TEST(SealedObjectsTest, AFileKeyOpensItsFileAndNothingElse) {
  SealedFixture f;
  const SealedEntry& e = f.sealed;
  SymmetricKey case_key = f.CaseKey();
  SignedEntry entry = OpenEntryBox(DeriveEntryKey(case_key, e.nonce), e).value();
  SymmetricKey key1 = DeriveFileKey(case_key, e.nonce, 1);
  EXPECT_TRUE(OpenDescriptorBox(key1, e, entry, 1).ok());
  EXPECT_FALSE(OpenDescriptorBox(key1, e, entry, 0).ok());
  EXPECT_FALSE(OpenDescriptorBox(key1, e, entry, 2).ok());
  EXPECT_FALSE(ChunkedOpen(key1, AsBytes(kFileContentContext), f.SealedContent(2)).ok());
  // The entry key opens the entry, not the link, the index or any file.
  SymmetricKey entry_key = DeriveEntryKey(case_key, e.nonce);
  EXPECT_FALSE(OpenLinkBox(entry_key, e).ok());
  EXPECT_FALSE(OpenDescriptorBox(entry_key, e, entry, 1).ok());
  // Another case's key, or another origin's archive key, opens nothing.
  SymmetricKey other_case = DeriveCaseKey(f.archive_key, "another-case");
  EXPECT_FALSE(OpenEntryBox(DeriveEntryKey(other_case, e.nonce), e).ok());
  EXPECT_FALSE(OpenIndexBox(RandomSymmetricKey(), e).ok());
}

TEST(SealedObjectsTest, SwappedOrAlteredBoxesAreRefused) {
  SealedFixture f;
  SymmetricKey case_key = f.CaseKey();
  SealedEntry swapped = f.sealed;
  std::swap(swapped.files[1].descriptor_box, swapped.files[2].descriptor_box);
  SignedEntry entry = OpenEntryBox(DeriveEntryKey(case_key, swapped.nonce), swapped).value();
  EXPECT_FALSE(
      OpenDescriptorBox(DeriveFileKey(case_key, swapped.nonce, 1), swapped, entry, 1).ok());
  SealedEntry altered = f.sealed;
  altered.entry_box[10] ^= 1;
  EXPECT_FALSE(OpenEntryBox(DeriveEntryKey(case_key, altered.nonce), altered).ok());
  // A sealed entry moved under another nonce derives other keys and opens nothing.
  SealedEntry moved = f.sealed;
  moved.nonce[0] ^= 1;
  EXPECT_FALSE(OpenEntryBox(DeriveEntryKey(case_key, moved.nonce), moved).ok());
  EXPECT_FALSE(OpenIndexBox(f.archive_key, moved).ok());
}

TEST(SealedObjectsTest, WhatAPartnerHoldsNamesNothingPlain) {
  SealedFixture f;
  std::vector<Bytes> canaries = {Bytes(kCanaryCase.begin(), kCanaryCase.end()),
                                 Bytes(kCanaryName.begin(), kCanaryName.end()),
                                 Bytes(kCanaryMeta.begin(), kCanaryMeta.end()),
                                 Bytes(f.author.public_key().begin(), f.author.public_key().end())};
  for (size_t i = 1; i < f.contents.size(); ++i) {
    Hash h = Sha256(f.contents[i]);
    canaries.emplace_back(h.begin(), h.end());
    std::string hex = ToHex(h);
    canaries.emplace_back(hex.begin(), hex.end());
    canaries.emplace_back(f.contents[i].begin() + 100, f.contents[i].begin() + 164);
    size_t first = std::min<size_t>(f.contents[i].size(), 1 << 20);
    Hash first_mib = Sha256(ByteView(f.contents[i]).first(first));  // a format 1 chunk id
    canaries.emplace_back(first_mib.begin(), first_mib.end());
  }
  std::vector<ByteView> held = {f.sealed_bytes};
  for (const auto& [id, chunk] : f.chunks) held.push_back(chunk);
  for (const Bytes& canary : canaries) {
    for (ByteView h : held) EXPECT_FALSE(Contains(h, canary)) << ToHex(canary);
  }
}

TEST(SealedObjectsTest, FileSealerHoldsTheFileToItsAnnouncedSize) {
  SymmetricKey key = RandomSymmetricKey();
  ChunkedSalt salt{};
  auto ignore = [](ByteView, const Hash&) { return Status::Ok(); };
  FileSealer too_much(key, 10, salt, ignore);
  EXPECT_FALSE(too_much.Update(Content(11, 0)).ok());
  FileSealer too_little(key, 10, salt, ignore);
  ASSERT_TRUE(too_little.Update(Content(9, 0)).ok());
  EXPECT_FALSE(too_little.Finish().ok());
  FileSealer exact(key, 10, salt, ignore);
  ASSERT_TRUE(exact.Update(Content(10, 0)).ok());
  SealedFile file = exact.Finish().value();
  EXPECT_EQ(file.sealed_size, SealedFileSize(10));
  EXPECT_EQ(file.chunks.size(), 1u);
}

TEST(SealedObjectsTest, SealingRefusesADescriptorTheAuthorDidNotSign) {
  SealedFixture f;
  EntryToSeal in;
  in.case_id = SealedFixture::kCaseId();
  in.signed_entry = f.signed_bytes;
  in.openings = f.openings;
  in.openings[1].descriptor.name = "renamed.pdf";
  for (const SealedFile& s : f.sealed.files) in.sealed_files.push_back(s);
  EXPECT_FALSE(SealEntry(f.archive_key, in).ok());
  in.openings = f.openings;
  in.case_id = "another-case";
  EXPECT_FALSE(SealEntry(f.archive_key, in).ok());
}

// A caller that made the entry's bytes from the entry may hand it over decoded (Log::Append
// does): the sealed entry is the same, byte for byte, and the same refusals hold.
TEST(SealedObjectsTest, AnEntryGivenDecodedSealsToTheSameBytes) {
  SealedFixture f;
  const SignedEntry entry = DecodeSignedEntry(f.signed_bytes).value();
  EntryToSeal in;
  in.nonce = f.sealed.nonce;
  in.case_id = SealedFixture::kCaseId();
  in.prev_case_record.fill(0xab);
  in.signed_entry = f.signed_bytes;
  in.openings = f.openings;
  for (const SealedFile& s : f.sealed.files) in.sealed_files.push_back(s);
  const Bytes from_bytes = Encode(SealEntry(f.archive_key, in).value());
  EXPECT_EQ(from_bytes, f.sealed_bytes);
  in.decoded_entry = &entry;
  EXPECT_EQ(Encode(SealEntry(f.archive_key, in).value()), from_bytes);
  in.openings[1].descriptor.name = "renamed.pdf";
  EXPECT_FALSE(SealEntry(f.archive_key, in).ok());
  in.openings = f.openings;
  in.case_id = "another-case";
  EXPECT_FALSE(SealEntry(f.archive_key, in).ok());
}

// Log::Check seals an entry before the append knows the case's previous record: what it seals
// first is the same whatever that record turns out to be, and Finish links each copy to the
// record it is given, as SealEntry would.
TEST(SealedObjectsTest, APresealedEntryIsLinkedWhenItIsFinished) {
  SealedFixture f;
  EntryToSeal in;
  in.nonce = f.sealed.nonce;
  in.case_id = SealedFixture::kCaseId();
  in.signed_entry = f.signed_bytes;
  in.openings = f.openings;
  for (const SealedFile& s : f.sealed.files) in.sealed_files.push_back(s);
  const SymmetricKey case_key = f.CaseKey();
  PresealedEntry presealed = PresealEntry(f.archive_key, case_key, in).value();
  Hash first{};
  Hash other{};
  other.fill(0x5c);
  in.prev_case_record.fill(0xab);
  EXPECT_EQ(Encode(presealed.Finish(in.prev_case_record)), f.sealed_bytes);
  // What Log::AppendImpl writes: the same bytes, encoded without copying the entry first.
  EXPECT_EQ(presealed.FinishEncoded(in.prev_case_record), f.sealed_bytes);
  EXPECT_EQ(presealed.FinishEncoded(other), Encode(presealed.Finish(other)));
  const SealedEntry a = presealed.Finish(first);
  const SealedEntry b = presealed.Finish(other);
  EXPECT_EQ(a.index_box, b.index_box);
  EXPECT_EQ(a.entry_box, b.entry_box);
  EXPECT_EQ(a.files, b.files);
  EXPECT_NE(a.link_box, b.link_box);
  const SymmetricKey link_key = DeriveLinkKey(case_key, in.nonce);
  EXPECT_EQ(OpenLinkBox(link_key, a).value(), first);
  EXPECT_EQ(OpenLinkBox(link_key, b).value(), other);
  in.openings[1].descriptor.name = "renamed.pdf";
  EXPECT_FALSE(PresealEntry(f.archive_key, case_key, in).ok());
}

}  // namespace
}  // namespace khronika
