#include "khronika/schemas/sealed_objects.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <optional>

#include "canonical.h"

namespace khronika {

using canonical::CanonicalReader;
using canonical::CanonicalWriter;
using canonical::DecodeCanonical;

namespace {

void WriteSignedEntryUnsigned(CanonicalWriter& w, const SignedEntry& e) {
  w.Str(e.case_id);
  w.Fixed(e.author);
  w.I64(e.created_at_ms);
  w.Str(e.kind);
  w.HashList(e.files);
  w.U64(e.metadata.size());
  for (const auto& [k, v] : e.metadata) {
    w.Str(k);
    w.Str(v);
  }
  w.U8(e.corrects ? 1 : 0);
  if (e.corrects) w.Fixed(*e.corrects);
}

// A sealed size is valid when it is the C2SP message length of a padded length.
Status CheckSealedSize(uint64_t sealed_size) {
  auto plain = ChunkedPlaintextSize(sealed_size);
  if (!plain.ok() || PaddedFileSize(*plain) != *plain ||
      *plain > PaddedFileSize(kMaxFileSize)) {
    return Status::InvalidArgument("sealed size " + std::to_string(sealed_size) +
                                   " is not that of a padded file");
  }
  return Status::Ok();
}

bool IsPaddedBoxSize(size_t box_bytes) {
  if (box_bytes < kAeadTagBytes) return false;
  size_t padded = box_bytes - kAeadTagBytes;
  return padded >= 256 && Padme(padded) == padded;
}

}  // namespace

// ---- Validation ----

Status ValidateDescriptor(const FileDescriptor& d) {
  KH_RETURN_IF_ERROR(ValidateFileName(d.name));
  KH_RETURN_IF_ERROR(ValidateMediaType(d.media_type));
  if (d.size > kMaxFileSize) return Status::InvalidArgument("file larger than 1 TiB");
  return Status::Ok();
}

Status ValidateSignedEntryFields(const SignedEntry& e) {
  KH_RETURN_IF_ERROR(ValidateCaseId(e.case_id));
  KH_RETURN_IF_ERROR(ValidateKind(e.kind));
  KH_RETURN_IF_ERROR(ValidateMetadata(e.metadata));
  if (e.files.size() > kMaxFilesPerEntry) {
    return Status::InvalidArgument("more than 1000 files in one entry");
  }
  return Status::Ok();
}

Status ValidateSealedEntry(const SealedEntry& e) {
  if (!IsPaddedBoxSize(e.entry_box.size()) || e.entry_box.size() > kMaxEntryBoxBytes) {
    return Status::InvalidArgument("the entry box is not of a padded size");
  }
  if (e.files.size() > kMaxFilesPerEntry) {
    return Status::InvalidArgument("more than 1000 files in one entry");
  }
  std::vector<Hash> all;
  for (size_t i = 0; i < e.files.size(); ++i) {
    const SealedFile& f = e.files[i];
    KH_RETURN_IF_ERROR(CheckSealedSize(f.sealed_size).Annotate("file " + std::to_string(i)));
    if (f.chunks.size() != SealedChunkCount(f.sealed_size)) {
      return Status::InvalidArgument("file " + std::to_string(i) + " lists " +
                                     std::to_string(f.chunks.size()) + " sealed chunks, not " +
                                     std::to_string(SealedChunkCount(f.sealed_size)));
    }
    if (f.inline_chunk.size() != (IsInlineSealedSize(f.sealed_size) ? f.sealed_size : 0)) {
      return Status::InvalidArgument(
          "file " + std::to_string(i) +
          (IsInlineSealedSize(f.sealed_size)
               ? " is small enough to be carried in the entry, but its sealed bytes are not"
               : " carries sealed bytes in the entry, but is too large for that"));
    }
    all.insert(all.end(), f.chunks.begin(), f.chunks.end());
  }
  std::sort(all.begin(), all.end());
  if (std::adjacent_find(all.begin(), all.end()) != all.end()) {
    return Status::InvalidArgument("a sealed chunk is listed twice");
  }
  return Status::Ok();
}

// ---- Encoding ----

Bytes Encode(const FileDescriptor& d) {
  CanonicalWriter w(kTypeDescriptor);
  w.Str(d.name);
  w.Str(d.media_type);
  w.U64(d.size);
  w.Fixed(d.content_sha256);
  return w.Take();
}

Bytes Encode(const SignedEntry& e) {
  CanonicalWriter w(kTypeEntry);
  WriteSignedEntryUnsigned(w, e);
  w.Fixed(e.signature);
  return w.Take();
}

namespace {

// The canonical bytes of `e` with `link_box` in its place (PresealedEntry::FinishEncoded seals
// the link box last, and encodes without copying the entry first).
Bytes EncodeSealedEntry(const SealedEntry& e, const std::array<uint8_t, kLinkBoxBytes>& link_box) {
  CanonicalWriter w(kTypeSealedEntry);
  size_t size = 3 + e.nonce.size() + e.index_box.size() + link_box.size() + 8 +
                e.entry_box.size() + 8;
  for (const SealedFile& f : e.files) {
    size += f.descriptor_box.size() + 8 + 8 + 32 * f.chunks.size() + f.inline_chunk.size();
  }
  w.Reserve(size);
  w.Fixed(e.nonce);
  w.Fixed(e.index_box);
  w.Fixed(link_box);
  w.U64(e.entry_box.size());
  w.Fixed(e.entry_box);
  w.U64(e.files.size());
  for (const SealedFile& f : e.files) {
    w.Fixed(f.descriptor_box);
    w.U64(f.sealed_size);
    w.HashList(f.chunks);
    if (!f.inline_chunk.empty()) w.Fixed(f.inline_chunk);
  }
  return w.Take();
}

}  // namespace

Bytes Encode(const SealedEntry& e) { return EncodeSealedEntry(e, e.link_box); }

Result<FileDescriptor> DecodeDescriptor(ByteView bytes) {
  auto result = DecodeCanonical<FileDescriptor>(bytes, "file descriptor", [](ByteView b) {
    CanonicalReader r(b, kTypeDescriptor, "file descriptor");
    FileDescriptor d;
    d.name = r.Str(kMaxFileNameBytes, "name");
    d.media_type = r.Str(kMaxMediaTypeBytes, "media type");
    d.size = r.U64("size");
    r.Fixed(d.content_sha256, "content hash");
    r.Finish();
    return d;
  });
  if (result.ok()) KH_RETURN_IF_ERROR(ValidateDescriptor(*result).Annotate("file descriptor"));
  return result;
}

Result<SignedEntry> DecodeSignedEntry(ByteView bytes) {
  auto result = DecodeCanonical<SignedEntry>(bytes, "entry", [](ByteView b) {
    CanonicalReader r(b, kTypeEntry, "entry");
    SignedEntry e;
    e.case_id = r.Str(kMaxCaseIdBytes, "case id");
    r.Fixed(e.author, "author");
    e.created_at_ms = r.I64("created at");
    e.kind = r.Str(kMaxKindBytes, "kind");
    e.files = r.HashList(kMaxFilesPerEntry, "file commitments");
    uint64_t pairs = r.U64("metadata count");
    if (pairs > kMaxMetadataPairs) r.Fail("more than 64 metadata pairs");
    for (uint64_t i = 0; i < pairs; ++i) {
      std::string k = r.Str(kMaxMetadataKeyBytes, "metadata key");
      std::string v = r.Str(kMaxMetadataValueBytes, "metadata value");
      if (!e.metadata.empty() && k <= e.metadata.rbegin()->first) {
        r.Fail("metadata keys not sorted and unique");
      }
      e.metadata.emplace(std::move(k), std::move(v));
    }
    uint8_t has_corrects = r.U8("corrects flag");
    if (has_corrects > 1) r.Fail("corrects flag must be 0 or 1");
    if (has_corrects) {
      Hash h;
      r.Fixed(h, "corrects");
      e.corrects = h;
    }
    r.Fixed(e.signature, "signature");
    r.Finish();
    return e;
  });
  if (result.ok()) KH_RETURN_IF_ERROR(ValidateSignedEntryFields(*result).Annotate("entry"));
  return result;
}

Result<SealedEntry> DecodeSealedEntry(ByteView bytes) {
  auto result = DecodeCanonical<SealedEntry>(bytes, "sealed entry", [](ByteView b) {
    CanonicalReader r(b, kTypeSealedEntry, "sealed entry");
    SealedEntry e;
    r.Fixed(e.nonce, "nonce");
    r.Fixed(e.index_box, "index box");
    r.Fixed(e.link_box, "link box");
    uint64_t box = r.U64("entry box length");
    if (box > kMaxEntryBoxBytes) r.Fail("entry box longer than 128 KiB");
    r.Need(box, "entry box");
    e.entry_box.resize(box);
    r.Raw(e.entry_box, "entry box");
    uint64_t files = r.U64("file count");
    if (files > kMaxFilesPerEntry) r.Fail("more than 1000 files");
    r.Need(files * (kDescriptorBoxBytes + 8 + 8), "files");
    e.files.resize(files);
    for (SealedFile& f : e.files) {
      r.Fixed(f.descriptor_box, "descriptor box");
      f.sealed_size = r.U64("sealed size");
      f.chunks = r.HashList(SealedChunkCount(ChunkedSealedSize(PaddedFileSize(kMaxFileSize))),
                            "sealed chunks");
      if (IsInlineSealedSize(f.sealed_size)) {
        r.Need(f.sealed_size, "a small file's sealed bytes");
        f.inline_chunk.resize(f.sealed_size);
        r.Raw(f.inline_chunk, "a small file's sealed bytes");
      }
    }
    r.Finish();
    return e;
  });
  if (!result.ok()) return result;
  KH_RETURN_IF_ERROR(ValidateSealedEntry(*result).Annotate("sealed entry"));
  // What a decoded entry carries of a small file is its one sealed chunk: the id it lists.
  for (size_t i = 0; i < result->files.size(); ++i) {
    const SealedFile& f = result->files[i];
    if (!f.inline_chunk.empty() && ChunkId(f.inline_chunk) != f.chunks[0]) {
      return Status::InvalidArgument("sealed entry: the sealed bytes of file " +
                                     std::to_string(i) + " do not match their chunk id");
    }
  }
  return result;
}

// ---- Author signatures ----

Bytes SignedEntryMessage(const SignedEntry& e) {
  CanonicalWriter w(kTypeEntry);
  WriteSignedEntryUnsigned(w, e);
  Hash digest = Sha256(w.Take());
  Bytes message(kEntrySignaturePrefix.size() + digest.size());
  std::copy(kEntrySignaturePrefix.begin(), kEntrySignaturePrefix.end(), message.begin());
  std::copy(digest.begin(), digest.end(), message.begin() + kEntrySignaturePrefix.size());
  return message;
}

void SignEntry(SignedEntry& e, const SigningKey& key) {
  e.author = key.public_key();
  e.signature = key.Sign(SignedEntryMessage(e));
}

bool VerifyEntrySignature(const SignedEntry& e) {
  return VerifySignature(e.author, SignedEntryMessage(e), e.signature);
}

SignatureCheck EntrySignatureCheck(const SignedEntry& e) {
  return SignatureCheck{e.author, SignedEntryMessage(e), e.signature};
}

// ---- Sealing a file's content ----

FileSealer::FileSealer(const SymmetricKey& file_key, uint64_t size, const ChunkedSalt& salt,
                       Emit emit)
    : sealer_(file_key, salt, AsBytes(kFileContentContext)), size_(size), emit_(std::move(emit)) {
  // A small file's whole sealed form, or a large one's sealed chunk and the piece beyond it: a
  // statement of a few hundred bytes does not allocate (and free) a megabyte.
  pending_.reserve(static_cast<size_t>(
      std::min<uint64_t>(SealedFileSize(size), kSealedChunkSize + kChunkedSealedChunk)));
  sealer_.Header(pending_);
}

Status FileSealer::Update(ByteView content) {
  if (content.size() > size_ - fed_) {
    return Status::InvalidArgument("more content than the file's announced " +
                                   std::to_string(size_) + " bytes");
  }
  fed_ += content.size();
  KH_RETURN_IF_ERROR(sealer_.Update(content, pending_));
  return Flush(false);
}

Status FileSealer::Flush(bool final) {
  size_t at = 0;
  while (pending_.size() - at >= kSealedChunkSize || (final && at < pending_.size())) {
    size_t n = std::min(kSealedChunkSize, pending_.size() - at);
    ByteView chunk(pending_.data() + at, n);
    Hash id = Sha256(chunk);
    if (final && result_.chunks.empty() && IsInlineSealedSize(n)) {
      result_.inline_chunk.assign(chunk.begin(), chunk.end());  // travels in the sealed entry
    } else {
      KH_RETURN_IF_ERROR(emit_(chunk, id));
    }
    result_.chunks.push_back(id);
    result_.sealed_size += n;
    at += n;
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(at));
  return Status::Ok();
}

Result<SealedFile> FileSealer::Finish() {
  if (fed_ != size_) {
    return Status::InvalidArgument("the file ended after " + std::to_string(fed_) +
                                   " of its announced " + std::to_string(size_) + " bytes");
  }
  static const Bytes kZeros(64 * 1024, 0);
  for (uint64_t left = PaddedFileSize(size_) - size_; left > 0;) {
    size_t n = std::min<uint64_t>(left, kZeros.size());
    KH_RETURN_IF_ERROR(sealer_.Update(ByteView(kZeros).first(n), pending_));
    KH_RETURN_IF_ERROR(Flush(false));
    left -= n;
  }
  sealer_.Finish(pending_);
  KH_RETURN_IF_ERROR(Flush(true));
  return result_;
}

// ---- Sealing and opening an entry ----

Result<PresealedEntry> PresealEntry(const SymmetricKey& archive_key, const SymmetricKey& case_key,
                                    const EntryToSeal& in) {
  std::optional<SignedEntry> decoded;
  if (!in.decoded_entry) {
    KH_ASSIGN_OR_RETURN(decoded, DecodeSignedEntry(in.signed_entry));
  }
  const SignedEntry& signed_entry = in.decoded_entry ? *in.decoded_entry : *decoded;
  if (signed_entry.case_id != in.case_id) {
    return Status::InvalidArgument("the signed entry is of another case");
  }
  if (in.openings.size() != signed_entry.files.size() ||
      in.sealed_files.size() != signed_entry.files.size()) {
    return Status::InvalidArgument("the entry commits to " +
                                   std::to_string(signed_entry.files.size()) + " files, but " +
                                   std::to_string(in.openings.size()) + " are given");
  }
  PresealedEntry out;
  SealedEntry& e = out.entry_;
  e.nonce = in.nonce;
  {
    KH_ASSIGN_OR_RETURN(Bytes padded, PadValue(AsBytes(in.case_id), kIndexBoxPadded));
    Bytes box = BoxSeal(DeriveIndexKey(archive_key, in.nonce), kIndexBoxLabel, padded);
    std::copy(box.begin(), box.end(), e.index_box.begin());
  }
  out.link_key_ = DeriveLinkKey(case_key, in.nonce);
  {
    KH_ASSIGN_OR_RETURN(Bytes padded,
                        PadValue(in.signed_entry, PaddedBoxSize(in.signed_entry.size())));
    e.entry_box = BoxSeal(DeriveEntryKey(case_key, in.nonce), kEntryBoxLabel, padded);
  }
  e.files.reserve(in.openings.size());
  for (size_t i = 0; i < in.openings.size(); ++i) {
    const FileOpening& opening = in.openings[i];
    Bytes value(opening.salt.begin(), opening.salt.end());
    const Bytes descriptor = Encode(opening.descriptor);
    value.insert(value.end(), descriptor.begin(), descriptor.end());
    if (FileCommitment(opening.salt, descriptor) != signed_entry.files[i]) {
      return Status::InvalidArgument("file " + std::to_string(i) +
                                     ": the descriptor does not match the author's commitment");
    }
    KH_ASSIGN_OR_RETURN(Bytes padded, PadValue(value, kDescriptorBoxPadded));
    SymmetricKey file_key = DeriveFileKey(case_key, in.nonce, static_cast<uint32_t>(i));
    Bytes box = BoxSeal(DeriveDescriptorKey(file_key), kDescriptorBoxLabel, padded);
    OPENSSL_cleanse(file_key.data(), file_key.size());
    SealedFile file = in.sealed_files[i];
    std::copy(box.begin(), box.end(), file.descriptor_box.begin());
    e.files.push_back(std::move(file));
  }
  KH_RETURN_IF_ERROR(ValidateSealedEntry(e));
  return out;
}

PresealedEntry::~PresealedEntry() { OPENSSL_cleanse(link_key_.data(), link_key_.size()); }

std::array<uint8_t, kLinkBoxBytes> PresealedEntry::LinkBox(const Hash& prev_case_record) const {
  // 32 bytes always fit the link box's 36.
  Bytes padded = PadValue(prev_case_record, kLinkBoxPadded).value();
  Bytes box = BoxSeal(link_key_, kLinkBoxLabel, padded);
  std::array<uint8_t, kLinkBoxBytes> out;
  std::copy(box.begin(), box.end(), out.begin());
  return out;
}

SealedEntry PresealedEntry::Finish(const Hash& prev_case_record) const {
  SealedEntry out = entry_;
  out.link_box = LinkBox(prev_case_record);
  return out;
}

Bytes PresealedEntry::FinishEncoded(const Hash& prev_case_record) const {
  return EncodeSealedEntry(entry_, LinkBox(prev_case_record));
}

Result<SealedEntry> SealEntry(const SymmetricKey& archive_key, const EntryToSeal& in) {
  SymmetricKey case_key = DeriveCaseKey(archive_key, in.case_id);
  auto presealed = PresealEntry(archive_key, case_key, in);
  OPENSSL_cleanse(case_key.data(), case_key.size());
  if (!presealed.ok()) return presealed.status();
  return presealed->Finish(in.prev_case_record);
}

Result<std::string> OpenIndexBox(const SymmetricKey& archive_key, const SealedEntry& e) {
  KH_ASSIGN_OR_RETURN(Bytes padded,
                      BoxOpen(DeriveIndexKey(archive_key, e.nonce), kIndexBoxLabel, e.index_box));
  KH_ASSIGN_OR_RETURN(Bytes value, UnpadValue(padded));
  std::string case_id(value.begin(), value.end());
  KH_RETURN_IF_ERROR(ValidateCaseId(case_id).Annotate("index box"));
  return case_id;
}

Result<Hash> OpenLinkBox(const SymmetricKey& link_key, const SealedEntry& e) {
  KH_ASSIGN_OR_RETURN(Bytes padded, BoxOpen(link_key, kLinkBoxLabel, e.link_box));
  KH_ASSIGN_OR_RETURN(Bytes value, UnpadValue(padded));
  if (value.size() != 32) return Status::Corruption("the link box does not hold a record hash");
  Hash h;
  std::copy(value.begin(), value.end(), h.begin());
  return h;
}

namespace {

Result<SignedEntry> OpenEntryBoxImpl(const SymmetricKey& entry_key, const SealedEntry& e,
                                     SignatureCheck* deferred) {
  KH_ASSIGN_OR_RETURN(Bytes padded, BoxOpen(entry_key, kEntryBoxLabel, e.entry_box));
  return SignedEntryFromOpenedBox(padded, e, deferred);
}

}  // namespace

Result<SignedEntry> SignedEntryFromOpenedBox(ByteView padded, const SealedEntry& e,
                                             SignatureCheck* deferred) {
  KH_ASSIGN_OR_RETURN(Bytes value, UnpadValue(padded));
  if (padded.size() != PaddedBoxSize(value.size())) {
    return Status::Corruption("the entry box is not padded to the size its entry gives");
  }
  auto decoded = DecodeSignedEntry(value);
  if (!decoded.ok()) return Status::Corruption(decoded.status().message());
  if (deferred) {
    *deferred = EntrySignatureCheck(*decoded);
  } else if (!VerifyEntrySignature(*decoded)) {
    return Status::Corruption(kEntrySignatureFails);
  }
  if (decoded->files.size() != e.files.size()) {
    return Status::Corruption("the entry commits to " + std::to_string(decoded->files.size()) +
                              " files but " + std::to_string(e.files.size()) + " are sealed");
  }
  return decoded;
}

Result<SignedEntry> OpenEntryBox(const SymmetricKey& entry_key, const SealedEntry& e) {
  return OpenEntryBoxImpl(entry_key, e, nullptr);
}

Result<SignedEntry> OpenEntryBoxDeferringSignature(const SymmetricKey& entry_key,
                                                   const SealedEntry& e,
                                                   SignatureCheck& deferred) {
  return OpenEntryBoxImpl(entry_key, e, &deferred);
}

Result<FileOpening> OpenDescriptorBox(const SymmetricKey& file_key, const SealedEntry& e,
                                      const SignedEntry& signed_entry, uint32_t file_index) {
  if (file_index >= e.files.size() || file_index >= signed_entry.files.size()) {
    return Status::NotFound("the entry has no file " + std::to_string(file_index));
  }
  KH_ASSIGN_OR_RETURN(Bytes padded, BoxOpen(DeriveDescriptorKey(file_key), kDescriptorBoxLabel,
                                            e.files[file_index].descriptor_box));
  KH_ASSIGN_OR_RETURN(Bytes value, UnpadValue(padded));
  if (value.size() < kCommitmentSaltBytes) {
    return Status::Corruption("the descriptor box is too short");
  }
  FileOpening opening;
  std::copy_n(value.begin(), kCommitmentSaltBytes, opening.salt.begin());
  ByteView descriptor = ByteView(value).subspan(kCommitmentSaltBytes);
  auto decoded = DecodeDescriptor(descriptor);
  if (!decoded.ok()) return Status::Corruption(decoded.status().message());
  if (FileCommitment(opening.salt, descriptor) != signed_entry.files[file_index]) {
    return Status::Corruption("file " + std::to_string(file_index) +
                              ": the descriptor is not the one the author signed");
  }
  if (SealedFileSize(decoded->size) != e.files[file_index].sealed_size) {
    return Status::Corruption("file " + std::to_string(file_index) +
                              ": the sealed size does not fit the signed size");
  }
  opening.descriptor = std::move(*decoded);
  return opening;
}

}  // namespace khronika
